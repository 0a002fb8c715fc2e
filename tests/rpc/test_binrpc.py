"""binrpc: codec unit tests, our client, and the real ``kamcmd`` against our server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from rpc import BinrpcServer, RpcFault
from rpc.binrpc import (
    FAULT,
    REQ,
    binrpc_call,
    decode_packet,
    decode_values,
    encode_packet,
    encode_value,
)
from tests.rpc import PROCS, make_table, real_tool, run

# Captured from kamcmd 1.5 -> Kamailio 5.6.3 ctl (see rpc/binrpc.py).
KAMCMD_VERSION_REQ = bytes.fromhex("a1030f3dec8fe1910d636f72652e76657273696f6e00")
KAMCMD_ECHO_REQ = bytes.fromhex("a10318123f5568910a636f72652e6563686f0020012c3001117040ffffffff")
KAMAILIO_UPTIME_REPLY = bytes.fromhex(
    "a1135208ceb41f03456e6f77009119536174204e6f762032382030393a31343a3231203230323600"
    "950975705f73696e6365009119536174204e6f762032382030393a31343a3134203230323600"
    "75757074696d6500100783"
)


def test_decode_captured_kamailio_traffic() -> None:
    ptype, cookie, body = decode_packet(KAMCMD_VERSION_REQ)
    assert (ptype, cookie, decode_values(body)) == (
        REQ,
        bytes.fromhex("3dec8fe1"),
        ["core.version"],
    )
    assert decode_values(decode_packet(KAMCMD_ECHO_REQ)[2]) == ["core.echo", 300, 70000, -1]
    assert decode_values(decode_packet(KAMAILIO_UPTIME_REPLY)[2]) == [
        {"now": "Sat Nov 28 09:14:21 2026", "up_since": "Sat Nov 28 09:14:14 2026", "uptime": 7}
    ]


def test_encode_matches_kamailio() -> None:
    reply = decode_packet(KAMAILIO_UPTIME_REPLY)
    value = decode_values(reply[2])[0]
    assert encode_packet(1, reply[1], encode_value(value)) == KAMAILIO_UPTIME_REPLY
    assert encode_value("core.version") == bytes.fromhex("910d636f72652e76657273696f6e00")


@pytest.mark.parametrize(
    "value",
    [0, 7, 300, -3, 2**31 - 1, "", "x" * 300, 1.5, [1, [2]], {"a": {"b": "c"}}, [{"k": 1}], {}],
)
def test_roundtrip(value: object) -> None:
    assert decode_values(encode_value(value)) == [value]


def test_list_inside_struct_is_a_struct_of_values() -> None:
    assert encode_value({"a": [1]}) == bytes.fromhex("03 25 6100 03 1001 83 83".replace(" ", ""))
    assert decode_values(encode_value({"a": [1, 2]})) == [{"a": [1, 2]}]
    assert decode_values(encode_value(2**40)) == [str(2**40)]


@pytest.fixture
async def server(sockdir: str) -> AsyncIterator[BinrpcServer]:
    commands, _ = make_table()
    srv = BinrpcServer(commands, f"{sockdir}/ctl.sock")
    await srv.start()
    yield srv
    await srv.stop()


async def test_our_client(server: BinrpcServer) -> None:
    assert await binrpc_call(server.path, "test.add", 2, 3) == [5]
    assert await binrpc_call(server.path, "core.psx") == [
        {"IDX": idx, "PID": pid, "DSC": dsc} for idx, pid, dsc in PROCS
    ]
    assert await binrpc_call(server.path, "stats.reset_statistics") == []
    with pytest.raises(RpcFault) as exc:
        await binrpc_call(server.path, "no.such")
    assert (exc.value.code, exc.value.message) == (500, "command no.such not found")


async def test_bad_magic_closes_connection(server: BinrpcServer) -> None:
    reader, writer = await asyncio.open_unix_connection(server.path)
    writer.write(b"GET / HTTP/1.0\r\n\r\n")
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    assert await binrpc_call(server.path, "test.add", 1) == [2]


async def kamcmd(server: BinrpcServer, *args: str) -> tuple[int, str, str]:
    return await run(real_tool("kamcmd"), "-s", f"unix:{server.path}", *args)


async def test_kamcmd_core_version(server: BinrpcServer) -> None:
    rc, out, err = await kamcmd(server, "core.version")
    assert rc == 0 and out.startswith("siprouter 9.8.7 (") and out.rstrip().endswith("abc123")


async def test_kamcmd_params(server: BinrpcServer) -> None:
    rc, out, _ = await kamcmd(server, "test.add", "40", "2")
    assert (rc, out) == (0, "42\n")
    rc, out, _ = await kamcmd(server, "core.echo", "1", "abc", "s:5")
    assert (rc, out.split("\n")) == (0, ["1", "abc", "5", ""])


async def test_kamcmd_struct_and_array(server: BinrpcServer) -> None:
    rc, out, _ = await kamcmd(server, "core.psx")
    assert rc == 0 and out.count("{") == 2 and "\tDSC: main process - attendant" in out
    rc, out, _ = await kamcmd(server, "test.struct")
    assert rc == 0 and "\tn: -7" in out and "\tlist: {\n\t\t1\n\t\t2\n\t}" in out
    rc, out, _ = await kamcmd(server, "system.listMethods")
    assert rc == 0 and "core.uptime" in out.split("\n")


async def test_kamcmd_faults(server: BinrpcServer) -> None:
    _, out, _ = await kamcmd(server, "test.fault")
    assert out.strip() == "error: 404 - AOR not found in location table"
    _, out, _ = await kamcmd(server, "nosuch.method")
    assert out.strip() == "error: 500 - command nosuch.method not found"
    _, out, _ = await kamcmd(server, "test.add", "x")
    assert out.startswith("error: 400 - Invalid Parameters")


def test_fault_packet_shape() -> None:
    assert encode_packet(FAULT, b"\0\0\0\1", b"")[:2] == b"\xa1\x33"


def test_missing_tool_skips_or_fails_with_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.rpc as support

    monkeypatch.setattr(support.shutil, "which", lambda name: None)
    monkeypatch.setattr(support.os.path, "exists", lambda path: False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        support.real_tool("kamcmd")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        support.real_tool("kamcmd")
