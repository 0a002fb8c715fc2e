"""rr through the engine on loopback: Record-Route (single, double, preset, params) and
loose_route with RFC 3261 §16.12 / §24.2-shaped messages, strict routers included."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from modules import rr
from sip import Request, parse
from sip.message import make_response
from tests.app.harness import Peer, port_of

from ._basic_kit import results, serve, sip


async def _forwarded(tmp: Path, ops: str, params: dict | None = None, **kw: object) -> Request:
    server = await serve(tmp, [rr.module], {"rr": params or {}})
    uac, uas = await Peer.open(), await Peer.open()
    try:
        extra = f"X-Fwd: sip:127.0.0.1:{uas.port}\r\n" + str(kw.pop("extra", ""))
        uac.send(sip(ops, "INVITE", extra=extra, **kw), port_of(server, "udp"))  # type: ignore[arg-type]
        msg = await uas.recv()
        assert isinstance(msg, Request)
        msg.transport_hint = str(port_of(server, "udp"))
        return msg
    finally:
        uac.close()
        uas.close()
        await server.stop()


async def test_record_route_uses_the_incoming_socket_and_ftag(tmp_path: Path) -> None:
    ops = "KSR.rr.record_route() ;; KSR.rr.add_rr_param(';nat=yes') ;; KSR.rr.record_route()"
    msg = await _forwarded(tmp_path, ops)
    port = msg.transport_hint
    assert results(msg) == [1, 1, -1]  # a second record_route() is refused
    assert msg.get_all("Record-Route") == [f"<sip:127.0.0.1:{port};lr;ftag=f1;nat=yes>"]
    assert msg.raw_lines()[0].startswith("Record-Route:")  # above everything, as Kamailio


async def test_full_lr_no_fromtag_and_existing_record_routes(tmp_path: Path) -> None:
    params = {"enable_full_lr": 1, "append_fromtag": 0}
    extra = "Record-Route: <sip:p1.example.com;lr>\r\n"
    msg = await _forwarded(tmp_path, "KSR.rr.add_rr_param('x=1') ;; KSR.rr.record_route()",
                           params, extra=extra)  # fmt: skip
    port = msg.transport_hint
    assert msg.get_all("Record-Route") == [
        f"<sip:127.0.0.1:{port};lr=on;x=1>", "<sip:p1.example.com;lr>",
    ]  # fmt: skip


async def test_preset_advertised_and_remove(tmp_path: Path) -> None:
    msg = await _forwarded(
        tmp_path, "KSR.rr.record_route_preset('1.2.3.4:5090;x=1', '5.6.7.8;r2=on')"
    )
    assert msg.get_all("Record-Route") == [
        "<sip:1.2.3.4:5090;x=1;ftag=f1;lr>", "<sip:5.6.7.8;r2=on;ftag=f1;lr>",
    ]  # fmt: skip
    msg = await _forwarded(tmp_path, "KSR.rr.record_route_advertised_address('9.9.9.9:5099')")
    assert msg.get_all("Record-Route") == ["<sip:9.9.9.9:5099;ftag=f1;lr>"]
    msg = await _forwarded(tmp_path, "KSR.rr.record_route_preset_one('$si:7;u=$fU')")
    assert msg.get_all("Record-Route") == ["<sip:127.0.0.1:7;u=alice;ftag=f1;lr>"]
    msg = await _forwarded(tmp_path, "KSR.rr.record_route() ;; KSR.rr.remove_record_route()")
    assert "Record-Route" not in msg and results(msg) == [1, 1]


@pytest.mark.parametrize("relay", ["forward", "t_relay"])
async def test_double_record_route_tcp_in_udp_out(tmp_path: Path, relay: str) -> None:
    """TCP in, UDP out: two Record-Route values (enable_double_rr=1, RFC 5658), whether the
    request is forwarded statelessly or relayed by tm's t_relay."""
    from modules import tm

    server = await serve(tmp_path, [rr.module, tm.module])
    uas = await Peer.open()
    tcp_port, udp_port = port_of(server, "tcp"), port_of(server, "udp")
    if relay == "forward":
        data = sip("KSR.rr.record_route()", "INVITE", extra=f"X-Fwd: sip:127.0.0.1:{uas.port}\r\n")
    else:
        ops = f"KSR.rr.record_route() ;; KSR.setdsturi('sip:127.0.0.1:{uas.port}') ;; KSR.tm.t_relay()"
        data = sip(ops, "INVITE", extra="X-Stop: 1\r\n")
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", tcp_port)
        writer.write(data.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP"))
        await writer.drain()
        msg = await uas.recv()
        assert msg.get_all("Record-Route") == [
            f"<sip:127.0.0.1:{udp_port};r2=on;lr;ftag=f1>",
            f"<sip:127.0.0.1:{tcp_port};transport=tcp;r2=on;lr;ftag=f1>",
        ]
        writer.close()
    finally:
        uas.close()
        await server.stop()


async def test_double_record_route_mode_2_and_disabled(tmp_path: Path) -> None:
    msg = await _forwarded(tmp_path, "KSR.rr.record_route()", {"enable_double_rr": 2})
    port = msg.transport_hint
    assert msg.get_all("Record-Route") == [f"<sip:127.0.0.1:{port};r2=on;lr;ftag=f1>"] * 2
    msg = await _forwarded(tmp_path, "KSR.rr.record_route()", {"enable_double_rr": 0})
    assert len(msg.get_all("Record-Route")) == 1


ROUTED = (
    "KSR.rr.loose_route() ;; KSR.pv.get('$du') ;; KSR.pv.get('$ru') ;; "
    "KSR.rr.check_route_param('nat=yes') ;; KSR.rr.is_direction('downstream') ;; "
    "KSR.rr.is_direction('upstream') ;; KSR.rr.next_hop_route() ;; KSR.pv.get('$route_uri')"
)


async def _route(
    tmp: Path, uri: str, route: str, to_tag: bool = True
) -> tuple[list, Request | None]:
    """Send a BYE through loose_route(); results and what the next hop got (if anything)."""
    server = await serve(tmp, [rr.module])
    uac, hop = await Peer.open(), await Peer.open()
    port = port_of(server, "udp")
    fmt = {"me": f"127.0.0.1:{port}", "hop": f"127.0.0.1:{hop.port}"}
    to = "<sip:bob@example.com>" + (";tag=t9" if to_tag else "")
    route_hdr = f"Route: {route.format(**fmt)}\r\n" if route else ""
    try:
        data = sip(ROUTED, "BYE", uri.format(**fmt), to=to, extra=route_hdr + "X-Fwd: du\r\n")
        uac.send(data, port)
        try:
            got = await hop.recv(0.5)
        except TimeoutError:
            return [], None
        assert isinstance(got, Request)
        return results(got), got
    finally:
        uac.close()
        hop.close()
        await server.stop()


async def test_loose_route_in_dialog_removes_ours_and_routes_by_next(tmp_path: Path) -> None:
    res, got = await _route(
        tmp_path, "sip:bob@10.0.0.9", "<sip:{me};lr;ftag=f1;nat=yes>, <sip:{hop};lr>"
    )
    assert got is not None
    hop = got.routes[0].uri
    assert res == [1, str(hop), "sip:bob@10.0.0.9", 1, 1, -1, 1, res[7]]
    assert res[7].endswith("nat=yes")  # $route_uri is the received top Route
    assert got.uri_text == "sip:bob@10.0.0.9" and len(got.routes) == 1


async def test_loose_route_upstream_and_strict_previous_hop(tmp_path: Path) -> None:
    # RFC 3261 §16.4: a strict router put our Record-Route URI in the Request-URI
    res, got = await _route(tmp_path, "sip:{me};lr;ftag=zz", "<sip:{hop};lr>, <sip:bob@10.0.0.9>")
    assert got is not None and res[0] == 1 and res[4:6] == [-1, 1]  # upstream: ftag != From tag
    assert got.uri_text == "sip:bob@10.0.0.9" and [str(r.uri) for r in got.routes] == [
        str(got.routes[0].uri)
    ]


async def test_loose_route_strict_next_hop(tmp_path: Path) -> None:
    # RFC 3261 §16.12 / §16.6 item 6: the next hop has no ;lr
    res, got = await _route(tmp_path, "sip:bob@10.0.0.9", "<sip:{me};lr>, <sip:{hop}>, <sip:p3;lr>")
    assert got is not None and res[:3] == [1, None, res[2]]
    assert res[2].startswith("sip:127.0.0.1:") and got.uri_text == res[2]
    assert [str(r.uri) for r in got.routes] == ["sip:p3;lr", "sip:bob@10.0.0.9"]


async def test_loose_route_double_rr_routes_and_preloaded(tmp_path: Path) -> None:
    res, got = await _route(
        tmp_path, "sip:bob@10.0.0.9",
        "<sip:{me};r2=on;lr>, <sip:{me};transport=tcp;r2=on;lr>, <sip:{hop};lr>",
    )  # fmt: skip
    assert got is not None and res[0] == 1 and len(got.routes) == 1
    res, got = await _route(tmp_path, "sip:{hop}", "<sip:{me};lr>", to_tag=False)
    assert got is not None and res[:3] == [-3, None, res[2]] and "Route" not in got
    res, got = await _route(tmp_path, "sip:{hop}", "<sip:{me};lr>")
    assert got is not None and res[0] == 1 and res[1] is None
    res, got = await _route(tmp_path, "sip:{hop}", "")
    assert got is not None and res[0] == -1 and res[6] == -1 and res[7] is None
    res, got = await _route(tmp_path, "sip:bob@10.0.0.9", "<sip:{hop};lr>", to_tag=False)
    assert got is not None and res[0] == 1  # a preloaded Route to another hop


async def test_callbacks_run_on_our_route_params_and_change_nothing(tmp_path: Path) -> None:
    """register_rrcb: the callback sees the params of our Route, may edit the message, and
    neither it nor a failing one changes loose_route's answer."""
    seen: list[str] = []

    def record(ctx: object, params: str) -> None:
        seen.append(params)
        ctx.editing().insert("X-Cb", params)  # type: ignore[attr-defined]

    def broken(ctx: object, params: str) -> None:
        raise RuntimeError("boom")

    rr.module.api["register_rrcb"](record)
    rr.module.api["register_rrcb"](broken)
    rr.module.api["register_rrcb"](record)  # once only
    try:
        res, got = await _route(
            tmp_path, "sip:bob@10.0.0.9", "<sip:{me};lr;ftag=f1;nat=yes>, <sip:{hop};lr>"
        )
        assert got is not None and res[:2] == [1, str(got.routes[0].uri)]
        assert seen == ["lr;ftag=f1;nat=yes"] and got.get("X-Cb") == seen[0]
        res, got = await _route(tmp_path, "sip:{hop}", "<sip:{me};lr;x=1>", to_tag=False)
        assert got is not None and res[0] == -3 and seen[-1] == "lr;x=1"
        res, got = await _route(tmp_path, "sip:bob@10.0.0.9", "<sip:{hop};lr>")  # not ours
        assert got is not None and res[0] == 1 and len(seen) == 2 and "X-Cb" not in got
    finally:
        rr.RR_CALLBACKS.remove(record)
        rr.RR_CALLBACKS.remove(broken)


DIALOG = """
    import KSR

    def mod_init():
        return Handler()

    class Handler:
        def child_init(self, rank):
            return 0

        def ksr_request_route(self, msg):
            if KSR.pv.get("$tt"):
                if KSR.rr.loose_route() > 0:
                    KSR.forward()
                else:
                    KSR.sl.sl_send_reply(404, "Not here")
                return 1
            KSR.rr.record_route()
            KSR.forward_uri(KSR.hdr.get("X-Callee"))
            return 1
"""


async def test_rfc3261_24_2_dialog_through_the_proxy(tmp_path: Path) -> None:
    """INVITE record-routed to the callee; the callee's BYE follows the route set back."""
    server = await serve(tmp_path, [rr.module], script=DIALOG)
    caller, callee = await Peer.open(), await Peer.open()
    port = port_of(server, "udp")
    try:
        invite = sip("", "INVITE", f"sip:bob@127.0.0.1:{callee.port}",
                     via=f"127.0.0.1:{caller.port}",
                     extra=f"X-Callee: sip:127.0.0.1:{callee.port}\r\n"
                           f"Contact: <sip:alice@127.0.0.1:{caller.port}>\r\n")  # fmt: skip
        caller.send(invite, port)
        got = await callee.recv()
        assert isinstance(got, Request)
        route_set = [str(r) for r in got.record_routes]  # the callee's route set (§12.1.1)
        assert route_set == [f"<sip:127.0.0.1:{port};lr;ftag=f1>"]
        ok = make_response(got, 200, to_tag="b1", headers=[("Record-Route", route_set[0])])
        callee.send(bytes(ok), port)
        assert (await caller.recv()).status == 200  # type: ignore[union-attr]
        bye = (
            f"BYE sip:alice@127.0.0.1:{caller.port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{callee.port};branch=z9hG4bKbye1;rport\r\n"
            f"Route: {route_set[0]}\r\n"
            "From: <sip:bob@example.com>;tag=b1\r\nTo: <sip:alice@example.com>;tag=f1\r\n"
            "Call-ID: k1\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        callee.send(bye.encode(), port)
        fwd = await caller.recv()
        assert isinstance(fwd, Request) and fwd.method == "BYE" and "Route" not in fwd
        assert fwd.uri_text == f"sip:alice@127.0.0.1:{caller.port}"
    finally:
        caller.close()
        callee.close()
        await server.stop()


def test_parse_of_route_values_is_shared() -> None:
    msg = parse(b"BYE sip:a@b SIP/2.0\r\nRoute: <sip:x;lr>, <sip:y>\r\nContent-Length: 0\r\n\r\n")
    assert [r.uri.has_param("lr") for r in msg.routes] == [True, False]
    assert callable(rr.module.api["finalize"])
