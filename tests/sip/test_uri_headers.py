"""URIs (RFC 3261 §19.1) and typed header views (§20, §25)."""

from __future__ import annotations

import pytest

from sip import RemoteProtocolError, parse_name_addr, parse_uri, parse_via
from sip.headers import check_via, parse_cseq, parse_name_addrs, split_commas
from sip.uri import escape_user, unescape

# RFC 3261 §19.1.4: these pairs are equivalent ...
EQUAL = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    (
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
    ),
    (
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
    ),
]
# ... and these are not
DIFFERENT = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
]


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_rfc3261_equal_uris(a: str, b: str) -> None:
    assert parse_uri(a) == parse_uri(b)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_rfc3261_different_uris(a: str, b: str) -> None:
    assert parse_uri(a) != parse_uri(b)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("sip:alice@atlanta.com", ("sip", "alice", None, "atlanta.com", None)),
        (
            "sips:alice:secret@[2001:db8::1]:5061;transport=tcp",
            ("sips", "alice", "secret", "[2001:db8::1]", 5061),
        ),
        ("sip:192.0.2.4:5070", ("sip", "", None, "192.0.2.4", 5070)),
        ("SIP:Bob@Example.COM", ("sip", "Bob", None, "Example.COM", None)),
        (
            "tel:+1-201-555-0123;phone-context=example.com",
            ("tel", "+1-201-555-0123", None, "", None),
        ),
    ],
)
def test_uri_parts(text: str, parts: tuple[object, ...]) -> None:
    u = parse_uri(text)
    assert (u.scheme, u.user, u.password, u.host, u.port) == parts
    assert str(u) == text


@pytest.mark.parametrize(
    "text",
    [
        "sip:",
        "sip:a@",
        "sip:a@b:99999",
        "sip:a@b:x",
        "sip:user@exa mple.com",
        "<sip:a@b>",
        "nocolon",
        "sip:@host",
    ],
)
def test_bad_uris(text: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_uri(text)


def test_uri_edits_render() -> None:
    u = parse_uri("sip:alice@atlanta.com;transport=tcp")
    assert str(u.replace(port=5070)) == "sip:alice@atlanta.com:5070;transport=tcp"
    assert str(u.with_param("lr")) == "sip:alice@atlanta.com;transport=tcp;lr"
    assert str(u.without_params(["TRANSPORT"])) == "sip:alice@atlanta.com"
    assert u.transport == "tcp" and u.param("Transport") == "tcp"


def test_escaping() -> None:
    assert unescape("n%61me%20x%zz") == "name x%zz"
    assert unescape(escape_user("a b@c")) == "a b@c" and "@" not in escape_user("a b@c")


@pytest.mark.parametrize(
    ("text", "display", "uri", "params"),
    [
        ('"Bob \\"B\\"" <sip:bob@b.com>;tag=x', 'Bob "B"', "sip:bob@b.com", (("tag", "x"),)),
        ("Bob Smith <sip:bob@b.com>", "Bob Smith", "sip:bob@b.com", ()),
        ("<sip:b.com;lr>", None, "sip:b.com;lr", ()),
        ("sip:bob@b.com;tag=1;x", None, "sip:bob@b.com", (("tag", "1"), ("x", None))),
        ("<sip:a@b> ; q = 0.5 ; expires=60", None, "sip:a@b", (("q", "0.5"), ("expires", "60"))),
        ('<sip:a@b>;p="quoted; value"', None, "sip:a@b", (("p", '"quoted; value"'),)),
    ],
)
def test_name_addr(text: str, display: str | None, uri: str, params: tuple[object, ...]) -> None:
    na = parse_name_addr(text)
    assert (na.display_name, str(na.uri), na.params) == (display, uri, params)
    assert str(na) == text


@pytest.mark.parametrize(
    "text",
    [
        '"open <sip:a@b>',
        "Bell, Alex <sip:a@b>",
        "< sip:a@b >",
        "<sip:a@b",
        "<sip:a@b>;;",
        "sip:a@b?x=1",
    ],
)
def test_bad_name_addr(text: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_name_addr(text)


def test_name_addr_edits() -> None:
    na = parse_name_addr("Bob <sip:bob@b.com>")
    tagged = na.with_param("tag", "abc")
    assert str(tagged) == "Bob <sip:bob@b.com>;tag=abc" and tagged.tag == "abc"
    assert parse_name_addr(str(tagged)) == tagged


def test_comma_lists_respect_quotes_and_brackets() -> None:
    assert split_commas('"a, b" <sip:x;p=1,2>, <sip:y>') == ['"a, b" <sip:x;p=1,2>', "<sip:y>"]
    assert len(parse_name_addrs('<sip:a@b>, "c,d" <sip:c@d>;q=1')) == 2
    with pytest.raises(RemoteProtocolError):
        parse_name_addrs("<sip:a@b>,,<sip:c@d>")


@pytest.mark.parametrize(
    ("text", "transport", "host", "port", "branch"),
    [
        (
            "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds",
            "UDP",
            "pc33.atlanta.com",
            None,
            "z9hG4bK776asdhds",
        ),
        (
            "SIP/2.0/tcp 192.0.2.1:5070;branch=z9hG4bKx;rport=1;received=10.0.0.1",
            "TCP",
            "192.0.2.1",
            5070,
            "z9hG4bKx",
        ),
        (
            "SIP / 2.0 / UDP [2001:db8::9:1]:6050 ; branch = z9hG4bKa",
            "UDP",
            "[2001:db8::9:1]",
            6050,
            "z9hG4bKa",
        ),
    ],
)
def test_via(text: str, transport: str, host: str, port: int | None, branch: str) -> None:
    v = parse_via(text)
    assert (v.transport, v.host, v.port, v.branch) == (transport, host, port, branch)


def test_via_rport_and_edits() -> None:
    v = parse_via("SIP/2.0/UDP h:5060;rport;branch=z9hG4bK1")
    assert v.rport == "" and v.received is None
    v2 = v.with_param("received", "192.0.2.9").with_param("rport", "5999")
    assert str(v2) == "SIP/2.0/UDP h:5060;rport=5999;branch=z9hG4bK1;received=192.0.2.9"


@pytest.mark.parametrize(
    "text", ["SIP/2.0/UDP", "SIP/3.0/UDP h", "SIP/2.0/UDP h;branch", "SIP/2.0/UDP h:70000"]
)
def test_bad_via(text: str) -> None:
    with pytest.raises(RemoteProtocolError):
        check_via(parse_via(text))


def test_cseq() -> None:
    assert parse_cseq("0009 INVITE") == (9, "INVITE")
    for bad in ["1", "x INVITE", "4294967296 INVITE", "1 IN VITE", "-1 BYE"]:
        with pytest.raises(RemoteProtocolError):
            parse_cseq(bad)
