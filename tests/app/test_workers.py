"""app.workers: who owns a datagram, read from its bytes, agrees with the parsed message."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.workers import Workers
from sip import parse

TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.!%*_+`'~@", min_size=1, max_size=30)


def _workers(count: int, rank: int) -> Workers:
    w = Workers(count)
    w.rank = rank
    return w


@settings(max_examples=300, deadline=None)
@given(
    call_id=TOKEN,
    compact=st.booleans(),
    upper=st.booleans(),
    spaces=st.sampled_from(["", " ", "  ", "\t"]),
    count=st.integers(1, 8),
)
def test_request_owner_from_bytes_is_the_parsed_owner(
    call_id: str, compact: bool, upper: bool, spaces: str, count: int
) -> None:
    name = "i" if compact else "Call-ID"
    name = name.upper() if upper else name
    data = (f"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
            f"{name}{spaces}:{spaces}{call_id}{spaces}\r\nCSeq: 2 BYE\r\nFrom: <sip:a@b>;tag=1\r\n"
            f"To: <sip:a@b>;tag=2\r\nContent-Length: 0\r\n\r\n").encode()  # fmt: skip
    w = _workers(count, 1)
    assert w.owner_of(data) == w.owner(parse(data))


@settings(max_examples=200, deadline=None)
@given(rank=st.integers(0, 12), count=st.integers(1, 8), second=st.booleans(), me=st.integers(1, 8))
def test_reply_owner_from_bytes_is_the_parsed_owner(
    rank: int, count: int, second: bool, me: int
) -> None:
    ours = f"z9hG4bKW{rank}-x1" if rank else "z9hG4bKplain"
    vias = f"Via: SIP/2.0/UDP p;branch={ours}"
    vias += (
        ", SIP/2.0/UDP u;branch=z9hG4bKW1-u\r\n"
        if second
        else "\r\nVia: SIP/2.0/UDP u;branch=z9hG4bKW1-u\r\n"
    )
    data = (f"SIP/2.0 200 OK\r\n{vias}Call-ID: c\r\nCSeq: 1 INVITE\r\nFrom: <sip:a@b>;tag=1\r\n"
            "To: <sip:a@b>;tag=2\r\nContent-Length: 0\r\n\r\n").encode()  # fmt: skip
    w = _workers(count, min(me, count))
    assert w.owner_of(data) == w.owner(parse(data))


def test_unclear_bytes_leave_it_to_the_parser() -> None:
    w = _workers(2, 1)
    assert w.owner_of(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n") is None  # no end of headers
    assert w.owner_of(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\nCSeq: 1 OPTIONS\r\n\r\n") is None
