"""http_async_client without a transaction (Kamailio: no suspend, the callback runs on a
faked request when the answer comes) and the $http_* variables, against a real service."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.server import Server
from modules import http_async_client
from sip import Response
from tests.app.harness import CFG, Peer, port_of, request

from ._http_service import Service, closed_port, start_proxy, start_service

SCRIPT = """
    import KSR

    BASE = {base!r}
    DOWN = {down!r}

    def mod_init():
        return Handler()

    class Handler:
        def child_init(self, rank):
            return 0

        def ksr_request_route(self, msg):
            ci = KSR.pv.get("$ci")
            a = KSR.http_async_client
            if ci == "read":
                KSR.hdr.append_to_reply("X-Got: %s\\r\\n" % KSR.pv.get("$var(got)"))
                KSR.sl.sl_send_reply(200, "read")
                return
            if ci == "types":
                ok = [KSR.pv.seti("$http_req(timeout)", 100), KSR.pv.sets("$http_req(timeout)", "1"),
                      KSR.pv.sets("$http_req(body)", "b"), KSR.pv.seti("$http_req(body)", 1),
                      KSR.pv.sets("$http_req(method)", "BREW"), KSR.pv.sets("$http_req(nope)", "x"),
                      KSR.pv.unset("$http_req(all)"), KSR.pv.get("$http_req(body)")]
                KSR.sl.sl_send_reply(200, repr(ok))
                return
            KSR.pv.sets("$var(got)", "")
            if ci == "get":
                KSR.pv.sets("$http_req(hdr)", "X-One: 1")
                KSR.pv.sets("$http_req(hdr)", "X-Two: 2")
                rc = a.query(BASE + "/echo?text=hello", "cb")
            elif ci == "post":
                KSR.pv.sets("$http_req(body)", "payload")
                KSR.pv.sets("$http_req(method)", "put")
                rc = a.query(BASE + "/echo", "cb")
            elif ci == "timeout":
                KSR.pv.seti("$http_req(timeout)", 200)
                rc = a.query(BASE + "/echo?delay=2", "cb")
            elif ci == "down":
                rc = a.query(DOWN + "/x", "cb")
            elif ci == "xdata":
                rc = a.send_xdata(BASE + "/echo?status=404&text=nf", "cb", "my-data")
            KSR.hdr.append_to_reply("X-Rc: %s\\r\\n" % rc)
            KSR.hdr.append_to_reply("X-Id: %s\\r\\n" % KSR.pv.get("$http_req_id"))
            KSR.sl.sl_send_reply(200, "sent")

        def cb(self, msg, evname=None):
            names = ["$http_ok", "$http_err", "$http_rs", "$http_rr", "$http_rb", "$http_bs",
                     "$http_hdr(X-Reply)", "$http_hdr(Content-Type)", "$http_req_id",
                     "$http_xdata"]
            vals = [KSR.pv.get(n) for n in names]
            total = KSR.pv.get("$http_time(total)")
            vals.append(isinstance(total, int) and total > 0)
            vals.append(evname)
            KSR.pv.sets("$var(got)", repr(vals))
"""


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[Server, Service, Peer]]:
    service = await start_service()
    down = f"http://127.0.0.1:{await closed_port()}"
    cfg = CFG + 'loadmodule "http_async_client.so"\n'
    server = await start_proxy(tmp_path, SCRIPT.format(base=service.url, down=down), cfg)
    peer = await Peer.open()
    yield server, service, peer
    peer.close()
    await server.stop()
    await service.stop()


_seq = itertools.count()


async def ask(server: Server, peer: Peer, ci: str) -> Response:
    branch = f"z9hG4bK{ci}{next(_seq)}"
    peer.send(request("OPTIONS", call_id=ci, branch=branch), port_of(server, "udp"))
    resp = await peer.recv()
    assert isinstance(resp, Response)
    return resp


async def result(server: Server, peer: Peer) -> list[object]:
    for _ in range(100):
        got = (await ask(server, peer, "read")).get("X-Got")
        if got and got != "None":
            return eval(got)  # noqa: S307 - our own repr
        await asyncio.sleep(0.02)
    raise AssertionError("callback did not run")


async def test_query_without_transaction(setup: tuple[Server, Service, Peer]) -> None:
    server, service, peer = setup
    resp = await ask(server, peer, "get")
    assert resp.get("X-Rc") == "1" and resp.get("X-Id", "").endswith("-1") is not None
    vals = await result(server, peer)
    assert vals[:8] == [1, None, 200, "OK", "hello", 5, "yes", "text/plain; charset=utf-8"]
    assert vals[8] == resp.get("X-Id") and vals[9] is None and vals[10] is True
    assert vals[11] == "http_async_client:callback"
    headers = service.seen[-1]["headers"]
    assert isinstance(headers, dict) and (headers["X-One"], headers["X-Two"]) == ("1", "2")
    await ask(server, peer, "post")
    assert (await result(server, peer))[4] == "line1 PUT\nline2 payload"
    assert service.seen[-1]["method"] == "PUT"
    assert "X-One" not in service.seen[-1]["headers"]  # type: ignore[operator]  # reset


async def test_errors_and_xdata(setup: tuple[Server, Service, Peer]) -> None:
    server, _, peer = setup
    await ask(server, peer, "timeout")
    vals = await result(server, peer)
    assert vals[:3] == [0, "Timeout was reached", None]
    await ask(server, peer, "down")
    vals = await result(server, peer)
    assert vals[0] == 0 and vals[1].startswith("Couldn't connect to server")  # type: ignore[union-attr]
    await ask(server, peer, "xdata")
    vals = await result(server, peer)
    assert vals[:5] == [1, None, 404, "Not Found", "nf"] and vals[9] == "my-data"
    st = http_async_client.rpc_stats()
    assert (st["timeouts"], st["errors"], st["replies"], st["pending"]) == (1, 1, 1, 0)


async def test_http_req_types(setup: tuple[Server, Service, Peer]) -> None:
    server, _, peer = setup
    reason = (await ask(server, peer, "types")).reason
    assert reason == "[True, False, True, False, False, False, True, None]"


SUSPEND = """
    import KSR

    BASE = {base!r}
    DOWN = {down!r}

    def mod_init():
        return Handler()

    class Handler:
        def child_init(self, rank):
            return 0

        def ksr_request_route(self, msg):
            if KSR.is_ACK():
                return
            ci = KSR.pv.get("$ci")
            if ci == "ping":
                KSR.sl.sl_send_reply(200, "pong")
                return
            KSR.tm.t_newtran()
            KSR.pv.sets("$var(v)", "var1")
            KSR.pv.sets("$avp(a)", "avp1")
            KSR.pv.sets("$xavp(x=>f)", "xavp1")
            KSR.setflag(5)
            url = DOWN if ci == "down" else BASE + "/echo?delay=0.2&text=first"
            rc = KSR.http_async_client.query(url, "first")
            KSR.pv.sets("$var(rc)", str(rc))

        def first(self, msg):
            if KSR.pv.get("$http_ok") != 1:
                KSR.tm.t_reply(503, "Routing Service Unavailable")
                return
            KSR.pv.sets("$avp(a)", KSR.pv.get("$http_rb"))
            KSR.http_async_client.query(BASE + "/echo?text=second", "second")

        def second(self, msg):
            state = [KSR.pv.get("$var(v)"), KSR.pv.get("$(avp(a)[0])"), KSR.pv.get("$(avp(a)[1])"),
                     KSR.pv.get("$xavp(x=>f)"), KSR.isflagset(5), KSR.pv.get("$http_rb"),
                     KSR.pv.get("$var(rc)")]
            KSR.tm.t_reply(486, repr(state))
"""


@pytest.fixture
async def suspending(tmp_path: Path) -> AsyncIterator[tuple[Server, Service, Peer]]:
    service = await start_service()
    down = f"http://127.0.0.1:{await closed_port()}"
    cfg = CFG + 'loadmodule "tm.so"\nloadmodule "tmx.so"\nloadmodule "http_async_client.so"\n'
    server = await start_proxy(tmp_path, SUSPEND.format(base=service.url, down=down), cfg)
    peer = await Peer.open()
    yield server, service, peer
    peer.close()
    await server.stop()
    await service.stop()


async def final(peer: Peer) -> Response:
    while True:
        resp = await peer.recv(5)
        if isinstance(resp, Response) and resp.status >= 200:
            return resp


async def test_suspend_chained_keeps_state(suspending: tuple[Server, Service, Peer]) -> None:
    server, _, peer = suspending
    port = port_of(server, "udp")
    peer.send(request("INVITE", call_id="chain", branch="z9hG4bKchain"), port)
    await asyncio.sleep(0.05)
    peer.send(request("OPTIONS", call_id="ping", branch="z9hG4bKping1"), port)
    first = await peer.recv()  # the OPTIONS is answered while the INVITE is suspended
    while isinstance(first, Response) and first.status == 100:
        first = await peer.recv()
    assert isinstance(first, Response) and first.call_id == "ping"
    resp = await final(peer)
    assert resp.status == 486 and resp.call_id == "chain"
    assert eval(resp.reason) == ["var1", "first", "avp1", "xavp1", True, "second", "0"]  # noqa: S307
    assert http_async_client.rpc_stats()["suspended"] == 0


async def test_suspend_service_down(suspending: tuple[Server, Service, Peer]) -> None:
    server, _, peer = suspending
    peer.send(request("INVITE", call_id="down", branch="z9hG4bKdown"), port_of(server, "udp"))
    resp = await final(peer)
    assert (resp.status, resp.reason) == (503, "Routing Service Unavailable")
    st = http_async_client.rpc_stats()
    assert (st["suspended"], st["pending"]) == (0, 0)
