"""What bench/options.py and bench/calls.py share: one configuration and KEMI script that both
siprouter and Kamailio 5.6 (app_python3) run unchanged, starting either proxy on loopback,
and the CPU time of a process tree from /proc."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.proc import Siprouter  # noqa: E402

_HEAD = """#!KAMAILIO
debug=1
log_stderror=yes
children=1
listen=udp:127.0.0.1:SIP_PORT
listen=tcp:127.0.0.1:SIP_PORT
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "rr.so"
loadmodule "pv.so"
"""

CFG = (
    _HEAD
    + """kemi.onsend_route_callback="none"
kemi.reply_route_callback="none"
loadmodule "kemix.so"
loadmodule "app_python3.so"
modparam("app_python3", "load", "SCRIPT")
cfgengine "python"
"""
)

SCRIPT = '''"""bench: OPTIONS to the proxy get 200; calls are relayed statefully to NEXT_HOP with
Record-Route; in-dialog requests follow their Route set."""
import KSR


def mod_init():
    return Bench()


class Bench:
    def __init__(self):
        self.hop = None

    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        if KSR.is_OPTIONS():
            KSR.sl.sl_send_reply(200, "Keepalive")
            return 1
        if KSR.is_CANCEL():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return 1
        if not KSR.is_ACK():
            if KSR.tmx.t_precheck_trans() > 0:
                KSR.tm.t_check_trans()
                return 1
            if KSR.tm.t_check_trans() == 0:
                return 1
        if KSR.pv.gete("$tt") != "":
            if KSR.rr.loose_route() > 0:
                KSR.tm.t_relay()
            elif not KSR.is_ACK():
                KSR.sl.sl_send_reply(404, "Not here")
            return 1
        if KSR.is_ACK():
            return 1
        if self.hop is None:
            self.hop = KSR.kx.get_def("NEXT_HOP")
        KSR.rr.record_route()
        KSR.setdsturi(self.hop)
        if KSR.tm.t_relay() < 0:
            KSR.sl.sl_reply_error()
        return 1
'''


#: the same routing in Kamailio's native cfg language (``--proxy kamailio-native``): what
#: Kamailio costs without app_python3, for comparison with figures measured that way
NATIVE_CFG = (
    _HEAD
    + """
request_route {
    if (method == "OPTIONS") {
        sl_send_reply("200", "Keepalive");
        exit;
    }
    if (method == "CANCEL") {
        if (t_check_trans()) t_relay();
        exit;
    }
    if (method != "ACK") {
        if (t_precheck_trans()) {
            t_check_trans();
            exit;
        }
        t_check_trans();
    }
    if ($tt != $null) {
        if (loose_route()) t_relay();
        else if (method != "ACK") sl_send_reply("404", "Not here");
        exit;
    }
    if (method == "ACK") exit;
    record_route();
    $du = NEXT_HOP;
    if (!t_relay()) sl_reply_error();
    exit;
}
"""
)


class Running:
    """siprouter (``kind="siprouter"``) or Kamailio running ``cfg`` (logs in ``folder``)."""

    def __init__(
        self, kind: str, cfg: Path, folder: Path, children: int = 1, defines: tuple[str, ...] = ()
    ) -> None:
        self.kind = kind
        log = folder / f"{kind}.log"
        if kind == "siprouter":
            self.sr: Siprouter | None = Siprouter(
                ["-f", str(cfg), "-n", str(children), *defines], log, workers=children
            )
            self.proc = self.sr.proc
            return
        exe = shutil.which("kamailio")
        if exe is None:
            raise SystemExit("kamailio is not installed")
        self.sr = None
        self.out = log.open("wb")
        rundir = folder / "run"
        rundir.mkdir(exist_ok=True)
        cmd = [exe, "-f", str(cfg), "-DD", "-E", "-n", str(children), "-Y", str(rundir),
               "-w", str(folder), "-P", str(rundir / "kamailio.pid"), "-m", "256", "-M", "32",
               *defines]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT, cwd=folder)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(tree(self.proc.pid)) < children + 2:
            time.sleep(0.1)
        time.sleep(1.0)
        if self.proc.poll() is not None:
            raise SystemExit(f"kamailio did not start:\n{log.read_text(errors='replace')}")

    def cpu(self) -> float:
        """CPU seconds (user + system) of the proxy and all its processes so far."""
        return sum(cpu_seconds(pid) for pid in tree(self.proc.pid))

    def stop(self) -> None:
        if self.sr is not None:
            self.sr.stop()
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.out.close()


class Proxy(Running):
    """The bench cfg and script above, on 127.0.0.1:``port``, relaying to ``hop``."""

    def __init__(self, kind: str, folder: Path, port: int, hop: str, children: int) -> None:
        script = folder / "bench_route.py"
        script.write_text(SCRIPT)
        cfg = folder / "bench.cfg"
        if kind == "kamailio-native":
            kind = "kamailio"
            cfg.write_text(NATIVE_CFG.replace("NEXT_HOP", f'"{hop}"'))
        else:
            cfg.write_text(CFG.replace("SCRIPT", str(script)))
        defines = ("-A", f"SIP_PORT={port}", "-A", f"NEXT_HOP={hop}")
        super().__init__(kind, cfg, folder, children, defines)


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (seconds); 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree(root: int) -> list[int]:
    """``root`` and its descendants."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, []))
    return out
