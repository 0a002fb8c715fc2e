"""``KSR.pv`` (kemi.md §3.2) and the pseudo-variables of the message and the core (§4).

Declared as the built-in module ``pv`` (always loaded; ``loadmodule "pv.so"`` is accepted and
ignored). Values read from headers come from the message as received; ``$ru``/``$rU``/
``$rd``/``$rp``/``$du`` are read back as rewritten. Variables: ``$var(x)`` is per worker
process and persists across messages; ``$avp(x)`` and ``$xavp(root=>field)`` are per message
(per transaction once tm exists).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from app.context import Ctx
from app.module import Module
from app.pv import PVError, split_index
from app.pv_msg import register_message_pvs
from sip import Request

module = Module("pv", doc="KSR.pv and the core pseudo-variables")
log = logging.getLogger("siprouter.kemi")
register_message_pvs(module)


# -- KSR.pv ---------------------------------------------------------------------------------
def _get(ctx: Ctx, name: str) -> Any:
    """The PV value, None for $null or on error (logged)."""
    try:
        return ctx.engine.pvs.get(ctx, name) if ctx.engine else None
    except PVError as exc:
        log.error("KSR.pv: %s", exc)
        return None
    except Exception as exc:  # noqa: BLE001 - a bad header must read as $null
        log.debug("KSR.pv.get(%r): %s", name, exc)
        return None


def _set(ctx: Ctx, name: str, value: Any) -> bool:
    try:
        if ctx.engine is None:
            return False
        ctx.engine.pvs.set(ctx, name, value)
        return True
    except (PVError, ValueError, TypeError) as exc:
        log.error("KSR.pv: cannot assign %s: %s", name, exc)
        return False


@module.function("get", "s", ret="xval")
def pv_get(ctx: Ctx, name: str) -> Any:
    """Value of a PV: int, str, or None for $null."""
    return _get(ctx, name)


@module.function("gete", "s", ret="xval")
def pv_gete(ctx: Ctx, name: str) -> Any:
    """Like get, "" for $null."""
    value = _get(ctx, name)
    return "" if value is None else value


@module.function("getw", "s", ret="xval")
def pv_getw(ctx: Ctx, name: str) -> Any:
    """Like get, "<null>" for $null."""
    value = _get(ctx, name)
    return "<null>" if value is None else value


@module.function("getvn", "si", ret="xval")
def pv_getvn(ctx: Ctx, name: str, default: int) -> Any:
    """Value or the int default when null."""
    value = _get(ctx, name)
    return default if value is None else value


@module.function("getvs", "ss", ret="xval")
def pv_getvs(ctx: Ctx, name: str, default: str) -> Any:
    """Value or the str default when null."""
    value = _get(ctx, name)
    return default if value is None else value


@module.function("geti", "s", ret="int")
def pv_geti(ctx: Ctx, name: str) -> int:
    """Integer value; null or not a number -> 0."""
    value = _get(ctx, name)
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


@module.function("getl", "s", ret="xval")
def pv_getl(ctx: Ctx, name: str) -> Any:
    """Like get (Python ints are long)."""
    return _get(ctx, name)


@module.function("seti", "si", ret="bool")
def pv_seti(ctx: Ctx, name: str, value: int) -> bool:
    """Assign an integer."""
    return _set(ctx, name, value)


@module.function("setl", "si", ret="bool")
def pv_setl(ctx: Ctx, name: str, value: int) -> bool:
    """Assign a long integer."""
    return _set(ctx, name, value)


@module.function("sets", "ss", ret="bool")
def pv_sets(ctx: Ctx, name: str, value: str) -> bool:
    """Assign a string."""
    return _set(ctx, name, value)


@module.function("unset", "s", ret="bool")
def pv_unset(ctx: Ctx, name: str) -> bool:
    """Assign $null."""
    return _set(ctx, name, None)


@module.function("is_null", "s", ret="bool")
def pv_is_null(ctx: Ctx, name: str) -> bool:
    """True if the PV is null (also for an invalid name)."""
    return _get(ctx, name) is None


# -- variables ------------------------------------------------------------------------------
@module.pv("var")
def var_get(ctx: Ctx, inner: str | None) -> Any:
    """$var(x): per-process variable (0 until assigned)."""
    return ctx.engine.vars.get(inner or "", 0) if ctx.engine else None


@module.pv_setter("var")
def var_set(ctx: Ctx, inner: str | None, value: Any) -> None:
    if ctx.engine is not None:
        ctx.engine.vars[inner or ""] = 0 if value is None else value


@module.pv("avp")
def avp_get(ctx: Ctx, inner: str | None) -> Any:
    """$avp(x), $(avp(x)[N]): the stack of values of x (newest first)."""
    name, idx = split_index(inner or "")
    stack = ctx.avps.get(name) or []
    if idx == "*":
        idx = 0
    i = idx or 0
    return stack[i] if -len(stack) <= i < len(stack) else None


@module.pv_setter("avp")
def avp_set(ctx: Ctx, inner: str | None, value: Any) -> None:
    name, idx = split_index(inner or "")
    stack = ctx.avps.setdefault(name, [])
    if value is not None:
        stack.insert(0, value)
    elif idx == "*":
        stack.clear()
    elif stack:
        stack.pop(0)


def _xavp_path(inner: str | None) -> tuple[str, int | None, str | None, int]:
    root, _, fld = (inner or "").partition("=>")
    root, ridx = split_index(root)
    fname, fidx = split_index(fld) if fld else (None, None)
    return (
        root,
        ridx if isinstance(ridx, int) else None,
        fname,
        fidx if isinstance(fidx, int) else 0,
    )


@module.pv("xavp")
def xavp_get(ctx: Ctx, inner: str | None) -> Any:
    """$xavp(root=>field), $xavp(root[i]=>field[j]): structured per-message values."""
    root, ridx, fname, fidx = _xavp_path(inner)
    items = ctx.xavps.get(root) or []
    i = ridx or 0
    if not -len(items) <= i < len(items):
        return None
    if fname is None:
        return f"<<xavp:{id(items[i]):x}>>"
    values = items[i].get(fname) or []
    return values[fidx] if -len(values) <= fidx < len(values) else None


@module.pv_setter("xavp")
def xavp_set(ctx: Ctx, inner: str | None, value: Any) -> None:
    root, ridx, fname, _ = _xavp_path(inner)
    items = ctx.xavps.setdefault(root, [])
    if value is None:
        _xavp_delete(items, ridx, fname)
    elif ridx is None or not items:
        items.insert(0, {fname or "": [value]})
    elif -len(items) <= ridx < len(items):
        items[ridx].setdefault(fname or "", []).insert(0, value)


def _xavp_delete(items: list[dict[str, list[Any]]], ridx: int | None, fname: str | None) -> None:
    i = ridx or 0
    if not -len(items) <= i < len(items):
        return
    if fname is None:
        del items[i]
    else:
        items[i].pop(fname, None)


# -- time and misc --------------------------------------------------------------------------
def _ro(name: str, func: Callable[[Ctx], Any], doc: str) -> None:
    def getter(ctx: Ctx, inner: str | None) -> Any:
        return func(ctx)

    module.pv(name, doc)(getter)


_ro("Ts", lambda ctx: int(time.time()), "unix time")
_ro("TS", lambda ctx: int(time.time()), "unix time (current)")
_ro("Tf", lambda ctx: time.ctime(), "formatted time")
_ro("conid", lambda ctx: ctx.source.conn_id or None, "TCP connection id")
_ro("mb", lambda ctx: bytes(ctx.received).decode("utf-8", "replace"), "message buffer")
_ro("ml", lambda ctx: len(bytes(ctx.received)), "message length")
_ro("rb", lambda ctx: ctx.received.body.decode("utf-8", "replace"), "message body")
_ro("bs", lambda ctx: len(ctx.received.body), "body size")
_ro("cl", lambda ctx: ctx.received.content_length, "Content-Length")
_ro("ou", lambda ctx: ctx.orig_uri if isinstance(ctx.msg, Request) else None, "original R-URI")
