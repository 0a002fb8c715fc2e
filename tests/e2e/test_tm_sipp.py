"""End to end: the stateful proxy (tm, tmx) as a real process with sipp callers and callees
on loopback: INVITE/ACK/BYE over UDP and TCP, retransmissions under 10 % loss, CANCEL (487),
486 through the failure route, failover to a second callee, 408 after fr_inv_timer."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .proc import Siprouter, finish, free_port, require_tool, sipp
from .proc import scenario_file as _scenario

CFG = """#!KAMAILIO
#!trydef ALT ""
#!trydef FR_INV 1500
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:SIP_PORT
listen=tcp:127.0.0.1:SIP_PORT
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "kemix.so"
loadmodule "app_python3.so"
modparam("tm", "fr_inv_timer", FR_INV)
modparam("app_python3", "load", "tm.py")
cfgengine "python"
"""

SCRIPT = """
import KSR

def mod_init():
    return Handler()

class Handler:
    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
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
            KSR.hdr.remove("Route")
            if KSR.tm.t_relay() < 0 and not KSR.is_ACK():
                KSR.sl.send_reply(500, "Relay Failed")
            return
        if KSR.is_ACK():
            return
        KSR.setdsturi(KSR.kx.get_def("NEXT_HOP"))
        KSR.tm.t_on_failure("ksr_failure")
        if KSR.tm.t_relay() < 0:
            KSR.sl.send_reply(500, "Relay Failed")

    def ksr_failure(self, msg):
        if KSR.tm.t_is_canceled() > 0:
            return
        alt = KSR.kx.get_def("ALT")
        if alt and alt != '""' and KSR.tm.t_check_status("486|408") > 0:
            KSR.setdsturi(alt.strip('"'))
            KSR.tm.t_relay()
"""


def _run(tmp: Path, transport: str, uac: tuple[str, list[str]],
         uases: list[tuple[str, list[str]]], alt: bool = False,
         defines: tuple[str, ...] = ()) -> None:  # fmt: skip
    """One proxy, callees ``uases`` (scenario, extra args), caller ``uac``; all must pass."""
    require_tool("sipp")
    (tmp / "tm.py").write_text(SCRIPT)
    (tmp / "kamailio.cfg").write_text(CFG)
    proxy = free_port()
    mode = "u1" if transport == "udp" else "t1"
    ports = [free_port() for _ in uases]
    suffix = ";transport=tcp" if transport == "tcp" else ""
    hops = [f"sip:127.0.0.1:{p}{suffix}" for p in ports]
    callees = [
        sipp(
            ["-sf", _scenario(tmp, scn), "-i", "127.0.0.1", "-p", str(p), "-t", mode, *args],
            tmp / f"uas{n}.log",
        )  # fmt: skip
        for n, ((scn, args), p) in enumerate(zip(uases, ports, strict=True))
    ]
    args = ["-A", f"SIP_PORT={proxy}", "-A", f"NEXT_HOP={hops[0]}"]
    args += [a for d in defines for a in ("-A", d)]
    if alt:
        args += ["-A", f"ALT={hops[1]}"]
    router = Siprouter(["-f", str(tmp / "kamailio.cfg"), *args], tmp / "siprouter.log")
    try:
        scn, args = uac
        caller = sipp(["-sf", _scenario(tmp, scn), f"127.0.0.1:{proxy}", "-i", "127.0.0.1",
                       "-p", str(free_port()), "-t", mode, "-s", "bob", *args],
                      tmp / "uac.log")  # fmt: skip
        codes = [finish(caller, 60)] + [finish(c, 15) for c in callees]
    finally:
        for c in callees:
            if c.poll() is None:
                c.kill()
                c.wait(5)
        router_rc = router.stop()
    logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                     for p in sorted(tmp.glob("*.log")))  # fmt: skip
    assert codes == [0] * len(codes), logs
    assert router_rc == 0, logs
    assert "Traceback" not in (tmp / "siprouter.log").read_text(), logs


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_invite_ack_bye(tmp_path: Path, transport: str) -> None:
    calls = ["-m", "5", "-r", "10"]
    _run(tmp_path, transport, ("tm_uac.xml", calls), [("tm_uas.xml", ["-m", "5"])])


def test_lost_packets_every_call_completes(tmp_path: Path) -> None:
    lossy = ["-m", "10", "-r", "5", "-lost", "10"]
    _run(tmp_path, "udp", ("tm_uac.xml", lossy), [("tm_uas_lossy.xml", ["-m", "10", "-lost", "10"])],
         defines=("FR_INV=30000",))  # fmt: skip


def test_cancel_gives_487(tmp_path: Path) -> None:
    _run(tmp_path, "udp", ("tm_uac_cancel.xml", ["-m", "3", "-r", "5"]),
         [("tm_uas_ring.xml", ["-m", "3"])])  # fmt: skip


def test_busy_486_through_failure_route(tmp_path: Path) -> None:
    _run(tmp_path, "udp", ("tm_uac_fail.xml@486", ["-m", "3", "-r", "5"]),
         [("tm_uas_busy.xml", ["-m", "3"])])  # fmt: skip


def test_busy_then_second_callee(tmp_path: Path) -> None:
    _run(tmp_path, "udp", ("tm_uac.xml", ["-m", "3", "-r", "5"]),
         [("tm_uas_busy.xml", ["-m", "3"]), ("tm_uas.xml", ["-m", "3"])], alt=True)  # fmt: skip


def test_silent_callee_408_after_fr_inv_timer(tmp_path: Path) -> None:
    _run(tmp_path, "udp", ("tm_uac_fail.xml@408", ["-m", "2", "-r", "5"]),
         [("tm_uas_ring.xml", ["-m", "2"])])  # fmt: skip


def test_sipp_missing_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception):
        require_tool("sipp")
    assert subprocess is not None
