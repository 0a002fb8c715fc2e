"""OPTIONS answered by the proxy under sipp load: prints requests per second and CPU.

    python bench/options.py [--calls 20000] [--rate 0] [--children 1] [--transport u1]
                            [--proxy siprouter|kamailio|example]

Starts the proxy on a free loopback port with bench/proxy_kit.py's cfg and KEMI script
(``KSR.sl.sl_send_reply(200, ...)`` for OPTIONS; ``--proxy kamailio`` runs Kamailio 5.6 with
the same files, ``--proxy example`` siprouter with examples/basic), runs sipp with
bench/options_uac.xml (one OPTIONS per call, 200 expected) at the given rate (0 = as fast as
sipp's -l window allows), and prints successful calls per second of wall time and the
proxy's CPU seconds per request (utime + stime of every proxy process, from /proc). A
benchmark, not a test: it never fails a test run. Stops every process it starts.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))

from proxy_kit import Proxy, cpu_seconds  # noqa: E402

from tests.e2e.proc import EXAMPLE, Siprouter, free_port  # noqa: E402

SCENARIO = Path(__file__).resolve().parent / "options_uac.xml"


def run(
    calls: int, rate: int, children: int, transport: str, window: int, kind: str = "siprouter"
) -> dict[str, float]:
    sipp = shutil.which("sipp")
    if sipp is None:
        raise SystemExit("sipp is not installed (Debian: apt-get install sip-tester)")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "siprouter.log"
        if kind == "example":
            args = ["-f", str(EXAMPLE), "-A", f"SIP_PORT={port}", "-n", str(children)]
            router: Siprouter | Proxy = Siprouter(
                [*args, "-A", "NEXT_HOP=sip:127.0.0.1:9"], log, workers=children
            )
            cpu = lambda: cpu_seconds(router.proc.pid)  # noqa: E731 - one worker's figure
        else:
            router = Proxy(kind, Path(tmp), port, "sip:127.0.0.1:9", children)
            cpu = router.cpu
        try:
            cmd = [sipp, "-sf", str(SCENARIO), f"127.0.0.1:{port}", "-i", "127.0.0.1",
                   "-p", str(free_port()), "-t", transport, "-m", str(calls), "-l", str(window),
                   "-r", str(rate or 100000), "-nostdin", "-timeout", "120s",
                   "-trace_stat", "-stf", str(Path(tmp) / "stat.csv")]  # fmt: skip
            cpu0, start = cpu(), time.monotonic()
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=tmp)
            elapsed, used = time.monotonic() - start, cpu() - cpu0
        finally:
            router.stop()
        ok = _counter(done.stdout, "Successful call")
        failed = _counter(done.stdout, "Failed call")
    return {"calls": calls, "ok": ok, "failed": failed, "seconds": elapsed, "rps": ok / elapsed,
            "cpu_per_request": used / max(ok, 1)}  # fmt: skip


def _counter(screen: str, name: str) -> float:
    found = re.findall(rf"{name}\s*\|\s*\d+\s*\|\s*(\d+)", screen)
    return float(found[-1]) if found else 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=20000)
    p.add_argument("--rate", type=int, default=0, help="calls per second (0: unlimited)")
    p.add_argument("--window", type=int, default=200, help="sipp -l: calls in flight")
    p.add_argument("--children", type=int, default=1)
    p.add_argument("--transport", default="u1", help="sipp -t (u1, t1)")
    p.add_argument("--proxy", choices=("siprouter", "kamailio", "example"), default="siprouter")
    a = p.parse_args()
    r = run(a.calls, a.rate, a.children, a.transport, a.window, a.proxy)
    per = r["cpu_per_request"]
    print(
        f"OPTIONS {a.proxy} {a.transport} children={a.children}: {r['ok']:.0f}/{r['calls']} "
        f"answered ({r['failed']:.0f} failed) in {r['seconds']:.2f} s = {r['rps']:.0f} "
        f"requests/s; proxy CPU {1e6 * per:.0f} us per request "
        f"({1 / max(per, 1e-9):.0f} requests per CPU-second)"
    )


if __name__ == "__main__":
    main()
