"""jsonrpcc through the engine, against small asyncio JSON-RPC servers on 127.0.0.1: a
request suspends the transaction and its answer (an rtjson document) routes the call; error
objects, timeouts (per request), no server, a server restarting, failover by priority,
weights, notifications, and malformed answers."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from app.cfgpre import ConfigError
from app.config import Listen, load_modules, parse_config_text
from app.server import Server
from modules import jsonrpcc
from modules._jsonrpcc_client import Backoff, Group, parse_servers
from modules._netstring import Decoder, encode
from modules.tm import rpc_stats
from tests.app.harness import Peer, port_of

from .test_evapi import wait_for
from .test_tm import answer, expect, invite

CFG = """\
#!KAMAILIO
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "rtjson.so"
loadmodule "jsonrpcc.so"
loadmodule "app_python3.so"
modparam("app_python3", "load", "script.py")
modparam("jsonrpcc", "servers", "SERVERS")
modparam("jsonrpcc", "reconnect_min", 20)
modparam("jsonrpcc", "reconnect_max", 100)
cfgengine "python"
"""

SCRIPT = """
import json
import KSR

def mod_init():
    return Handler()

class Handler:
    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        if KSR.is_CANCEL() or KSR.is_ACK():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return
        if KSR.tm.t_check_trans() == 0:
            return
        timeout = KSR.pv.gete("$hdr(X-Timeout)")
        if timeout:
            KSR.pv.seti("$jsonrpcc(timeout)", int(timeout))
        params = json.dumps({"ruri": KSR.pv.get("$ru"), "callid": KSR.pv.get("$ci")})
        KSR.jsonrpcc.notice("seen", params)
        method = KSR.pv.gete("$hdr(X-Method)") or "route"
        if KSR.jsonrpcc.request(method, params, "ksr_rpc_reply") < 0:
            KSR.sl.send_reply(500, "Request Failed")

    def ksr_rpc_reply(self, msg):
        if KSR.pv.get("$jsonrpcc(ok)") != 1:
            error = KSR.pv.get("$jsonrpcc(error)")
            if error in ("timeout", "failure"):
                KSR.tm.t_reply(503, error)
            else:
                KSR.tm.t_reply(502, json.loads(error)["message"])
            return 1
        KSR.rtjson.init_routes(KSR.pv.get("$jsonrpcc(result)"))
        KSR.rtjson.push_routes()
        KSR.tm.t_relay()
        return 1
"""


class RpcServer:
    """A JSON-RPC server over netstrings: ``route`` answers an rtjson document to ``uas``."""

    def __init__(self, uas: int = 0, name: str = "s") -> None:
        self.uas, self.name = uas, name
        self.calls: list[dict[str, Any]] = []
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self, port: int = 0) -> RpcServer:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        dec = Decoder()
        while data := await reader.read(65536):
            for item in dec.feed(data):
                asyncio.ensure_future(self._answer(writer, json.loads(item)))

    async def _answer(self, writer: asyncio.StreamWriter, req: dict[str, Any]) -> None:
        self.calls.append(req)
        method, ident = req["method"], req.get("id")
        if ident is None:
            return
        if method == "slow":
            await asyncio.sleep(1)
        if method == "garbage":
            writer.write(b"7:not{js},")  # a JSON error
            writer.write(encode(json.dumps({"jsonrpc": "2.0", "id": 99999, "result": 1})))
            writer.write(b"x:bad,")  # a framing error (the decoder restarts)
            return
        if method == "fail":
            out = {"error": {"code": -32000, "message": "No Route"}}
        else:
            doc = {
                "routing": "serial",
                "routes": [{"uri": f"sip:{self.name}@127.0.0.1:{self.uas}"}],
            }
            out = {"result": doc}
        writer.write(encode(json.dumps({"jsonrpc": "2.0", "id": ident, **out})))


async def start(tmp: Path, servers: str) -> Server:
    (tmp / "script.py").write_text(textwrap.dedent(SCRIPT))
    cfg = CFG.replace("SERVERS", servers)
    (tmp / "kamailio.cfg").write_text(cfg)
    config = parse_config_text(cfg, str(tmp / "kamailio.cfg"))
    server = Server(config, load_modules(config), (Listen("udp", "127.0.0.1", 0),), grace=0.5)
    await server.start()
    return server


def connected(count: int = 1) -> Any:
    return lambda: sum(s["connected"] for s in jsonrpcc.rpc_servers()) == count


async def call(uac: Peer, port: int, n: int, extra: str = "") -> None:
    uac.send(invite(None, call_id=f"c{n}", branch=f"z9hG4bKc{n}", extra=extra), port)


async def test_answer_routes_the_call_and_notice(tmp_path: Path) -> None:
    uac, uas = await Peer.open(), await Peer.open()
    rpc = await RpcServer(uas.port).start()
    server = await start(tmp_path, f"127.0.0.1:{rpc.port},1")
    port = port_of(server, "udp")
    try:
        await wait_for(connected())
        await call(uac, port, 1)
        fwd = await expect(uas, "INVITE")
        assert fwd.uri_text == f"sip:s@127.0.0.1:{uas.port}"  # type: ignore[union-attr]
        answer(uas, fwd, 200, port)  # type: ignore[arg-type]
        assert (await expect(uac, 200)).status == 200
        seen, route = rpc.calls[0], rpc.calls[1]
        assert seen["method"] == "seen" and "id" not in seen and seen["jsonrpc"] == "2.0"
        assert route["method"] == "route" and route["params"]["callid"] == "c1"
        assert rpc_stats()["suspended"] == 0 and jsonrpcc.rpc_stats()["results"] == 1
    finally:
        uac.close()
        uas.close()
        await server.stop()
        await rpc.stop()


async def test_error_timeout_failure(tmp_path: Path) -> None:
    uac = await Peer.open()
    rpc = await RpcServer().start()
    server = await start(tmp_path, f"127.0.0.1:{rpc.port},1")
    port = port_of(server, "udp")
    try:
        await wait_for(connected())
        await call(uac, port, 1, "X-Method: fail\r\n")
        assert (await expect(uac, 502)).reason == "No Route"
        await call(uac, port, 2, "X-Method: slow\r\nX-Timeout: 100\r\n")
        assert (await expect(uac, 503, timeout=0.9)).reason == "timeout"
        await call(uac, port, 3, "X-Method: garbage\r\nX-Timeout: 200\r\n")
        assert (await expect(uac, 503)).reason == "timeout"
        stats = jsonrpcc.rpc_stats()
        assert stats["bad_replies"] == 2 and stats["bad_frames"] == 1 and stats["timeouts"] == 2
        await rpc.stop()
        await wait_for(connected(0))
        await call(uac, port, 4)
        assert (await expect(uac, 503)).reason == "failure"
        assert rpc_stats()["suspended"] == 0
    finally:
        uac.close()
        await server.stop()


async def test_restart_and_failover(tmp_path: Path) -> None:
    uac, uas = await Peer.open(), await Peer.open()
    main, backup = (
        await RpcServer(uas.port, "main").start(),
        await RpcServer(uas.port, "backup").start(),
    )
    server = await start(tmp_path, f"127.0.0.1:{main.port},2 127.0.0.1:{backup.port},1")
    port = port_of(server, "udp")

    async def routed(n: int) -> str:
        await call(uac, port, n)
        fwd = await expect(uas, "INVITE")
        answer(uas, fwd, 486, port)  # type: ignore[arg-type]
        await expect(uac, 486)
        return fwd.uri_text.split("@")[0]  # type: ignore[union-attr]

    try:
        await wait_for(connected(2))
        assert await routed(1) == "sip:main"
        await main.stop()
        await wait_for(connected(1))
        assert await routed(2) == "sip:backup"  # failover to the lower priority
        main = await RpcServer(uas.port, "main").start(main.port)  # restarted
        await wait_for(connected(2))
        assert await routed(3) == "sip:main"
    finally:
        uac.close()
        uas.close()
        await server.stop()
        await backup.stop()
        await main.stop()


async def test_weights_spread_requests() -> None:
    servers = [await RpcServer(name=f"w{i}").start() for i in range(2)]
    specs = parse_servers(f"127.0.0.1:{servers[0].port},5,3 127.0.0.1:{servers[1].port},5,1")
    group = Group(specs, Backoff(0.02, 0.1), 65536)
    group.start()
    try:
        await wait_for(lambda: all(c.up for c in group.conns))
        for _ in range(8):
            await group.call("route", {}, 1.0)
        assert [len(s.calls) for s in servers] == [6, 2]
    finally:
        await group.stop()
        for s in servers:
            await s.stop()


def test_servers_modparam() -> None:
    assert parse_servers("a:1,2 [::1]:3,1,4 b:5") == [
        *parse_servers("a:1,2,1"), *parse_servers("::1:3,1,4"), *parse_servers("b:5,0,1")]  # fmt: skip
    for bad in ("nohost", "a:1,2,3,4", "a:x,1", "a:1,1,0"):
        with pytest.raises(ValueError):
            parse_servers(bad)
    cfg = CFG.replace("SERVERS", "oops")
    with pytest.raises(ConfigError, match="kamailio.cfg:9"):
        load_modules(parse_config_text(cfg, "kamailio.cfg"))
