"""The module catalogue: Kamailio module name -> the Python module implementing it.

Each implementation is a Python module whose attribute ``module`` is an
:class:`app.module.Module` declaring everything it exports. The Kamailio module ``X`` is the
file ``modules/X.py`` (found by listing this package, without importing anything), so adding
a module is adding its file; ``loadmodule "tm.so"`` in kamailio.cfg then imports ``modules.tm``.
"""

from __future__ import annotations

import pkgutil
from importlib import import_module

from app.module import Module

MODULES: dict[str, str] = {
    info.name: f"{__name__}.{info.name}"
    for info in pkgutil.iter_modules(__path__)
    if not info.name.startswith("_")
}
"""Kamailio module name -> import path of siprouter's implementation (``modules/<name>.py``;
files whose name starts with ``_`` are helpers, not modules)."""


def known_module(name: str) -> bool:
    """True if siprouter implements the Kamailio module ``name``."""
    return name in MODULES


def load_module(name: str) -> Module:
    """Import the implementation of ``name`` and return its :class:`Module` declaration."""
    try:
        path = MODULES[name]
    except KeyError:
        raise LookupError(f"siprouter has no module {name!r}") from None
    module = getattr(import_module(path), "module", None)
    if not isinstance(module, Module):
        raise TypeError(f"{path}.module is not an app.module.Module")
    if module.name != name:
        raise TypeError(f"{path}.module is named {module.name!r}, expected {name!r}")
    return module
