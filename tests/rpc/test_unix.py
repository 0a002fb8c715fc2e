"""JSON-RPC over the unix stream socket: framing, notifications, errors, limits."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator

import orjson
import pytest

from rpc import RpcServer
from rpc.server import JsonSplitter
from tests.rpc import make_table


@pytest.fixture
async def server(sockdir: str) -> AsyncIterator[RpcServer]:
    commands, stats = make_table()
    srv = RpcServer(
        commands, stats=stats, host=None, unix_path=f"{sockdir}/rpc.sock", max_size=4096
    )
    await srv.start()
    yield srv
    await srv.stop()


async def exchange(path: str, payload: bytes, replies: int) -> list[object]:
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        writer.write(payload)
        await writer.drain()
        lines = [await asyncio.wait_for(reader.readline(), 5) for _ in range(replies)]
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 5) == b""
    finally:
        writer.close()
    return [orjson.loads(line) for line in lines]


async def test_socket_mode_and_cleanup(sockdir: str) -> None:
    commands, _ = make_table()
    srv = RpcServer(commands, host=None, unix_path=f"{sockdir}/m.sock")
    await srv.start()
    assert stat.S_IMODE(os.stat(f"{sockdir}/m.sock").st_mode) == 0o600
    await srv.stop()
    assert not os.path.exists(f"{sockdir}/m.sock")


async def test_several_documents_one_connection(server: RpcServer) -> None:
    assert server.unix_path
    payload = (
        b'{"jsonrpc":"2.0","method":"test.add","params":[1,2],"id":1}'
        b'\n  {"jsonrpc":"2.0","method":"test.add","params":[5]}'  # notification
        b'[{"jsonrpc":"2.0","method":"core.echo","params":["}{"],"id":2},'
        b'{"jsonrpc":"2.0","method":"test.fault","id":3}]\n'
    )
    first, batch = await exchange(server.unix_path, payload, 2)
    assert first == {"jsonrpc": "2.0", "result": 3, "id": 1}
    assert batch == [
        {"jsonrpc": "2.0", "result": ["}{"], "id": 2},
        {
            "jsonrpc": "2.0",
            "error": {"code": 404, "message": "AOR not found in location table"},
            "id": 3,
        },
    ]


async def test_garbage_and_malformed_then_keeps_serving(server: RpcServer) -> None:
    assert server.unix_path
    payload = (
        b'hello world\n{"jsonrpc": "2.0", "method": }'
        b'{"jsonrpc":"2.0","method":"core.version","id":9}'
    )
    garbage, malformed, ok = await exchange(server.unix_path, payload, 3)
    assert garbage["error"]["code"] == malformed["error"]["code"] == -32700  # type: ignore[index]
    assert ok["result"].startswith("siprouter")  # type: ignore[index]


async def test_document_too_large_closes(server: RpcServer) -> None:
    assert server.unix_path
    reader, writer = await asyncio.open_unix_connection(server.unix_path)
    writer.write(b'{"jsonrpc":"2.0","method":"core.echo","params":["' + b"x" * 5000)
    reply = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert orjson.loads(reply)["error"]["code"] == -32700


def test_splitter_byte_by_byte() -> None:
    docs = b'{"a":"\\"}"}[1,[2]]  {"b":{}}'
    splitter = JsonSplitter()
    out = [d for i in range(len(docs)) for d in splitter.feed(docs[i : i + 1])]
    assert out == [b'{"a":"\\"}"}', b"[1,[2]]", b'{"b":{}}']
