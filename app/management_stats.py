"""Statistics of one process with Kamailio's names, and their sum over the workers.

Each worker has one :class:`~rpc.stats.Stats` registry (:func:`process_stats`). Counters kept
elsewhere in the worker -- the transports' receive counts, the core's forward counters, the
stateful core's transaction counters, sl's reply counters -- are read through
:class:`Derived` statistics (a function of the running server; ``reset`` remembers a base, so
``stats.reset_statistics`` works on them as on plain counters). Counters that nothing
increments yet are plain ones, created up front so that the core can later do::

    from app import management
    drop = management.counter("core", "drop_requests")   # once, at start
    drop.inc()                                            # per dropped request

:class:`Aggregate` is what the management process shows: the statistics of every worker,
summed by name (gauges too: ``tmx:active_transactions`` is the sum over the workers),
rebuilt from the workers' ``siprouter.worker_stats`` answers before each read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rpc.stats import Stat, Stats

__all__ = [
    "Aggregate",
    "Derived",
    "counter",
    "define_stats",
    "describe",
    "process_stats",
]

_STATS = Stats()
_BOUND: dict[str, Any] = {"server": None}

# group, name, kind, doc, reader(server) -> number
Reader = Callable[[Any], int | float]


@dataclass
class Derived(Stat):
    """A statistic read from a counter kept elsewhere; a counter's reset keeps a base."""

    reader: Reader | None = None
    base: int | float = 0

    @property
    def value(self) -> int | float:
        server = _BOUND["server"]
        if server is None or self.reader is None:
            return 0
        return self.reader(server) - (self.base if self.kind == "counter" else 0)

    @property
    def resettable(self) -> bool:
        return self.kind == "counter"

    def reset(self) -> None:
        if self.kind == "counter":
            self.base += self.value


def process_stats() -> Stats:
    """This process's statistics registry."""
    return _STATS


def counter(group: str, name: str, doc: str = "") -> Stat:
    """The plain counter ``group:name`` of this process (created on first use)."""
    return _STATS.counter(group, name, doc=doc)


def bind(server: Any) -> None:
    """Read the derived statistics from ``server`` (a running :class:`app.server.Server`)."""
    _BOUND["server"] = server


def _core(key: str) -> Reader:
    return lambda s: int(s.core.stats.get(key, 0))


def _rcv(key: str) -> Reader:
    return lambda s: int(s.core.transports.stats.counts.get(key, 0))


def _tm(key: str) -> Reader:
    return lambda s: int(s.core.stateful.statistics().get(key, 0))


def _sl(key: str) -> Reader:
    def read(server: Any) -> int:
        from modules import sl  # only when sl is loaded

        return int(sl.stats.get(key, 0))

    return read


CORE: tuple[tuple[str, str, Reader | None, str], ...] = (
    ("rcv_requests", "counter", _rcv("rcv_requests"), "received requests (with retransmissions)"),
    ("rcv_replies", "counter", _rcv("rcv_replies"), "received replies"),
    ("fwd_requests", "counter", _core("fwd_requests"), "requests forwarded statelessly"),
    ("fwd_replies", "counter", _core("fwd_replies"), "replies relayed"),
    ("bad_msg_hdr", "counter", _core("bad_messages"), "unparsable or invalid messages"),
    ("drop_requests", "counter", None, "requests dropped by the script (core.py: not wired)"),
    ("drop_replies", "counter", None, "replies dropped by the script (core.py: not wired)"),
    ("err_requests", "counter", None, "requests that could not be processed (not wired)"),
    ("err_replies", "counter", None, "replies that could not be processed (not wired)"),
    ("bad_URIs_rcvd", "counter", None, "requests with an unparsable URI (not wired)"),
    ("unsupported_methods", "counter", None, "requests with an unknown method (not wired)"),
)
TMX: tuple[tuple[str, str, Reader | None, str], ...] = (
    ("active_transactions", "gauge", _tm("current"), "transactions in memory"),
    ("inuse_transactions", "gauge", _tm("current"), "transactions in memory"),
    ("UAS_transactions", "counter", _tm("created"), "transactions created"),
    ("rpl_received", "counter", _tm("rpl_received"), "replies received by tm"),
    ("rpl_generated", "counter", _tm("rpl_generated"), "local replies of tm"),
    ("rpl_sent", "counter", _tm("rpl_sent"), "replies sent by tm"),
    *((f"{c}xx_transactions", "counter", _tm(f"{c}xx"), f"{c}xx final") for c in range(2, 7)),
)
SL = ("1xx_replies", "2xx_replies", "3xx_replies", "4xx_replies", "5xx_replies",
      "6xx_replies", "200_replies", "202_replies", "300_replies", "301_replies",
      "302_replies", "400_replies", "401_replies", "403_replies", "404_replies",
      "407_replies", "408_replies", "483_replies", "500_replies", "sent_replies",
      "sent_err_replies", "failures")  # fmt: skip


def _define(stats: Stats, group: str, rows: Iterable[tuple[str, str, Reader | None, str]]) -> None:
    for name, kind, reader, doc in rows:
        if reader is None:
            stats.counter(group, name, doc=doc)
        else:
            stats.add(Derived(group, name, kind, doc, reader=reader))


def define_stats(modules: Iterable[str], stats: Stats | None = None) -> Stats:
    """Kamailio's core statistics, plus ``tmx:*`` / ``sl:*`` when tm / sl are loaded."""
    stats = stats if stats is not None else _STATS
    names = set(modules)
    _define(stats, "core", CORE)
    if "tm" in names:
        _define(stats, "tmx", TMX)
    if "sl" in names:
        _define(stats, "sl", ((n, "counter", _sl(n), f"sl {n}") for n in SL))
    return stats


def describe(stats: Stats) -> list[list[Any]]:
    """``[group, name, kind, doc, labels, prom_name, value]`` of every statistic."""
    return [[s.group, s.name, s.kind, s.doc, s.labels, s.prom_name, s.value] for s in stats]


class Aggregate(Stats):
    """The sum over the workers; :meth:`refresh` asks them (``gather`` returns their lists)."""

    def __init__(self, gather: Callable[[], Awaitable[list[list[list[Any]]]]]) -> None:
        super().__init__()
        self._gather = gather

    async def refresh(self) -> None:
        """Rebuild from the workers' current values (a worker that fails is left out)."""
        fresh = Stats(self.prefix)
        for rows in await self._gather():
            for row in rows:
                _absorb(fresh, row)
        self._groups = fresh._groups


def _absorb(stats: Stats, row: list[Any]) -> None:
    group, name, kind, doc, labels, prom_name, value = row
    labels = dict(labels) if isinstance(labels, Mapping) else None
    if kind == "gauge":
        stat = stats.gauge(group, name, doc=doc, labels=labels, prom_name=prom_name)
    else:
        stat = stats.counter(group, name, doc=doc, labels=labels, prom_name=prom_name)
    stat.inc(value)
