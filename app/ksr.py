"""Builds the ``KSR`` module object the user's script imports (``import KSR``).

Every KEMI function of every loaded module becomes ``KSR.<kemi_name>.<function>`` (the
built-in ``core`` module's functions go on ``KSR`` itself). A KSR function takes the script's
arguments only; it finds the message it acts on in :data:`app.context.CURRENT` (or a faked
request outside any route, as Kamailio does at ``mod_init``/``child_init`` time).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterable
from typing import Any

from app.context import CURRENT, Ctx
from app.module import KemiFunction, Module

KSR_VERSION = 1003
CORE = "core"


EXACT: dict[str, tuple[type, ...]] = {"s": (str,), "i": (int,), "x": (str, int)}


def _bind(spec: KemiFunction, fallback: Callable[[], Ctx]) -> Callable[..., Any]:
    """The ``KSR`` callable of ``spec``: arguments of exactly the declared types go straight
    to the function; anything else takes :meth:`KemiFunction.call`'s checks and messages."""
    call, func, get = spec.call, spec.func, CURRENT.get
    kinds = [EXACT[letter] for letter in spec.args]
    n = len(kinds)
    if n > 3 or (spec.ret == "bool" and n > 0):

        def ksr_function(*args: Any) -> Any:
            ctx = get()
            return call(fallback() if ctx is None else ctx, *args)

    elif n == 0 and spec.ret == "bool":

        def ksr_function(*args: Any) -> Any:
            ctx = get()
            return bool(func(fallback() if ctx is None else ctx))

    elif n == 0:

        def ksr_function(*args: Any) -> Any:
            ctx = get()
            return func(fallback() if ctx is None else ctx)

    elif n == 1:
        k0 = kinds[0]

        def ksr_function(*args: Any) -> Any:
            ctx = get()
            if ctx is None:
                ctx = fallback()
            if len(args) == 1 and type(args[0]) in k0:
                return func(ctx, args[0])
            return call(ctx, *args)

    elif n == 2:
        k0, k1 = kinds

        def ksr_function(*args: Any) -> Any:
            ctx = get()
            if ctx is None:
                ctx = fallback()
            if len(args) == 2 and type(args[0]) in k0 and type(args[1]) in k1:
                return func(ctx, args[0], args[1])
            return call(ctx, *args)

    else:  # three, as auth_check(realm, table, flags)
        k0, k1, k2 = kinds

        def ksr_function(*args: Any) -> Any:
            ctx = get()
            if ctx is None:
                ctx = fallback()
            exact = len(args) == 3 and type(args[0]) in k0 and type(args[1]) in k1
            if exact and type(args[2]) in k2:
                return func(ctx, args[0], args[1], args[2])
            return call(ctx, *args)

    ksr_function.__name__ = spec.name
    ksr_function.__qualname__ = f"{spec.module}.{spec.name}"
    ksr_function.__doc__ = f"{spec.name}({', '.join(spec.args)}) -> {spec.ret}: {spec.doc}"
    return ksr_function


def build_ksr(modules: Iterable[Module], fallback: Callable[[], Ctx]) -> types.ModuleType:
    """A fresh ``KSR`` module with the functions of ``modules`` (in load order)."""
    ksr = types.ModuleType("KSR", "Kamailio's KEMI API, as implemented by siprouter")
    ksr.__version__ = KSR_VERSION  # type: ignore[attr-defined]
    for module in modules:
        if module.name == CORE:
            target = ksr
        else:
            target = getattr(ksr, module.kemi_name, None) or types.ModuleType(
                f"KSR.{module.kemi_name}", module.doc
            )
            setattr(ksr, module.kemi_name, target)
        for name, spec in module.functions.items():
            setattr(target, name, _bind(spec, fallback))
    return ksr


def install(ksr: types.ModuleType) -> None:
    """Make ``import KSR`` return ``ksr``."""
    sys.modules["KSR"] = ksr


def api_list(modules: Iterable[Module]) -> dict[str, Any]:
    """The ``app_python.api_list`` RPC answer (kemi.md §1.7)."""
    methods = [
        {
            "func": {
                "ret": spec.ret,
                "module": "" if module.name == CORE else module.kemi_name,
                "name": name,
                "params": ", ".join({"s": "str", "i": "int", "x": "xval"}[a] for a in spec.args),
            }
        }
        for module in modules
        for name, spec in module.functions.items()
    ]
    return {"msize": len(methods), "methods": methods}
