"""HTTP-routed calls through siprouter: calls per second, proxy CPU per call, proxy-added
latency.

    python bench/http_routing.py [--calls 2000] [--rate 150] [--latency-ms 0 50] [--workers 1]
    python bench/http_routing.py --calls 2000 --rate 150 --latency-ms 200 --hold --probe

Runs the example as shipped (examples/http-routing: tm + http_async_client + rtjson, the
INVITE's transaction suspended while the service answers, record-routed ACK/BYE): the
example service (service.py, every answer delayed by each ``--latency-ms``), a sipp UAS,
siprouter, and a sipp UAC placing INVITE/ACK/BYE calls at ``--rate`` (tests/e2e/scenarios/
http_uac.xml). Prints, per service latency: successful calls per second of wall time, the
proxy's CPU time (user+system, all its processes) per call (and the example service's,
which shares the machine), the proxy-added latency (sipp's
INVITE->200 time minus the service latency: p50/p99; it includes the HTTP round trip's own
cost), and the most queries the service had waiting at once. ``--hold`` keeps every call
open (a pause before BYE, tests/e2e/scenarios/http_uac_hold.xml) until the last one is up:
all ``--calls`` calls in flight at once (the most sipp counted is printed; calls/s then
measures the hold, not the proxy). ``--probe`` sends an OPTIONS every 20 ms meanwhile and
prints how fast they were answered; ``--tcp`` runs both sipps over TCP (no retransmissions).
``--capacity STEP`` measures capacity instead: from ``--rate`` upward by STEP calls/s, every
service latency at each rate (``--seconds`` of calls each), until every latency has failed
once; a rate passes when under 1 % of the calls fail and the proxy-added p99 stays under
500 ms (issue 5's criterion). Prints the highest rate each latency passed: what a slow backend
costs in capacity.
A benchmark, not a test; every process it starts is stopped by its own handle.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.http_kit import Prober, Rig, most_calls_at_once  # noqa: E402
from tests.e2e.proc import SCENARIOS, free_port  # noqa: E402


def _cpu(pid: int) -> float:
    """User+system CPU seconds of a process and of its children (the workers)."""
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:13]) / os.sysconf("SC_CLK_TCK")
    return total


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _rtts(folder: Path) -> list[float]:
    """sipp's per-call INVITE->200 times (ms) from its -trace_rtt file."""
    found: list[float] = []
    for path in folder.glob("http_uac*_rtt.csv"):
        with path.open() as f:
            for row in csv.reader(f, delimiter=";"):
                try:
                    found.append(float(row[1]))
                except (IndexError, ValueError):
                    continue
    return found


def _counter(screen: str, name: str) -> int:
    found = re.findall(rf"{name}\s*\|\s*\d+\s*\|\s*(\d+)", screen)
    return int(found[-1]) if found else 0


def run(calls: int, rate: int, latency_ms: float, workers: int, hold: bool = False,
        probe: bool = False, tcp: bool = False) -> dict[str, Any]:  # fmt: skip
    sipp = shutil.which("sipp")
    if sipp is None:
        raise SystemExit("sipp is not installed (Debian: apt-get install sip-tester)")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        uas_port = free_port()
        dst = f"sip:127.0.0.1:{uas_port}" + (";transport=tcp" if tcp else "")
        table = {"*": {"routing": "serial", "routes": [{"dst_uri": dst}]}}
        transport = ["-t", "t1" if tcp else "u1"]
        defines = ("HTTP_TIMEOUT=4000", f"MAX_SUSPENDED={max(4000, calls)}")
        rig = Rig(tmp, table, latency_ms=latency_ms, defines=defines, workers=workers)
        try:
            uas = subprocess.Popen(
                [sipp, "-sf", str(SCENARIOS / "tm_uas.xml"), "-i", "127.0.0.1", "-p", str(uas_port),
                 "-m", str(calls), "-nostdin", "-timeout", "600s", *transport],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)  # fmt: skip
            rig.procs.append(uas)
            service = rig.service.pid if rig.service is not None else None
            cpu0, svc0 = _cpu(rig.proxy.proc.pid), _cpu(service) if service else 0.0
            scenario = "http_uac_hold.xml" if hold else "http_uac.xml"
            cmd = [sipp, "-sf", str(SCENARIOS / scenario), f"127.0.0.1:{rig.port}",
                   "-i", "127.0.0.1", "-p", str(free_port()), "-m", str(calls), "-s", "bench",
                   "-r", str(rate), "-l", str(calls), "-nostdin", "-timeout", "600s",
                   "-trace_rtt", "-rtt_freq", "1", "-trace_stat", "-fd", "1", *transport]  # fmt: skip
            if hold:  # the first call is still up when the last one starts
                cmd += ["-d", str(int(1000 * calls / rate) + 5000)]
            prober = Prober(rig.port, every=0.02) if probe else None
            start = time.monotonic()
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=700, cwd=tmp)
            elapsed = time.monotonic() - start
            cpu = _cpu(rig.proxy.proc.pid) - cpu0
            svc = _cpu(service) - svc0 if service else 0.0
            options = prober.stop() if prober is not None else {}
            waiting = rig.stats()["max_waiting"]
            rtts = sorted(_rtts(tmp))
            at_once = most_calls_at_once(tmp, scenario)
        finally:
            rig.stop()
    ok = _counter(done.stdout, "Successful call")
    added = sorted(max(r - latency_ms, 0.0) for r in rtts) or [float("nan")]
    return {"calls": calls, "ok": ok, "failed": _counter(done.stdout, "Failed call"),
            "seconds": elapsed, "cps": ok / elapsed, "cpu_ms_per_call": 1000 * cpu / max(ok, 1),
            "service_ms_per_call": 1000 * svc / max(ok, 1),
            "added_p50": statistics.median(added),
            "added_p99": added[min(len(added) - 1, int(len(added) * 0.99))],
            "max_waiting": waiting, "at_once": at_once, "options": options}  # fmt: skip


def passes(r: dict[str, Any]) -> bool:
    """A capacity probe passed: under 1 % of the calls failed, proxy-added p99 < 500 ms."""
    return bool(r["ok"] >= 0.99 * r["calls"] and r["added_p99"] < 500.0)


def capacity(start: int, step: int, seconds: float, latencies: list[float],
             workers: int) -> dict[float, int]:  # fmt: skip
    """The highest rate (calls/s) each service latency sustained, probing upward from
    ``start`` with every latency at each rate (machine drift hits them alike)."""
    best: dict[float, int] = {}
    alive = list(latencies)
    rate = start
    while alive:
        for latency in list(alive):
            r = run(int(rate * seconds), rate, latency, workers)
            ok = passes(r)
            print(f"  {rate}/s, service latency {latency:.0f} ms: {r['ok']}/{r['calls']} ok, "
                  f"{r['cps']:.0f} calls/s, {r['cpu_ms_per_call']:.2f} ms CPU/call (service "
                  f"{r['service_ms_per_call']:.2f}), added p99 "
                  f"{r['added_p99']:.0f} ms: {'pass' if ok else 'FAIL'}", flush=True)  # fmt: skip
            if ok:
                best[latency] = rate
            else:
                alive.remove(latency)
        rate += step
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--rate", type=int, default=150, help="calls per second offered by sipp")
    p.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 50.0])
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--hold", action="store_true", help="keep all calls up at once")
    p.add_argument("--probe", action="store_true", help="OPTIONS every 20 ms meanwhile")
    p.add_argument("--tcp", action="store_true", help="sipp caller and callee over TCP")
    p.add_argument("--capacity", type=int, metavar="STEP", help="find each latency's capacity")
    p.add_argument("--seconds", type=float, default=10.0, help="length of a capacity probe")
    args = p.parse_args()
    if args.capacity:
        print(f"capacity from {args.rate}/s by {args.capacity}/s, {args.seconds:.0f} s probes, "
              f"workers={args.workers} udp")  # fmt: skip
        best = capacity(args.rate, args.capacity, args.seconds, args.latency_ms, args.workers)
        for latency in args.latency_ms:
            print(f"service latency {latency:>4.0f} ms: capacity {best.get(latency, 0)} calls/s")
        return
    print(f"calls={args.calls} offered rate={args.rate}/s workers={args.workers}"
          f"{' hold' if args.hold else ''}{' tcp' if args.tcp else ' udp'}")  # fmt: skip
    for latency in args.latency_ms:
        r = run(args.calls, args.rate, latency, args.workers, args.hold, args.probe, args.tcp)
        print(f"service latency {latency:>4.0f} ms: {r['ok']}/{r['calls']} calls ok, "
              f"{r['failed']} failed, {r['cps']:.0f} calls/s, proxy CPU "
              f"{r['cpu_ms_per_call']:.2f} ms/call (service {r['service_ms_per_call']:.2f}), "
              f"proxy-added latency p50 "
              f"{r['added_p50']:.1f} ms p99 {r['added_p99']:.1f} ms, "
              f"at most {r['max_waiting']} queries waiting at once, "
              f"at most {r['at_once']} calls in flight at once", flush=True)  # fmt: skip
        o = r["options"]
        if o:
            print(f"  OPTIONS every 20 ms: {o['probes']} sent, {100 * o['within_20ms']:.1f} % "
                  f"answered within 20 ms, p50 {o['p50_ms']:.2f} ms, p99 {o['p99_ms']:.1f} ms, "
                  f"max {o['max_ms']:.0f} ms", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
