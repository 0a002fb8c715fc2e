"""Calls per second routed by an evapi subscriber, and the latency the round trip adds.

    python bench/evapi.py [--calls 2000] [--rate 300] [--concurrency 1000]

Runs examples/evapi-router as shipped (siprouter, its asyncio subscriber, a sipp UAS) and a
sipp UAC placing INVITE/ACK/BYE calls: every INVITE is suspended, published on the event
socket, routed by the subscriber's rtjson answer and resumed. The same calls then go
through a plain stateful proxy (tm relaying straight to the UAS, no evapi) as the baseline.
Prints successful calls per second of wall time, the proxy's CPU per call and sipp's mean
INVITE->200 response time for both; the difference is the latency evapi adds. A benchmark,
not a test; stops every process it starts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.proc import SCENARIOS, Siprouter, free_port  # noqa: E402

EXAMPLE = ROOT / "examples" / "evapi-router"
DIRECT_CFG = """#!KAMAILIO
debug=1
log_stderror=yes
children=1
listen=udp:127.0.0.1:{port}
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "app_python3.so"
modparam("app_python3", "load", "direct.py")
cfgengine "python"
"""
DIRECT_SCRIPT = """import KSR

def mod_init():
    return Direct()

class Direct:
    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        if KSR.tm.t_check_trans() == 0:
            return 1
        if KSR.is_INVITE() and KSR.pv.get("$tt") is None:
            KSR.setdsturi("sip:127.0.0.1:{uas}")
        KSR.tm.t_relay()
        return 1
"""


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:13]) / os.sysconf("SC_CLK_TCK")


def _proxy(
    tmp: Path, mode: str, port: int, uas: int
) -> tuple[Siprouter, list[subprocess.Popen[bytes]]]:
    if mode == "direct":
        (tmp / "direct.py").write_text(DIRECT_SCRIPT.replace("{uas}", str(uas)))
        (tmp / "kamailio.cfg").write_text(DIRECT_CFG.format(port=port))
        return Siprouter(["-f", str(tmp / "kamailio.cfg")], tmp / "direct.log"), []
    evapi = free_port()
    args = ["-f", str(EXAMPLE / "kamailio.cfg"), "-A", f"SIP_PORT={port}", "-A", "ROUTER_TIMEOUT=10000",
            "-A", f'EVAPI_BIND="127.0.0.1:{evapi}"']  # fmt: skip
    router = Siprouter(args, tmp / "evapi.log")
    log = tmp / "subscriber.log"
    sub = subprocess.Popen([sys.executable, str(EXAMPLE / "subscriber.py"), "--table",
                            str(tmp / "routes.json"), "--port", str(evapi)],
                           stdout=log.open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 10
    while "subscribed" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    return router, [sub]


def run(sipp: str, mode: str, calls: int, rate: int, limit: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        uas_port, port = free_port(), free_port()
        route = {"routing": "serial", "routes": [{"dst_uri": f"sip:127.0.0.1:{uas_port}"}]}
        (tmp / "routes.json").write_text(json.dumps({"*": route}))
        uas = subprocess.Popen([sipp, "-sf", str(SCENARIOS / "tm_uas.xml"), "-i", "127.0.0.1",
                                "-p", str(uas_port), "-m", str(calls), "-nostdin", "-timeout", "300s"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)  # fmt: skip
        router, helpers = _proxy(tmp, mode, port, uas_port)
        try:
            cpu0 = _cpu(router.proc.pid)
            cmd = [sipp, "-sf", str(SCENARIOS / "tm_uac.xml"), f"127.0.0.1:{port}", "-i", "127.0.0.1",
                   "-p", str(free_port()), "-s", "bench", "-m", str(calls), "-r", str(rate),
                   "-l", str(limit), "-nostdin", "-timeout", "300s", "-trace_rtt", "-rtt_freq", "1"]  # fmt: skip
            start = time.monotonic()
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=400, cwd=tmp)
            elapsed, cpu = time.monotonic() - start, _cpu(router.proc.pid) - cpu0
            rt_ms = _response_ms(tmp)
        finally:
            for proc in [uas, *helpers]:
                proc.kill()
                proc.wait(10)
            router.stop()
    ok = _counter(done.stdout, "Successful call")
    return {"ok": ok, "failed": _counter(done.stdout, "Failed call"), "cps": ok / elapsed,
            "cpu_ms": 1000 * cpu / max(ok, 1), "rt_ms": rt_ms}  # fmt: skip


def _counter(screen: str, name: str) -> float:
    found = re.findall(rf"{name}\s*\|\s*\d+\s*\|\s*(\d+)", screen)
    return float(found[-1]) if found else 0.0


def _response_ms(tmp: Path) -> float:
    """Mean INVITE->200 time (ms) from sipp's ``-trace_rtt`` file (``date;rtt_ms;rtd``)."""
    values = []
    for path in tmp.glob("*_rtt.csv"):
        for line in path.read_text().splitlines()[1:]:
            fields = line.split(";")
            if len(fields) >= 2:
                try:
                    values.append(float(fields[1]))
                except ValueError:
                    continue
    return sum(values) / len(values) if values else float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--rate", type=int, default=300, help="calls per second offered by sipp")
    p.add_argument("--concurrency", type=int, default=1000, help="sipp -l")
    args = p.parse_args()
    sipp = shutil.which("sipp")
    if sipp is None:
        raise SystemExit("sipp is not installed (Debian: apt-get install sip-tester)")
    print(f"calls={args.calls} offered rate={args.rate}/s concurrency<={args.concurrency}")
    results = {
        mode: run(sipp, mode, args.calls, args.rate, args.concurrency)
        for mode in ("direct", "evapi")
    }
    for mode, r in results.items():
        print(f"{mode:>6}: {r['ok']:.0f}/{args.calls} ok, {r['failed']:.0f} failed, {r['cps']:.0f} calls/s, "
              f"proxy CPU {r['cpu_ms']:.2f} ms/call, INVITE->200 {r['rt_ms']:.2f} ms")  # fmt: skip
    added = results["evapi"]["rt_ms"] - results["direct"]["rt_ms"]
    print(f"latency added by the evapi round trip: {added:.2f} ms per INVITE")


if __name__ == "__main__":
    main()
