"""The proxy's own CPU per message, without sockets, sipp or the kernel: one siprouter
worker (bench/proxy_kit.py's cfg and KEMI script, the real Server, engine and modules) fed
with datagrams in-process, its outgoing messages captured instead of sent.

    python bench/inproc.py [options|calls|ack] [--n N] [--profile] [--valgrind]

* ``options``: OPTIONS answered by ``sl_send_reply`` (µs of CPU per request);
* ``calls``: INVITE → (100) → 180 → 200 → ACK → BYE → 200 played by this script as caller
  and callee against the proxy's stateful relay; prints CPU per call and per message kind;
* ``ack``: in-dialog 2xx ACKs along the Record-Route (loose_route + stateless relay).

Wall-clock load benches (bench/options.py, bench/calls.py) measure what users see but move
with the machine's load and include sipp and the kernel; this one isolates the Python path
so that a change to it can be judged in seconds. ``--valgrind`` re-runs itself under
callgrind twice (N and 3N) and prints instructions per operation — the same figure whatever
else runs on the machine. ``--profile`` prints cProfile's top functions (cProfile inflates
small calls; use py-spy on this script for proportions: ``py-spy record -- python
bench/inproc.py calls --n 20000``). A benchmark, never part of the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import proxy_kit  # noqa: E402

from app.cli import load  # noqa: E402
from app.cli import parser as cli_parser  # noqa: E402
from app.context import Dest, Source  # noqa: E402
from app.server import Server, tune_gc  # noqa: E402
from app.transport import Transports  # noqa: E402
from sip import Response, parse  # noqa: E402
from tests.e2e.proc import free_port  # noqa: E402

PORT, UAS_PORT, UAC_PORT = free_port(), 25070, 25999  # only PORT is bound
UAC = Source("udp", "127.0.0.1", UAC_PORT, "127.0.0.1", PORT)
UAS = Source("udp", "127.0.0.1", UAS_PORT, "127.0.0.1", PORT)
SDP = ("v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       "t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")  # fmt: skip
SENT: list[tuple[bytes, Dest]] = []
WARM_UP = {"options": 500, "calls": 100, "ack": 500}


def capture(self: Transports, data: bytes, dest: Dest) -> bool:
    """``Transports.send`` of the bench/inproc*.py scripts: what the worker sends, kept."""
    SENT.append((data, dest))
    return True


def runner() -> Callable[..., Any]:
    """uvloop's ``run`` (a worker's loop) when installed, else asyncio's."""
    try:
        import uvloop

        return uvloop.run  # type: ignore[no-any-return]
    except ImportError:
        return asyncio.run


async def timed_loop(step: Callable[[int], Any], indexes: range, profile: bool,
                     top: int = 30) -> float:  # fmt: skip
    """Process CPU seconds of ``step(i)`` for every ``i`` (awaited when it is a coroutine;
    every 64 steps the loop gets a turn, to run due timers and tasks as it would). With
    ``profile``, cProfile's ``top`` functions of the steps are printed."""
    prof = cProfile.Profile() if profile else None
    t0 = time.process_time()
    for i in indexes:
        if prof is not None:
            prof.enable()
        pending = step(i)
        if pending is not None:
            await pending
        if prof is not None:
            prof.disable()
        if i % 64 == 0:
            await asyncio.sleep(0)
    cpu = time.process_time() - t0
    if prof is not None:
        if os.environ.get("PROFILE_OUT"):
            prof.dump_stats(os.environ["PROFILE_OUT"])
        pstats.Stats(prof).sort_stats(os.environ.get("PROFILE_SORT", "tottime")).print_stats(top)
    return cpu


def end_transactions(server: Server) -> int:
    """Fire every transaction timer now (Timers J, K, D, H end every transaction): what the
    timers do later for the measured messages; process CPU in ns."""
    t0 = time.process_time_ns()
    shell = server.core.tx
    shell._after(shell.layer.handle_timers(shell.now() + 3600))  # noqa: SLF001
    return time.process_time_ns() - t0


def request(method: str, i: int, uri: str, extra: str = "", body: str = "", cseq: int = 1,
            to_tag: str = "", branch: str = "") -> bytes:  # fmt: skip
    """A request from the caller (sipp's shape: the headers of bench/calls_uac.xml)."""
    tag = f";tag={to_tag}" if to_tag else ""
    return (
        f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{UAC_PORT};branch=z9hG4bK-{i}-"
        f"{branch or method}\r\nFrom: sipp <sip:sipp@127.0.0.1:{UAC_PORT}>;tag={i}SIPpTag00\r\n"
        f"To: service <sip:service@127.0.0.1:{PORT}>{tag}\r\nCall-ID: {i}-{method}@127.0.0.1\r\n"
        f"CSeq: {cseq} {method}\r\n{extra}Contact: sip:sipp@127.0.0.1:{UAC_PORT}\r\n"
        f"Max-Forwards: 70\r\nSubject: Performance Test\r\nContent-Length: {len(body)}\r\n\r\n"
        f"{body}"
    ).encode()


def answer(req: bytes, status: int, reason: str, to_tag: str = "", extra: str = "",
           body: str = "") -> bytes:  # fmt: skip
    """The callee's reply to a request the proxy sent it, as bench/calls_uas.xml writes it."""
    msg = parse(req)
    lines = []
    for name in ("Via", "Record-Route", "From", "To", "Call-ID", "CSeq"):
        values = msg.get_all(name)
        if name == "To" and to_tag and values and ";tag=" not in values[0]:
            values = [f"{values[0]};tag={to_tag}"]
        if values:  # sipp's [last_Via:] joins repeated headers on one line
            lines.append(f"{name}: {', '.join(values)}\r\n")
    head = f"SIP/2.0 {status} {reason}\r\n{''.join(lines)}{extra}"
    return f"{head}Content-Length: {len(body)}\r\n\r\n{body}".encode()


def take(start: bytes) -> bytes:
    """The captured message starting with ``start`` (the others are dropped)."""
    found = next(data for data, _ in SENT if data.startswith(start))
    SENT.clear()
    return found


class Driver:
    """Feeds one worker; ``costs`` adds up thread CPU (ns) per message kind."""

    def __init__(self, server: Server) -> None:
        self.core = server.core
        self.costs: dict[str, int] = {}

    def feed(self, kind: str, data: bytes, source: Source) -> None:
        t0 = time.thread_time_ns()
        self.core.on_datagram(data, source)
        self.costs[kind] = self.costs.get(kind, 0) + time.thread_time_ns() - t0

    def options(self, i: int) -> None:
        self.feed("OPTIONS", request("OPTIONS", i, f"sip:127.0.0.1:{PORT}"), UAC)
        SENT.clear()

    def call(self, i: int) -> None:
        hdr = "Content-Type: application/sdp\r\n"
        self.feed("INVITE", request("INVITE", i, f"sip:service@127.0.0.1:{PORT}", hdr, SDP), UAC)
        fwd = take(b"INVITE")
        self.feed("180", answer(fwd, 180, "Ringing", f"uas{i}"), UAS)
        contact = f"Contact: <sip:127.0.0.1:{UAS_PORT}>\r\n{hdr}"
        self.feed("200", answer(fwd, 200, "OK", f"uas{i}", contact, SDP), UAS)
        ok = parse(take(b"SIP/2.0 200"))
        assert isinstance(ok, Response)
        route = "".join(f"Route: {v}\r\n" for v in ok.get_all("Record-Route"))
        for method, cseq in (("ACK", 1), ("BYE", 2)):
            data = request(method, i, f"sip:127.0.0.1:{UAS_PORT}", route, cseq=cseq,
                           to_tag=str(ok.to_tag)).replace(f"{i}-{method}@".encode(),
                                                          f"{i}-INVITE@".encode())  # fmt: skip
            self.feed(method, data, UAC)
        self.feed("200 BYE", answer(take(b"BYE"), 200, "OK"), UAS)
        SENT.clear()

    def ack(self, i: int, route: str) -> None:
        data = request("ACK", i, f"sip:127.0.0.1:{UAS_PORT}", route, to_tag="uas")
        self.feed("ACK", data, UAC)
        SENT.clear()

    def route_set(self) -> str:
        """Our Record-Route, from one relayed INVITE."""
        hdr = "Content-Type: application/sdp\r\n"
        self.core.on_datagram(request("INVITE", 0, f"sip:s@127.0.0.1:{PORT}", hdr, SDP), UAC)
        fwd = parse(take(b"INVITE"))
        return "".join(f"Route: {v}\r\n" for v in fwd.get_all("Record-Route"))


async def measure(kind: str, n: int, profile: bool) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="siprouter-inproc-"))
    (folder / "bench_route.py").write_text(proxy_kit.SCRIPT)
    (folder / "bench.cfg").write_text(
        proxy_kit.CFG.replace("SCRIPT", str(folder / "bench_route.py"))
    )
    argv = ["-f", str(folder / "bench.cfg"), "-A", f"SIP_PORT={PORT}",
            "-A", f"NEXT_HOP=sip:127.0.0.1:{UAS_PORT}"]  # fmt: skip
    config, modules, listens = load(cli_parser().parse_args(argv))
    Transports.send = capture  # type: ignore[method-assign]
    server = Server(config, modules, listens, 1)  # type: ignore[arg-type]
    await server.start()
    try:
        driver = Driver(server)
        step = _step(driver, kind)
        for i in range(WARM_UP[kind]):  # caches, pooled greenlets (the same for every n,
            step(i)  # so that --valgrind's difference of two runs counts only measured ops)
        driver.costs.clear()
        tune_gc()  # as a real worker does after start-up
        cpu = await timed_loop(step, range(10**6, 10**6 + n), profile)
        driver.costs["timers"] = end_transactions(server)
        cpu += driver.costs["timers"] / 1e9
    finally:
        await server.stop()
    per_kind = {k: v / n / 1000 for k, v in driver.costs.items()}
    return {"kind": kind, "n": n, "us_per_op": cpu / n * 1e6, "per_message_us": per_kind}


def _step(driver: Driver, kind: str) -> Callable[[int], None]:
    if kind == "options":
        return driver.options
    if kind == "calls":
        return driver.call
    route = driver.route_set()
    return lambda i: driver.ack(i, route)


def instructions(kind: str, n: int) -> float:
    """Instructions per operation under callgrind: (count(3n) - count(n)) / 2n."""
    return callgrind_per_op(__file__, [kind], n)


def callgrind_per_op(script: str, args: list[str], n: int) -> float:
    """``python script *args --n N`` under callgrind for N = n and 3n: the instructions of
    one operation, (count(3n) - count(n)) / 2n (start-up and warm-up cancel out). The
    bench/inproc*.py scripts share it."""
    counts = []
    for size in (n, 3 * n):
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
               sys.executable, script, *args, "--n", str(size)]  # fmt: skip
        env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict layouts in both runs
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, env=env)
        found = re.search(r"Collected : (\d+)", out.stderr)
        if found is None:
            raise SystemExit(f"valgrind failed:\n{out.stderr[-2000:]}")
        counts.append(int(found.group(1)))
    return (counts[1] - counts[0]) / (2 * n)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("kind", nargs="?", default="calls", choices=("options", "calls", "ack"))
    p.add_argument("--n", type=int, default=0, help="operations (default 20000; 3000 calls)")
    p.add_argument("--profile", action="store_true", help="cProfile's top functions")
    p.add_argument("--valgrind", action="store_true", help="instructions per op (slow)")
    a = p.parse_args()
    n = a.n or (3000 if a.kind == "calls" else 20000)
    if a.valgrind:
        n = a.n or (100 if a.kind == "calls" else 500)
        print(f"{a.kind}: {instructions(a.kind, n):,.0f} instructions per op (callgrind)")
        return
    res = runner()(measure(a.kind, n, a.profile))
    unit = "call" if a.kind == "calls" else "request"
    print(f"{a.kind}: {res['us_per_op']:.1f} us of CPU per {unit} (n={n})")
    if a.kind == "calls":
        parts = ", ".join(f"{k} {v:.0f}" for k, v in res["per_message_us"].items())
        print(f"  per message kind (us, thread CPU): {parts}")


if __name__ == "__main__":
    main()
