"""http_client through a real worker and a real aiohttp service: codes, results, httpcon,
$curlerror/$httprhdr, and the worker serving other messages while a query waits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.server import Server
from modules import http_client
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
            if ci == "ping":
                KSR.sl.sl_send_reply(200, "pong")
                return
            hc = KSR.http_client
            if ci == "get":
                rc = hc.query(BASE + "/echo", "$var(r)")
            elif ci == "all":
                rc = hc.query_post(BASE + "/echo", "body1", "$var(r)")
            elif ci == "hdrs":
                rc = hc.query_post_hdrs(BASE + "/echo", "b", "X-A: 1\\r\\nX-B: 2", "$var(r)")
            elif ci == "gethdrs":
                rc = hc.get_hdrs(BASE + "/echo", "", "X-C: 3", "$var(r)")
            elif ci == "put":
                rc = hc.query_request("PUT", BASE + "/echo", "pp", "", "$var(r)")
            elif ci == "404":
                rc = hc.query(BASE + "/echo?status=404&text=nf", "$var(r)")
            elif ci == "503":
                KSR.pv.sets("$var(r)", "untouched")
                rc = hc.query(BASE + "/echo?status=503&text=busy", "$var(r)")
            elif ci == "slow":
                rc = hc.query(BASE + "/echo?delay=0.6", "$var(r)")
            elif ci == "timeout":
                rc = hc.query(BASE + "/echo?delay=3", "$var(r)")
            elif ci == "down":
                rc = hc.query(DOWN + "/echo", "$var(r)")
            elif ci == "con":
                rc = hc.curl_connect("svc", "/echo", "$var(r)")
            elif ci == "conpost":
                rc = hc.curl_connect_post("svc", "echo", "application/json", "{{}}", "$var(r)")
            elif ci == "failover":
                rc = hc.curl_connect("dead", "/echo", "$var(r)")
            elif ci == "basic":
                rc = hc.curl_connect("auth", "/basic", "$var(r)")
            elif ci == "big":
                rc = hc.query(BASE + "/big", "$var(r)")
                KSR.pv.seti("$var(r)", len(KSR.pv.get("$var(r)")))
            KSR.hdr.append_to_reply("X-Rc: %s\\r\\n" % rc)
            KSR.hdr.append_to_reply("X-R: %s\\r\\n" % repr(KSR.pv.get("$var(r)")))
            KSR.hdr.append_to_reply("X-Err: %s\\r\\n" % KSR.pv.get("$curlerror(%d)" % rc))
            KSR.hdr.append_to_reply("X-H: %s\\r\\n" % KSR.pv.get("$httprhdr(X-Reply)"))
            KSR.sl.sl_send_reply(200, "done")
"""


def _cfg(base: str, down: str) -> str:
    base_hp = base.removeprefix("http://")
    return CFG + (
        'loadmodule "http_client.so"\n'
        'modparam("http_client", "connection_timeout", 1)\n'
        'modparam("http_client", "keep_connections", 1)\n'
        'modparam("http_client", "maxdatasize", 1000)\n'
        f'modparam("http_client", "httpcon", "svc=>{base}/base")\n'
        f'modparam("http_client", "httpcon", "dead=>{down};failover=svc;timeout=1")\n'
        f'modparam("http_client", "httpcon", "auth=>http://user:secret@{base_hp};authmethod=1")\n'
    )


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[Server, Service, Peer]]:
    service = await start_service()
    down = f"http://127.0.0.1:{await closed_port()}"
    script = SCRIPT.format(base=service.url, down=down)
    server = await start_proxy(tmp_path, script, _cfg(service.url, down))
    peer = await Peer.open()
    yield server, service, peer
    peer.close()
    await server.stop()
    await service.stop()
    http_client.module.reset_params()


async def ask(server: Server, peer: Peer, ci: str, timeout: float = 5) -> Response:
    peer.send(request("OPTIONS", call_id=ci, branch=f"z9hG4bK{ci}"), port_of(server, "udp"))
    resp = await peer.recv(timeout)
    assert isinstance(resp, Response)
    return resp


def hdrs(resp: Response) -> tuple[Any, ...]:
    return tuple(resp.get(h) for h in ("X-Rc", "X-R", "X-Err", "X-H"))


async def test_queries_and_results(setup: tuple[Server, Service, Peer]) -> None:
    server, service, peer = setup
    assert hdrs(await ask(server, peer, "get")) == ("200", "'line1 GET'", "Unknown error", "yes")
    assert hdrs(await ask(server, peer, "all"))[:2] == ("200", "'line1 POST'")
    assert service.seen[-1]["body"] == "body1"
    assert hdrs(await ask(server, peer, "hdrs"))[0] == "200"
    headers = service.seen[-1]["headers"]
    assert isinstance(headers, dict) and (headers["X-A"], headers["X-B"]) == ("1", "2")
    assert hdrs(await ask(server, peer, "gethdrs"))[0] == "200"
    assert service.seen[-1]["method"] == "GET" and service.seen[-1]["headers"]["X-C"] == "3"  # type: ignore[index]
    assert hdrs(await ask(server, peer, "put"))[:2] == ("200", "'line1 PUT'")
    assert hdrs(await ask(server, peer, "404"))[:2] == ("404", "'nf'")
    assert hdrs(await ask(server, peer, "503"))[:2] == ("503", "'untouched'")
    assert hdrs(await ask(server, peer, "big"))[:2] == ("200", "1000")  # maxdatasize cut


async def test_failures_are_negative(setup: tuple[Server, Service, Peer]) -> None:
    server, _, peer = setup
    rc, _, err, _ = hdrs(await ask(server, peer, "down"))
    assert (rc, err) == ("-7", "Couldn't connect to server")
    start = time.monotonic()
    rc, _, err, _ = hdrs(await ask(server, peer, "timeout"))
    assert (rc, err) == ("-28", "Timeout was reached") and time.monotonic() - start < 2


async def test_named_connections(setup: tuple[Server, Service, Peer]) -> None:
    server, service, peer = setup
    assert hdrs(await ask(server, peer, "con"))[:2] == ("200", "'line1 GET'")
    assert service.seen[-1]["path"] == "/base/echo"
    assert hdrs(await ask(server, peer, "conpost"))[:2] == ("200", "'line1 POST'")
    assert service.seen[-1]["headers"]["Content-Type"] == "application/json"  # type: ignore[index]
    assert hdrs(await ask(server, peer, "failover"))[:2] == ("200", "'line1 GET'")
    assert hdrs(await ask(server, peer, "basic"))[:2] == ("200", "'authorized'")
    assert http_client.rpc_listcon()[0]["name"] == "svc"


async def test_worker_serves_while_waiting(setup: tuple[Server, Service, Peer]) -> None:
    server, _, peer = setup
    port = port_of(server, "udp")
    peer.send(request("OPTIONS", call_id="slow", branch="z9hG4bKslow"), port)
    await asyncio.sleep(0.05)
    start = time.monotonic()
    peer.send(request("OPTIONS", call_id="ping", branch="z9hG4bKping"), port)
    first = await peer.recv()
    assert isinstance(first, Response) and first.call_id == "ping"
    assert time.monotonic() - start < 0.3
    second = await peer.recv()
    assert isinstance(second, Response) and second.call_id == "slow" and second.get("X-Rc") == "200"
