"""HTTP-routed calls through siprouter: calls per second, proxy CPU per call, proxy-added
latency.

    python bench/http_routing.py [--calls 2000] [--rate 150] [--latency-ms 0 50] [--workers 1]

Runs the example as shipped (examples/http-routing: tm + http_async_client + rtjson, the
INVITE's transaction suspended while the service answers, record-routed ACK/BYE): the
example service (service.py, every answer delayed by each ``--latency-ms``), a sipp UAS,
siprouter, and a sipp UAC placing INVITE/ACK/BYE calls at ``--rate`` (tests/e2e/scenarios/
http_uac.xml). Prints, per service latency: successful calls per second of wall time, the
proxy's CPU time (user+system, all its processes) per call, the proxy-added latency (sipp's
INVITE->200 time minus the service latency: p50/p99; it includes the HTTP round trip's own
cost), and the most queries the service had waiting at once. A benchmark, not a test; every
process it starts is stopped by its own handle.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.http_kit import Rig  # noqa: E402
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
    for path in folder.glob("http_uac_*_rtt.csv"):
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


def run(calls: int, rate: int, latency_ms: float, workers: int) -> dict[str, float]:
    sipp = shutil.which("sipp")
    if sipp is None:
        raise SystemExit("sipp is not installed (Debian: apt-get install sip-tester)")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        uas_port = free_port()
        table = {"*": {"routing": "serial", "routes": [{"dst_uri": f"sip:127.0.0.1:{uas_port}"}]}}
        defines = ("HTTP_TIMEOUT=4000", f"MAX_SUSPENDED={max(4000, calls)}")
        rig = Rig(tmp, table, latency_ms=latency_ms, defines=defines, workers=workers)
        try:
            uas = subprocess.Popen(
                [sipp, "-sf", str(SCENARIOS / "tm_uas.xml"), "-i", "127.0.0.1", "-p", str(uas_port),
                 "-m", str(calls), "-nostdin", "-timeout", "600s"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)  # fmt: skip
            rig.procs.append(uas)
            cpu0 = _cpu(rig.proxy.proc.pid)
            cmd = [sipp, "-sf", str(SCENARIOS / "http_uac.xml"), f"127.0.0.1:{rig.port}",
                   "-i", "127.0.0.1", "-p", str(free_port()), "-m", str(calls), "-s", "bench",
                   "-r", str(rate), "-l", str(calls), "-nostdin", "-timeout", "600s",
                   "-trace_rtt", "-rtt_freq", "1"]  # fmt: skip
            start = time.monotonic()
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=700, cwd=tmp)
            elapsed = time.monotonic() - start
            cpu = _cpu(rig.proxy.proc.pid) - cpu0
            waiting = rig.stats()["max_waiting"]
            rtts = sorted(_rtts(tmp))
        finally:
            rig.stop()
    ok = _counter(done.stdout, "Successful call")
    added = sorted(max(r - latency_ms, 0.0) for r in rtts) or [float("nan")]
    return {"calls": calls, "ok": ok, "failed": _counter(done.stdout, "Failed call"),
            "seconds": elapsed, "cps": ok / elapsed, "cpu_ms_per_call": 1000 * cpu / max(ok, 1),
            "added_p50": statistics.median(added),
            "added_p99": added[min(len(added) - 1, int(len(added) * 0.99))],
            "max_waiting": waiting}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--rate", type=int, default=150, help="calls per second offered by sipp")
    p.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 50.0])
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args()
    print(f"calls={args.calls} offered rate={args.rate}/s workers={args.workers}")
    for latency in args.latency_ms:
        r = run(args.calls, args.rate, latency, args.workers)
        print(f"service latency {latency:>4.0f} ms: {r['ok']}/{r['calls']} calls ok, "
              f"{r['failed']} failed, {r['cps']:.0f} calls/s, proxy CPU "
              f"{r['cpu_ms_per_call']:.2f} ms/call, proxy-added latency p50 "
              f"{r['added_p50']:.1f} ms p99 {r['added_p99']:.1f} ms, "
              f"at most {r['max_waiting']} queries waiting at once", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
