"""Framing of the event socket: netstrings whole, split, malformed and oversized; newline
frames (``netstring_format=0``); bad frames over a real socket; a subscriber that stops
reading costs its own queue only."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from modules import evapi
from modules._evapi_server import Dispatcher, Limits
from modules._netstring import Decoder, encode, encode_line
from tests.app.harness import Peer, port_of

from .test_evapi import Subscriber, events, start, wait_for
from .test_tm import answer, expect, invite


def test_whole_and_several_frames() -> None:
    dec = Decoder()
    assert dec.feed(encode("hello") + encode("") + b"\r\n  " + encode(b"{}")) == [
        b"hello",
        b"",
        b"{}",
    ]
    assert dec.errors == 0 and dec.pending == 0


def test_byte_by_byte() -> None:
    dec = Decoder()
    data = encode('{"a": 1}') + encode("x" * 300)
    out = [f for i in range(len(data)) for f in dec.feed(data[i : i + 1])]
    assert out == [b'{"a": 1}', b"x" * 300] and dec.errors == 0


@given(st.lists(st.binary(max_size=50), max_size=8), st.lists(st.integers(0, 400), max_size=6))
def test_any_split_gives_the_frames(payloads: list[bytes], cuts: list[int]) -> None:
    data = b"".join(encode(p) for p in payloads)
    dec, out, last = Decoder(), [], 0
    for cut in sorted(c for c in cuts if c <= len(data)) + [len(data)]:
        out += dec.feed(data[last:cut])
        last = cut
    assert out == payloads and dec.errors == 0


def test_malformed_frames_reset_the_buffer() -> None:
    for bad in (b"abc:hello,", b"5:hello;", b"05:hello,", b"-1:x,", b"12345678901:x,"):
        dec = Decoder()
        assert dec.feed(bad) == [] and dec.errors == 1 and dec.pending == 0, bad
        assert dec.feed(encode("ok")) == [b"ok"]  # the next frame is read again


def test_oversized_frame_is_refused_before_it_arrives() -> None:
    dec = Decoder(max_size=100)
    assert dec.feed(b"101:") == [] and dec.errors == 1 and "max 100" in dec.last_error
    assert dec.feed(encode("x" * 100)) == [b"x" * 100]


def test_lines() -> None:
    dec = Decoder(max_size=10, netstring=False)
    assert dec.feed(b'{"a":1}\n\n{"b"') == [b'{"a":1}']
    assert dec.feed(b":2}\r\n") == [b'{"b":2}']
    assert dec.feed(b"x" * 11 + b"\nok\n") == [b"ok"] and dec.errors == 1
    assert dec.feed(b"y" * 11) == [] and dec.errors == 2 and dec.pending == 0
    assert encode_line("a\nb") == b"a b\n"


async def test_bad_frames_over_the_socket(tmp_path: Path) -> None:
    server = await start(tmp_path, 'modparam("evapi", "max_frame", 1000)\n')
    sub = await Subscriber.connect()
    try:
        sub.writer.write(b"xyz,")
        await wait_for(lambda: evapi.rpc_stats().get("bad_frames") == 1)
        sub.writer.write(b"2000:")  # oversized: refused at once
        await wait_for(lambda: evapi.rpc_stats().get("bad_frames") == 2)
        sub.writer.write(encode("tag:a")[:3])
        await asyncio.sleep(0.05)
        sub.writer.write(encode("tag:a")[3:])  # split across two reads
        await wait_for(lambda: evapi.rpc_clients()[0]["tag"] == "a")
        sub.send("not json")  # a JSON error in the script: logged, the socket lives on
        sub.send("tag:b")
        await wait_for(lambda: evapi.rpc_clients()[0]["tag"] == "b")
        assert [e[4] for e in events(server) if e[0].endswith("received")] == [
            "tag:a", "not json", "tag:b"]  # fmt: skip
    finally:
        await sub.close()
        await server.stop()


async def test_newline_frames(tmp_path: Path) -> None:
    server = await start(tmp_path, 'modparam("evapi", "netstring_format", 0)\n')
    uac, uas = await Peer.open(), await Peer.open()
    port = port_of(server, "udp")
    sub = await Subscriber.connect(netstring=False)
    try:
        uac.send(invite(None), port)
        ev = await sub.event()
        doc = {"routing": "serial", "routes": [{"uri": f"sip:bob@127.0.0.1:{uas.port}"}]}
        sub.send(json.dumps({"tindex": ev["tindex"], "tlabel": ev["tlabel"], "route": doc}), False)
        answer(uas, await expect(uas, "INVITE"), 200, port)  # type: ignore[arg-type]
        assert (await expect(uac, 200)).status == 200
    finally:
        await sub.close()
        uac.close()
        uas.close()
        await server.stop()


async def test_a_subscriber_that_stops_reading() -> None:
    disp = Dispatcher(Limits(max_queue=64 * 1024))
    host, port = await disp.start("127.0.0.1", 0)
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect((host, port))  # never read
    reader, writer = await asyncio.open_connection(host, port)
    try:
        await wait_for(lambda: len(disp.clients) == 2)
        event = json.dumps({"pad": "x" * 16000})
        got = 0
        started = time.monotonic()
        for _ in range(400):  # ~6.4 MB each: far beyond the kernel buffers of the stuck one
            assert disp.relay(event) >= 1
            got += len(await reader.readexactly(len(encode(event))))
        assert time.monotonic() - started < 5
        assert got == 400 * len(encode(event))
        assert disp.stats["dropped"] > 0
        assert disp.clients[0].transport.get_write_buffer_size() <= 64 * 1024  # type: ignore[union-attr]
    finally:
        stuck.close()
        writer.close()
        await disp.stop()
