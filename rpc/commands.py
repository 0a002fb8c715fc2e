"""Generic built-in commands that need nothing of SIP: ``system.*`` and ``core.*``.

The core passes a :class:`CoreInfo` describing itself (name, version, start time, its
processes); :func:`register_core_commands` adds Kamailio's generic commands to a table::

    info = CoreInfo(version="0.1.0", processes=lambda: [(0, os.getpid(), "main process")])
    register_core_commands(commands, info)

``core.shmmem`` has no shared-memory pool to report here: it sums the memory of the
processes from ``/proc/<pid>/status`` (``VmSize`` as total, ``VmRSS`` as used, ``VmHWM`` as
max_used) and takes ``free`` from ``/proc/meminfo``'s ``MemAvailable``.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rpc.registry import Commands, RpcFault

__all__ = ["CoreInfo", "register_core_commands", "register_system_commands"]

Process = tuple[int, int, str]


def _self_process() -> list[Process]:
    return [(0, os.getpid(), "main process")]


@dataclass
class CoreInfo:
    """What the generic commands report about the running server."""

    name: str = "siprouter"
    version: str = "0.1.0"
    repo_rev: str = ""
    flags: str = ""
    started: float = field(default_factory=time.time)
    processes: Callable[[], list[Process]] = _self_process

    def version_string(self) -> str:
        """Kamailio's ``"<name> <ver> (<arch>/<os>) <rev>"``."""
        arch = f"{platform.machine() or 'unknown'}/{sys.platform}"
        return f"{self.name} {self.version} ({arch}) {self.repo_rev}".rstrip()


def register_system_commands(commands: Commands) -> None:
    """``system.listMethods`` and ``system.methodHelp`` over the same table."""

    @commands.add(
        "system.listMethods", ret_array=True, doc="Lists all RPC methods supported by the server."
    )
    def list_methods() -> list[str]:
        return commands.names()

    @commands.add("system.methodHelp", doc="Print the help string for given method.")
    def method_help(method: str | None = None) -> str:
        if method is None:
            raise RpcFault(400, "Method Name Expected")
        cmd = commands.get(method)
        if cmd is None:
            raise RpcFault(400, "command not found")
        return cmd.help() or "undocumented"


def register_core_commands(commands: Commands, info: CoreInfo) -> None:
    """``system.*`` plus ``core.version/info/uptime/ps/psx/echo/shmmem``."""
    register_system_commands(commands)

    @commands.add("core.version", doc="Returns the version string of the server.")
    def version() -> str:
        return info.version_string()

    @commands.add("core.info", doc="Verbose info, including version number, compile flags, etc.")
    def core_info() -> dict[str, str]:
        return {
            "version": f"{info.name} {info.version}",
            "id": info.repo_rev or "unknown",
            "compiler": f"{platform.python_implementation()} {platform.python_version()}",
            "compiled": "",
            "flags": info.flags,
        }

    @commands.add("core.uptime", doc="Returns uptime of the server.")
    def uptime() -> dict[str, str | int]:
        now = time.time()
        return {
            "now": time.ctime(now),
            "up_since": time.ctime(info.started),
            "uptime": int(now - info.started),
        }

    @commands.add("core.ps", ret_array=True, doc="Returns the description of running processes.")
    def ps() -> list[int | str]:
        return [x for _, pid, dsc in info.processes() for x in (pid, dsc)]

    @commands.add(
        "core.psx", ret_array=True, doc="Returns the detailed description of running processes."
    )
    def psx() -> list[dict[str, int | str]]:
        return [{"IDX": idx, "PID": pid, "DSC": dsc} for idx, pid, dsc in info.processes()]

    @commands.add("core.echo", ret_array=True, doc="Returns back its parameters.")
    def echo(*values: str) -> list[str]:
        return list(values)

    @commands.add("core.shmmem", doc="Returns memory usage (summed over the server's processes).")
    def shmmem() -> dict[str, int]:
        return memory_summary([pid for _, pid, _ in info.processes()])


def read_status(pid: int) -> dict[str, int]:
    """``Vm*`` lines of ``/proc/<pid>/status`` in bytes (empty if the process is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return {}
    return {k: v for k, v in map(_kb_line, lines) if k.startswith("Vm")}


def _kb_line(line: str) -> tuple[str, int]:
    key, _, rest = line.partition(":")
    parts = rest.split()
    if len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
        return key, int(parts[0]) * 1024
    return "", 0


def mem_available() -> int:
    """``MemAvailable`` from ``/proc/meminfo`` in bytes (0 where unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            return dict(map(_kb_line, fh.read().splitlines())).get("MemAvailable", 0)
    except OSError:
        return 0


def memory_summary(pids: list[int]) -> dict[str, int]:
    """Kamailio's ``core.shmmem`` keys filled from the processes' memory."""
    status = [read_status(pid) for pid in pids]
    used = sum(s.get("VmRSS", 0) for s in status)
    return {
        "total": sum(s.get("VmSize", 0) for s in status),
        "free": mem_available(),
        "used": used,
        "real_used": used,
        "max_used": sum(s.get("VmHWM", 0) for s in status),
        "fragments": 0,
    }
