"""JSON-RPC over HTTP POST /RPC and the /metrics page, through aiohttp's test client."""

from __future__ import annotations

import os
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from rpc import RpcServer
from tests.rpc import PROCS, make_table


@pytest.fixture
async def client(aiohttp_client: Any) -> Any:
    commands, stats = make_table()
    return await aiohttp_client(RpcServer(commands, stats=stats).make_app())


async def call(client: Any, method: str, params: Any = None, **extra: Any) -> Any:
    doc: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": 1, **extra}
    if params is not None:
        doc["params"] = params
    resp = await client.post("/RPC", data=orjson.dumps(doc))
    return await resp.json()


async def test_core_version_and_info(client: Any) -> None:
    assert (await call(client, "core.version"))["result"].startswith("siprouter 9.8.7 (")
    info = (await call(client, "core.info"))["result"]
    assert info["version"] == "siprouter 9.8.7" and info["id"] == "abc123"
    assert set(info) == {"version", "id", "compiler", "compiled", "flags"}


async def test_uptime_ps_psx_echo_shmmem(client: Any) -> None:
    up = (await call(client, "core.uptime"))["result"]
    assert set(up) == {"now", "up_since", "uptime"} and up["uptime"] >= 0
    assert (await call(client, "core.ps"))["result"] == [x for p in PROCS for x in p[1:]]
    psx = (await call(client, "core.psx"))["result"]
    assert psx[1] == {"IDX": 1, "PID": os.getpid(), "DSC": "udp receiver child=0"}
    assert (await call(client, "core.echo", [1, "a"]))["result"] == ["1", "a"]
    mem = (await call(client, "core.shmmem"))["result"]
    assert mem["used"] > 0 and mem["total"] >= mem["used"] and mem["free"] > 0


async def test_system_methods(client: Any) -> None:
    names = (await call(client, "system.listMethods"))["result"]
    assert {"core.version", "stats.get_statistics", "system.methodHelp"} <= set(names)
    assert names == sorted(names)
    help_text = (await call(client, "system.methodHelp", ["test.add"]))["result"]
    assert help_text == "Adds two ints. Params: a: int [b: int]"
    missing = await call(client, "system.methodHelp")
    assert missing["error"] == {"code": 400, "message": "Method Name Expected"}


async def test_stats_commands(client: Any) -> None:
    got = (await call(client, "stats.get_statistics", ["core:"]))["result"]
    assert got == [
        "core:rcv_requests = 5",
        "core:rcv_requests_invite = 2",
        "core:rcv_requests_bye = 1",
    ]
    assert (await call(client, "stats.clear_statistics", ["rcv_requests"]))["result"] == [
        "core:rcv_requests = 5"
    ]
    assert (await call(client, "stats.fetch", ["core:rcv_requests"]))["result"] == {
        "core.rcv_requests": "0"
    }


async def test_positional_params_object_and_conversion(client: Any) -> None:
    assert (await call(client, "test.add", {"x": 2, "y": 3}))["result"] == 5
    assert (await call(client, "test.add", ["40", 2]))["result"] == 42
    assert (await call(client, "test.slow", [12]))["result"] == "12"


async def test_batch_with_notification_and_errors(client: Any) -> None:
    batch = [
        {"jsonrpc": "2.0", "method": "test.add", "params": [1], "id": "a"},
        {"jsonrpc": "2.0", "method": "test.add", "params": [5]},
        {"jsonrpc": "2.0", "method": "nope", "id": "b"},
        {"foo": 1},
    ]
    resp = await client.post("/RPC", data=orjson.dumps(batch))
    assert resp.status == 200
    out = await resp.json()
    assert out[0] == {"jsonrpc": "2.0", "result": 2, "id": "a"}
    assert out[1]["error"]["code"] == -32601 and out[1]["id"] == "b"
    assert (out[2]["error"]["code"], out[2]["error"]["message"]) == (-32600, "Invalid Request")
    assert len(out) == 3


async def test_notifications_get_204(client: Any) -> None:
    resp = await client.post("/RPC", data=b'{"jsonrpc":"2.0","method":"test.add","params":[1]}')
    assert resp.status == 204
    batch = b'[{"jsonrpc":"2.0","method":"core.version"}]'
    assert (await client.post("/RPC", data=batch)).status == 204


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (b'{"jsonrpc": "2.0", "method": ', -32700, "Parse Error"),
        (b"[]", -32600, "Invalid Request"),
        (b'{"jsonrpc": "1.0", "method": "core.version", "id": 1}', -32600, "Invalid Request"),
        (b'{"jsonrpc":"2.0","method":"no.such","id":1}', -32601, "Method Not Found"),
        (b'{"jsonrpc":"2.0","method":"test.add","params":[],"id":1}', -32602, "Invalid Parameters"),
        (
            b'{"jsonrpc":"2.0","method":"test.add","params":["x"],"id":1}',
            -32602,
            "Invalid Parameters",
        ),
        (
            b'{"jsonrpc":"2.0","method":"test.add","params":[1,2,3],"id":1}',
            -32602,
            "Invalid Parameters",
        ),
        (
            b'{"jsonrpc":"2.0","method":"test.add","params":[[1]],"id":1}',
            -32602,
            "Invalid Parameters",
        ),
        (b'{"jsonrpc":"2.0","method":"test.boom","id":1}', -32603, "Internal Error"),
    ],
)
async def test_errors_then_keeps_serving(client: Any, body: bytes, code: int, message: str) -> None:
    resp = await client.post("/RPC", data=body)
    assert resp.status == 200
    err = (await resp.json())["error"]
    assert (err["code"], err["message"]) == (code, message)
    assert (await call(client, "test.add", [1, 1]))["result"] == 2


async def test_fault_code_is_http_status(client: Any) -> None:
    resp = await client.post("/RPC", data=b'{"jsonrpc":"2.0","method":"test.fault","id":7}')
    assert resp.status == 404
    assert await resp.json() == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {"code": 404, "message": "AOR not found in location table"},
    }


async def test_token_required_when_configured(aiohttp_client: Any) -> None:
    commands, stats = make_table()
    client = await aiohttp_client(RpcServer(commands, stats=stats, token="s3cret").make_app())
    body = b'{"jsonrpc":"2.0","method":"core.version","id":1}'
    assert (await client.post("/RPC", data=body)).status == 401
    bad = {"Authorization": "Bearer nope"}
    assert (await client.post("/RPC", data=body, headers=bad)).status == 401
    assert (await client.get("/metrics")).status == 401
    good = {"Authorization": "Bearer s3cret"}
    resp = await client.post("/RPC", data=body, headers=good)
    assert resp.status == 200 and "result" in await resp.json()
    assert (await client.get("/metrics", headers=good)).status == 200


async def test_metrics_parse_as_prometheus(client: Any) -> None:
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.content_type == "text/plain"
    families = {f.name: f for f in text_string_to_metric_families(await resp.text())}
    active = families["kamailio_tmx_active_transactions"]
    assert active.type == "gauge" and active.samples[0].value == 3
    rcv = families["kamailio_core_rcv_requests"]
    assert rcv.type == "counter" and rcv.samples[0].value == 5
    by_method = {
        s.labels["method"]: s.value for s in families["kamailio_core_rcv_requests_method"].samples
    }
    assert by_method == {"INVITE": 2, "BYE": 1}


async def test_real_listener_start_stop() -> None:
    import aiohttp

    commands, stats = make_table()
    server = RpcServer(commands, stats=stats)
    await server.start()
    try:
        assert server.port > 0
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{server.port}/RPC"
            async with session.post(
                url, json={"jsonrpc": "2.0", "method": "test.add", "params": [2, 2], "id": 1}
            ) as resp:
                assert (await resp.json())["result"] == 4
    finally:
        await server.stop()
