"""tmx suspend/continue and tm's Python API for asynchronous modules (kemi.md §5.9): resume
from an asyncio task, the fr timer when nobody resumes, CANCEL of a suspended transaction,
chained suspension, the bound on suspended transactions, ``suspend_until``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from app.context import Ctx
from app.server import Server
from modules.tm import module as tm_module
from modules.tm import rpc_stats
from sip import Request
from tests.app.harness import Peer, port_of

from .test_tm import answer, expect, invite, start

API = tm_module.api


def ids_of(server: Server) -> list[tuple[int, int]]:
    """The (index, label) pairs the test script recorded after t_suspend."""
    return server.engine.script_module.IDS  # type: ignore[no-any-return, union-attr]


async def suspended(server: Server, count: int = 1) -> tuple[int, int]:
    for _ in range(100):
        if len(ids_of(server)) >= count:
            return ids_of(server)[count - 1]
        await asyncio.sleep(0.01)
    raise AssertionError("no suspension")


async def test_suspend_then_continue_from_a_task(tmp_path: Path) -> None:
    server = await start(tmp_path)
    uac, uas = await Peer.open(), await Peer.open()
    port = port_of(server, "udp")
    try:
        uac.send(invite(uas.port, extra="X-Mode: suspend\r\n"), port)
        await expect(uac, 100)
        index, label = await suspended(server)
        assert rpc_stats()["suspended"] == 1
        assert uas.queue.empty()

        async def later() -> int:
            await asyncio.sleep(0.05)
            return int(API["resume"](index, label, "ksr_resumed"))

        assert await asyncio.create_task(later()) == 1
        fwd = await expect(uas, "INVITE")  # relayed from the continuation, $du kept
        assert isinstance(fwd, Request) and fwd.get("X-Resumed") == "yes"
        answer(uas, fwd, 200, port)
        assert (await expect(uac, 200)).to_tag == "b1"
        assert API["resume"](index, label, "ksr_resumed") == -1  # not suspended any more
        assert rpc_stats()["suspended"] == 0 and rpc_stats()["resumed"] >= 1
    finally:
        uac.close()
        uas.close()
        await server.stop()


async def test_nobody_resumes_failure_route_at_fr_timer(tmp_path: Path) -> None:
    server = await start(tmp_path, params='modparam("tm", "fr_timer", 300)\n')
    uac, second = await Peer.open(), await Peer.open()
    port = port_of(server, "udp")
    try:
        alt = f"X-Mode: suspend\r\nX-Alt: sip:127.0.0.1:{second.port}\r\n"
        uac.send(invite(None, extra=alt), port)
        index, label = await suspended(server)
        fwd = await expect(second, "INVITE", timeout=2)  # failure route (408) relays to X-Alt
        assert isinstance(fwd, Request)
        answer(second, fwd, 486, port)
        assert (await expect(uac, 486)).to_tag == "b1"
        assert API["resume"](index, label, "ksr_resumed") == -1
    finally:
        uac.close()
        second.close()
        await server.stop()


async def test_nobody_resumes_408_to_the_caller(tmp_path: Path) -> None:
    server = await start(tmp_path, params='modparam("tm", "fr_timer", 300)\n')
    uac = await Peer.open()
    port = port_of(server, "udp")
    try:
        uac.send(invite(None, extra="X-Mode: suspend\r\n"), port)
        assert (await expect(uac, 408, timeout=2)).reason == "Request Timeout"
    finally:
        uac.close()
        await server.stop()


async def test_cancel_of_a_suspended_transaction(tmp_path: Path) -> None:
    server = await start(tmp_path)
    uac = await Peer.open()
    port = port_of(server, "udp")
    try:
        uac.send(invite(None, extra="X-Mode: suspend\r\n"), port)
        index, label = await suspended(server)
        uac.send(invite(None, method="CANCEL"), port)
        assert (await expect(uac, 200)).cseq.method == "CANCEL"  # type: ignore[union-attr]
        assert (await expect(uac, 487)).cseq.method == "INVITE"  # type: ignore[union-attr]
        assert API["resume"](index, label, "ksr_resumed") == 1  # canceled: not executed
        await asyncio.sleep(0.05)
        assert uac.queue.empty()
    finally:
        uac.close()
        await server.stop()


async def test_chained_suspend_keeps_state(tmp_path: Path) -> None:
    server = await start(tmp_path)
    uac = await Peer.open()
    port = port_of(server, "udp")
    try:
        uac.send(invite(None, extra="X-Mode: suspend-chain\r\n"), port)
        first = await suspended(server)
        assert API["resume"](*first, "ksr_resumed") == 1
        second = await suspended(server, 2)
        assert second == first  # the same transaction, suspended again
        seen: list[Any] = []

        def setup(ctx: Ctx) -> None:  # a module sets its variables before the route runs
            seen.append(list(ctx.avps.get("kept", [])))
            ctx.avps["mode"] = ["suspend-reply"]

        assert API["resume"](*second, "ksr_resumed", setup) == 1
        final = await expect(uac, 202)
        assert final.reason == "Resumed flag3=True" and seen == [["yes"]]
    finally:
        uac.close()
        await server.stop()


ASYNC_SCRIPT = """
import asyncio
import KSR
from app.context import CURRENT
from modules.tm import module as tm

def mod_init():
    return Handler()

class Handler:
    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        ctx = CURRENT.get()
        ids = tm.api["suspend_until"](ctx, asyncio.sleep(0.5, "answer"), "ksr_done",
                                      self.on_result)
        if ids is None:
            KSR.sl.send_reply(503, "Too Many Suspended")

    def on_result(self, ctx, result, error):
        ctx.extra["result"] = result

    def ksr_done(self, msg):
        KSR.tm.t_reply(200, CURRENT.get().extra["result"])

    def ksr_reply_route(self, msg):
        pass
"""


async def test_suspend_until_and_the_bound(tmp_path: Path) -> None:
    server = await start(tmp_path, ASYNC_SCRIPT, 'modparam("tm", "max_suspended", 2)\n')
    uac = await Peer.open()
    port = port_of(server, "udp")
    try:
        for n in range(3):  # the third comes while the first two wait (0.5 s: room for a slow CI)
            uac.send(invite(None, call_id=f"s{n}", method="MESSAGE", branch=f"z9hG4bKm{n}"), port)
        assert (await expect(uac, 503)).call_id == "s2"
        assert rpc_stats()["suspend_refused"] == 1 and rpc_stats()["suspended"] == 2
        replies = [await expect(uac, 200), await expect(uac, 200)]
        assert {r.reason for r in replies} == {"answer"}
        assert rpc_stats()["suspended"] == 0
    finally:
        uac.close()
        await server.stop()
