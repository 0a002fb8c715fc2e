"""Stream framing (RFC 3261 §18.3): Content-Length framing, keep-alives, limits, errors."""

from __future__ import annotations

import pytest

from sip import Message, RemoteProtocolError
from sip.framer import FramingError, KeepAlive, StreamFramer
from sip.message import Limits

from .conformance import RFC4475, read

OPTIONS = (
    b"OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
    b"Call-ID: c\r\nCSeq: 1 OPTIONS\r\nFrom: <sip:b@h>;tag=1\r\nTo: <sip:a@example.com>\r\n"
    b"Content-Length: 5\r\n\r\nhello"
)


def feed_all(framer: StreamFramer, data: bytes) -> list[Message | KeepAlive]:
    framer.feed(data)
    return list(framer.events())


def test_several_messages_in_one_read_and_keepalives() -> None:
    events = feed_all(
        StreamFramer(), b"\r\n\r\n" + OPTIONS + OPTIONS + b"\r\n" + OPTIONS + b"\r\n\r\n"
    )
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["KeepAlive", "Request", "Request", "Request", "KeepAlive"]
    assert all(e.body == b"hello" for e in events if isinstance(e, Message))


def test_partial_reads_wait_for_the_rest() -> None:
    f = StreamFramer()
    assert feed_all(f, OPTIONS[:40]) == []
    assert feed_all(f, OPTIONS[40:-2]) == []
    assert f.buffered == len(OPTIONS) - 2
    (msg,) = feed_all(f, OPTIONS[-2:])
    assert isinstance(msg, Message) and msg.body == b"hello" and f.buffered == 0


def test_byte_by_byte_equals_whole() -> None:
    data = OPTIONS + b"\r\n\r\n" + read(RFC4475, "mpart01.dat")
    whole = feed_all(StreamFramer(), data)
    f = StreamFramer()
    pieces = [e for b in data for e in feed_all(f, bytes([b]))]
    assert [bytes(e) if isinstance(e, Message) else e for e in pieces] == [
        bytes(e) if isinstance(e, Message) else e for e in whole
    ]


@pytest.mark.parametrize("name", ["ncl.dat", "mcl01.dat", "inv2543.dat"])
def test_unframeable_streams_break_the_framer(name: str) -> None:
    f = StreamFramer()
    f.feed(read(RFC4475, name))
    with pytest.raises(FramingError):
        f.next_event()
    with pytest.raises(FramingError):  # stays broken: the connection must be closed
        f.next_event()


def test_content_length_larger_than_data_waits() -> None:
    f = StreamFramer()
    assert feed_all(f, read(RFC4475, "clerr.dat")) == []


def test_malformed_but_framed_message_is_skipped() -> None:
    bad = OPTIONS.replace(
        b"OPTIONS sip:a@example.com SIP/2.0", b"OPTIONS  sip:a@example.com SIP/2.0"
    )
    f = StreamFramer()
    f.feed(bad + OPTIONS)
    with pytest.raises(RemoteProtocolError) as exc:
        f.next_event()
    assert not isinstance(exc.value, FramingError) and exc.value.status == 400
    assert isinstance(f.next_event(), Message)


def test_limits() -> None:
    f = StreamFramer(Limits(max_header_bytes=100))
    f.feed(b"OPTIONS sip:a@b SIP/2.0\r\n" + b"X-Long: " + b"a" * 200)
    with pytest.raises(FramingError) as exc:
        f.next_event()
    assert exc.value.status == 513
    f = StreamFramer(Limits(max_body=3))
    f.feed(OPTIONS)
    with pytest.raises(FramingError):
        f.next_event()
