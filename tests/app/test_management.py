"""The management API inside a worker (app.management): listeners of jsonrpcs/ctl in a
single worker, statistics, cfg.*, security defaults, and the cross-process proxying of the
management process tested with real worker endpoints on unix sockets (no fork)."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import management
from app.management_front import Local, Remote, call_scoped, front_table, summed, worker_table
from app.management_stats import define_stats
from app.module import Module, ParamError
from app.server import Server
from modules import ctl, jsonrpcs, sl
from rpc import Commands, RpcFault, RpcServer, Stats
from rpc.binrpc import binrpc_call
from rpc.ctl import DEFAULT_SOCKET
from tests.app.harness import request, start_server

SCRIPT = """
import KSR

class H:
    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        KSR.sl.sl_send_reply(200, "Pong")
        return 1

def mod_init():
    return H()
"""


@pytest.fixture
def sockdir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="mgmt", dir="/tmp")  # unix paths are at most 107 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


def configure(sockdir: str, **extra: Any) -> None:
    jsonrpcs.module.reset_params()
    ctl.module.reset_params()
    params = {"http_listen": "127.0.0.1:0", "unix_socket": f"{sockdir}/rpc.sock", **extra}
    for name, value in params.items():
        jsonrpcs.module.set_param(name, value)
    ctl.module.set_param("binrpc", f"unix:{sockdir}/ctl")


@pytest.fixture
async def server(tmp_path: Path, sockdir: str) -> AsyncIterator[Server]:
    configure(sockdir)
    srv = await start_server(tmp_path, SCRIPT, [jsonrpcs.module, ctl.module])
    yield srv
    await srv.stop()


def http_port() -> int:
    return int(management._state["front"][0].port)


async def call(sockdir: str, method: str, *params: Any) -> Any:
    reader, writer = await asyncio.open_unix_connection(f"{sockdir}/rpc.sock")
    writer.write(orjson.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}))
    writer.write_eof()
    reply = orjson.loads(await reader.readline())
    writer.close()
    return reply


async def options(server: Server, count: int = 1) -> None:
    port = next(p for kind, _, p in server.bound() if kind == "udp")
    loop = asyncio.get_running_loop()
    got: asyncio.Queue[bytes] = asyncio.Queue()

    class Proto(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            got.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(Proto, local_addr=("127.0.0.1", 0))
    me = transport.get_extra_info("sockname")[1]
    for n in range(count):
        transport.sendto(request(via=f"127.0.0.1:{me}", branch=f"z9hG4bKm{n}", call_id=f"m{n}"),
                         ("127.0.0.1", port))  # fmt: skip
        assert (await asyncio.wait_for(got.get(), 3)).startswith(b"SIP/2.0 200 Pong")
    transport.close()


async def test_single_worker_serves_core_commands(server: Server, sockdir: str) -> None:
    version = (await call(sockdir, "core.version"))["result"]
    assert version.startswith("siprouter ")
    psx = (await call(sockdir, "core.psx"))["result"]
    assert [p["PID"] for p in psx] == [os.getpid()]
    assert (await binrpc_call(f"{sockdir}/ctl", "core.version")) == [version]
    methods = (await call(sockdir, "system.listMethods"))["result"]
    assert {"app_python.reload", "sl.stats", "cfg.set", "stats.fetch"} <= set(methods)
    assert "siprouter.worker_stats" not in methods


async def test_statistics_move_and_metrics_parse(server: Server, sockdir: str) -> None:
    await call(sockdir, "stats.reset_statistics", "all")
    await options(server, 3)
    lines = (await call(sockdir, "stats.get_statistics", "core:", "sl:"))["result"]
    assert "core:rcv_requests = 3" in lines and "sl:200_replies = 3" in lines
    assert (await call(sockdir, "sl.stats"))["result"]["200_replies"] >= 3
    url = f"http://127.0.0.1:{http_port()}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        text = await resp.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["kamailio_core_rcv_requests"].samples[0].value == 3
    await call(sockdir, "stats.reset_statistics", "core:rcv_requests")
    assert (await call(sockdir, "stats.fetch", "rcv_requests"))["result"] == {
        "core.rcv_requests": "0"
    }


async def test_tmx_gauge_reads_the_transaction_layer(server: Server) -> None:
    stats = define_stats(["tm"], Stats())
    assert stats.get("tmx:active_transactions").value == 0  # type: ignore[union-attr]
    assert stats.get("tmx:active_transactions").kind == "gauge"  # type: ignore[union-attr]


async def test_reload_and_cfg(server: Server, sockdir: str, tmp_path: Path) -> None:
    levels = logging.getLogger().level, logging.getLogger("siprouter").level
    (tmp_path / "script.py").write_text(SCRIPT.replace("Pong", "Pang"))
    assert (await call(sockdir, "app_python.reload"))["result"] == {"old": 1, "new": 2}
    (tmp_path / "script.py").write_text("this is not python(")
    err = (await call(sockdir, "app_python.reload"))["error"]
    assert err["code"] == 500 and "reload failed" in err["message"]
    assert (await call(sockdir, "cfg.set", "sl", "default_code", 503))["result"] == 0
    assert sl.module.cfg["default_code"] == 503
    assert (await call(sockdir, "cfg.get", "sl", "default_code"))["result"] == 503
    assert (await call(sockdir, "cfg.set", "sl", "bind_tm", 0))["error"]["code"] == 400
    assert "sl: default_reason" in (await call(sockdir, "cfg.list"))["result"]
    assert (await call(sockdir, "cfg.set", "core", "debug", 3))["result"] == 0
    assert (await call(sockdir, "cfg.get", "core", "debug"))["result"] == 3
    assert logging.getLogger("siprouter").level == logging.DEBUG
    logging.getLogger().setLevel(levels[0])
    logging.getLogger("siprouter").setLevel(levels[1])
    sl.module.reset_params()


async def test_token_required_on_http(tmp_path: Path, sockdir: str) -> None:
    configure(sockdir, token="s3cret")
    srv = await start_server(tmp_path, SCRIPT, [jsonrpcs.module])
    try:
        url = f"http://127.0.0.1:{http_port()}"
        body = {"jsonrpc": "2.0", "method": "core.version", "id": 1}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/RPC", json=body) as resp:
                assert resp.status == 401
            async with http.get(f"{url}/metrics") as resp:
                assert resp.status == 401
            auth = {"Authorization": "Bearer s3cret"}
            async with http.post(f"{url}/RPC", json=body, headers=auth) as resp:
                assert resp.status == 200 and "siprouter" in (await resp.json())["result"]
        assert (await call(sockdir, "core.version"))["result"]  # the unix socket: permissions
    finally:
        await srv.stop()


def test_secure_defaults() -> None:
    jsonrpcs.module.reset_params()
    rpc = jsonrpcs.rpc_server(Commands(), Stats(), management.DEFAULT_RUN_DIR)
    assert rpc is not None and rpc.host == "127.0.0.1" and rpc.token is None
    assert rpc.unix_mode == 0o600
    assert rpc.unix_path == DEFAULT_SOCKET == "/run/siprouter/siprouter_rpc.sock"
    assert ctl.module.cfg["mode"] == 0o600
    with pytest.raises(ParamError):
        ctl.socket_path("tcp:127.0.0.1:2049", "/tmp")
    with pytest.raises(ParamError):
        jsonrpcs.http_address("nonsense")


def test_runtime_params() -> None:
    mod = Module("t_runtime")
    mod.param("fixed", int, 1)
    mod.param("timer", int, 10, runtime=True)
    seen: list[tuple[str, Any]] = []
    mod.on_change(lambda name, value: seen.append((name, value)))
    mod.set_runtime("timer", 20)
    assert mod.cfg["timer"] == 20 and seen == [("timer", 20)]
    with pytest.raises(ParamError):
        mod.set_runtime("fixed", 2)
    with pytest.raises(ParamError):
        mod.set_runtime("timer", "x")


# -- the management process's proxying, with two real worker endpoints --------------------------
def fake_module(rank: int) -> Module:
    mod = Module("fake")

    @mod.rpc("fake.count", scope="sum")
    def count() -> dict[str, int]:
        return {"calls": 1, "rank": rank}

    @mod.rpc("fake.who")
    def who() -> int:
        return rank

    @mod.rpc("fake.all", scope="all")
    def every(value: int) -> int:
        if value < 0:
            raise RpcFault(500, f"refused by {rank}")
        return value * 2

    return mod


@pytest.fixture
async def workers(sockdir: str) -> AsyncIterator[list[RpcServer]]:
    out = []
    for rank in (1, 2):
        stats = Stats()
        stats.counter("core", "rcv_requests").inc(rank * 10)
        stats.gauge("tmx", "active_transactions", func=lambda r=rank: r)
        table, _ = worker_table([fake_module(rank)], stats)
        srv = RpcServer(table, host=None, unix_path=f"{sockdir}/w{rank}.sock")
        await srv.start()
        out.append(srv)
    yield out
    for srv in out:
        await srv.stop()


async def test_front_proxies_by_scope(workers: list[RpcServer], sockdir: str) -> None:
    table, scopes = worker_table([fake_module(0)], Stats())
    backends = [Remote(1, f"{sockdir}/w1.sock", 1.0), Remote(2, f"{sockdir}/w2.sock", 1.0)]
    info = management.version_info()
    front, aggregate = front_table(table, scopes, backends, info)
    assert await front.call("fake.count") == {"calls": 2, "rank": 3}
    assert await front.call("fake.who") == 1
    assert await front.call("fake.all", ["21"]) == 42  # bound and converted in front
    with pytest.raises(RpcFault, match="refused by 1"):
        await front.call("fake.all", [-1])
    lines = await front.call("stats.get_statistics", ["all"])
    assert lines == ["core:rcv_requests = 30", "tmx:active_transactions = 3"]
    await front.call("stats.reset_statistics", ["core:"])
    assert await front.call("stats.fetch", ["core:"]) == {"core.rcv_requests": "0"}
    await aggregate.refresh()
    assert "kamailio_tmx_active_transactions 3" in aggregate.prometheus()
    await workers[0].stop()  # worker 1 gone: "any" falls over to worker 2, "sum" faults
    assert await front.call("fake.who") == 2
    with pytest.raises(RpcFault, match="worker 1 did not answer"):
        await front.call("fake.count")


async def test_local_backend_and_summed() -> None:
    table, scopes = worker_table([fake_module(7)], Stats())
    assert await call_scoped([Local(table)], scopes["fake.count"], "fake.count", []) == {
        "calls": 1,
        "rank": 7,
    }
    assert summed([{"a": 1, "b": {"c": 2}}, {"a": 2, "b": {"c": 3}, "d": "x"}]) == {
        "a": 3,
        "b": {"c": 5},
        "d": "x",
    }
    assert summed([True, False]) is True and summed([]) is None
