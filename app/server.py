"""One worker process: config + modules + core + engine, started and stopped in pairs.

``Server.start()`` loads the script (``mod_init``), starts the modules, opens the sockets
(pre-bound ones when the master forked workers), then calls ``child_init(rank)``.
``Server.stop()`` stops taking new requests (503), gives parked routes ``grace`` seconds,
answers those still parked with 500, closes the sockets and stops the modules.
``Server.reload()`` re-imports the script (SIGHUP, RPC ``app_python.reload``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app import management
from app.config import Config, Listen
from app.context import Ctx
from app.core import Core
from app.engine import Engine, ScriptError
from app.ksr_core import module as core_module
from app.module import Module
from app.workers import Workers
from rpc.registry import RpcFault

log = logging.getLogger("siprouter")
SockKey = tuple[str, str, int]
GC_THRESHOLDS = (50_000, 20, 100)  # gen0 allocations, gen0 runs per gen1, gen1 per gen2
_state: dict[str, Any] = {"server": None, "master": os.getpid()}


@dataclass
class Server:
    """One worker; see the module docstring."""

    config: Config
    modules: Mapping[str, Module]
    listens: Sequence[Listen]
    rank: int = 1
    socks: dict[SockKey, socket.socket] = field(default_factory=dict)
    grace: float = 5.0
    workers: Workers | None = None  # forked workers: message ownership and hand-off

    def __post_init__(self) -> None:
        self.core = Core(aliases=self.config.aliases, server_header=_server_header(self.config))
        self.core.workers = self.workers
        if self.config.script is None:
            raise ScriptError('no KEMI script: add modparam("app_python3", "load", "file.py")')
        self.engine = Engine(self.config.script, self.modules, config=self.config, core=self.core)
        self.core.engine = self.engine
        self.stopping = False

    async def start(self) -> None:
        """mod_init, module start hooks, sockets, child_init."""
        self.engine.load()
        for module in self.modules.values():
            await module.start()
        await self.core.start(self.listens, self.socks)
        self.engine.child_init(self.rank)
        for module in self.modules.values():
            await module.child_init(self.rank)
        _state["server"] = self
        await management.worker_started(self)

    async def stop(self) -> None:
        """Answer or finish what is running, then close sockets and stop modules."""
        await management.worker_stopped(self)
        self.stopping = True
        self.core.on_request = self._refuse  # type: ignore[method-assign]
        for ctx in await self.engine.drain(self.grace):
            if isinstance(ctx, Ctx) and ctx.request is not None and not ctx.replied:
                self.core.reply(ctx, 500, "Server Shutting Down")
        await self.core.stop()
        for module in reversed(list(self.modules.values())):
            await module.stop()
        if _state["server"] is self:
            _state["server"] = None

    def _refuse(self, ctx: Ctx) -> None:
        self.core.reply(ctx, 503, "Service Unavailable")

    def reload(self) -> dict[str, int]:
        """Re-import the script (ScriptError if it fails; the old one keeps running)."""
        return self.engine.reload()

    def bound(self) -> list[tuple[str, str, int]]:
        """(proto, host, port) of every open listener."""
        udp = [("udp", e.host, e.port) for e in self.core.transports.udp]
        return udp + [("tcp", a[0], a[1]) for _, a in self.core.transports.servers]


def _server_header(config: Config) -> str | None:
    return config.server_header or "Server: siprouter"


def bind_sockets(listens: Sequence[Listen]) -> tuple[list[Listen], dict[SockKey, socket.socket]]:
    """Bind every listener before forking (``proto`` None = udp and tcp)."""
    socks: dict[SockKey, socket.socket] = {}
    for listen in listens:
        for proto in (listen.proto,) if listen.proto else ("udp", "tcp"):
            if proto in ("udp", "tcp"):
                socks[(proto, listen.host, listen.port)] = _bind(proto, listen.host, listen.port)
    return list(listens), socks


def _bind(proto: str, host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    sock = socket.socket(family, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        if proto == "tcp":
            sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def run_worker(
    server: Server, ready: asyncio.Event | None = None, gc_tuning: bool = False
) -> None:
    """Run a worker until SIGTERM/SIGINT; SIGHUP reloads the script. ``gc_tuning``
    (the real processes of app.cli) calls :func:`tune_gc` once started."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    loop.add_signal_handler(signal.SIGINT, done.set)
    loop.add_signal_handler(signal.SIGHUP, _reload_quietly, server)
    try:
        await server.start()
        if gc_tuning:
            tune_gc()
        log.info("worker %d ready on %s (%s)", server.rank, _bound_text(server),
                 management.CORE_BUILD)  # fmt: skip
        if ready is not None:
            ready.set()
        await done.wait()
        log.info("worker %d stopping", server.rank)
    finally:
        await server.stop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)


def tune_gc() -> None:
    """After start-up: move what exists (modules, script, config) out of the collector's
    sight and collect the young generation less often (docs/performance.md: ~15 % of the
    CPU of an answered OPTIONS went to collections)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _reload_quietly(server: Server) -> None:
    with contextlib.suppress(ScriptError):  # the engine logged why and kept the old script
        server.reload()


def _bound_text(server: Server) -> str:
    return ", ".join(f"{p}:{h}:{port}" for p, h, port in server.bound())


@core_module.rpc("app_python.reload", scope="all")
def rpc_reload() -> dict[str, int]:
    """Reload the KEMI script (app.management runs it in every worker)."""
    server = _state["server"]
    if server is None:
        raise RuntimeError("no running server")
    try:
        return server.reload()  # type: ignore[no-any-return]
    except ScriptError as exc:
        raise RpcFault(500, f"reload failed: {exc}") from None


@core_module.rpc("app_python.api_list")
def rpc_api_list() -> dict[str, Any]:
    """The KEMI functions exported."""
    server = _state["server"]
    return {} if server is None else server.engine.api_list()  # type: ignore[no-any-return]


def current() -> Server | None:
    """The server running in this process, None before start and after stop (for modules
    that act outside a route, e.g. evapi's events)."""
    return _state["server"]  # type: ignore[no-any-return]


def set_master(pid: int) -> None:
    """Record the master process (RPC reload signals it)."""
    _state["master"] = pid
