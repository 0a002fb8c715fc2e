"""Dialog identifiers, route sets and in-dialog requests (RFC 3261 §12)."""

from __future__ import annotations

import pytest

from sip import parse, parse_uri
from sip.dialog import (
    Dialog,
    DialogId,
    in_dialog_routing,
    uac_dialog_id,
    uac_route_set,
    uas_dialog_id,
    uas_route_set,
)  # fmt: skip
from sip.message import Request, Response, make_response

INVITE = (
    b"INVITE sip:bob@biloxi.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP p2.domain.com;branch=z9hG4bK2\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8\r\n"
    b"Max-Forwards: 69\r\n"
    b"Record-Route: <sip:p2.domain.com;lr>, <sip:p1.example.com;lr>\r\n"
    b"To: Bob <sip:bob@biloxi.com>\r\n"
    b"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710\r\nCSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.com>\r\nContent-Length: 0\r\n\r\n"
)


def invite() -> Request:
    msg = parse(INVITE)
    assert isinstance(msg, Request)
    return msg


def ok() -> Response:
    resp = make_response(invite(), 200, to_tag="a6c85cf", headers=[
        ("Record-Route", "<sip:p2.domain.com;lr>, <sip:p1.example.com;lr>"),
        ("Contact", "<sip:bob@192.0.2.4>"),
    ])  # fmt: skip
    return resp


def test_dialog_ids_from_both_sides() -> None:
    assert uac_dialog_id(ok()) == DialogId("a84b4c76e66710", "1928301774", "a6c85cf")
    uas = uas_dialog_id(ok())
    assert uas == DialogId("a84b4c76e66710", "a6c85cf", "1928301774")
    assert uas.reversed() == uac_dialog_id(ok())


def test_route_sets() -> None:
    assert uas_route_set(invite()) == ["<sip:p2.domain.com;lr>", "<sip:p1.example.com;lr>"]
    assert uac_route_set(ok()) == ["<sip:p1.example.com;lr>", "<sip:p2.domain.com;lr>"]


@pytest.mark.parametrize(
    ("route_set", "uri", "routes"),
    [
        ([], "sip:bob@192.0.2.4", []),
        (["<sip:p1.example.com;lr>", "<sip:p2.domain.com;lr>"], "sip:bob@192.0.2.4",
         ["<sip:p1.example.com;lr>", "<sip:p2.domain.com;lr>"]),
        # §12.2.1.1's strict example: the first route becomes the Request-URI
        (["<sip:ss1.example.com;transport=udp>", "<sip:ss2.example.com;lr>"],
         "sip:ss1.example.com;transport=udp",
         ["<sip:ss2.example.com;lr>", "<sip:bob@192.0.2.4>"]),
    ],
)  # fmt: skip
def test_in_dialog_routing(route_set: list[str], uri: str, routes: list[str]) -> None:
    got_uri, got_routes = in_dialog_routing(route_set, parse_uri("sip:bob@192.0.2.4"))
    assert str(got_uri) == uri and got_routes == routes


def test_uac_dialog_makes_bye() -> None:
    d = Dialog.from_uac(invite(), ok())
    assert d.id == DialogId("a84b4c76e66710", "1928301774", "a6c85cf")
    assert d.local_seq == 314159 and d.remote_seq is None and not d.secure
    bye = d.make_request("BYE", "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKbye")
    assert bye.uri_text == "sip:bob@192.0.2.4" and bye.cseq == (314160, "BYE")
    assert bye.values("Route") == ["<sip:p1.example.com;lr>", "<sip:p2.domain.com;lr>"]
    assert (
        bye.from_tag == "1928301774" and bye.to_tag == "a6c85cf" and bye.call_id == "a84b4c76e66710"
    )
    ack = d.make_request("ACK", "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKack", seq=314159)
    assert ack.cseq == (314159, "ACK") and d.local_seq == 314160
    bye.validate()


def test_uas_dialog_and_remote_cseq() -> None:
    d = Dialog.from_uas(invite(), "a6c85cf")
    assert d.id == DialogId("a84b4c76e66710", "a6c85cf", "1928301774")
    assert d.remote_seq == 314159 and str(d.remote_target) == "sip:alice@pc33.atlanta.com"
    bye = d.make_request("BYE", "SIP/2.0/UDP biloxi.com;branch=z9hG4bKx")
    assert bye.cseq == (1, "BYE") and bye.values("Route")[0] == "<sip:p2.domain.com;lr>"
    lower = invite()
    lower.replace("CSeq", "10 INFO")
    assert not d.accept_remote_cseq(lower)  # out of order: 500 (§12.2.2)
    higher = invite()
    higher.replace("CSeq", "314160 INVITE")
    higher.replace("Contact", "<sip:alice@198.51.100.7>")
    assert d.accept_remote_cseq(higher) and d.remote_seq == 314160
    d.refresh_target(higher)
    assert str(d.remote_target) == "sip:alice@198.51.100.7"


def test_dialog_needs_contact_and_tag() -> None:
    from sip import RemoteProtocolError

    resp = make_response(invite(), 200)
    with pytest.raises(RemoteProtocolError):
        Dialog.from_uac(invite(), resp)
