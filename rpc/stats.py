"""Statistics with Kamailio's names (``core:rcv_requests``, ``tmx:active_transactions`` ...).

A :class:`Stats` registry holds groups of counters and gauges. Modules create theirs at start::

    stats = Stats()
    rcv = stats.counter("core", "rcv_requests", doc="Received requests")
    active = stats.gauge("tmx", "active_transactions", func=lambda: len(table))
    rcv.inc()

Gauges (and computed values) are Kamailio's ``STAT_NO_RESET`` statistics: ``reset`` leaves them.
:func:`register_stats_commands` adds Kamailio's ``stats.*`` RPC commands to a command table, and
:meth:`Stats.prometheus` renders the ``/metrics`` page (``kamailio_<group>_<name>``, optional
labels per statistic).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from rpc.registry import Commands

__all__ = ["Stat", "Stats", "register_stats_commands"]

_PROM_BAD = re.compile(r"[^a-zA-Z0-9_:]")


@dataclass
class Stat:
    """One statistic. ``kind`` is ``counter`` or ``gauge``; ``func`` makes it computed."""

    group: str
    name: str
    kind: str = "counter"
    doc: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    prom_name: str | None = None
    func: Callable[[], int | float] | None = None
    _value: int | float = 0

    @property
    def value(self) -> int | float:
        return self.func() if self.func is not None else self._value

    @property
    def full_name(self) -> str:
        return f"{self.group}:{self.name}"

    @property
    def resettable(self) -> bool:
        return self.kind == "counter" and self.func is None

    def inc(self, n: int | float = 1) -> None:
        self._value += n

    def dec(self, n: int | float = 1) -> None:
        self._value -= n

    def set(self, value: int | float) -> None:
        self._value = value

    def reset(self) -> None:
        if self.resettable:
            self._value = 0


class Stats:
    """The statistics registry: ``group -> name -> Stat``, in registration order."""

    def __init__(self, prefix: str = "kamailio") -> None:
        self.prefix = prefix
        self._groups: dict[str, dict[str, Stat]] = {}

    def counter(
        self,
        group: str,
        name: str,
        *,
        doc: str = "",
        labels: dict[str, str] | None = None,
        prom_name: str | None = None,
    ) -> Stat:
        """Register (or return the existing) counter ``group:name``."""
        return self._add(Stat(group, name, "counter", doc, dict(labels or {}), prom_name))

    def gauge(
        self,
        group: str,
        name: str,
        *,
        doc: str = "",
        labels: dict[str, str] | None = None,
        prom_name: str | None = None,
        func: Callable[[], int | float] | None = None,
    ) -> Stat:
        """Register (or return the existing) gauge ``group:name``; ``func`` computes it."""
        return self._add(Stat(group, name, "gauge", doc, dict(labels or {}), prom_name, func))

    def add(self, stat: Stat) -> Stat:
        """Register a prebuilt :class:`Stat` (or subclass); an existing name wins."""
        return self._add(stat)

    def _add(self, stat: Stat) -> Stat:
        group = self._groups.setdefault(stat.group, {})
        return group.setdefault(stat.name, stat)

    def get(self, full_name: str) -> Stat | None:
        group, _, name = full_name.rpartition(":")
        return self._groups.get(group, {}).get(name)

    def groups(self) -> list[str]:
        return list(self._groups)

    def __iter__(self) -> Iterator[Stat]:
        return iter([s for g in self._groups.values() for s in g.values()])

    def select(self, patterns: Iterable[str]) -> list[Stat]:
        """Kamailio's selectors: ``all``, ``group:``, ``name`` (any group), ``group:name``."""
        out: list[Stat] = []
        for pat in patterns:
            for stat in self._match(pat):
                if stat not in out:
                    out.append(stat)
        return out

    def _match(self, pat: str) -> list[Stat]:
        every = list(iter(self))
        if pat == "all":
            return every
        if pat.endswith(":"):
            return list(self._groups.get(pat[:-1], {}).values())
        if ":" in pat:
            return [s for s in every if s.full_name == pat]
        return [s for s in every if s.name == pat]

    def prometheus(self) -> str:
        """Prometheus text exposition (version 0.0.4) of every statistic."""
        families: dict[str, list[Stat]] = {}
        for stat in iter(self):
            families.setdefault(self._prom_family(stat), []).append(stat)
        lines: list[str] = []
        for fam, members in families.items():
            head = members[0]
            lines.append(f"# HELP {fam} {_escape_help(head.doc or head.full_name)}")
            lines.append(f"# TYPE {fam} {head.kind}")
            lines.extend(f"{fam}{_labels(s.labels)} {_num(s.value)}" for s in members)
        return "\n".join(lines) + "\n"

    def _prom_family(self, stat: Stat) -> str:
        base = f"{self.prefix}_{stat.group}_{stat.prom_name or stat.name}"
        return _PROM_BAD.sub("_", base)


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    esc = {
        k: v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        for k, v in labels.items()
    }
    return "{" + ",".join(f'{k}="{v}"' for k, v in esc.items()) + "}"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _num(value: int | float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _lines(stats: list[Stat]) -> list[str]:
    return [f"{s.full_name} = {_num(s.value)}" for s in stats]


def register_stats_commands(commands: Commands, stats: Stats) -> None:
    """Add Kamailio's ``stats.*`` commands (kex module) working on ``stats``."""

    @commands.add(
        "stats.get_statistics", ret_array=True, doc="Print statistics: all | group: | name ..."
    )
    def get_statistics(*names: str) -> list[str]:
        return _lines(stats.select(names or ("all",)))

    @commands.add("stats.reset_statistics", doc="Reset statistics: all | group: | name ...")
    def reset_statistics(*names: str) -> None:
        for stat in stats.select(names or ("all",)):
            stat.reset()

    @commands.add(
        "stats.clear_statistics",
        ret_array=True,
        doc="Print and then reset statistics: all | group: | name ...",
    )
    def clear_statistics(*names: str) -> list[str]:
        chosen = stats.select(names or ("all",))
        out = _lines(chosen)
        for stat in chosen:
            stat.reset()
        return out

    @commands.add("stats.fetch", doc="Statistics as an object {group.name: value}")
    def fetch(*names: str) -> dict[str, str]:
        return {f"{s.group}.{s.name}": _num(s.value) for s in stats.select(names or ("all",))}
