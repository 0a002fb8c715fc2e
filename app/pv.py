"""The pseudo-variable registry: ``$name``, ``$name(inner)``, ``$(name(inner)[index])``.

Modules declare their PVs with ``@module.pv("name")`` (a getter ``(ctx, inner) -> value``)
and ``@module.pv_setter("name")`` (``(ctx, inner, value)``); the engine adds every loaded
module to one :class:`PVRegistry`, which parses PV names (once per distinct string, as
Kamailio caches PV specs) and dispatches. The indexed form ``$(hdr(Via)[1])`` reaches the
getter as ``inner == "Via[1]"``; getters that support indexes split it with
:func:`split_index`. Transformations (``{s.len}``) are not supported: such a name is invalid.
"""

from __future__ import annotations

import re
from typing import Any

from app.context import Ctx
from app.module import Module, ModuleError, PVSpec

_SIMPLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)(?:\((.*)\))?\Z", re.S)
_WRAPPED = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)(?:\((.*?)\))?(\[(?:-?\d+|\*)\])?\)\Z", re.S)
_INDEX = re.compile(r"(.*)\[(-?\d+|\*)\]\Z", re.S)
_CACHE_MAX = 4096


class PVError(Exception):
    """An invalid or unknown PV name, or a PV that cannot be assigned."""


def split_index(inner: str) -> tuple[str, int | str | None]:
    """``"Via[1]"`` -> ``("Via", 1)``; ``"x[*]"`` -> ``("x", "*")``; no index -> ``None``."""
    m = _INDEX.match(inner)
    if m is None:
        return inner, None
    idx = m.group(2)
    return m.group(1), "*" if idx == "*" else int(idx)


class PVRegistry:
    """Every PV of the loaded modules, with a cache of parsed names."""

    def __init__(self) -> None:
        self.specs: dict[str, PVSpec] = {}
        self._cache: dict[str, tuple[PVSpec, str | None]] = {}

    def add_module(self, module: Module) -> None:
        """Register the PVs a module declares (a name declared twice is an error)."""
        for name, spec in module.pvs.items():
            if name in self.specs:
                raise ModuleError(f"pseudo-variable ${name} declared by two modules")
            self.specs[name] = spec

    def lookup(self, name: str) -> tuple[PVSpec, str | None]:
        """The spec and inner name of ``name``; raise :class:`PVError` if invalid."""
        hit = self._cache.get(name)
        if hit is None:
            hit = self._parse(name)
            if len(self._cache) < _CACHE_MAX:
                self._cache[name] = hit
        return hit

    def _parse(self, name: str) -> tuple[PVSpec, str | None]:
        m = _SIMPLE.match(name)
        inner: str | None
        if m is not None:
            key, inner = m.group(1), m.group(2)
        elif (w := _WRAPPED.match(name)) is not None:
            key, inner = w.group(1), (w.group(2) or "") + (w.group(3) or "")
        else:
            raise PVError(f"invalid pseudo-variable name {name!r}")
        spec = self.specs.get(key)
        if spec is None:
            raise PVError(f"unknown pseudo-variable {name!r}")
        return spec, inner

    def get(self, ctx: Ctx, name: str) -> Any:
        """The value of ``name`` (None for ``$null``); raise :class:`PVError` if invalid."""
        spec, inner = self.lookup(name)
        return spec.getter(ctx, inner)

    def set(self, ctx: Ctx, name: str, value: Any) -> None:
        """Assign ``value`` (None = ``$null``); raise :class:`PVError` if read-only."""
        spec, inner = self.lookup(name)
        if spec.setter is None:
            raise PVError(f"pseudo-variable {name!r} is read-only")
        spec.setter(ctx, inner, value)
