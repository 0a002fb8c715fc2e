"""``siprouter-ctl`` as a subprocess against a real server (unix socket and HTTP)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator

import orjson
import pytest

from rpc import RpcServer
from rpc.ctl import human, typed_param
from tests.rpc import make_table, run


def ctl_argv() -> list[str]:
    script = shutil.which("siprouter-ctl")
    return [script] if script else [sys.executable, "-m", "rpc.ctl"]


@pytest.fixture
async def server(sockdir: str) -> AsyncIterator[RpcServer]:
    commands, stats = make_table()
    srv = RpcServer(commands, stats=stats, unix_path=f"{sockdir}/rpc.sock", token="tok")
    await srv.start()
    yield srv
    await srv.stop()


async def ctl(server: RpcServer, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "SIPROUTER_RPC_SOCKET": str(server.unix_path)}
    env.pop("SIPROUTER_RPC_TOKEN", None)
    return await run(*ctl_argv(), *args, env=env)


async def test_version_over_default_socket(server: RpcServer) -> None:
    rc, out, _ = await ctl(server, "core.version")
    assert rc == 0 and out.startswith("siprouter 9.8.7 (")


async def test_params_typed_like_kamcmd(server: RpcServer) -> None:
    rc, out, _ = await ctl(server, "--json", "core.echo", "1", "s:2", "x")
    assert rc == 0 and orjson.loads(out)["result"] == ["1", "2", "x"]
    rc, out, _ = await ctl(server, "test.add", "40", "2")
    assert (rc, out) == (0, "42\n")
    rc, out, err = await ctl(server, "test.add", "s:40")  # a string that converts
    assert (rc, out) == (0, "41\n")


async def test_pretty_struct_output(server: RpcServer) -> None:
    rc, out, _ = await ctl(server, "core.psx")
    assert rc == 0 and "\tDSC: main process - attendant" in out and out.count("{") == 2
    rc, out, _ = await ctl(server, "test.struct")
    assert "\tlist:\n\t\t1\n\t\t2\n" in out and "\tsub:\n\t\t{\n\t\t\tk: v" in out


async def test_errors_exit_nonzero(server: RpcServer) -> None:
    rc, out, err = await ctl(server, "test.fault")
    assert (rc, out, err.strip()) == (1, "", "error: 404 - AOR not found in location table")
    rc, out, _ = await ctl(server, "--json", "no.such")
    assert rc == 1 and orjson.loads(out)["error"]["code"] == -32601
    rc, _, err = await ctl(server, "--socket", "/nonexistent/x.sock", "core.version")
    assert rc == 2 and "siprouter-ctl:" in err


async def test_url_and_token(server: RpcServer) -> None:
    url = f"http://127.0.0.1:{server.port}/RPC"
    rc, _, err = await ctl(server, "--url", url, "core.version")
    assert rc == 1 and "401" in err
    rc, out, _ = await ctl(server, "--url", url, "--token", "tok", "test.add", "1")
    assert (rc, out) == (0, "2\n")
    rc, _, err = await ctl(server, "--url", url, "--token", "tok", "test.fault")
    assert rc == 1 and "404" in err


def test_typed_param_and_human() -> None:
    assert [typed_param(p) for p in ["5", "-3", "1.5", "s:5", "i:0x10", "abc", "inf"]] == [
        5,
        -3,
        1.5,
        "5",
        16,
        "abc",
        "inf",
    ]
    assert human({"a": 1, "b": [1, 2]}) == ["{", "\ta: 1", "\tb:", "\t\t1", "\t\t2", "}"]
