"""Hypothesis: round trips, hostile bytes, and framing that does not depend on read sizes."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sip import Message, RemoteProtocolError, Request, Response, parse
from sip.framer import KeepAlive, StreamFramer
from sip.headers import parse_cseq

from .conformance import RFC4475, RFC5118, manifest, read, wire_5118

CORPUS = [read(RFC4475, r["file"]) for r in manifest(RFC4475)]
CORPUS += [wire_5118(read(RFC5118, r["file"])) for r in manifest(RFC5118)]

TOKEN = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~",
    min_size=1,
    max_size=12,
)
VALUE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=40
).map(str.strip)
# Content-Length is the serializer's business (it is set from the body)
NAME = TOKEN.filter(lambda n: n.lower() not in ("l", "content-length"))
HEADERS = st.lists(st.tuples(NAME, VALUE), max_size=12)
BODY = st.binary(max_size=64)
VIEWS = ("via", "vias", "branch", "cseq", "call_id", "from_", "to", "from_tag", "to_tag",
         "routes", "record_routes", "contacts", "max_forwards", "content_length",
         "content_type", "expires")  # fmt: skip


@st.composite
def messages(draw: st.DrawFn) -> Message:
    headers = draw(HEADERS)
    body = draw(BODY)
    if draw(st.booleans()):
        user = draw(TOKEN)
        return Request(draw(TOKEN), f"sip:{user}@example.com", headers, body)
    return Response(draw(st.integers(100, 699)), draw(VALUE), headers, body)


@given(messages())
def test_generated_messages_round_trip(msg: Message) -> None:
    again = parse(msg.serialize())
    assert again == msg
    assert list(again.items()) == list(msg.items())
    assert again.body == msg.body


def poke(data: bytes) -> None:
    """Parse, validate and read every view: only the remote error may come out."""
    try:
        msg = parse(data)
        for view in VIEWS:
            getattr(msg, view)
        if isinstance(msg, Request):
            _ = msg.uri
        msg.validate()
        msg.serialize()
    except RemoteProtocolError:
        pass


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_the_remote_error(data: bytes) -> None:
    poke(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup"]))
        if op == "flip" and data:
            data[i] = draw(st.sampled_from(b'\r\n :;,<>"\\%@=\x00\t\xff0aZ'))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=6))
        elif op == "delete":
            del data[i : i + draw(st.integers(1, 20))]
        else:
            data[i:i] = data[i : i + draw(st.integers(1, 40))]
    return bytes(data)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_corpus_raises_only_the_remote_error(data: bytes) -> None:
    poke(data)
    framer = StreamFramer()
    framer.feed(data)
    try:
        for event in framer.events():
            if isinstance(event, Message):
                poke(event.serialize())
    except RemoteProtocolError:
        pass


def frame(chunks: list[bytes]) -> list[object]:
    """What a framer gives for these reads: events, and each error as (type, status)."""
    framer = StreamFramer()
    out: list[object] = []
    for chunk in chunks:
        framer.feed(chunk)
        while True:
            try:
                event = framer.next_event()
            except RemoteProtocolError as exc:
                out.append((type(exc).__name__, exc.status))
                if type(exc).__name__ == "FramingError":
                    return out
                continue
            if event is None:
                break
            out.append(event if isinstance(event, KeepAlive) else event.serialize())
    return out


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(st.sampled_from(CORPUS + [b"\r\n\r\n", b"\r\n"]), min_size=1, max_size=4))
    data = b"".join(parts)
    if draw(st.booleans()):
        data = draw(mutated().map(lambda m: data + m))
    return data


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.randoms(use_true_random=False))
def test_framer_does_not_depend_on_read_sizes(data: bytes, rnd: random.Random) -> None:
    whole = frame([data])
    assert frame([bytes([b]) for b in data]) == whole
    cuts = sorted(rnd.sample(range(1, len(data)), min(len(data) - 1, rnd.randint(0, 12))))
    assert frame([data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]) == whole


def full_views(msg: Message) -> tuple[object, ...]:
    """The proxy's six fields computed the long way, from the full typed views."""
    via, frm, to = msg.via, msg.from_, msg.to
    return (
        via.branch if via else None,
        frm.tag if frm else None,
        to.tag if to else None,
        msg.get("call-id"),
        msg._view("cseq-full", "cseq", parse_cseq),
        msg._view("mf-full", "max-forwards", int),
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CORPUS), st.data())
def test_one_pass_fields_agree_with_the_full_views(data: bytes, draw: st.DataObject) -> None:
    """msg.branch/from_tag/to_tag/call_id/cseq/max_forwards (one pass) == the full views."""
    data = draw.draw(mutated()) if draw.draw(st.booleans()) else data
    try:
        msg = parse(data)
        msg.validate()
        expected = full_views(parse(data))
    except (RemoteProtocolError, ValueError):
        return
    fast = (msg.branch, msg.from_tag, msg.to_tag, msg.call_id, msg.cseq, msg.max_forwards)
    assert fast == expected
