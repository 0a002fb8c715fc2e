"""Bad input never stops the loop: oversized datagrams, random bytes, half messages and
framing errors on TCP, malformed requests (400); TCP connection reuse and idle timeout."""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

from sip import Response, parse
from sip.framer import StreamFramer

from .harness import Peer, port_of, request, start_server
from .test_engine import BASIC


async def _tcp_exchange(port: int, data: bytes, want: int = 1, timeout: float = 3.0) -> list:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    framer, out = StreamFramer(), []
    try:
        while len(out) < want:
            chunk = await asyncio.wait_for(reader.read(65536), timeout)
            if not chunk:
                break
            framer.feed(chunk)
            out.extend(framer.events())
    finally:
        writer.close()
    return out


async def _alive(peer: Peer, port: int, call_id: str) -> None:
    peer.send(request(call_id=call_id, branch="z9hG4bK" + call_id), port)
    resp = await peer.recv()
    assert isinstance(resp, Response) and resp.status == 200 and resp.call_id == call_id


async def test_garbage_on_udp_never_stops_the_loop(tmp_path: Path) -> None:
    server = await start_server(tmp_path, BASIC)
    peer = await Peer.open()
    port = port_of(server, "udp")
    rnd = random.Random(7)
    try:
        for _ in range(100):
            peer.send(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 600))), port)
        peer.send(b"OPTIONS sip:x SIP/2.0\r\n\r\n", port)  # no mandatory headers: dropped
        peer.send(b"\r\n\r\n", port)  # keep-alive
        peer.send(request(extra="X: " + "a" * 70000 + "\r\n"), port)  # over max_message
        await _alive(peer, port, "alive1")
        assert server.core.stats["bad_messages"] >= 100
    finally:
        peer.close()
        await server.stop()


async def test_malformed_request_gets_400(tmp_path: Path) -> None:
    server = await start_server(tmp_path, BASIC)
    peer = await Peer.open()
    try:
        bad = request(call_id="bad400").replace(b"CSeq: 1 OPTIONS", b"CSeq: x OPTIONS")
        peer.send(bad, port_of(server, "udp"))
        resp = await peer.recv()
        assert isinstance(resp, Response) and resp.status == 400 and resp.call_id == "bad400"
    finally:
        peer.close()
        await server.stop()


async def test_tcp_request_and_keepalive(tmp_path: Path) -> None:
    server = await start_server(tmp_path, BASIC)
    port = port_of(server, "tcp")
    try:
        data = b"\r\n\r\n" + request(transport="TCP", call_id="t1")
        events = await _tcp_exchange(port, data, want=1)  # the CRLF pong is no event
        resp = events[-1]
        assert isinstance(resp, Response) and resp.status == 200 and resp.call_id == "t1"
    finally:
        await server.stop()


async def test_half_message_and_framing_errors_on_tcp(tmp_path: Path) -> None:
    server = await start_server(tmp_path, BASIC)
    port = port_of(server, "tcp")
    peer = await Peer.open()
    try:
        # a half message: the server waits; the connection stays, the loop goes on
        _, half = await asyncio.open_connection("127.0.0.1", port)
        half.write(request(transport="TCP")[:60])
        # no Content-Length on a stream: framing error, connection closed by the server
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n")
        assert await asyncio.wait_for(reader.read(100), 3) == b""
        writer.close()
        # a header section over the limit, then random bytes
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"OPTIONS sip:x SIP/2.0\r\nX: " + b"a" * 20000)
        assert await asyncio.wait_for(reader.read(100), 3) == b""
        writer.close()
        _, noise = await asyncio.open_connection("127.0.0.1", port)
        noise.write(os.urandom(3000))
        # a malformed message between two good ones: skipped, the stream goes on
        bad = request(transport="TCP", call_id="m").replace(b"CSeq: 1", b"CSeq: z")
        good = [request(transport="TCP", call_id=f"g{i}", branch=f"z9hG4bKg{i}") for i in (1, 2)]
        events = await _tcp_exchange(port, good[0] + bad + good[1], want=3)
        assert [(e.status, e.call_id) for e in events] == [(200, "g1"), (400, "m"), (200, "g2")]
        await _alive(peer, port_of(server, "udp"), "alive2")
        half.close()
        noise.close()
    finally:
        peer.close()
        await server.stop()


async def test_idle_connections_are_closed(tmp_path: Path) -> None:
    server = await start_server(tmp_path, BASIC)
    server.core.transports.settings.idle_timeout = 0.2
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server, "tcp"))
        assert await asyncio.wait_for(reader.read(100), 6) == b""
        writer.close()
    finally:
        await server.stop()


async def test_connection_limit(tmp_path: Path) -> None:
    server = await start_server(tmp_path, BASIC)
    server.core.transports.settings.max_connections = 1
    port = port_of(server, "tcp")
    try:
        _, first = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(0.05)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(100), 3) == b""
        assert server.core.transports.stats.refused == 1
        first.close()
        writer.close()
    finally:
        await server.stop()


def test_parse_of_responses_helper() -> None:
    assert parse(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n").status == 200  # type: ignore[attr-defined]


async def test_ipv6_udp_and_tcp(tmp_path: Path) -> None:
    from app.config import Listen

    listens = (Listen("udp", "::1", 0), Listen("tcp", "::1", 0))
    server = await start_server(tmp_path, BASIC, listens=listens)
    peer = await Peer.open("::1")
    try:
        peer.send(request(call_id="v6", via="[::1]:9"), port_of(server, "udp"), host="::1")
        resp = await peer.recv()
        assert isinstance(resp, Response) and resp.status == 200 and resp.call_id == "v6"
        reader, writer = await asyncio.open_connection("::1", port_of(server, "tcp"))
        writer.write(request(transport="TCP", call_id="v6t", via="[::1]:9", branch="z9hG4bK6t"))
        framer = StreamFramer()
        while not (events := list(framer.events())):
            framer.feed(await asyncio.wait_for(reader.read(65536), 3))
        assert events[0].call_id == "v6t"
        writer.close()
    finally:
        peer.close()
        await server.stop()
