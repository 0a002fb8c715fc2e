"""End to end: examples/evapi-router as real processes on loopback -- siprouter, the asyncio
subscriber program, sipp callers and callees: calls routed by the subscriber (rtjson
documents); the subscriber killed with calls suspended -> every caller gets 503 from the
failure route at the router timer, and calls route again once it is back; a subscriber that
stops reading does not slow the calls routed by another one.

The helpers (``Router``) serve tests/e2e/test_evapi*.py and bench/evapi.py."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .proc import ROOT, SCENARIOS, Siprouter, finish, free_port, require_tool, sipp

EXAMPLE = ROOT / "examples" / "evapi-router"


def fail_scenario(tmp: Path, code: int) -> str:
    path = tmp / f"uac_fail_{code}.xml"
    path.write_text((SCENARIOS / "tm_uac_fail.xml").read_text().replace("@CODE@", str(code)))
    return str(path)


class Router:
    """siprouter with the example's cfg, the subscriber program, a sipp callee."""

    def __init__(self, tmp: Path, timeout_ms: int = 2000, workers: int = 1) -> None:
        require_tool("sipp")
        self.tmp, self.port, self.evapi = tmp, free_port(), free_port()
        self.uas_port = free_port()
        table = {
            "*": {"routing": "serial", "routes": [{"dst_uri": f"sip:127.0.0.1:{self.uas_port}"}]}
        }
        (tmp / "routes.json").write_text(json.dumps(table))
        self.subscribers: list[subprocess.Popen[bytes]] = []
        self.uas: subprocess.Popen[bytes] | None = None
        args = ["-f", str(EXAMPLE / "kamailio.cfg"), "-A", f"SIP_PORT={self.port}",
                "-A", f'EVAPI_BIND="127.0.0.1:{self.evapi}"', "-A", f"ROUTER_TIMEOUT={timeout_ms}",
                "-n", str(workers)]  # fmt: skip
        self.proxy = Siprouter(args, tmp / "siprouter.log", workers=workers)

    def subscribe(self, latency_ms: float = 0) -> subprocess.Popen[bytes]:
        """Start the example subscriber; return once it is connected."""
        log = self.tmp / f"subscriber{len(self.subscribers)}.log"
        proc = subprocess.Popen(
            [sys.executable, str(EXAMPLE / "subscriber.py"), "--table", str(self.tmp / "routes.json"),
             "--port", str(self.evapi), "--latency-ms", str(latency_ms)],
            stdout=log.open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
        self.subscribers.append(proc)
        deadline = time.monotonic() + 10
        while "subscribed" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        return proc

    def callee(self, calls: int) -> None:
        self.uas = sipp(["-sf", str(SCENARIOS / "tm_uas.xml"), "-i", "127.0.0.1", "-p",
                         str(self.uas_port), "-m", str(calls)], self.tmp / "uas.log")  # fmt: skip

    def caller(
        self, calls: int, rate: int, scenario: str = "", name: str = "uac"
    ) -> subprocess.Popen[bytes]:
        scn = scenario or str(SCENARIOS / "tm_uac.xml")
        return sipp(["-sf", scn, f"127.0.0.1:{self.port}", "-i", "127.0.0.1", "-p", str(free_port()),
                     "-s", "bob", "-m", str(calls), "-r", str(rate), "-l", str(calls)],
                    self.tmp / f"{name}.log")  # fmt: skip

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.tmp.glob("*.log")))  # fmt: skip

    def stop(self) -> int:
        for proc in [*self.subscribers, *([self.uas] if self.uas else [])]:
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)
        return self.proxy.stop()


@pytest.mark.parametrize("workers", [1, 3])
def test_calls_routed_by_the_subscriber(tmp_path: Path, workers: int) -> None:
    """With 3 workers the calls are spread by Call-ID; worker 1 serves the event socket
    and every answer runs its callback in the worker that suspended the call."""
    router = Router(tmp_path, workers=workers)
    try:
        router.subscribe()
        router.callee(20)
        assert finish(router.caller(20, 20), 60) == 0, router.logs()
        assert finish(router.uas, 15) == 0, router.logs()  # type: ignore[arg-type]
    finally:
        assert router.stop() == 0, router.logs()
    assert "Traceback" not in (tmp_path / "siprouter.log").read_text()


def test_no_subscriber_503_then_subscriber_leaves_and_comes_back(tmp_path: Path) -> None:
    router = Router(tmp_path, timeout_ms=1500)
    try:
        assert finish(router.caller(5, 50, fail_scenario(tmp_path, 503), "none"), 20) == 0
        slow = router.subscribe(latency_ms=60000)  # receives, never answers in time
        started = time.monotonic()
        caller = router.caller(100, 400, fail_scenario(tmp_path, 503), "suspended")
        time.sleep(0.8)  # the 100 INVITEs are suspended, waiting for the subscriber
        slow.kill()
        assert finish(caller, 30) == 0, router.logs()  # 100 x 503 from the failure route
        assert time.monotonic() - started < 6  # within the 1.5 s router timer
        router.subscribe()
        router.callee(10)
        assert finish(router.caller(10, 20), 60) == 0, router.logs()
    finally:
        assert router.stop() == 0, router.logs()
    assert "Traceback" not in (tmp_path / "siprouter.log").read_text()


def test_a_stuck_subscriber_does_not_slow_the_other(tmp_path: Path) -> None:
    router = Router(tmp_path)
    stuck = socket.socket()
    try:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(("127.0.0.1", router.evapi))  # connected, never reads
        router.subscribe()
        router.callee(200)
        started = time.monotonic()
        assert finish(router.caller(200, 200), 60) == 0, router.logs()
        assert time.monotonic() - started < 10
        assert finish(router.uas, 15) == 0, router.logs()  # type: ignore[arg-type]
    finally:
        stuck.close()
        assert router.stop() == 0, router.logs()
