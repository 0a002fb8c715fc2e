"""End to end: the stateful proxy with several workers (``siprouter -n 2`` and ``-n 4``).

Every message of a call must be handled by the worker that owns its transactions
(app.workers): requests by their Call-ID, replies by the rank in our Via branch. The callers
use one socket per call (sipp ``-t un``/``tn``), so the calls come from many source ports and
every worker gets work; the script logs ``handled-by <rank> <method>`` and each worker logs
its hand-off counters when it stops, which the tests check."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pytest

from .proc import SCENARIOS, Siprouter, finish, free_port, require_tool, sipp

CFG = """#!KAMAILIO
#!trydef FR_INV 1500
debug=2
log_stderror=yes
listen=udp:127.0.0.1:SIP_PORT
listen=tcp:127.0.0.1:SIP_PORT
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "rr.so"
loadmodule "kemix.so"
loadmodule "app_python3.so"
modparam("tm", "fr_inv_timer", FR_INV)
modparam("app_python3", "load", "workers.py")
cfgengine "python"
"""

SCRIPT = """
import KSR

def mod_init():
    return Handler()

class Handler:
    def child_init(self, rank):
        self.rank = rank
        return 0

    def ksr_request_route(self, msg):
        KSR.info("handled-by %d %s" % (self.rank, KSR.pv.get("$rm")))
        if KSR.is_CANCEL():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return
        if KSR.tmx.t_precheck_trans() > 0:
            KSR.tm.t_check_trans()
            return
        if KSR.tm.t_check_trans() == 0:
            return
        if KSR.pv.gete("$tt"):
            KSR.rr.loose_route()  # sipp sends no Route: the R-URI (its Contact) is the way
            if KSR.tm.t_relay() < 0 and not KSR.is_ACK():
                KSR.sl.send_reply(500, "Relay Failed")
            return
        if KSR.is_ACK():
            return
        KSR.rr.record_route()
        KSR.setdsturi(KSR.kx.get_def("NEXT_HOP"))
        KSR.tm.t_on_failure("ksr_failure")
        if KSR.tm.t_relay() < 0:
            KSR.sl.send_reply(500, "Relay Failed")

    def ksr_failure(self, msg):
        KSR.info("handled-by %d failure %s" % (self.rank, KSR.pv.get("$T_reply_code")))
"""

HANDLED = re.compile(r"handled-by (\d+) (\S+)")
HANDOFF = re.compile(r"worker (\d+): (\d+) message\(s\) handed to other workers, (\d+) received")


def _run(tmp: Path, children: int, uac: tuple[str, list[str]], uas: tuple[str, list[str]],
         transport: str = "udp", defines: tuple[str, ...] = ()) -> str:  # fmt: skip
    """Proxy with ``children`` workers, one callee, one caller; returns the proxy's log."""
    require_tool("sipp")
    (tmp / "workers.py").write_text(SCRIPT)
    (tmp / "kamailio.cfg").write_text(CFG)
    proxy, callee = free_port(), free_port()
    suffix = ";transport=tcp" if transport == "tcp" else ""
    uas_mode, uac_mode = ("u1", "un") if transport == "udp" else ("t1", "tn")
    args = ["-A", f"SIP_PORT={proxy}", "-A", f"NEXT_HOP=sip:127.0.0.1:{callee}{suffix}"]
    args += [a for d in defines for a in ("-A", d)]
    scn, extra = uas
    extra_uas = extra
    uas_proc = sipp(["-sf", str(SCENARIOS / scn), "-i", "127.0.0.1", "-p", str(callee),
                     "-t", uas_mode, *extra], tmp / "uas.log", timeout=60)  # fmt: skip
    router = Siprouter(["-f", str(tmp / "kamailio.cfg"), "-n", str(children), *args],
                       tmp / "siprouter.log", workers=children)  # fmt: skip
    try:
        scn, extra = uac
        caller = sipp([
            "-sf", _scenario(tmp, scn), f"127.0.0.1:{proxy}", "-i", "127.0.0.1",
            "-p", str(free_port()), "-t", uac_mode, "-max_socket", "100", "-s", "bob", *extra,
        ], tmp / "uac.log", timeout=60)  # fmt: skip
        # the caller is the judge: a callee may still wait for a stray retransmission
        codes = [finish(caller, 90), finish(uas_proc, 20) if "-m" in extra_uas else 0]
    finally:
        if uas_proc.poll() is None:
            uas_proc.kill()
            uas_proc.wait(5)
        router_rc = router.stop()
    text = (tmp / "siprouter.log").read_text(errors="replace")
    logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                     for p in sorted(tmp.glob("*.log")))  # fmt: skip
    assert codes == [0, 0], logs
    assert router_rc == 0, logs
    assert "Traceback" not in text, logs
    return text


def _scenario(tmp: Path, name: str) -> str:
    name, _, code = name.partition("@")
    if not code:
        return str(SCENARIOS / name)
    path = tmp / f"{code}-{name}"
    path.write_text((SCENARIOS / name).read_text().replace("@CODE@", code))
    return str(path)


def _ranks(log: str, method: str) -> set[int]:
    return {int(r) for r, m in HANDLED.findall(log) if m == method}


def _all_workers_busy(log: str, children: int, method: str = "INVITE") -> None:
    assert _ranks(log, method) == set(range(1, children + 1)), HANDLED.findall(log)
    counters = HANDOFF.findall(log)
    assert len(counters) == children, log[-3000:]
    assert sum(int(c[1]) for c in counters) > 0  # the kernel gave some to the wrong worker
    assert sum(int(c[1]) for c in counters) == sum(int(c[2]) for c in counters)


@pytest.mark.parametrize("children", [2, 4])
def test_calls_under_loss_on_every_worker(tmp_path: Path, children: int) -> None:
    # 10 % loss at the caller (its requests and the replies it gets): the proxy absorbs the
    # retransmissions of INVITE/BYE and re-sends its replies. Not at the callee: a sipp UAS
    # whose simulated losses eat both its 180 and 200 aborts the call on the next INVITE
    # retransmission (a sipp limit, also seen with one worker).
    calls = ["-m", "40", "-r", "20", "-l", "40", "-lost", "10"]
    log = _run(tmp_path, children, ("tm_uac.xml", calls), ("tm_uas.xml", []),
               defines=("FR_INV=30000",))  # fmt: skip
    _all_workers_busy(log, children)
    for method in ("ACK", "BYE"):  # in-dialog requests meet their INVITE's worker
        assert _ranks(log, method) <= _ranks(log, "INVITE")


def test_calls_over_tcp(tmp_path: Path) -> None:
    log = _run(tmp_path, 2, ("tm_uac.xml", ["-m", "20", "-r", "20"]),
               ("tm_uas.xml", ["-m", "20"]), transport="tcp")  # fmt: skip
    assert _ranks(log, "INVITE") == {1, 2}, HANDLED.findall(log)


def test_cancel_gives_487(tmp_path: Path) -> None:
    log = _run(tmp_path, 2, ("tm_uac_cancel.xml", ["-m", "12", "-r", "10"]),
               ("tm_uas_ring.xml", ["-m", "12"]))  # fmt: skip
    assert _ranks(log, "CANCEL") == {1, 2}
    _all_workers_busy(log, 2)


def test_busy_486_through_failure_route(tmp_path: Path) -> None:
    log = _run(tmp_path, 2, ("tm_uac_fail.xml@486", ["-m", "12", "-r", "10"]),
               ("tm_uas_busy.xml", ["-m", "12"]))  # fmt: skip
    assert _ranks(log, "failure") == {1, 2}
    _all_workers_busy(log, 2)


def test_silent_callee_408(tmp_path: Path) -> None:
    log = _run(tmp_path, 2, ("tm_uac_fail.xml@408", ["-m", "8", "-r", "10"]),
               ("tm_uas_ring.xml", ["-m", "8"]))  # fmt: skip
    _all_workers_busy(log, 2)


INVITE = (
    "INVITE sip:bob@127.0.0.1:{port} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{src};branch=z9hG4bK-{tag};rport\r\n"
    "From: <sip:alice@127.0.0.1>;tag={tag}\r\nTo: <sip:bob@127.0.0.1>\r\n"
    "Call-ID: {tag}@workers\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)


def test_cancel_from_another_source_port(tmp_path: Path) -> None:
    """A CANCEL sent from another socket than its INVITE still finds the transaction (the
    Call-ID names the owner), with 4 workers and a callee that never answers."""
    (tmp_path / "workers.py").write_text(SCRIPT)
    (tmp_path / "kamailio.cfg").write_text(CFG)
    proxy, callee = free_port(), free_port()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", callee))
    args = ["-A", f"SIP_PORT={proxy}", "-A", f"NEXT_HOP=sip:127.0.0.1:{callee}", "-n", "4"]
    router = Siprouter(["-f", str(tmp_path / "kamailio.cfg"), *args], tmp_path / "siprouter.log",
                       workers=4)  # fmt: skip
    try:
        for n in range(8):
            tag = f"c{n}x{time.monotonic_ns()}"
            inv, cxl = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
            for s in (inv, cxl):
                s.bind(("127.0.0.1", 0))
                s.settimeout(5)
            text = INVITE.format(port=proxy, src=inv.getsockname()[1], tag=tag, method="INVITE")
            inv.sendto(text.encode(), ("127.0.0.1", proxy))
            assert b"SIP/2.0 100" in inv.recv(4096)
            sink.settimeout(5)
            branch_in = sink.recv(4096)
            assert b"INVITE" in branch_in
            cancel = text.replace("INVITE sip", "CANCEL sip").replace("1 INVITE", "1 CANCEL")
            cxl.sendto(cancel.encode(), ("127.0.0.1", proxy))
            assert cxl.recv(4096).startswith(b"SIP/2.0 200")
            assert inv.recv(4096).startswith(b"SIP/2.0 487")  # the INVITE's own socket
            inv.close()
            cxl.close()
    finally:
        sink.close()
        router.stop()
    log = (tmp_path / "siprouter.log").read_text(errors="replace")
    assert "Traceback" not in log
