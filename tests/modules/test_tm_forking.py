"""tm: failure routes and forking on loopback (RFC 3261 §16.6, §16.7): 486 relayed, serial
forking from the failure route, fr timers (408), parallel forking (first 2xx wins, the other
branch is cancelled), branch/onreply routes, t_load_contacts/t_next_contacts, TCP."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from sip import Request
from tests.app.harness import Peer, port_of

from .test_tm import answer, expect, invite, start


async def test_486_goes_through_the_failure_route(tmp_path: Path) -> None:
    server = await start(tmp_path)
    uac, uas = await Peer.open(), await Peer.open()
    port = port_of(server, "udp")
    try:
        uac.send(invite(uas.port, extra="X-Mode: failure\r\n"), port)
        fwd = await expect(uas, "INVITE")
        assert isinstance(fwd, Request)
        answer(uas, fwd, 486, port)
        assert (await expect(uas, "ACK")).branch == fwd.branch
        busy = await expect(uac, 486)
        assert busy.to_tag == "b1" and len(busy.vias) == 1
        answer(uas, fwd, 486, port)  # a retransmitted 486: ACKed again, not relayed
        await expect(uas, "ACK")
        await asyncio.sleep(0.1)
        assert all(m.status != 486 for m in _drain(uac))  # type: ignore[union-attr]
    finally:
        uac.close()
        uas.close()
        await server.stop()


def _drain(peer: Peer) -> list[object]:
    out = []
    while not peer.queue.empty():
        out.append(peer.queue.get_nowait())
    return out


async def test_failure_route_relays_to_another_destination(tmp_path: Path) -> None:
    server = await start(tmp_path)
    uac, first, second = await Peer.open(), await Peer.open(), await Peer.open()
    port = port_of(server, "udp")
    try:
        alt = f"X-Mode: failure\r\nX-Alt: sip:127.0.0.1:{second.port}\r\n"
        uac.send(invite(first.port, extra=alt), port)
        one = await expect(first, "INVITE")
        assert isinstance(one, Request)
        answer(first, one, 486, port)
        two = await expect(second, "INVITE")
        assert isinstance(two, Request) and two.branch != one.branch
        answer(second, two, 200, port, tag="b2")
        ok = await expect(uac, 200)
        assert ok.to_tag == "b2"
    finally:
        for p in (uac, first, second):
            p.close()
        await server.stop()


async def test_silent_callee_gets_408_after_fr_inv_timer(tmp_path: Path) -> None:
    server = await start(tmp_path)
    uac, uas = await Peer.open(), await Peer.open()
    port = port_of(server, "udp")
    try:
        uac.send(invite(uas.port, extra="X-Mode: fr failure\r\n"), port)  # fr 0.5 s, inv 1 s
        fwd = await expect(uas, "INVITE")
        assert isinstance(fwd, Request)
        answer(uas, fwd, 180, port)
        started = time.monotonic()
        await expect(uac, 180)
        cancel = await expect(uas, "CANCEL", timeout=3)
        assert 0.8 < time.monotonic() - started < 2.0
        assert isinstance(cancel, Request)
        answer(uas, cancel, 200, port)
        answer(uas, fwd, 487, port)
        final = await expect(uac, 408)
        assert final.reason == "Request Timeout"
    finally:
        uac.close()
        uas.close()
        await server.stop()


async def test_no_answer_at_all_fr_timer_then_serial_fork(tmp_path: Path) -> None:
    server = await start(tmp_path, params='modparam("tm", "fr_timer", 400)\n')
    uac, dead, second = await Peer.open(), await Peer.open(), await Peer.open()
    port = port_of(server, "udp")
    try:
        alt = f"X-Mode: failure\r\nX-Alt: sip:127.0.0.1:{second.port}\r\n"
        uac.send(invite(dead.port, extra=alt), port)
        await expect(dead, "INVITE")
        two = await expect(second, "INVITE", timeout=2)  # after fr_timer, 408, failure route
        assert isinstance(two, Request)
        answer(second, two, 603, port, tag="b2")
        declined = await expect(uac, 603)
        assert declined.to_tag == "b2"
    finally:
        for p in (uac, dead, second):
            p.close()
        await server.stop()


@dataclass
class Fork:
    """An INVITE from ``uac`` that the proxy forked in parallel: ``a`` to ``one``, ``b`` to
    ``two`` (the script's onreply mode)."""

    port: int
    uac: Peer
    one: Peer
    two: Peer
    a: Request
    b: Request


@contextlib.asynccontextmanager
async def forked(tmp_path: Path) -> AsyncIterator[Fork]:
    server = await start(tmp_path)
    uac, one, two = await Peer.open(), await Peer.open(), await Peer.open()
    port = port_of(server, "udp")
    try:
        extra = f"X-Branch: sip:bob@127.0.0.1:{two.port}\r\nX-Mode: onreply\r\n"
        uac.send(invite(one.port, extra=extra), port)
        a, b = await expect(one, "INVITE"), await expect(two, "INVITE")
        assert isinstance(a, Request) and isinstance(b, Request)
        yield Fork(port, uac, one, two, a, b)
    finally:
        for p in (uac, one, two):
            p.close()
        await server.stop()


async def cancelled(f: Fork) -> Request:
    """The CANCEL of branch ``b``, answered 200, then 487 to the INVITE, which is ACKed."""
    cancel = await expect(f.two, "CANCEL")
    assert isinstance(cancel, Request) and cancel.branch == f.b.branch
    answer(f.two, cancel, 200, f.port, tag="b2")
    answer(f.two, f.b, 487, f.port, tag="b2")
    await expect(f.two, "ACK")
    await asyncio.sleep(0.1)
    return cancel


async def test_parallel_forking_first_200_wins(tmp_path: Path) -> None:
    async with forked(tmp_path) as f:
        assert (f.a.get("X-Branch-Idx"), f.b.get("X-Branch-Idx")) == ("0", "1")
        assert f.b.uri_text == f"sip:bob@127.0.0.1:{f.two.port}"
        answer(f.one, f.a, 180, f.port)
        answer(f.two, f.b, 180, f.port, tag="b2")
        ringing = await expect(f.uac, 180)
        assert ringing.get("X-Onreply") == "180"
        answer(f.one, f.a, 200, f.port)
        assert (await expect(f.uac, 200)).to_tag == "b1"
        cancel = await cancelled(f)
        assert "Call completed elsewhere" in (cancel.get("Reason") or "")
        assert all(getattr(m, "status", 0) != 487 for m in _drain(f.uac))


async def test_a_branch_that_rings_after_the_200_is_cancelled_then(tmp_path: Path) -> None:
    """RFC 3261 §9.1: no CANCEL before a provisional reply; the 200 of one branch comes
    while the other has sent nothing, so that one is cancelled when its 180 arrives."""
    async with forked(tmp_path) as f:
        answer(f.one, f.a, 200, f.port)
        assert (await expect(f.uac, 200)).to_tag == "b1"
        await asyncio.sleep(0.1)
        assert not [m for m in _drain(f.two) if getattr(m, "method", "") == "CANCEL"]
        answer(f.two, f.b, 180, f.port, tag="b2")
        await cancelled(f)
        assert all(getattr(m, "status", 0) not in (180, 487) for m in _drain(f.uac))


SERIAL = """
import KSR
from app.context import CURRENT, Branch

def mod_init():
    return Handler()

class Handler:
    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        ports = KSR.pv.get("$hdr(X-Ports)").split()
        ctx = CURRENT.get()
        KSR.seturi("sip:a@127.0.0.1:%s" % ports[0])
        ctx.q = 1.0
        ctx.branches.append(Branch("sip:b@127.0.0.1:%s" % ports[1], q=0.5))
        ctx.branches.append(Branch("sip:c@127.0.0.1:%s;transport=tcp" % ports[2], q=0.5))
        KSR.tm.t_load_contacts()
        KSR.tm.t_next_contacts()
        KSR.tm.t_on_failure("ksr_next")
        KSR.tm.t_relay()

    def ksr_next(self, msg):
        if KSR.tm.t_next_contacts() > 0:
            KSR.tm.t_on_failure("ksr_next")
            KSR.tm.t_relay()
"""


async def test_serial_forking_by_q_over_udp_and_tcp(tmp_path: Path) -> None:
    server = await start(tmp_path, SERIAL)
    uac, a, b = await Peer.open(), await Peer.open(), await Peer.open()
    got: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got.put_nowait(await reader.readuntil(b"\r\n\r\n"))
        writer.close()

    tcp = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    c_port = tcp.sockets[0].getsockname()[1]
    port = port_of(server, "udp")
    try:
        uac.send(invite(None, extra=f"X-Ports: {a.port} {b.port} {c_port}\r\n"), port)
        first = await expect(a, "INVITE")
        assert isinstance(first, Request) and first.uri_text.startswith("sip:a@")
        answer(a, first, 404, port)
        second = await expect(b, "INVITE")  # the q=0.5 group: b over UDP and c over TCP
        head = await asyncio.wait_for(got.get(), 3)
        assert head.startswith(b"INVITE sip:c@") and b"SIP/2.0/TCP" in head
        assert isinstance(second, Request)
        answer(b, second, 480, port)
        # the TCP branch never answers: fr_timer would end it; the UAC has seen no final yet
        await asyncio.sleep(0.2)
        assert all(getattr(m, "status", 100) < 200 for m in _drain(uac))
    finally:
        tcp.close()
        for p in (uac, a, b):
            p.close()
        await server.stop()
