"""End to end: the management API of a real siprouter (2 workers + the management process)
driven by siprouter-ctl, HTTP /metrics, kamcmd (ctl/binrpc) and kamctl (jsonrpcs FIFO), with
sipp traffic through it: statistics move, ``app_python.reload`` changes the next requests
without breaking a call in progress, ``ul.dump`` shows the registered sipp UAs."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.rpc import real_tool

from .proc import SCENARIOS, Siprouter, finish, free_port, require_tool, sipp

CFG = """#!KAMAILIO
children=2
debug=2
log_stderror=yes
run_dir="DIR"
listen=udp:127.0.0.1:PORT
listen=tcp:127.0.0.1:PORT
loadmodule "sl.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "jsonrpcs.so"
loadmodule "ctl.so"
loadmodule "app_python3.so"
modparam("jsonrpcs", "http_listen", "127.0.0.1:HTTP")
modparam("jsonrpcs", "fifo_name", "kamailio_rpc.fifo")
modparam("jsonrpcs", "fifo_reply_dir", "DIR/tmp/")
modparam("ctl", "binrpc", "unix:DIR/kamailio_ctl")
modparam("app_python3", "load", "script.py")
cfgengine "python"
"""

SCRIPT = """import KSR

REASON = "Keepalive"


class H:
    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        if KSR.is_REGISTER():
            if KSR.registrar.save("location", 0) < 0:
                KSR.sl.sl_reply_error()
            return 1
        if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.pv.is_null("$rU"):
            KSR.sl.sl_send_reply(200, REASON)
            return 1
        KSR.setdsturi(KSR.kx.get_def("NEXT_HOP"))
        if KSR.forward() < 0:
            KSR.sl.sl_send_reply(500, "Cannot Forward")
        return 1


def mod_init():
    return H()
"""


@dataclass
class Setup:
    dir: Path
    proxy: int
    http: int
    uas_port: int
    router: Siprouter

    @property
    def rpc_socket(self) -> str:
        return str(self.dir / "siprouter_rpc.sock")  # jsonrpcs' default name in run_dir


def ctl_command() -> list[str]:
    script = Path(sys.executable).parent / "siprouter-ctl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "rpc.ctl"]


def ctl(setup: Setup, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [*ctl_command(), "-s", setup.rpc_socket, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def ctl_json(setup: Setup, *args: str) -> Any:
    done = ctl(setup, "--json", *args)
    assert done.returncode == 0, done.stderr + done.stdout
    return orjson.loads(done.stdout)["result"]


def wait_management(setup: Setup, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(setup.rpc_socket) and ctl(setup, "core.version").returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"no management socket:\n{setup.router.log.read_text()}")


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    require_tool("sipp")
    base = Path(tempfile.mkdtemp(prefix="mge2e", dir="/tmp"))  # short unix socket paths
    (base / "tmp").mkdir()
    proxy, http, uas_port = free_port(), free_port(), free_port()
    (base / "script.py").write_text(SCRIPT)
    cfg = CFG.replace("DIR", str(base)).replace("PORT", str(proxy)).replace("HTTP", str(http))
    (base / "kamailio.cfg").write_text(cfg)
    uas = sipp(["-sf", str(SCENARIOS / "uas.xml"), "-i", "127.0.0.1", "-p", str(uas_port),
                "-t", "u1"], base / "uas.log", timeout=300)  # fmt: skip
    args = ["-f", str(base / "kamailio.cfg"), "-A", f"NEXT_HOP=sip:127.0.0.1:{uas_port}"]
    router = Siprouter(args, base / "siprouter.log", workers=2)
    st = Setup(base, proxy, http, uas_port, router)
    try:
        wait_management(st)
        yield st
    finally:
        rc = router.stop()
        uas.kill()
        uas.wait(5)
        log = (base / "siprouter.log").read_text(errors="replace")
        shutil.rmtree(base, ignore_errors=True)
        assert rc == 0 and "Traceback" not in log, log[-5000:]


def stats_of(setup: Setup) -> dict[str, int]:
    lines = ctl_json(setup, "stats.get_statistics", "all")
    return {k: int(float(v)) for k, _, v in (line.partition(" = ") for line in lines)}


def ppid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return int(next(line.split()[1] for line in fh if line.startswith("PPid:")))


def call_scenario(folder: Path, pause_ms: int) -> Path:
    """The e2e uac scenario with a pause between the ACK and the BYE."""
    text = (SCENARIOS / "uac.xml").read_text()
    at = text.rfind("<send", 0, text.index("BYE sip:"))
    path = folder / f"uac_pause_{pause_ms}.xml"
    path.write_text(text[:at] + f'<pause milliseconds="{pause_ms}"/>\n  ' + text[at:])
    return path


def run_calls(setup: Setup, calls: int, pause_ms: int) -> subprocess.Popen[bytes]:
    scenario = call_scenario(setup.dir, pause_ms)
    return sipp(["-sf", str(scenario), f"127.0.0.1:{setup.proxy}", "-i", "127.0.0.1",
                 "-p", str(free_port()), "-t", "u1", "-m", str(calls), "-l", str(calls),
                 "-r", "10", "-s", "bob"], setup.dir / f"uac_{uuid.uuid4().hex[:6]}.log")  # fmt: skip


def options(port: int) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(3)
        me = s.getsockname()[1]
        msg = (
            f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{uuid.uuid4().hex};rport\r\n"
            f"From: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1:{port}>\r\n"
            f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        s.sendto(msg.encode(), ("127.0.0.1", port))
        return s.recv(65535).decode(errors="replace").split("\r\n", 1)[0]


def test_version_and_processes(setup: Setup) -> None:
    done = ctl(setup, "core.version")
    assert done.returncode == 0 and done.stdout.startswith("siprouter "), done.stderr
    psx = ctl_json(setup, "core.psx")
    assert [p["PID"] for p in psx][0] == setup.router.proc.pid
    workers = [p for p in psx if "receiver" in p["DSC"]]
    assert len(workers) == 2 and len(psx) == 4
    assert all(ppid(p["PID"]) == setup.router.proc.pid for p in psx[1:])
    assert "RPC handler" in psx[-1]["DSC"]


def test_statistics_move_with_sipp(setup: Setup) -> None:
    before = stats_of(setup)
    assert finish(run_calls(setup, 3, 0)) == 0
    after = stats_of(setup)
    moved = {k: after[k] - before.get(k, 0) for k in after}
    assert moved["core:rcv_requests"] >= 12  # OPTIONS, INVITE, ACK, BYE per call
    assert moved["core:rcv_replies"] >= 6  # 180/200 INVITE, 200 BYE from the UAS
    assert moved["core:fwd_requests"] >= 9 and moved["core:fwd_replies"] >= 6
    assert moved["sl:200_replies"] >= 3 and moved["sl:sent_replies"] >= 3
    assert ctl_json(setup, "sl.stats")["200_replies"] >= 3  # summed over the workers


def test_metrics_parse(setup: Setup) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{setup.http}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["kamailio_core_rcv_requests"].type == "counter"
    assert families["kamailio_core_rcv_requests"].samples[0].value > 0
    assert "kamailio_sl_200_replies" in families


def test_kamcmd_over_ctl(setup: Setup) -> None:
    kamcmd = real_tool("kamcmd")
    sock = f"unix:{setup.dir / 'kamailio_ctl'}"
    done = subprocess.run([kamcmd, "-s", sock, "core.version"], capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith("siprouter "), done.stderr
    done = subprocess.run([kamcmd, "-s", sock, "core.psx"], capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    assert str(setup.router.proc.pid) in done.stdout and done.stdout.count("PID") == 4


def test_kamctl_over_fifo(setup: Setup) -> None:
    kamctl = real_tool("kamctl")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(setup.dir),
           "RPCFIFOPATH": str(setup.dir / "kamailio_rpc.fifo"), "CHROOT_DIR": str(setup.dir)}  # fmt: skip
    done = subprocess.run([kamctl, "rpc", "core.psx"], capture_output=True, text=True, env=env,
                          timeout=30)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(orjson.loads(done.stdout)["result"]) == 4


def test_ul_dump_lists_registered_uas(setup: Setup) -> None:
    users = setup.dir / "users.csv"
    users.write_text("SEQUENTIAL\nalice;x\nbob;x\n")
    reg = sipp(["-sf", str(SCENARIOS / "register_plain.xml"), f"127.0.0.1:{setup.proxy}",
                "-i", "127.0.0.1", "-p", str(free_port()), "-t", "u1", "-inf", str(users),
                "-m", "2"], setup.dir / "register.log")  # fmt: skip
    assert finish(reg) == 0, (setup.dir / "register.log").read_text()
    dump = ctl_json(setup, "ul.dump")
    aors = [a["Info"]["AoR"] for d in dump["Domains"] for a in d["Domain"]["AoRs"]]
    assert {"alice", "bob"} <= set(aors)
    kamcmd = real_tool("kamcmd")  # Kamailio's own binrpc client sees the same table
    done = subprocess.run([kamcmd, "-s", f"unix:{setup.dir / 'kamailio_ctl'}", "ul.dump"],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "AoR: alice" in done.stdout and "AoR: bob" in done.stdout, done.stdout


def test_reload_keeps_calls_in_progress(setup: Setup) -> None:
    assert options(setup.proxy) == "SIP/2.0 200 Keepalive"
    calls = run_calls(setup, 2, 4000)
    time.sleep(1.5)  # both calls answered, waiting to send their BYE
    (setup.dir / "script.py").write_text(SCRIPT.replace("Keepalive", "Reloaded v2"))
    done = ctl(setup, "app_python.reload")
    assert done.returncode == 0, done.stderr
    replies = {options(setup.proxy) for _ in range(10)}  # both workers reloaded
    assert replies == {"SIP/2.0 200 Reloaded v2"}
    assert finish(calls) == 0, "\n".join(p.read_text() for p in setup.dir.glob("uac_*.log"))
