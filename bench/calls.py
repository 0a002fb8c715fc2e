"""INVITE-ACK-BYE calls through the proxy under sipp load: calls/s and proxy CPU per call.

    python bench/calls.py [--calls 5000] [--rate 400] [--children 1] [--proxy siprouter|kamailio]

sipp UAC (bench/calls_uac.xml) -> proxy on 127.0.0.1 (bench/proxy_kit.py: a KEMI script that
record-routes and ``t_relay``s to the callee, in-dialog requests by ``loose_route``) -> sipp
UAS (bench/calls_uas.xml: 180, 200, ACK, BYE, 200). 13 messages per call cross the proxy.
``--proxy kamailio`` runs Kamailio 5.6 with the same cfg and script (app_python3);
``--proxy kamailio-native`` runs Kamailio with the same routing written in its native cfg
language (bench/proxy_kit.py's NATIVE_CFG), no Python. Prints
successful calls per second of wall time and the proxy's CPU seconds (utime + stime of every
proxy process, from /proc) per call. A benchmark: it never fails a test run.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from proxy_kit import Proxy  # noqa: E402

from tests.e2e.proc import free_port  # noqa: E402

HERE = Path(__file__).resolve().parent


def run(kind: str, calls: int, rate: int, window: int, children: int) -> dict[str, float]:
    sipp = shutil.which("sipp")
    if sipp is None:
        raise SystemExit("sipp is not installed (Debian: apt-get install sip-tester)")
    port, callee = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        uas = subprocess.Popen([sipp, "-sf", str(HERE / "calls_uas.xml"), "-i", "127.0.0.1",
                                "-p", str(callee), "-t", "u1", "-nostdin", "-timeout", "300s"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)  # fmt: skip
        proxy = Proxy(kind, folder, port, f"sip:127.0.0.1:{callee}", children)
        try:
            cmd = [sipp, "-sf", str(HERE / "calls_uac.xml"), f"127.0.0.1:{port}",
                   "-i", "127.0.0.1", "-p", str(free_port()), "-t", "u1", "-s", "bob",
                   "-m", str(calls), "-l", str(window), "-r", str(rate), "-nostdin",
                   "-timeout", "300s"]  # fmt: skip
            cpu0, start = proxy.cpu(), time.monotonic()
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=400, cwd=tmp)
            elapsed, cpu = time.monotonic() - start, proxy.cpu() - cpu0
        finally:
            proxy.stop()
            uas.kill()
            uas.wait(5)
    ok = _counter(done.stdout, "Successful call")
    failed = _counter(done.stdout, "Failed call")
    return {"calls": calls, "ok": ok, "failed": failed, "seconds": elapsed, "cps": ok / elapsed,
            "cpu": cpu, "cpu_per_call": cpu / max(ok, 1)}  # fmt: skip


def _counter(screen: str, name: str) -> float:
    found = re.findall(rf"{name}\s*\|\s*\d+\s*\|\s*(\d+)", screen)
    return float(found[-1]) if found else 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=5000)
    p.add_argument("--rate", type=int, default=400, help="sipp -r: calls per second")
    p.add_argument("--window", type=int, default=1000, help="sipp -l: calls in flight")
    p.add_argument("--children", type=int, default=1)
    p.add_argument("--proxy", choices=("siprouter", "kamailio", "kamailio-native"),
                   default="siprouter")  # fmt: skip
    a = p.parse_args()
    r = run(a.proxy, a.calls, a.rate, a.window, a.children)
    print(
        f"calls {a.proxy} children={a.children} sipp -r {a.rate}: {r['ok']:.0f}/{r['calls']} "
        f"({r['failed']:.0f} failed) in {r['seconds']:.2f} s = {r['cps']:.0f} calls/s; "
        f"proxy CPU {r['cpu']:.2f} s = {1000 * r['cpu_per_call']:.3f} ms per call "
        f"({1 / max(r['cpu_per_call'], 1e-9):.0f} calls per CPU-second)"
    )


if __name__ == "__main__":
    main()
