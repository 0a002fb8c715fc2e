"""RFC 4475 (49 messages) and RFC 5118 (12 messages) through the parser.

Each message is read as bytes from ../shared/conformance, parsed as one UDP datagram and
validated. Valid messages must parse with the fields the RFC says they have; invalid ones
must raise RemoteProtocolError with the status in EXPECTED (the manifest's expected column,
strict reading where the RFC allows a liberal one). A summary test prints the tally.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sip import Message, RemoteProtocolError, Request, Response, parse
from sip.digest import parse_auth
from sip.uri import unescape

from .conformance import RFC4475, RFC5118, manifest, read, wire_5118

OK = 0
#: expected outcome per file: OK, or the status the parser's error must carry
EXPECTED_4475: dict[str, int] = {
    # 3.1.1 valid
    "wsinv.dat": OK, "intmeth.dat": OK, "esc01.dat": OK, "escnull.dat": OK, "esc02.dat": OK,
    "lwsdisp.dat": OK, "longreq.dat": OK, "dblreq.dat": OK, "semiuri.dat": OK,
    "transports.dat": OK, "mpart01.dat": OK, "unreason.dat": OK, "noreason.dat": OK,
    # 3.1.2 invalid (baddate: "should not reject unless Date matters" -- we ignore Date)
    "badinv01.dat": 400, "clerr.dat": 400, "ncl.dat": 400, "scalar02.dat": 400,
    "scalarlg.dat": 400, "quotbal.dat": 400, "ltgtruri.dat": 400, "lwsruri.dat": 400,
    "lwsstart.dat": 400, "trws.dat": 400, "escruri.dat": 400, "baddate.dat": OK,
    "regbadct.dat": 400, "badaspec.dat": 400, "baddn.dat": 400, "badvers.dat": 505,
    "mismatch01.dat": 400, "mismatch02.dat": 501, "bigcode.dat": 400,
    # 3.2 - 3.4: well formed; the reaction (416, 420, 483 ...) belongs to the proxy
    "badbranch.dat": OK, "insuf.dat": 400, "unkscm.dat": OK, "novelsc.dat": OK,
    "unksm2.dat": OK, "bext01.dat": OK, "invut.dat": OK, "regaut01.dat": OK,
    "multi01.dat": 400, "mcl01.dat": 400, "bcast.dat": OK, "zeromf.dat": OK,
    "cparam01.dat": OK, "cparam02.dat": OK, "regescrt.dat": OK, "sdp01.dat": OK,
    "inv2543.dat": OK,
}  # fmt: skip
EXPECTED_5118: dict[str, int] = {row["file"]: OK for row in manifest(RFC5118)}
EXPECTED_5118["ipv6-bad.dat"] = 400


def outcome(data: bytes) -> tuple[int, Message | None]:
    try:
        msg = parse(data)
        msg.validate()
    except RemoteProtocolError as exc:
        return exc.status, None
    return OK, msg


def test_expectations_cover_every_manifest_row() -> None:
    assert sorted(EXPECTED_4475) == sorted(r["file"] for r in manifest(RFC4475))
    assert len(EXPECTED_4475) == 49 and len(EXPECTED_5118) == 12


@pytest.mark.parametrize("name", sorted(EXPECTED_4475))
def test_rfc4475(name: str) -> None:
    status, msg = outcome(read(RFC4475, name))
    assert status == EXPECTED_4475[name]
    if name in FIELDS:
        assert msg is not None
        FIELDS[name](msg)


@pytest.mark.parametrize("name", sorted(EXPECTED_5118))
def test_rfc5118(name: str) -> None:
    status, msg = outcome(wire_5118(read(RFC5118, name)))
    assert status == EXPECTED_5118[name]
    if name in FIELDS:
        assert msg is not None
        FIELDS[name](msg)


def test_extra_message_is_rejected() -> None:
    assert outcome(read(RFC4475, "extra/test.dat"))[0] == 400


def test_baddn_with_closing_line_is_rejected_for_its_display_name() -> None:
    status, _ = outcome(read(RFC4475, "baddn.dat") + b"\r\n")
    assert status == 400


def test_ncl_variant_with_word_length() -> None:
    data = read(RFC4475, "ncl.dat").replace(b"Content-Length: -999", b"Content-Length: five")
    assert outcome(data)[0] == 400


def test_tally(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [(n, e, outcome(read(RFC4475, n))[0]) for n, e in EXPECTED_4475.items()]
    rows += [(n, e, outcome(wire_5118(read(RFC5118, n)))[0]) for n, e in EXPECTED_5118.items()]
    good = sum(1 for _, e, got in rows if e == got)
    accepted = sum(1 for _, e, got in rows if e == OK and got == OK)
    rejected = sum(1 for _, e, got in rows if e != OK and got == e)
    with capsys.disabled():
        print(
            f"\nconformance: {good}/{len(rows)} as expected "
            f"({accepted} accepted, {rejected} rejected with the expected status)"
        )
    assert good == len(rows)


# -- the fields each valid message must have ----------------------------------------------
def _wsinv(m: Message) -> None:
    assert isinstance(m, Request) and m.method == "INVITE"
    assert m.uri.param("unknownparam") == "" and m.uri.user == "vivekg"
    assert m.max_forwards == 68 and m.cseq == (9, "INVITE")
    assert m.to is not None and m.to.tag == "1918181833n"
    assert m.from_ is not None and m.from_.tag == "98asjd8"
    assert m.from_.display_name == 'J Rosenberg \\"'
    assert m.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert m.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert m.get("subject") == ""
    assert [(v.transport, v.host, v.branch) for v in m.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert m.branch == "390skdjuw"
    (contact,) = m.contacts
    assert contact.display_name == 'Quoted string ""' and contact.param("q") == "0.33"
    assert contact.param("newparam") == "newvalue" and contact.param("secondparam") == ""
    assert m.routes[0].uri.has_param("lr")
    assert len(m.body) == 150


def _intmeth(m: Message) -> None:
    assert isinstance(m, Request)
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.cseq is not None and m.cseq.method == m.method
    assert m.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert m.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert m.via is not None and m.via.branch == "z9hG4bK-.!%66*_+`'~"
    assert m.to is not None and m.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.from_tag == "_token~1'+`*%!-."
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"


def _esc01(m: Message) -> None:
    assert isinstance(m, Request)
    assert m.uri.user_unescaped == "sips:user@example.com" and m.uri.host == "example.net"
    assert m.to is not None and m.to.uri.user_unescaped == "user"
    assert m.from_ is not None and m.from_.uri.user_unescaped == "I have spaces"
    (contact,) = m.contacts
    assert contact.uri.user_unescaped == "caller"
    assert unescape(contact.uri.param("n%61me") or "") == "value%41"
    assert contact.uri == contact.uri.replace(params=(("lr", None), ("name", "value%2541")))


def _escnull(m: Message) -> None:
    assert m.to is not None and m.to.uri.user_unescaped == "null-\x00-null"
    assert [c.uri.user_unescaped for c in m.contacts] == ["\x00", "\x00\x00"]


def _esc02(m: Message) -> None:
    assert isinstance(m, Request) and m.method == "RE%47IST%45R" and m.method != "REGISTER"
    assert [str(c.uri) for c in m.contacts] == [
        "sip:alias1@host1.example.com", "sip:alias3@host3.example.com",
    ]  # fmt: skip
    assert m.get("C%6Fntact") == "<sip:alias2@host2.example.com>"
    assert m.branch == "z9hG4bK209%fzsnel234"


def _longreq(m: Message) -> None:
    assert len(m.vias) == 34 and m.via is not None and m.via.host == "sip33.example.com"
    assert m.to is not None and m.to.uri.port == 6000 and m.to.display_name is not None
    assert len(m.to.display_name) > 80 and (m.from_tag or "").startswith("12982982982")


def _dblreq(m: Message) -> None:
    assert isinstance(m, Request) and m.method == "REGISTER" and m.body == b""
    assert m.call_id == "dblreq.0ha0isndaksdj99sdfafnl3lk233412"


def _semiuri(m: Message) -> None:
    assert isinstance(m, Request)
    assert m.uri.user == "user;par=u%40example.net" and m.uri.host == "example.com"
    assert m.uri.params == () and len(m.values("Accept")) == 6


def _transports(m: Message) -> None:
    assert [v.transport for v in m.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def _mpart01(m: Message) -> None:
    assert len(m.body) == 553 and b"\x00" in m.body
    assert m.content_type is not None and m.content_type.mime == "multipart/mixed"


def _unreason(m: Message) -> None:
    assert isinstance(m, Response) and m.status == 200
    assert m.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"


def _noreason(m: Message) -> None:
    assert isinstance(m, Response) and m.status == 100 and m.reason == ""


def _unkscm(m: Message) -> None:
    assert isinstance(m, Request) and not m.uri.is_sip
    assert m.uri.scheme == "nobodyknowsthisscheme" and m.uri.opaque == "totallyopaquecontent"


def _novelsc(m: Message) -> None:
    assert isinstance(m, Request) and m.uri.scheme == "soap.beep"


def _unksm2(m: Message) -> None:
    assert m.to is not None and m.to.uri.scheme == "isbn"
    assert m.from_ is not None and m.from_.uri.scheme == "http"
    assert [c.uri.scheme for c in m.contacts] == ["name"]


def _bext01(m: Message) -> None:
    assert m.values("Proxy-Require") == ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]
    assert m.values("Require") == ["nothingSupportsThis", "nothingSupportsThisEither"]


def _regaut01(m: Message) -> None:
    auth = parse_auth(m.get("Authorization") or "")
    assert auth.scheme == "NoOneKnowsThisScheme" and auth.get("opaque-data") == "here"


def _badbranch(m: Message) -> None:
    assert m.branch == "z9hG4bK"


def _zeromf(m: Message) -> None:
    assert m.max_forwards == 0


def _bcast(m: Message) -> None:
    assert isinstance(m, Response) and m.vias[1].host == "255.255.255.255"


def _cparam01(m: Message) -> None:
    (contact,) = m.contacts
    assert contact.uri.params == () and contact.param("unknownparam") == ""


def _cparam02(m: Message) -> None:
    (contact,) = m.contacts
    assert contact.uri.param("unknownparam") == "" and contact.params == ()


def _regescrt(m: Message) -> None:
    (contact,) = m.contacts
    assert contact.uri.headers == "Route=%3Csip:sip.example.com%3E"


def _inv2543(m: Message) -> None:
    assert m.branch is None and m.from_tag is None and m.max_forwards is None
    assert m.content_length is None and m.body.startswith(b"v=0")


def _ipv6_good(m: Message) -> None:
    assert isinstance(m, Request) and m.uri.host == "[2001:db8::10]"
    assert m.uri.host_bare == "2001:db8::10" and m.uri.port is None


def _port_ambiguous(m: Message) -> None:
    assert isinstance(m, Request) and m.uri.host == "[2001:db8::10:5070]" and m.uri.port is None


def _port_unambiguous(m: Message) -> None:
    assert isinstance(m, Request) and m.uri.host == "[2001:db8::10]" and m.uri.port == 5070


def _received_delim(m: Message) -> None:
    assert m.via is not None and m.via.received == "[2001:db8::9:255]"


def _received_no_delim(m: Message) -> None:
    assert m.via is not None and m.via.received == "2001:db8::9:255"
    assert m.via.branch == "z9hG4bKas3"


def _mult_ip(m: Message) -> None:
    assert m.via is not None and (m.via.host, m.via.port) == ("[2001:db8::9:1]", 6050)
    assert m.vias[2].received == "192.0.2.200"


def _three_colons(m: Message) -> None:
    assert isinstance(m, Request) and m.uri.host == "[2001:db8:::192.0.2.1]"


def _mapped(m: Message) -> None:
    assert m.via is not None and m.via.host == "[::ffff:192.0.2.10]" and m.via.port == 19823


FIELDS: dict[str, Callable[[Message], None]] = {
    "wsinv.dat": _wsinv, "intmeth.dat": _intmeth, "esc01.dat": _esc01,
    "escnull.dat": _escnull, "esc02.dat": _esc02, "longreq.dat": _longreq,
    "dblreq.dat": _dblreq, "semiuri.dat": _semiuri, "transports.dat": _transports,
    "mpart01.dat": _mpart01, "unreason.dat": _unreason, "noreason.dat": _noreason,
    "unkscm.dat": _unkscm, "novelsc.dat": _novelsc, "unksm2.dat": _unksm2,
    "bext01.dat": _bext01, "regaut01.dat": _regaut01, "badbranch.dat": _badbranch,
    "zeromf.dat": _zeromf, "bcast.dat": _bcast, "cparam01.dat": _cparam01,
    "cparam02.dat": _cparam02, "regescrt.dat": _regescrt, "inv2543.dat": _inv2543,
    "ipv6-good.dat": _ipv6_good, "port-ambiguous.dat": _port_ambiguous,
    "port-unambiguous.dat": _port_unambiguous,
    "via-received-param-with-delim.dat": _received_delim,
    "via-received-param-no-delim.dat": _received_no_delim,
    "mult-ip-in-header.dat": _mult_ip, "ipv6-bug-abnf-3-colons.dat": _three_colons,
    "ipv4-mapped-ipv6.dat": _mapped,
}  # fmt: skip
