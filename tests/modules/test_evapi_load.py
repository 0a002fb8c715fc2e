"""1,000 transactions suspended at once through evapi (tm's ``max_suspended`` default), all
routed by the subscriber in one burst of answers and completed with 200; nothing stays
suspended. Sized to run in a few seconds."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from modules import evapi
from modules.tm import rpc_stats
from sip import Request, Response
from sip.message import make_response
from tests.app.harness import Peer, port_of

from .test_evapi import Subscriber, start, wait_for
from .test_tm import invite

CALLS = 1000


async def uas_answers(uas: Peer, port: int, count: int) -> None:
    """The callee: answers every INVITE 200 (retransmissions too)."""
    seen: set[str] = set()
    while len(seen) < count:
        msg = await uas.recv(10)
        if isinstance(msg, Request) and msg.method == "INVITE":
            seen.add(msg.call_id)
            uas.send(bytes(make_response(msg, 200, to_tag="b1")), port)


async def test_1000_suspended_transactions(tmp_path: Path) -> None:
    server = await start(tmp_path, 'modparam("tm", "fr_timer", 20000)\n')
    uac, uas = await Peer.open(), await Peer.open()
    port = port_of(server, "udp")
    sub = await Subscriber.connect()
    try:
        await wait_for(lambda: evapi.rpc_clients())
        started = time.monotonic()
        for n in range(CALLS):
            uac.send(invite(None, call_id=f"L{n}", branch=f"z9hG4bKL{n}"), port)
            if n % 50 == 49:  # UDP without retransmissions: no losses to a full socket buffer
                await wait_for(lambda n=n: rpc_stats()["total"] == n + 1)
        events = [await sub.event(5) for _ in range(CALLS)]
        assert len({e["callid"] for e in events}) == CALLS
        await wait_for(lambda: rpc_stats()["suspended"] == CALLS, 5)
        callee = asyncio.ensure_future(uas_answers(uas, port, CALLS))
        doc = {"routing": "serial", "routes": [{"uri": f"sip:bob@127.0.0.1:{uas.port}"}]}
        for ev in events:  # all answers in one go
            sub.send(json.dumps({"tindex": ev["tindex"], "tlabel": ev["tlabel"], "route": doc}))
        ok: set[str] = set()
        while len(ok) < CALLS:
            msg = await uac.recv(10)
            if isinstance(msg, Response) and msg.status == 200:
                ok.add(msg.call_id)
        await callee
        assert time.monotonic() - started < 30
        await wait_for(lambda: rpc_stats()["suspended"] == 0)
    finally:
        await sub.close()
        uac.close()
        uas.close()
        await server.stop()
