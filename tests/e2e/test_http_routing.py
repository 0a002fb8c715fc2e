"""End to end: examples/http-routing as real processes on loopback -- siprouter with the
example's cfg and KEMI script, the example's aiohttp routing service, sipp callers and
callees. INVITEs are routed by rtjson documents (serial and parallel), fail over on 486 and
on a dead callee, get the configured 5xx when the service is down or silent, 500 when it
answers garbage, 487 when CANCELed while the transaction is suspended; 2,000 calls in flight
at once, each routed by a service answering in 200 ms, do not block the worker (OPTIONS
answered meanwhile)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from .http_kit import Blackhole, Prober, Rig, fail_scenario, finish, free_port, most_calls_at_once


def _clean(rig: Rig) -> None:
    log = rig.log()
    assert "Traceback" not in log, log[-4000:]


def test_serial_parallel_and_failover(tmp_path: Path) -> None:
    busy, ok, dead = free_port(), free_port(), Blackhole()
    table = {
        # serial: the first callee answers 486, the call fails over to the second
        "serial": {"routing": "serial", "routes": [
            {"uri": f"sip:busy@127.0.0.1:{busy}"}, {"uri": f"sip:ok@127.0.0.1:{ok}"}]},
        # parallel: both ring at once, one is busy, the other answers
        "parallel": {"routing": "parallel", "routes": [
            {"uri": f"sip:busy@127.0.0.1:{busy}"}, {"uri": f"sip:ok@127.0.0.1:{ok}"}]},
        # the first callee never answers: 408 after its fr_timer (1 s), then the next one
        "timeout": {"routing": "serial", "routes": [
            {"uri": f"sip:dead@127.0.0.1:{dead.port}", "fr_timer": 1000},
            {"dst_uri": f"sip:127.0.0.1:{ok}"}]},
    }  # fmt: skip
    rig = Rig(tmp_path, table)
    try:
        busy_uas = rig.uas(busy, 10, "tm_uas_busy.xml", "busy")
        ok_uas = rig.uas(ok, 15, "tm_uas.xml", "ok")
        assert finish(rig.caller("serial", 5, 10), 60) == 0, rig.logs()
        assert finish(rig.caller("parallel", 5, 10), 60) == 0, rig.logs()
        started = time.monotonic()
        assert finish(rig.caller("timeout", 5, 50), 60) == 0, rig.logs()
        assert time.monotonic() - started < 15
        assert finish(busy_uas, 20) == 0, rig.logs()
        assert finish(ok_uas, 30) == 0, rig.logs()
        assert len(dead.invites()) >= 5  # each call tried the dead callee first
        assert rig.stats()["queries"] == 15
    finally:
        dead.close()
        assert rig.stop() == 0, rig.logs()
    _clean(rig)


def test_service_down_gets_the_configured_5xx(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"  # bound, not listening: refused
    rig = Rig(tmp_path, router_url=url, defines=("ROUTER_FAIL_CODE=502", "HTTP_TIMEOUT=500"))
    try:
        started = time.monotonic()
        assert finish(rig.caller("bob", 10, 50, fail_scenario(tmp_path, 502), "down"), 30) == 0, (
            rig.logs()
        )
        assert time.monotonic() - started < 5
    finally:
        assert rig.stop() == 0, rig.logs()
    _clean(rig)
    # a service that accepts connections and never answers: 502 at the query timeout
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(512)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    rig = Rig(tmp_path, router_url=url, defines=("ROUTER_FAIL_CODE=502", "HTTP_TIMEOUT=500"))
    try:
        started = time.monotonic()
        assert (
            finish(rig.caller("bob", 10, 100, fail_scenario(tmp_path, 502), "silent"), 30) == 0
        ), rig.logs()
        elapsed = time.monotonic() - started
        assert 0.5 <= elapsed < 4, elapsed  # 10 calls within 0.1 s, each answered at 0.5 s
    finally:
        silent.close()
        assert rig.stop() == 0, rig.logs()
    _clean(rig)


def test_garbage_answer_is_500_and_disturbs_nothing(tmp_path: Path) -> None:
    ok = free_port()
    table = {"garbage": {"raw": '{"routing": "serial", "routes": [{"uri": '},
             "*": {"routing": "serial", "routes": [{"dst_uri": f"sip:127.0.0.1:{ok}"}]}}  # fmt: skip
    rig = Rig(tmp_path, table)
    try:
        uas = rig.uas(ok, 20)
        good = rig.caller("alice", 20, 40)
        bad = rig.caller("garbage", 20, 40, fail_scenario(tmp_path, 500), "garbage")
        assert finish(bad, 30) == 0, rig.logs()
        assert finish(good, 60) == 0, rig.logs()
        assert finish(uas, 30) == 0, rig.logs()
    finally:
        assert rig.stop() == 0, rig.logs()
    log = rig.log()
    assert log.count("bad routing answer (HTTP 200") == 20, log[-3000:]
    assert "rtjson: invalid routing document" in log
    _clean(rig)


def test_cancel_while_suspended_487_late_answer_ignored(tmp_path: Path) -> None:
    callee = Blackhole()
    table = {"slow": {"routing": "serial", "latency_ms": 1500,
                      "routes": [{"uri": f"sip:slow@127.0.0.1:{callee.port}"}]}}  # fmt: skip
    rig = Rig(tmp_path, table, defines=("HTTP_TIMEOUT=3000",))
    try:
        started = time.monotonic()
        assert finish(rig.caller("slow", 5, 20, "http_uac_cancel.xml"), 30) == 0, rig.logs()
        assert time.monotonic() - started < 1.5  # 487 while the service still thinks
        deadline = time.monotonic() + 5
        while rig.stats()["queries"] < 5 or rig.stats()["waiting"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.5)  # the late answers have reached the proxy
        assert callee.invites() == []  # ... and were dropped: nothing relayed
    finally:
        callee.close()
        assert rig.stop() == 0, rig.logs()
    log = rig.log()
    assert "no suspended transaction" not in log and "ERROR" not in log, log[-3000:]
    _clean(rig)


CALLS = int(os.environ.get("HTTP_ROUTING_CALLS", "2000"))
RATE = int(os.environ.get("HTTP_ROUTING_RATE", "150"))


def test_2000_calls_in_flight_do_not_block_the_worker(tmp_path: Path) -> None:
    """The service delays every answer 200 ms; CALLS calls (2,000; environment
    HTTP_ROUTING_CALLS / HTTP_ROUTING_RATE) are placed at RATE calls/s and held open until
    the last one is up (sipp's -d pause before BYE), so all of them are in flight at once;
    every INVITE is routed by the service, every call completes, and OPTIONS sent every
    20 ms meanwhile are answered at once. One worker, UDP, about 35 s; the figures are
    printed (and bench/http_routing.py --hold prints the same with the proxy's CPU)."""
    ok = free_port()
    table = {"*": {"routing": "serial", "routes": [{"dst_uri": f"sip:127.0.0.1:{ok}"}]}}
    defines = ("HTTP_TIMEOUT=5000", f"MAX_SUSPENDED={max(4000, CALLS)}")
    rig = Rig(tmp_path, table, latency_ms=200, defines=defines)
    hold_ms = int(1000 * CALLS / RATE) + 5000  # the first call still up when the last starts
    try:
        uas = rig.uas(ok, CALLS)
        prober = Prober(rig.port, every=0.02)
        started = time.monotonic()
        caller = rig.caller("load", CALLS, RATE, "http_uac_hold.xml", timeout=hold_ms / 1000 + 60,
                            extra=("-d", str(hold_ms), "-trace_stat", "-fd", "1"))  # fmt: skip
        code = finish(caller, hold_ms / 1000 + 70)
        elapsed = time.monotonic() - started
        rtt = prober.stop()
        assert code == 0, rig.logs()
        assert finish(uas, 60) == 0, rig.logs()
        stats = rig.stats()
        at_once = most_calls_at_once(tmp_path, "http_uac_hold.xml")
        print(f"{CALLS} calls in {elapsed:.1f} s, {at_once} in flight at once, at most "
              f"{stats['max_waiting']} routing queries waiting at once; OPTIONS {rtt}")  # fmt: skip
        assert stats["queries"] == CALLS  # every INVITE was routed by the service
        assert at_once == CALLS
        assert stats["max_waiting"] >= min(CALLS, RATE // 10)  # queries overlapped too
        assert rtt["probes"] >= 200 and rtt["p50_ms"] < 20 and rtt["within_20ms"] >= 0.9, rtt
    finally:
        assert rig.stop() == 0, rig.logs()
    _clean(rig)
