"""JSON-RPC 2.0 over TCP with netstrings, to a group of servers (jsonrpcc; docs/evapi.md).

``servers`` is Kamailio's ``"host:port,priority host2:port2,priority2"`` with an optional
weight (``host:port,priority,weight``, default 1). Each worker keeps one connection per
server (:class:`Conn`), reconnecting with a doubling back-off (``reconnect_min`` ..
``reconnect_max``) as many times as ``max_conn_attempts`` allows (-1: forever). A request goes
to a connected server of the highest priority present, spread by weight (smooth weighted
round-robin, as nginx does); a server whose connection is down is skipped (failover). A
request already sent fails when its connection drops: it is not sent twice.
Outcomes: :class:`Answer` with ``result`` or ``error`` (the JSON-RPC error object), or an
:class:`RpcFailure` ``"timeout"`` / ``"failure"`` (no server, connection lost).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from modules._netstring import Decoder, encode

log = logging.getLogger("siprouter.jsonrpcc")


@dataclass(frozen=True, slots=True)
class ServerSpec:
    host: str
    port: int
    priority: int = 0
    weight: int = 1


@dataclass(frozen=True, slots=True)
class Backoff:
    minimum: float = 0.1
    maximum: float = 5.0
    attempts: int = -1  # -1 forever, 0 no reconnection


@dataclass(frozen=True, slots=True)
class Answer:
    result: Any = None
    error: Any = None


class RpcFailure(Exception):
    """``"timeout"`` or ``"failure"``: no answer."""


def parse_servers(text: str) -> list[ServerSpec]:
    """``"h:p,prio[,weight] ..."`` -> specs; raise ValueError."""
    specs = []
    for item in text.split():
        addr, *nums = item.split(",")
        host, sep, port = addr.rpartition(":")
        if not sep or not host or len(nums) > 2:
            raise ValueError(f"bad jsonrpcc server {item!r} (host:port,priority[,weight])")
        prio, weight = (int(n) for n in (nums + ["0", "1"][len(nums) :])[:2])
        if weight < 1:
            raise ValueError(f"bad weight in {item!r}")
        specs.append(ServerSpec(host.strip("[]"), int(port), prio, weight))
    return specs


@dataclass(eq=False)
class Conn:
    """One server: a connection kept open, the requests waiting for it."""

    spec: ServerSpec
    backoff: Backoff
    stats: Counter[str]
    max_frame: int = 1 << 20
    writer: asyncio.StreamWriter | None = None
    pending: dict[int, asyncio.Future[Answer]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    current: int = 0  # smooth weighted round-robin state

    @property
    def up(self) -> bool:
        return self.writer is not None and not self.writer.is_closing()

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        delay, tries = self.backoff.minimum, 0
        while True:
            try:
                reader, self.writer = await asyncio.open_connection(self.spec.host, self.spec.port)
            except OSError as exc:
                log.debug("jsonrpcc: %s:%d: %s", self.spec.host, self.spec.port, exc)
            else:
                self.stats["connects"] += 1
                delay, tries = self.backoff.minimum, 0
                await self._read(reader)
                self._lost()
            tries += 1
            if 0 <= self.backoff.attempts < tries:
                log.error("jsonrpcc: giving up on %s:%d", self.spec.host, self.spec.port)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff.maximum)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        decoder = Decoder(self.max_frame)
        try:
            while data := await reader.read(65536):
                for item in decoder.feed(data):
                    self._answer(item)
                self.stats["bad_frames"] += decoder.errors
                decoder.errors = 0
        except ConnectionError:
            pass

    def _answer(self, data: bytes) -> None:
        try:
            doc = json.loads(data)
            future = self.pending.pop(doc["id"], None) if isinstance(doc, dict) else None
        except (ValueError, KeyError, TypeError):
            future = None
        if future is None:
            self.stats["bad_replies"] += 1
            log.warning("jsonrpcc: unexpected reply from %s:%d: %.200r", self.spec.host,
                        self.spec.port, data)  # fmt: skip
        elif not future.done():
            future.set_result(Answer(doc.get("result"), doc.get("error")))

    def _lost(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.writer = None
        pending, self.pending = self.pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(RpcFailure("failure"))
        log.warning("jsonrpcc: lost %s:%d (%d request(s) failed)", self.spec.host,
                    self.spec.port, len(pending))  # fmt: skip

    def send(self, doc: dict[str, Any]) -> bool:
        if not self.up:
            return False
        assert self.writer is not None
        self.writer.write(encode(json.dumps(doc, separators=(",", ":"))))
        return True

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        self._lost()


class Group:
    """The configured servers; see the module docstring."""

    def __init__(self, specs: list[ServerSpec], backoff: Backoff, max_frame: int) -> None:
        self.stats: Counter[str] = Counter()
        self.conns = [Conn(s, backoff, self.stats, max_frame) for s in specs]
        self._ids = itertools.count(1)

    def start(self) -> None:
        for conn in self.conns:
            conn.start()

    async def stop(self) -> None:
        await asyncio.gather(*(c.stop() for c in self.conns))

    def candidates(self) -> list[Conn]:
        """Connected servers, best first: priority, then smooth weighted round-robin."""
        up = [c for c in self.conns if c.up]
        if not up:
            return []
        top = max(c.spec.priority for c in up)
        best = [c for c in up if c.spec.priority == top]
        total = sum(c.spec.weight for c in best)
        for conn in best:
            conn.current += conn.spec.weight
        chosen = max(best, key=lambda c: c.current)
        chosen.current -= total
        rest = sorted((c for c in up if c is not chosen), key=lambda c: -c.spec.priority)
        return [chosen, *rest]

    async def call(self, method: str, params: Any, timeout: float) -> Answer:
        """Send a request to the best server; its answer or RpcFailure."""
        self.stats["requests"] += 1
        ident = next(self._ids)
        doc = {"jsonrpc": "2.0", "id": ident, "method": method, "params": params}
        for conn in self.candidates():
            if conn.send(doc):
                future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
                conn.pending[ident] = future
                return await self._wait(conn, ident, future, timeout)
        self.stats["failures"] += 1
        raise RpcFailure("failure")

    async def _wait(self, conn: Conn, ident: int, fut: asyncio.Future[Answer], t: float) -> Answer:
        try:
            answer = await asyncio.wait_for(fut, t)
        except TimeoutError:
            conn.pending.pop(ident, None)
            self.stats["timeouts"] += 1
            raise RpcFailure("timeout") from None
        except RpcFailure:
            self.stats["failures"] += 1
            raise
        self.stats["errors" if answer.error is not None else "results"] += 1
        return answer

    def notify(self, method: str, params: Any) -> bool:
        """Send a notification (no id) to the best server; False if none is connected."""
        doc = {"jsonrpc": "2.0", "method": method, "params": params}
        sent = any(conn.send(doc) for conn in self.candidates())
        self.stats["notifications" if sent else "failures"] += 1
        return sent
