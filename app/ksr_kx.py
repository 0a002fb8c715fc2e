"""``KSR.kx`` (kemix, kemi.md §3.4): getters of message attributes and of ``#!define`` values.

Built in (``loadmodule "kemix.so"`` is accepted and ignored). The message getters read the
same values as the PVs of :mod:`app.pv_msg`; ``get_def``/``ifdef`` read the preprocessor
defines of the configuration (quotes around a define's value are removed).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from app.context import Ctx
from app.module import Module
from app.pv_msg import READ_ONLY, READ_WRITE

module = Module("kx", doc="KSR.kx: kemix getters")


def _defines(ctx: Ctx) -> dict[str, str]:
    config = ctx.engine.config if ctx.engine is not None else None
    return dict(config.defines) if config is not None else {}


def _unquote(value: str) -> str:
    value = value.strip()
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def _pv(name: str) -> Callable[[Ctx], Any]:
    return READ_ONLY[name] if name in READ_ONLY else READ_WRITE[name][0]


GETTERS: dict[str, tuple[str, Any]] = {
    "get_ruri": ("ru", None), "get_ruser": ("rU", None), "gete_ruser": ("rU", ""),
    "getw_ruser": ("rU", "<null>"), "get_rhost": ("rd", None), "gete_rhost": ("rd", ""),
    "getw_rhost": ("rd", "<null>"), "get_furi": ("fu", None), "get_fuser": ("fU", None),
    "get_fhost": ("fd", None), "gete_fhost": ("fd", ""), "get_turi": ("tu", None),
    "get_tuser": ("tU", None), "get_thost": ("td", None), "get_duri": ("du", None),
    "get_ua": ("ua", None), "gete_ua": ("ua", ""), "get_srcip": ("si", None),
    "get_srcport": ("sp", None), "get_rcvip": ("Ri", None), "get_rcvport": ("Rp", None),
    "get_proto": ("pr", None), "get_method": ("rm", None), "get_callid": ("ci", None),
    "get_srcuri": ("su", None), "get_cturi": ("ctu", None),
}  # fmt: skip


def _declare(kname: str, pv: str, null: Any) -> None:
    get = _pv(pv)

    def getter(ctx: Ctx) -> Any:
        try:
            value = get(ctx)
        except Exception:  # noqa: BLE001 - a bad header reads as null
            value = None
        return null if value is None else value

    getter.__doc__ = f"${pv} ({null!r} when null)."
    module.function(kname, ret="xval")(getter)


for _kname, (_pvname, _null) in GETTERS.items():
    _declare(_kname, _pvname, _null)


@module.function("get_status", ret="int")
def get_status(ctx: Ctx) -> int:
    """Reply status code as int (-1 for a request)."""
    status = READ_ONLY["rs"](ctx)
    return -1 if status is None else int(status)


@module.function("gets_status", ret="xval")
def gets_status(ctx: Ctx) -> Any:
    """Reply status code as str."""
    status = READ_ONLY["rs"](ctx)
    return None if status is None else str(status)


@module.function("get_body", ret="xval")
def get_body(ctx: Ctx) -> Any:
    """The message body."""
    return ctx.received.body.decode("utf-8", "replace")


@module.function("get_bodylen", ret="int")
def get_bodylen(ctx: Ctx) -> int:
    """Body length."""
    return len(ctx.received.body)


@module.function("get_def", "s", ret="xval")
def get_def(ctx: Ctx, name: str) -> Any:
    """Value of a #!define (None if not defined)."""
    value = _defines(ctx).get(name)
    return None if value is None else _unquote(value)


@module.function("get_defn", "s", ret="int")
def get_defn(ctx: Ctx, name: str) -> int:
    """Integer value of a #!define (0 if not a number)."""
    try:
        return int(_unquote(_defines(ctx).get(name, "0")), 0)
    except ValueError:
        return 0


@module.function("ifdef", "s", ret="bool")
def ifdef(ctx: Ctx, name: str) -> bool:
    """The name is #!define'd."""
    return name in _defines(ctx)


@module.function("ifndef", "s", ret="bool")
def ifndef(ctx: Ctx, name: str) -> bool:
    """The name is not #!define'd."""
    return name not in _defines(ctx)


@module.function("get_env", "s", ret="xval")
def get_env(ctx: Ctx, name: str) -> Any:
    """An environment variable (None if unset)."""
    return os.environ.get(name)
