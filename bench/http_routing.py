"""Calls per second routed through the HTTP routing service, and the proxy's CPU per call.

    python bench/http_routing.py [--calls 2000] [--rate 200] [--latency-ms 0 50] \\
        [--mode parked|suspend]

Starts the example service (examples/http-routing/service.py) with each latency, a sipp UAS,
siprouter, and a sipp UAC placing INVITE/ACK/BYE calls; every INVITE asks the service for an
rtjson document. ``--mode parked`` (default) uses ``http_client`` (the route greenlet parks,
the worker keeps serving) and relays statelessly; ``--mode suspend`` runs the example as
shipped (tm + http_async_client suspend; needs the tm module). Prints successful calls per
second of wall time and the proxy's CPU time (user+system) per call. A benchmark, not a
test; stops every process it starts.
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

EXAMPLE = ROOT / "examples" / "http-routing"
PARKED_CFG = """#!KAMAILIO
debug=2
log_stderror=yes
listen=udp:127.0.0.1:{port}
children=1
loadmodule "sl.so"
loadmodule "http_client.so"
loadmodule "rtjson.so"
loadmodule "app_python3.so"
modparam("http_client", "keep_connections", 1)
modparam("http_client", "query_result", 0)
modparam("app_python3", "load", "parked.py")
cfgengine "python"
"""
PARKED_SCRIPT = """import json
import KSR

URL = {url!r}

def mod_init():
    return Handler()

class Handler:
    def child_init(self, rank):
        self.docs = {{}}  # Call-ID -> rtjson document (ACK/BYE follow the INVITE)
        return 0

    def ksr_request_route(self, msg):
        if KSR.is_OPTIONS():
            KSR.sl.sl_send_reply(200, "Keepalive")
            return
        if KSR.is_INVITE() and KSR.pv.get("$tt") is None:
            body = json.dumps({{"ruri": KSR.pv.get("$ru")}})
            rc = KSR.http_client.query_post_hdrs(URL, body, "Content-Type: application/json",
                                                 "$var(doc)")
            if rc != 200 or KSR.rtjson.init_routes(KSR.pv.get("$var(doc)")) < 0:
                KSR.sl.sl_send_reply(503, "Routing Service Unavailable")
                return
            self.docs[KSR.pv.get("$ci")] = KSR.pv.get("$var(doc)")
        doc = self.docs.get(KSR.pv.get("$ci"))
        if doc is None:
            KSR.sl.sl_send_reply(404, "Unknown Call")
            return
        if KSR.is_BYE():
            self.docs.pop(KSR.pv.get("$ci"), None)
        KSR.rtjson.init_routes(doc)
        KSR.rtjson.push_routes()
        KSR.forward()
"""


def _start_service(table: Path, latency_ms: float) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, str(EXAMPLE / "service.py"), "--table", str(table), "--port", "0",
           "--latency-ms", str(latency_ms)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    match = re.search(r":(\d+)\s*$", line)
    if match is None:
        proc.kill()
        raise SystemExit(f"service did not start: {line!r}")
    return proc, int(match.group(1))


def _cpu(pid: int) -> float:
    """User+system CPU seconds of a process and its children that were waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _proxy(tmp: Path, mode: str, port: int, url: str) -> Siprouter:
    log = tmp / "siprouter.log"
    if mode == "suspend":
        args = ["-f", str(EXAMPLE / "kamailio.cfg"), "-A", f"SIP_PORT={port}",
                "-A", f'ROUTER_URL="{url}"', "-n", "1"]  # fmt: skip
        return Siprouter(args, log)
    (tmp / "parked.py").write_text(PARKED_SCRIPT.format(url=url + "/route"))
    (tmp / "kamailio.cfg").write_text(PARKED_CFG.format(port=port))
    return Siprouter(["-f", str(tmp / "kamailio.cfg")], log)


def _calls(
    sipp: str, tmp: Path, mode: str, calls: int, rate: int, proxy_port: int, http_port: int
) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run the UAC through a fresh proxy; (sipp result, seconds, proxy CPU seconds)."""
    router = _proxy(tmp, mode, proxy_port, f"http://127.0.0.1:{http_port}")
    try:
        cpu0 = _cpu(router.proc.pid)
        cmd = [sipp, "-sf", str(SCENARIOS / "uac.xml"), f"127.0.0.1:{proxy_port}",
               "-i", "127.0.0.1", "-p", str(free_port()), "-m", str(calls), "-s", "bench",
               "-r", str(rate), "-l", str(max(rate, 200)), "-nostdin", "-timeout", "300s"]  # fmt: skip
        start = time.monotonic()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=400, cwd=tmp)
        return done, time.monotonic() - start, _cpu(router.proc.pid) - cpu0
    finally:
        router.stop()


def run(calls: int, rate: int, latency_ms: float, mode: str) -> dict[str, float]:
    sipp = shutil.which("sipp")
    if sipp is None:
        raise SystemExit("sipp is not installed (Debian: apt-get install sip-tester)")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        uas_port, proxy_port = free_port(), free_port()
        table = tmp / "routes.json"
        route = {"routing": "serial", "routes": [{"dst_uri": f"sip:127.0.0.1:{uas_port}"}]}
        table.write_text(json.dumps({"*": route}))
        service, http_port = _start_service(table, latency_ms)
        uas = subprocess.Popen(
            [sipp, "-sf", str(SCENARIOS / "uas.xml"), "-i", "127.0.0.1", "-p", str(uas_port),
             "-m", str(calls), "-nostdin", "-timeout", "300s"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp,
        )  # fmt: skip
        try:
            done, elapsed, cpu = _calls(sipp, tmp, mode, calls, rate, proxy_port, http_port)
        finally:
            for proc in (uas, service):
                proc.terminate()
                proc.wait(10)
    ok = _counter(done.stdout, "Successful call")
    return {"calls": calls, "ok": ok, "failed": _counter(done.stdout, "Failed call"),
            "seconds": elapsed, "cps": ok / elapsed, "cpu_ms_per_call": 1000 * cpu / max(ok, 1)}  # fmt: skip


def _counter(screen: str, name: str) -> float:
    found = re.findall(rf"{name}\s*\|\s*\d+\s*\|\s*(\d+)", screen)
    return float(found[-1]) if found else 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--rate", type=int, default=200, help="calls per second offered by sipp")
    p.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 50.0])
    p.add_argument("--mode", choices=("parked", "suspend"), default="parked")
    args = p.parse_args()
    print(f"mode={args.mode} calls={args.calls} offered rate={args.rate}/s")
    for latency in args.latency_ms:
        r = run(args.calls, args.rate, latency, args.mode)
        print(f"service latency {latency:>5.0f} ms: {r['ok']:.0f}/{r['calls']} calls ok, "
              f"{r['failed']:.0f} failed, {r['cps']:.0f} calls/s, "
              f"proxy CPU {r['cpu_ms_per_call']:.2f} ms/call")  # fmt: skip


if __name__ == "__main__":
    main()
