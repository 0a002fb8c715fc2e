"""The fast path for plain header sections (``sip.section.PLAIN_RE``) gives exactly what the
general look-ups give: the same values, the same body, the same errors from ``check``."""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sip import Message, RemoteProtocolError, Request, parse
from sip.proxy import replace_top_via
from sip.section import PLAIN_NAMES, PLAIN_RE

from .test_properties import CORPUS, mutated

NEVER = re.compile(r"(?!)")
NAMES = (
    "Via", "via", "VIA", "v", "V", "From", "fROM", "f", "To", "to", "t", "T", "Call-ID",
    "call-id", "CALL-ID", "i", "CSeq", "cseq", "Max-Forwards", "max-forwards",
    "Content-Length", "content-length", "l", "Contact", "m", "Call-IDx", "Tox", "Viability",
    "Subject", "X", "Xy", "Route", "Via\x0b", "v\x0b", "Via\r\nX", "Cseq\u00a0",
)  # fmt: skip
SEPARATORS = (":", ": ", " :", "\t: ", ":  ", " x:", "")
VALUES = (
    "SIP/2.0/UDP h.example.com;branch=z9hG4bK1", "SIP/2.0/TCP h;branch=a, SIP/2.0/UDP g",
    "<sip:a@b>;tag=1", "A <sip:a@b;tag=x>", '"q" <sip:a@b> ;tag=2 ', "1 INVITE", "2 BYE ",
    "70", "0", " 5 ", "", "12a", "a, b", "x\x0c", "é",
)  # fmt: skip
LOOKUPS = PLAIN_NAMES + ("v", "f", "t", "i", "l", "m", "contact", "subject", "route")
VIEWS = ("branch", "from_tag", "to_tag", "call_id", "cseq", "max_forwards", "via", "from_",
         "to", "vias", "content_length", "routes", "contacts")  # fmt: skip
ONE_PASS = ("branch", "from_tag", "to_tag", "call_id", "cseq", "max_forwards", "edited branch")


@contextmanager
def general_path() -> Iterator[None]:
    """Parse and look up as if no section were plain."""
    with mock.patch("sip.parser.PLAIN_RE", NEVER), mock.patch("sip.section.PLAIN_RE", NEVER):
        yield


def outcome(fn: Callable[[], object]) -> object:
    try:
        value = fn()
    except RemoteProtocolError as exc:
        return ("error", exc.status)
    return value if isinstance(value, (str, int, tuple, type(None))) else str(value)


def observe(data: bytes) -> dict[str, object]:
    """Everything a caller can see of ``data`` parsed: views, look-ups, check, edits."""
    try:
        msg = parse(data)
    except RemoteProtocolError as exc:
        return {"parse": exc.status}
    seen: dict[str, object] = {"body": msg.body}
    for view in VIEWS:
        seen[view] = outcome(lambda: getattr(msg, view))  # noqa: B023
    for n in LOOKUPS:
        seen["get " + n] = (msg.get(n), msg.get_all(n), n in msg, msg.count(n))
    seen["check"] = outcome(msg.check)
    msg.replace("Max-Forwards", "9")
    seen["edited"] = msg.serialize()
    seen["edited max_forwards"] = outcome(lambda: msg.max_forwards)
    seen["edited branch"] = outcome(lambda: msg.branch)
    seen["edits"] = [edited(msg, edit) for edit in EDITS]
    return seen


def edited(msg: Message, edit: Callable[[Message], object]) -> tuple[object, bytes, object]:
    """What ``edit`` returns, the text after it, and the views then (on a copy)."""
    new = msg.copy()
    assert new == msg
    result = edit(new)
    return result, new.serialize(), outcome(lambda: (new.call_id, new.cseq, new.vias))


EDITS: tuple[Callable[[Message], object], ...] = (
    lambda m: m.add_before("Record-Route", "<sip:p;lr>", "Via"),
    lambda m: m.add_before("X-A", "1", "Call-ID"),
    lambda m: m.remove_first_value("Via"),
    lambda m: m.remove_first_value("v"),
    lambda m: m.remove("CSeq"),
    lambda m: m.remove("t"),
    lambda m: m.replace("Call-ID", "new"),
    lambda m: m.replace("Content-Length", "3"),
    lambda m: m.remove("Via"),
    lambda m: replace_top_via(m, "SIP/2.0/UDP new.example;branch=z9hG4bKnew;received=1.2.3.4"),
)


def same_both_ways(data: bytes) -> None:
    fast = observe(data)
    with general_path():
        slow = observe(data)
    for key in ONE_PASS:  # these may read a value where the full view would raise
        value = slow.get(key)
        if isinstance(value, tuple) and value[:1] == ("error",):
            fast[key] = value
    assert fast == slow


@st.composite
def sections(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        line = draw(st.sampled_from(NAMES)) + draw(st.sampled_from(SEPARATORS))
        line += draw(st.sampled_from(VALUES))
        if draw(st.integers(0, 9)) == 0:
            line += "\r\n " + draw(st.sampled_from(VALUES))
        lines.append(line)
    head = "".join(f"\r\n{line}" for line in lines)
    return f"INVITE sip:a@b SIP/2.0{head}\r\n\r\n".encode() + b"body12"


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(sections())
def test_plain_sections_read_as_the_general_path_reads_them(data: bytes) -> None:
    same_both_ways(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_corpus_reads_the_same_both_ways(data: bytes) -> None:
    same_both_ways(data)


@pytest.mark.parametrize("data", CORPUS, ids=range(len(CORPUS)))
def test_corpus_reads_the_same_both_ways(data: bytes) -> None:
    same_both_ways(data)


@pytest.mark.parametrize(
    "section",
    [
        "\r\nVia: a\r\nv: b\r\n\r\n",  # a compact form
        "\r\nTo: b\r\nto: c\r\n\r\n",  # a single header twice (and a small first letter)
        "\r\nTo: b\r\nTo:\r\n\r\n",  # twice, the second one empty
        "\r\nTo: b\r\n c\r\n\r\n",  # folded
        "\r\nCall-ID x: y\r\n\r\n",  # a blank after the name, then no colon
        "\r\nContent-Length: 12a\r\n\r\n",
        "\r\nX: y\r\n\r\n",  # a one-letter name
    ],
)
def test_unusual_sections_are_not_plain(section: str) -> None:
    assert PLAIN_RE.match(section) is None


def test_plain_section_captures_the_first_via_and_the_single_headers() -> None:
    m = PLAIN_RE.match("\r\nVIA: a\r\nVia : b\r\nCall-IDx: q\r\nCALL-id:\t c \r\nXy: 1\r\n\r\n")
    assert m is not None
    assert m.groups() == ("a", None, None, "c ", None, None, None)


def test_an_edited_message_is_matched_again() -> None:
    msg = Request(
        "INVITE", "sip:a@b", [("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("CSeq", "1 INVITE")]
    )
    assert msg.branch == "z9hG4bK1"
    msg.insert("Via", "SIP/2.0/UDP g;branch=z9hG4bK2")
    assert msg.branch == "z9hG4bK2" and msg._match_plain() is not None
    msg.add("v", "SIP/2.0/UDP k;branch=z9hG4bK3")
    assert msg.branch == "z9hG4bK2" and msg._match_plain() is None
    assert isinstance(msg, Message)


def test_a_message_pickles_without_its_match() -> None:
    msg = parse(b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n")
    assert msg.branch == "z9hG4bK1"
    again = pickle.loads(pickle.dumps(msg))
    assert again == msg and again.branch == "z9hG4bK1" and again.via == msg.via
