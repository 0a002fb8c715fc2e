"""Proxy rules (RFC 3261 §16, examples of §16.12 and §24.2; RFC 3581; RFC 5393), table-driven."""

from __future__ import annotations

import pytest

from sip import parse, parse_uri
from sip.headers import Via
from sip.message import Request, Response, make_response
from sip.proxy import (
    add_received,
    add_via,
    best_response,
    check_max_forwards,
    decrement_max_forwards,
    detect_loop,
    loop_hash,
    new_branch,
    pop_via,
    response_target,
    stateless_branch,
    via_value,
)  # fmt: skip
from sip.routing import (
    add_record_route,
    postprocess_routes,
    preprocess_routes,
    record_route_uri,
    record_route_values,
)  # fmt: skip
from sip.transaction import Peer, make_ack, make_cancel
from sip.uri import URI

# RFC 3261 §24.2 F1: Alice's INVITE to the atlanta.com proxy
F1 = (
    b"INVITE sip:bob@biloxi.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.com>\r\n"
    b"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.com>\r\n"
    b"Content-Length: 0\r\n\r\n"
)
ALICE = Peer("UDP", "192.0.2.1", 5060)


def f1() -> Request:
    msg = parse(F1)
    assert isinstance(msg, Request)
    return msg


# -- §24.2 F1 → F3: what the atlanta.com proxy does to the INVITE -------------------------------
def test_rfc3261_24_2_f3_forwarding_edits() -> None:
    req = f1()
    assert check_max_forwards(req) is None
    assert add_received(req, ALICE)  # pc33.atlanta.com is not 192.0.2.1 (§18.2.1)
    assert decrement_max_forwards(req) == 69
    add_via(
        req,
        via_value("UDP", "bigbox3.site3.atlanta.com", None, "z9hG4bK77ef4c2312983.1", rport=False),
    )
    assert req.get_all("Via") == [
        "SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1",
        "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8;received=192.0.2.1",
    ]
    assert req.get("Max-Forwards") == "69"
    assert bytes(req).count(b"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n") == 1


def test_rfc3261_24_2_f11_response_via_removal() -> None:
    resp = make_response(f1(), 200, to_tag="a6c85cf")
    resp.insert(
        "Via",
        "SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.2",
    )
    top = pop_via(resp)
    assert top is not None and top.host == "bigbox3.site3.atlanta.com"
    assert resp.get_all("Via") == ["SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8"]
    assert pop_via(resp) is not None and pop_via(resp) is None  # nothing left: for us


@pytest.mark.parametrize(
    ("value", "after", "check"),
    [(None, "70", None), ("70", "69", None), ("1", "0", None), ("0", "0", 483)],
)
def test_max_forwards(value: str | None, after: str, check: int | None) -> None:
    req = f1()
    req.remove("Max-Forwards")
    if value is not None:
        req.add("Max-Forwards", value)
    assert check_max_forwards(req) == check
    decrement_max_forwards(req)
    assert req.get("Max-Forwards") == after


# -- received / rport (§18.2.1, RFC 3581 §4) -----------------------------------------------------
@pytest.mark.parametrize(
    ("via", "source", "params", "target"),
    [
        # RFC 3581 §4's example
        ("SIP/2.0/UDP 10.1.1.1:4540;rport;branch=z9hG4bKkjshdyff", Peer("UDP", "192.0.2.1", 9988),
         {"received": "192.0.2.1", "rport": "9988"}, Peer("UDP", "192.0.2.1", 9988)),
        ("SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8", Peer("UDP", "192.0.2.1", 5060),
         {"received": "192.0.2.1"}, Peer("UDP", "192.0.2.1", 5060)),
        ("SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1", Peer("UDP", "192.0.2.1", 5070),
         {}, Peer("UDP", "192.0.2.1", 5070)),
        ("SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK1", Peer("TCP", "192.0.2.9", 40001),
         {"received": "192.0.2.9"}, Peer("TCP", "192.0.2.9", 40001)),
        ("SIP/2.0/UDP [2001:db8::1];rport;branch=z9hG4bK1", Peer("UDP", "2001:db8::9", 7000),
         {"received": "2001:db8::9", "rport": "7000"}, Peer("UDP", "2001:db8::9", 7000)),
    ],
)  # fmt: skip
def test_received_rport_and_response_target(
    via: str, source: Peer, params: dict[str, str], target: Peer
) -> None:
    req = f1()
    req.replace("Via", via)
    changed = add_received(req, source)
    assert changed == bool(params)
    top = req.via
    assert top is not None
    for name, value in params.items():
        assert top.param(name) == value
    resp = make_response(req, 200)
    assert resp.via is not None and response_target(resp.via, source) == target


def test_response_target_maddr_and_sent_by() -> None:
    src = Peer("UDP", "192.0.2.1", 5060)
    assert response_target(Via("UDP", "h.example", 5080, (("maddr", "224.0.1.75"),)), src) == Peer(
        "UDP", "224.0.1.75", 5080
    )
    assert response_target(Via("UDP", "h.example", None), src) == Peer("UDP", "h.example", 5060)


# -- branches and loops (§16.6 item 8, §16.3 item 4, §16.11, RFC 5393) ---------------------------
def test_new_branches_are_unique_and_carry_the_loop_hash() -> None:
    req = f1()
    branches = {new_branch(req) for _ in range(100)}
    assert len(branches) == 100
    assert all(b.startswith("z9hG4bK") and b.endswith("." + loop_hash(req)) for b in branches)


def test_stateless_branch_is_deterministic_for_retransmissions_cancel_and_ack() -> None:
    invite = f1()
    again = parse(F1)
    assert isinstance(again, Request)
    cancel = make_cancel(invite)
    ack = make_ack(invite, make_response(invite, 486, to_tag="x"))
    b = stateless_branch(invite)
    assert b.startswith("z9hG4bK")
    assert (
        stateless_branch(again) == b and stateless_branch(cancel).split(".")[0] == b.split(".")[0]
    )
    assert stateless_branch(ack).split(".")[0] == b.split(".")[0]
    assert stateless_branch(invite, index=1) != b
    ack2xx = make_ack(invite, make_response(invite, 200, to_tag="x"))
    ack2xx.replace("Via", "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnew")
    assert stateless_branch(ack2xx) != b  # a 2xx ACK is a new transaction
    old = f1()
    old.replace("Via", "SIP/2.0/UDP pc33.atlanta.com;branch=1234")  # RFC 2543 client
    old_ack = make_ack(old, make_response(old, 486, to_tag="x"))
    assert stateless_branch(old).split(".")[0] == stateless_branch(old_ack).split(".")[0]


ME = "proxy.example.com"


def forwarded(req: Request) -> Request:
    """The proxy forwards ``req`` (statefully) and it comes back to it."""
    out = parse(bytes(req))
    assert isinstance(out, Request)
    add_via(out, via_value("UDP", ME, 5060, new_branch(req)))
    decrement_max_forwards(out)
    return out


def is_me(via: Via) -> bool:
    return via.host == ME


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (None, "loop"),                                   # came back unchanged: 482
        ("uri", "spiral"),                                # retargeted (RFC 5393 §4.2)
        ("route", "spiral"),                              # routed through us again
        ("via", "loop"),                                  # only another hop's Via added
    ],
)  # fmt: skip
def test_loop_versus_spiral(change: str | None, expected: str) -> None:
    req = f1()
    assert detect_loop(req, is_me) is None
    back = forwarded(req)
    if change == "uri":
        back.uri = "sip:bob@pc44.biloxi.com"
    elif change == "route":
        back.insert("Route", "<sip:other.example.com;lr>")
    elif change == "via":
        add_via(back, via_value("UDP", "other.example.net", None, new_branch()))
    assert detect_loop(back, is_me) == expected


# -- Record-Route and Route (§16.4, §16.6, §16.12) ------------------------------------------------
P1 = record_route_uri("p1.example.com")
P2 = record_route_uri("p2.domain.com")


def test_rfc3261_16_12_1_1_record_route_trapezoid() -> None:
    req = f1()
    add_record_route(req, P1)
    assert req.get_all("Record-Route") == ["<sip:p1.example.com;lr>"]
    add_record_route(req, P2)
    assert [str(r.uri) for r in req.record_routes] == [
        "sip:p2.domain.com;lr",
        "sip:p1.example.com;lr",
    ]


@pytest.mark.parametrize(
    ("inbound", "outbound", "values"),
    [
        (record_route_uri("10.0.0.1", 5060), None, ["<sip:10.0.0.1:5060;lr>"]),
        (record_route_uri("10.0.0.1", 5060), record_route_uri("10.0.0.1", 5060), ["<sip:10.0.0.1:5060;lr>"]),
        (record_route_uri("10.0.0.1", 5060), record_route_uri("10.0.0.1", 5060, "TCP"),
         ["<sip:10.0.0.1:5060;transport=tcp;lr>", "<sip:10.0.0.1:5060;lr>"]),
        (record_route_uri("192.0.2.5"), record_route_uri("10.0.0.5", 5061, "TLS", sips=True),
         ["<sips:10.0.0.5:5061;transport=tls;lr>", "<sip:192.0.2.5;lr>"]),
    ],
)  # fmt: skip
def test_double_record_route(inbound: URI, outbound: URI | None, values: list[str]) -> None:
    assert record_route_values(inbound, outbound) == values
    req = f1()
    req.add("Record-Route", "<sip:upstream.example;lr>")
    add_record_route(req, inbound, outbound)
    assert req.values("Record-Route") == values + ["<sip:upstream.example;lr>"]


def mine(host: str) -> bool:
    return host in ("p1.example.com", "p2.domain.com")


def test_rfc3261_16_12_1_2_strict_router_next_hop() -> None:
    """U1's BYE through P1 (loose) towards P2, a strict router (§16.12.1.2)."""
    bye = parse(
        b"BYE sip:callee@u2.domain.com SIP/2.0\r\nVia: SIP/2.0/UDP u1.example.com;branch=z9hG4bK1\r\n"
        b"Route: <sip:p1.example.com;lr>,<sip:p2.domain.com>\r\nMax-Forwards: 70\r\n"
        b"From: <sip:caller@u1.example.com>;tag=1\r\nTo: <sip:callee@domain.com>;tag=2\r\n"
        b"Call-ID: c\r\nCSeq: 2 BYE\r\n\r\n"
    )
    assert isinstance(bye, Request)
    result = preprocess_routes(bye, lambda u: u.host == "p1.example.com")
    assert result == (False, 1)
    target = postprocess_routes(bye)
    assert str(target) == "sip:p2.domain.com" and bye.uri_text == "sip:p2.domain.com"
    assert bye.get_all("Route") == ["<sip:callee@u2.domain.com>"]


def test_rfc3261_16_4_previous_hop_was_a_strict_router() -> None:
    """P2 (strict) put our Record-Route URI in the Request-URI: restore it (§16.4)."""
    req = parse(
        b"BYE sip:p1.example.com;lr SIP/2.0\r\nVia: SIP/2.0/UDP p2.domain.com;branch=z9hG4bK2\r\n"
        b"Route: <sip:caller@u1.example.com>\r\nMax-Forwards: 69\r\nFrom: <sip:a@b>;tag=1\r\n"
        b"To: <sip:c@d>;tag=2\r\nCall-ID: c\r\nCSeq: 3 BYE\r\n\r\n"
    )
    assert isinstance(req, Request)
    result = preprocess_routes(req, lambda u: u.host == "p1.example.com")
    assert result.strict and req.uri_text == "sip:caller@u1.example.com"
    assert "Route" not in req and postprocess_routes(req) == parse_uri("sip:caller@u1.example.com")


@pytest.mark.parametrize(
    ("routes", "removed", "left", "hop"),
    [
        (["<sip:p1.example.com;lr>", "<sip:p2.domain.com;lr>"], 2, [], "sip:bob@biloxi.com"),
        (["<sip:p1.example.com;lr>, <sip:x.example;lr>"], 1, ["<sip:x.example;lr>"], "sip:x.example;lr"),
        (["<sip:x.example;lr>"], 0, ["<sip:x.example;lr>"], "sip:x.example;lr"),
        ([], 0, [], "sip:bob@biloxi.com"),
    ],
)  # fmt: skip
def test_removing_our_own_route(routes: list[str], removed: int, left: list[str], hop: str) -> None:
    req = f1()
    for r in routes:
        req.add("Route", r)
    assert preprocess_routes(req, lambda u: mine(u.host)).removed == removed
    assert req.values("Route") == left
    assert str(postprocess_routes(req)) == hop


# -- best response (§16.7 items 6 and 7) ------------------------------------------------------------
def responses(*statuses: int) -> list[Response]:
    out = []
    for status in statuses:
        r = make_response(f1(), status, to_tag=str(status))
        if status == 401:
            r.add("WWW-Authenticate", f'Digest realm="r{len(out)}", nonce="n"')
        if status == 407:
            r.add("Proxy-Authenticate", f'Digest realm="p{len(out)}", nonce="n"')
        out.append(r)
    return out


@pytest.mark.parametrize(
    ("statuses", "best"),
    [
        ((486, 603, 200), 200),        # a 2xx beats everything
        ((486, 603, 302), 603),        # 6xx beats the lower classes
        ((500, 404, 302), 302),        # lowest class: 3xx
        ((500, 404), 404),
        ((404, 401, 480), 401),        # 4xx preference: 401, 407, 415, 420, 484
        ((480, 484), 484),
        ((503,), 500),                 # 503 becomes 500
        ((503, 502), 500),
        ((), 408),                     # nothing came back: 408
        ((180, 183), 408),             # provisional responses do not count
    ],
)  # fmt: skip
def test_best_response(statuses: tuple[int, ...], best: int) -> None:
    assert best_response(responses(*statuses), f1()).status == best


def test_401_407_challenges_are_merged() -> None:
    rs = responses(401, 407, 401, 486)
    out = best_response(rs, f1())
    assert out.status == 401 and out is not rs[0]
    assert out.get_all("WWW-Authenticate") == [
        'Digest realm="r0", nonce="n"',
        'Digest realm="r2", nonce="n"',
    ]
    assert out.get_all("Proxy-Authenticate") == ['Digest realm="p1", nonce="n"']
    assert rs[0].get_all("WWW-Authenticate") == ['Digest realm="r0", nonce="n"']  # untouched
