"""jsonrpcs FIFO transport, driven by the real ``kamctl rpc`` and by kamctl's exact bytes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import orjson
import pytest

from rpc import FifoServer
from rpc.fifo import pretty
from tests.rpc import make_table, real_tool, run


@pytest.fixture
async def fifo(sockdir: str) -> AsyncIterator[FifoServer]:
    os.mkdir(f"{sockdir}/tmp")  # kamctl's reply dir is $CHROOT_DIR/tmp
    commands, _ = make_table()
    srv = FifoServer(
        commands, f"{sockdir}/kamailio_rpc.fifo", reply_dir=f"{sockdir}/tmp", reply_timeout=2.0
    )
    await srv.start()
    yield srv
    await srv.stop()


def kamctl_env(srv: FifoServer) -> dict[str, str]:
    base = os.path.dirname(srv.path)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": base,
        "RPCFIFOPATH": srv.path,
        "CHROOT_DIR": base,
    }


async def kamctl(srv: FifoServer, *args: str) -> tuple[int, str]:
    rc, out, err = await run(real_tool("kamctl"), "rpc", *args, env=kamctl_env(srv))
    return rc, out


def reply_json(text: str) -> dict[str, object]:
    return dict(orjson.loads(text))


async def test_kamctl_core_version(fifo: FifoServer) -> None:
    rc, out = await kamctl(fifo, "core.version")
    assert rc == 0
    assert reply_json(out)["result"] == (await fifo.rpc.commands.call("core.version"))


async def test_kamctl_params_struct_array(fifo: FifoServer) -> None:
    rc, out = await kamctl(fifo, "test.add", "40", "2")
    assert reply_json(out)["result"] == 42
    rc, out = await kamctl(fifo, "core.echo", "1", "abc", "s:5")
    assert reply_json(out)["result"] == ["1", "abc", "5"]
    rc, out = await kamctl(fifo, "core.psx")
    assert reply_json(out)["result"][0]["DSC"] == "main process - attendant"  # type: ignore[index]
    rc, out = await kamctl(fifo, "test.struct")
    assert reply_json(out)["result"] == {"name": "x", "n": -7, "list": [1, 2], "sub": {"k": "v"}}


async def test_kamctl_errors(fifo: FifoServer) -> None:
    _, out = await kamctl(fifo, "test.fault")
    assert reply_json(out)["error"] == {"code": 404, "message": "AOR not found in location table"}
    _, out = await kamctl(fifo, "nosuch.method")
    assert reply_json(out)["error"]["code"] == -32601  # type: ignore[index]


async def read_reply(path: str, request: bytes, fifo: FifoServer) -> bytes:
    """Do what kamctl does by hand: mkfifo, reader first, then write the request."""
    os.mkfifo(path)
    loop = asyncio.get_running_loop()
    reader = loop.run_in_executor(None, lambda: open(path, "rb").read())  # noqa: SIM115
    fd = os.open(fifo.path, os.O_WRONLY)
    os.write(fd, request)
    os.close(fd)
    return await asyncio.wait_for(reader, 5)


async def test_exact_kamctl_bytes_monitor_style(fifo: FifoServer) -> None:
    base = os.path.dirname(fifo.path)
    # kamctl monitor writes a multi-line document through a here-document.
    req = (
        b'{\n  "jsonrpc": "2.0",\n  "method": "stats.get_statistics",\n'
        b'  "params": [ "rcv_requests", "active_transactions"],\n'
        b'  "reply_name": "kamailio_receiver_77",\n  "id": 77\n}\n'
    )
    out = await read_reply(f"{base}/tmp/kamailio_receiver_77", req, fifo)
    assert out == (
        b'{\n\t"jsonrpc":\t"2.0",\n\t"result":\t["core:rcv_requests = 5", '
        b'"tmx:active_transactions = 3"],\n\t"id":\t77\n}'
    )


async def test_notification_gets_empty_reply_and_garbage_is_dropped(fifo: FifoServer) -> None:
    base = os.path.dirname(fifo.path)
    req = (
        b'{"jsonrpc": "2.0", "method": }\n'
        b'{"jsonrpc": "2.0", "method": "core.version", "reply_name": "n1"}\n'
    )
    assert await read_reply(f"{base}/tmp/n1", req, fifo) == b""
    req = b'{"jsonrpc": "2.0", "method": "test.add", "params": [1], "reply_name": "n2", "id": 1}'
    assert orjson.loads(await read_reply(f"{base}/tmp/n2", req, fifo))["result"] == 2


async def test_reply_name_must_be_a_fifo_in_reply_dir(fifo: FifoServer) -> None:
    base = os.path.dirname(fifo.path)
    fifo.reply_timeout = 0.2
    with open(f"{base}/tmp/plain", "wb"):
        pass
    for name in ("plain", "../escape", "missing"):
        await fifo.handle(
            orjson.dumps({"jsonrpc": "2.0", "method": "core.version", "reply_name": name, "id": 1})
        )
    assert os.path.getsize(f"{base}/tmp/plain") == 0
    assert not os.path.exists(f"{base}/escape")


def test_pretty_is_cjson_layout() -> None:
    doc = {"a": [{"b": 1}, {"c": [1, "x"]}], "e": {}, "f": None}
    assert pretty(doc) == (
        '{\n\t"a":\t[{\n\t\t\t"b":\t1\n\t\t}, {\n\t\t\t"c":\t[1, "x"]\n\t\t}],'
        '\n\t"e":\t{},\n\t"f":\tnull\n}'
    )
