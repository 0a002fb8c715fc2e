"""The proxy's own CPU per HTTP-routed call, in one process: examples/http-routing as shipped
(kamailio.cfg + router.py: ``t_newtran``, ``http_async_client.query`` suspends the INVITE's
transaction, the example service answers an rtjson document, the resumed route relays it)
in a real siprouter worker fed with datagrams in-process, its SIP sends captured; the HTTP
query goes through the real aiohttp client to the example service (service.py) running in a
subprocess on 127.0.0.1, so its CPU is not counted.

    python bench/inproc_http.py [--n N] [--profile] [--valgrind]

A call is INVITE (100 Trying from ``t_newtran``) -> HTTP query -> resumed route relays the
INVITE -> 180 -> 200 -> ACK -> BYE -> 200, one call at a time. Prints CPU per call and the
split: ``sip`` (every SIP message's path, the INVITE's request route without the query),
``query`` (``http_async_client.query`` in the route: settings, tm suspend, task launched),
``http`` (the loop's work until the answer is handed over: aiohttp request, response,
event-loop wake-ups) and ``resume`` (the continuation route: ``$http_*``, rtjson,
``t_relay``, branch route). ``--valgrind`` re-runs itself under callgrind with N and 3N
calls and prints instructions per call (stable whatever else runs on the machine; the
service stays outside valgrind). ``--profile`` prints cProfile's top functions; for
proportions use py-spy: ``py-spy record -f raw -o out.txt -- python bench/inproc_http.py``.
A benchmark, never part of the tests (bench/inproc.py is the same for a plain relayed call).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import modules.http_async_client as hac  # noqa: E402
from app.cli import load  # noqa: E402
from app.cli import parser as cli_parser  # noqa: E402
from app.context import Dest, Source  # noqa: E402
from app.server import Server, tune_gc  # noqa: E402
from app.stateful_async import Suspensions  # noqa: E402
from app.transport import Transports  # noqa: E402
from bench.functime import timed  # noqa: E402
from bench.inproc import (  # noqa: E402 - the callee writes as sipp does
    SENT,
    answer,
    callgrind_per_op,
    capture,
    end_transactions,
    runner,
    take,
    timed_loop,
)
from sip import Response, parse  # noqa: E402
from tests.e2e.http_kit import EXAMPLE, start_service  # noqa: E402
from tests.e2e.proc import free_port  # noqa: E402

PORT, UAS_PORT, UAC_PORT = free_port(), 25070, 25999  # only PORT is bound
UAC = Source("udp", "127.0.0.1", UAC_PORT, "127.0.0.1", PORT)
UAS = Source("udp", "127.0.0.1", UAS_PORT, "127.0.0.1", PORT)
WARM_UP = 100
RELAYED: dict[str, asyncio.Future[None] | None] = {"invite": None}
COSTS: dict[str, int] = {}


def _capture(self: Transports, data: bytes, dest: Dest) -> bool:
    capture(self, data, dest)
    waiter = RELAYED["invite"]
    if waiter is not None and not waiter.done() and data.startswith(b"INVITE"):
        waiter.set_result(None)
    return True


def request(method: str, i: int, uri: str, extra: str = "", cseq: int = 1,
            to_tag: str = "") -> bytes:  # fmt: skip
    """A request from the caller (the shape of tests/e2e/scenarios/http_uac.xml)."""
    tag = f";tag={to_tag}" if to_tag else ""
    return (
        f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{UAC_PORT};branch=z9hG4bK-{i}-"
        f'{method};rport\r\nFrom: "Caller" <sip:sipp@127.0.0.1:{UAC_PORT}>;tag={i}SIPpTag01\r\n'
        f"To: <sip:service@127.0.0.1:{PORT}>{tag}\r\nCall-ID: {i}-call@127.0.0.1\r\n"
        f"CSeq: {cseq} {method}\r\n{extra}Contact: <sip:sipp@127.0.0.1:{UAC_PORT}>\r\n"
        f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


class Driver:
    """Plays caller and callee against one worker."""

    def __init__(self, server: Server) -> None:
        self.core = server.core

    def feed(self, kind: str, data: bytes, source: Source) -> None:
        t0 = time.thread_time_ns()
        self.core.on_datagram(data, source)
        COSTS[kind] = COSTS.get(kind, 0) + time.thread_time_ns() - t0

    async def call(self, i: int) -> None:
        waiter = RELAYED["invite"] = asyncio.get_running_loop().create_future()
        self.feed("invite", request("INVITE", i, f"sip:service@127.0.0.1:{PORT}"), UAC)
        t0 = time.thread_time_ns()
        await asyncio.wait_for(waiter, 30)
        COSTS["loop"] = COSTS.get("loop", 0) + time.thread_time_ns() - t0
        fwd = take(b"INVITE")
        self.feed("180", answer(fwd, 180, "Ringing", f"uas{i}"), UAS)
        contact = f"Contact: <sip:127.0.0.1:{UAS_PORT}>\r\n"
        self.feed("200", answer(fwd, 200, "OK", f"uas{i}", contact), UAS)
        ok = parse(take(b"SIP/2.0 200"))
        assert isinstance(ok, Response)
        route = "".join(f"Route: {v}\r\n" for v in ok.get_all("Record-Route"))
        uri = f"sip:127.0.0.1:{UAS_PORT}"
        self.feed("ack", request("ACK", i, uri, route, to_tag=str(ok.to_tag)), UAC)
        self.feed("bye", request("BYE", i, uri, route, cseq=2, to_tag=str(ok.to_tag)), UAC)
        self.feed("200 bye", answer(take(b"BYE"), 200, "OK"), UAS)
        SENT.clear()


def _instrument() -> None:
    """Capture sends; time the query in the route and the continuation route."""
    Transports.send = _capture  # type: ignore[method-assign]
    hac._suspended = timed("query", hac._suspended, COSTS)  # type: ignore[method-assign]
    Suspensions._continue = timed("resume", Suspensions._continue, COSTS)  # type: ignore[method-assign]


async def _server(folder: Path, http_port: int) -> Server:
    argv = ["-f", str(EXAMPLE / "kamailio.cfg"), "-A", f"SIP_PORT={PORT}",
            "-A", f'ROUTER_URL="http://127.0.0.1:{http_port}"', "-A", "HTTP_TIMEOUT=20000",
            "-A", "MAX_SUSPENDED=100000", "-A", "ROUTER_FAIL_CODE=503"]  # fmt: skip
    config, modules, listens = load(cli_parser().parse_args(argv))
    server = Server(config, modules, listens, 1)  # type: ignore[arg-type]
    await server.start()
    return server


async def measure(n: int, profile: bool) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="siprouter-inproc-http-"))
    table = {"*": {"routing": "serial", "routes": [{"dst_uri": f"sip:127.0.0.1:{UAS_PORT}"}]}}
    service, http_port = start_service(folder, table)
    _instrument()
    try:
        server = await _server(folder, http_port)
        try:
            return await _run(server, n, profile)
        finally:
            await server.stop()
    finally:
        service.terminate()
        service.wait(10)


async def _run(server: Server, n: int, profile: bool) -> dict[str, Any]:
    driver = Driver(server)
    for i in range(WARM_UP):  # caches, pooled greenlets, the kept-alive HTTP connection
        await driver.call(i)
    COSTS.clear()
    tune_gc()  # as a real worker does after start-up
    cpu = await timed_loop(driver.call, range(10**6, 10**6 + n), profile)
    COSTS["timers"] = end_transactions(server)
    cpu += COSTS["timers"] / 1e9
    return {"n": n, "us_per_call": cpu / n * 1e6, "split": split(COSTS, n)}


def split(costs: dict[str, int], n: int) -> dict[str, float]:
    """µs per call: sip / query / http / resume (and per SIP message kind)."""
    us = {k: v / n / 1000 for k, v in costs.items()}
    query, resume = us.get("query", 0.0), us.get("resume", 0.0)
    sip_kinds = ("invite", "180", "200", "ack", "bye", "200 bye", "timers")
    out = {"sip": sum(us.get(k, 0.0) for k in sip_kinds) - query, "query": query,
           "http": us.get("loop", 0.0) - resume, "resume": resume}  # fmt: skip
    out.update({f"  {k}": us.get(k, 0.0) for k in sip_kinds})
    return out


def instructions(n: int) -> float:
    """Instructions per call under callgrind: (count(3n) - count(n)) / 2n."""
    return callgrind_per_op(__file__, [], n)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=0, help="calls (default 3000; 100 with --valgrind)")
    p.add_argument("--profile", action="store_true", help="cProfile's top functions")
    p.add_argument("--valgrind", action="store_true", help="instructions per call (slow)")
    a = p.parse_args()
    if a.valgrind:
        n = a.n or 100
        print(f"http-routed call: {instructions(n):,.0f} instructions per call (callgrind)")
        return
    res = runner()(measure(a.n or 3000, a.profile))
    print(f"http-routed call: {res['us_per_call']:.1f} us of CPU per call (n={res['n']})")
    print("  split (us, thread CPU): " + ", ".join(
        f"{k.strip()} {v:.0f}" for k, v in res["split"].items() if not k.startswith(" ")))  # fmt: skip
    print("  SIP messages (us): " + ", ".join(
        f"{k.strip()} {v:.0f}" for k, v in res["split"].items() if k.startswith(" ")))  # fmt: skip


if __name__ == "__main__":
    main()
