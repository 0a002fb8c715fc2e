"""The two command tables of the management API and how a call crosses processes.

* :func:`worker_table` -- what a worker answers: every loaded module's RPC commands (and the
  built-in ``app_python.*``), ``stats.*`` on the worker's own statistics, ``cfg.*``, and the
  internal ``siprouter.worker_stats``. Each command has a *scope* (``Module.rpc(scope=)``):
  ``any`` (state shared by the workers, e.g. usrloc: one worker answers), ``all`` (every
  worker runs it, e.g. ``app_python.reload``, ``cfg.set``; the first worker's result is the
  answer, the first fault is the fault) or ``sum`` (every worker, numbers summed:
  ``tm.stats``, ``sl.stats``).
* :func:`front_table` -- what the listeners serve: ``system.*`` and ``core.*`` answered in
  the management process, ``stats.*`` over the :class:`~app.management_stats.Aggregate` of
  the workers, and a proxy for every worker command that sends the call to the workers its
  scope names (:class:`Backend`).

A worker is reached through a :class:`Remote` backend (JSON-RPC over its private unix socket,
one document per connection) or, when the listeners run inside the only worker, a
:class:`Local` one (the worker table itself).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from app.management_cfg import register_cfg_commands
from app.management_stats import Aggregate, describe
from app.module import Module
from rpc.commands import CoreInfo, register_core_commands
from rpc.registry import Command, Commands, RpcFault
from rpc.stats import Stats, register_stats_commands

__all__ = ["Backend", "Local", "Remote", "front_table", "worker_table"]

log = logging.getLogger("siprouter.management")
INTERNAL = "siprouter.worker_stats"
FRONT_ONLY = ("system.", "core.", "stats.")


class Backend(ABC):
    """One worker as seen from the listeners."""

    rank: int = 0

    @abstractmethod
    async def call(self, method: str, params: Sequence[Any]) -> Any:
        """Run ``method`` in this worker and return its result (or raise RpcFault)."""


class Local(Backend):
    """The worker of this very process."""

    def __init__(self, commands: Commands, rank: int = 1) -> None:
        self.commands, self.rank = commands, rank

    async def call(self, method: str, params: Sequence[Any]) -> Any:
        return await self.commands.call(method, list(params))


class Remote(Backend):
    """A forked worker behind its private unix socket."""

    def __init__(self, rank: int, path: str, timeout: float = 5.0) -> None:
        self.rank, self.path, self.timeout = rank, path, timeout

    async def call(self, method: str, params: Sequence[Any]) -> Any:
        doc = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}
        try:
            raw = await asyncio.wait_for(self._exchange(orjson.dumps(doc)), self.timeout)
            reply = orjson.loads(raw)
        except (OSError, TimeoutError, orjson.JSONDecodeError) as exc:
            raise RpcFault(500, f"worker {self.rank} did not answer: {exc!r}") from None
        if "error" in reply:
            err = reply["error"]
            raise RpcFault(int(err.get("code", 500)), str(err.get("message", "error")))
        return reply.get("result")

    async def _exchange(self, payload: bytes) -> bytes:
        reader, writer = await self._connect()
        try:
            writer.write(payload)
            writer.write_eof()
            return await reader.readline()
        finally:
            writer.close()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        deadline = time.monotonic() + self.timeout
        while True:  # a worker that is still starting has no socket yet
            try:
                return await asyncio.open_unix_connection(self.path, limit=1 << 24)
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)


def worker_table(modules: Iterable[Module], stats: Stats) -> tuple[Commands, dict[str, str]]:
    """The commands a worker answers, and the scope of each."""
    commands, scopes = Commands(), {}
    mods = list(modules)
    for module in mods:
        for named in module.rpcs.values():
            if named.func is not None and named.name not in commands:
                commands.register(named.name, named.func, doc=named.doc)
                scopes[named.name] = named.scope
    register_stats_commands(commands, stats)
    register_cfg_commands(commands, {m.name: m for m in mods}, scopes)

    @commands.add(INTERNAL, doc="(internal) this worker's statistics, described")
    def worker_stats() -> list[list[Any]]:
        return describe(stats)

    return commands, scopes


async def fan_out(
    backends: Sequence[Backend], method: str, params: Sequence[Any]
) -> list[Any | BaseException]:
    """Call every backend at once; results or exceptions, in rank order."""
    calls = (b.call(method, params) for b in backends)
    return list(await asyncio.gather(*calls, return_exceptions=True))


async def call_scoped(
    backends: Sequence[Backend], scope: str, method: str, params: Sequence[Any]
) -> Any:
    """Run ``method`` where ``scope`` says; merge the answers."""
    if scope not in ("all", "sum"):
        return await _first_answer(backends, method, params)
    results = await fan_out(backends, method, params)
    for backend, result in zip(backends, results, strict=True):
        if isinstance(result, BaseException):
            log.warning("rpc %s failed in worker %d: %s", method, backend.rank, result)
            raise result
    return summed(results) if scope == "sum" else results[0]


async def _first_answer(backends: Sequence[Backend], method: str, params: Sequence[Any]) -> Any:
    error: RpcFault | None = None
    for backend in backends:
        try:
            return await backend.call(method, params)
        except RpcFault as exc:
            if not exc.message.startswith(f"worker {backend.rank} did not answer"):
                raise
            error = exc  # that worker is gone or stuck: ask the next one
    raise error or RpcFault(500, "no worker to answer")


def summed(results: Sequence[Any]) -> Any:
    """Numbers added, dicts merged key by key (recursively); anything else: the first."""
    first = results[0] if results else None
    if all(_number(r) for r in results) and results:
        return sum(results)
    if isinstance(first, dict) and all(isinstance(r, dict) for r in results):
        keys = list(dict.fromkeys(k for r in results for k in r))
        return {k: summed([r[k] for r in results if k in r]) for k in keys}
    return first


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _proxy(cmd: Command, scope: str, backends: Sequence[Backend]) -> Any:
    @functools.wraps(cmd.func)
    async def proxy(*args: Any) -> Any:
        return await call_scoped(backends, scope, cmd.name, args)

    return proxy


def front_table(
    worker: Commands,
    scopes: Mapping[str, str],
    backends: Sequence[Backend],
    info: CoreInfo,
) -> tuple[Commands, Aggregate]:
    """The listeners' table (see the module docstring) and the summed statistics."""
    commands = Commands()
    register_core_commands(commands, info)
    aggregate = Aggregate(lambda: _gather_stats(backends))
    _register_front_stats(commands, aggregate, backends)
    for cmd in worker:
        if cmd.name == INTERNAL or cmd.name.startswith(FRONT_ONLY) or cmd.name in commands:
            continue
        scope = scopes.get(cmd.name, "any")
        commands.register(cmd.name, _proxy(cmd, scope, backends), doc=cmd.doc,
                          ret_array=cmd.ret_array)  # fmt: skip
    return commands, aggregate


async def _gather_stats(backends: Sequence[Backend]) -> list[list[list[Any]]]:
    out: list[list[list[Any]]] = []
    for backend, rows in zip(backends, await fan_out(backends, INTERNAL, []), strict=True):
        if isinstance(rows, BaseException):
            log.warning("statistics of worker %d left out: %s", backend.rank, rows)
        else:
            out.append(rows)
    return out


def _register_front_stats(
    commands: Commands, aggregate: Aggregate, backends: Sequence[Backend]
) -> None:
    """``stats.*`` as Kamailio's, on the sum over the workers; resets go to every worker."""
    local = Commands()
    register_stats_commands(local, aggregate)
    for name in ("stats.get_statistics", "stats.fetch", "stats.clear_statistics"):
        cmd = local.lookup(name)
        reset = name == "stats.clear_statistics"
        commands.register(name, _refreshing(cmd, aggregate, backends, reset), doc=cmd.doc,
                          ret_array=cmd.ret_array)  # fmt: skip

    @commands.add("stats.reset_statistics", doc=local.lookup("stats.reset_statistics").doc)
    async def reset_statistics(*names: str) -> None:
        await call_scoped(backends, "all", "stats.reset_statistics", names)


def _refreshing(
    cmd: Command, aggregate: Aggregate, backends: Sequence[Backend], reset: bool
) -> Any:
    @functools.wraps(cmd.func)
    async def run(*names: str) -> Any:
        await aggregate.refresh()
        result = cmd.func(*names)
        if reset:
            await call_scoped(backends, "all", "stats.reset_statistics", names)
        return result

    return run
