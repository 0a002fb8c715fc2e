"""The management API of a running siprouter: one command table, one set of statistics, and
the listeners of ``jsonrpcs`` / ``ctl`` (docs/rpc.md, "Inside a running siprouter").

Processes. With forked workers (``children`` > 1) the master, before forking, calls
:func:`prepare` (a private 0700 directory for the workers' sockets), then forks the workers,
then :func:`spawn` forks the **management process** (Kamailio's "ctl handler"/"JSONRPCS"
processes): it serves the listeners the loaded management modules declare (their exported
``listeners`` API) and never handles SIP. Each worker, once started
(:func:`worker_started`, called by :class:`app.server.Server`), serves its own command table on
``<private>/w<rank>.sock``; the management process proxies every call to the workers the
command's scope names (:mod:`app.management_front`) and sums their statistics. With one
worker the listeners run in the worker itself and call its table directly.

Statistics. :func:`stats` is this process's registry and :func:`counter` a counter in it,
for the core and the modules (:mod:`app.management_stats` lists what is wired).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Protocol

import sip
from app import management_stats as mstats
from app.management_cfg import CORE_VARS
from app.management_front import Backend, Local, Remote, front_table, worker_table
from app.module import Module
from rpc.commands import CoreInfo
from rpc.server import RpcServer
from rpc.stats import Stat, Stats

if TYPE_CHECKING:
    from app.config import Config
    from app.server import Server

__all__ = ["DEFAULT_RUN_DIR", "Plan", "counter", "in_run_dir", "prepare", "spawn", "stats", "worker_started",
           "worker_stopped"]  # fmt: skip

log = logging.getLogger("siprouter.management")
DEFAULT_RUN_DIR = "/run/siprouter"
LISTENERS = "listeners"  # the API name a management module exports
Process = tuple[int, int, str]


class Listener(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass
class Plan:
    """What the master decided before forking; inherited by every forked process."""

    run_dir: str
    private: str
    modules: Mapping[str, Module]
    master: int = field(default_factory=os.getpid)
    workers: dict[int, int] = field(default_factory=dict)  # rank -> pid
    front: int = 0

    def worker_path(self, rank: int) -> str:
        return os.path.join(self.private, f"w{rank}.sock")

    def processes(self) -> list[Process]:
        """``core.psx``: the master, the workers and this management process."""
        out = [(0, self.master, "main process - attendant")]
        out += [(r, pid, f"udp/tcp receiver child={r}") for r, pid in sorted(self.workers.items())]
        return out + [(len(out), self.front, "RPC handler (jsonrpcs, ctl)")]


_state: dict[str, Any] = {"plan": None, "endpoint": None, "front": None}


def stats() -> Stats:
    """This process's statistics registry (a worker's own counters)."""
    return mstats.process_stats()


def counter(group: str, name: str, doc: str = "") -> Stat:
    """The counter ``group:name`` of this process, e.g. ``counter("core", "drop_requests")``."""
    return mstats.counter(group, name, doc)


def run_dir(config: Config | None) -> str:
    """Kamailio's ``run_dir``/``rundir`` core parameter, else :data:`DEFAULT_RUN_DIR`."""
    for setting in config.ignored if config is not None else ():
        if setting.name in ("run_dir", "rundir") and isinstance(setting.value, str):
            return setting.value
    return DEFAULT_RUN_DIR


def in_run_dir(rundir: str, name: str) -> str:
    """``name`` inside ``rundir`` unless absolute; its directory is created (0750)."""
    path = os.path.join(rundir, name)
    os.makedirs(os.path.dirname(path) or ".", mode=0o750, exist_ok=True)
    return path


def managers(modules: Iterable[Module]) -> list[Module]:
    """The loaded modules that declare management listeners (jsonrpcs, ctl)."""
    return [m for m in modules if LISTENERS in m.api]


def all_modules(modules: Iterable[Module]) -> list[Module]:
    """The built-in modules (``app_python.*`` commands) and the loaded ones."""
    from app.engine import BUILTIN

    return [*BUILTIN, *modules]


#: which build of the SIP core runs (``siprouter --version``, the workers' start-up line)
CORE_BUILD = "sip/ compiled by mypyc" if sip.COMPILED else "sip/ pure Python"


def version_info(started: float | None = None) -> CoreInfo:
    try:
        ver = version("siprouter")
    except PackageNotFoundError:
        ver = "dev"
    info = CoreInfo(version=ver, flags="python, mypyc" if sip.COMPILED else "python")
    if started is not None:
        info.started = started
    return info


# -- the master --------------------------------------------------------------------------------
def prepare(config: Config, modules: Mapping[str, Module], children: int) -> Plan | None:
    """Before forking: a plan when a management module is loaded and workers are forked."""
    if children < 2 or not managers(modules.values()):
        return None
    private = tempfile.mkdtemp(prefix="siprouter-rpc-")  # 0700: only this user gets in
    plan = Plan(run_dir(config), private, dict(modules))
    _state["plan"] = plan
    return plan


def spawn(plan: Plan, pids: Mapping[int, int], socks: Mapping[Any, socket.socket]) -> int:
    """After forking the workers (``pids``: pid -> rank): fork the management process."""
    plan.workers = {rank: pid for pid, rank in pids.items()}
    pid = os.fork()
    if pid:
        plan.front = pid
        return pid
    code = 0
    try:
        for sock in socks.values():
            sock.close()  # SIP is the workers' business
        plan.front = os.getpid()
        asyncio.run(_front_process(plan))
    except BaseException:  # noqa: BLE001 - a forked child must never return into the master
        log.exception("management process failed")
        code = 1
    os._exit(code)


async def _front_process(plan: Plan) -> None:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: None)  # the master forwards it to all
    backends = [Remote(rank, plan.worker_path(rank)) for rank in sorted(plan.workers)]
    front = await start_front(plan.modules, backends, plan.processes, plan.run_dir)
    try:
        await done.wait()
    finally:
        await stop_all(front)
        shutil.rmtree(plan.private, ignore_errors=True)


async def start_front(
    modules: Mapping[str, Module], backends: Sequence[Backend], processes: Any, rundir: str
) -> list[Listener]:
    """Build the listeners' table and start every listener the management modules declare."""
    commands, scopes = worker_table(all_modules(modules.values()), Stats())
    info = version_info()
    info.processes = processes
    front, aggregate = front_table(commands, scopes, backends, info)
    started: list[Listener] = []
    try:
        for module in managers(modules.values()):
            for listener in module.api[LISTENERS](front, aggregate, rundir):
                await listener.start()
                started.append(listener)
    except BaseException:
        await stop_all(started)
        raise
    log.info("management: %d command(s), %d listener(s)", len(front), len(started))
    return started


async def stop_all(listeners: list[Listener]) -> None:
    for listener in reversed(listeners):
        try:
            await listener.stop()
        except Exception:  # noqa: BLE001 - stop the others anyway
            log.exception("management: stopping %r", listener)


# -- a worker ------------------------------------------------------------------------------------
async def worker_started(server: Server) -> None:
    """A worker is running: statistics read from it; its endpoint or the listeners start."""
    mstats.bind(server)
    mstats.define_stats(server.modules)
    CORE_VARS["debug"] = server.config.debug
    plan: Plan | None = _state["plan"]
    if plan is None and not managers(server.modules.values()):
        return
    table, _ = worker_table(all_modules(server.modules.values()), stats())
    if plan is not None:
        endpoint = RpcServer(table, host=None, unix_path=plan.worker_path(server.rank))
        await endpoint.start()
        _state["endpoint"] = endpoint
        return
    me: list[Process] = [(0, os.getpid(), "main process - attendant, receiver, RPC handler")]
    _state["front"] = await start_front(
        server.modules, [Local(table, server.rank)], lambda: list(me), run_dir(server.config)
    )


async def worker_stopped(server: Server) -> None:
    """The worker stops: close what :func:`worker_started` opened."""
    endpoint, front = _state["endpoint"], _state["front"]
    _state["endpoint"] = _state["front"] = None
    if front is not None:
        await stop_all(front)
    if endpoint is not None:
        await endpoint.stop()
    mstats.bind(None)
