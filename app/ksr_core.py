"""The functions directly on ``KSR`` (kemi.md §3.1) and ``KSR.x`` (§1.6).

Declared as the built-in module ``core``, whose functions the engine puts on ``KSR`` itself.
Method and transport tests are in :mod:`app.ksr_tests`.
"""

from __future__ import annotations

import logging
from typing import Any

from app.context import Ctx
from app.module import Module
from sip import parse_uri

module = Module("core", doc="core KEMI functions (KSR.*)")
x_module = Module("x", doc="KSR.x: app_python3's modf, and exit/drop as in app_lua")
script_log = logging.getLogger("siprouter.script")

LEVELS = {
    "dbg": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO,
    "warn": logging.WARNING,
    "err": logging.ERROR,
    "crit": logging.CRITICAL,
}


class ScriptExit(BaseException):
    """Raised by ``KSR.x.exit()``: ends the route quietly, like ``sys.exit()``."""


def _log(level: int, text: str) -> int:
    script_log.log(level, "%s", text.rstrip("\n"))
    return 0


def _declare_log(name: str, level: int) -> None:
    def log_fn(ctx: Ctx, text: str) -> int:
        return _log(level, text)

    log_fn.__doc__ = f"Log at level {name}."
    module.function(name, "s", ret="none")(log_fn)


for _name, _level in LEVELS.items():
    _declare_log(_name, _level)


@module.function("log", "ss", ret="none")
def ksr_log(ctx: Ctx, level: str, text: str) -> int:
    """Log at a named level (dbg|info|notice|warn|err|crit; anything else: err)."""
    return _log(LEVELS.get(level.lower(), logging.ERROR), text)


@module.function("get_debug", ret="int")
def get_debug(ctx: Ctx) -> int:
    """The debug level of the configuration."""
    return ctx.engine.config.debug if ctx.engine and ctx.engine.config else 0


@module.function("set_drop", ret="none")
def set_drop(ctx: Ctx) -> int:
    """Drop the reply / outgoing message / branch when the route ends."""
    ctx.drop = True
    return 0


# -- myself -----------------------------------------------------------------------------------
def myself(ctx: Ctx, text: str | None) -> bool:
    """True if the URI or host in ``text`` is one of our addresses."""
    if not text or ctx.core is None:
        return False
    if ":" in text and text.split(":", 1)[0].lower() in ("sip", "sips", "tel"):
        uri = parse_uri(text)
        return ctx.core.is_myself(uri.host_bare, uri.port, uri.transport)
    return ctx.core.is_myself(text.strip("[]"), None, None)


@module.function("is_myself", "s", ret="bool")
def is_myself(ctx: Ctx, uri: str) -> bool:
    """The URI or host is local."""
    return myself(ctx, uri)


@module.function("is_myself_ruri", ret="bool")
def is_myself_ruri(ctx: Ctx) -> bool:
    """The R-URI (as rewritten) is local."""
    req = ctx.request
    return req is not None and myself(ctx, req.uri_text)


@module.function("is_myself_duri", ret="bool")
def is_myself_duri(ctx: Ctx) -> bool:
    """$du is set and local."""
    return myself(ctx, ctx.dst_uri)


@module.function("is_myself_nhuri", ret="bool")
def is_myself_nhuri(ctx: Ctx) -> bool:
    """The next hop ($du, else R-URI) is local."""
    req = ctx.request
    return myself(ctx, ctx.dst_uri or (req.uri_text if req is not None else None))


@module.function("is_myself_furi", ret="bool")
def is_myself_furi(ctx: Ctx) -> bool:
    """The From URI is local."""
    na = ctx.received.from_
    return na is not None and myself(ctx, str(na.uri))


@module.function("is_myself_turi", ret="bool")
def is_myself_turi(ctx: Ctx) -> bool:
    """The To URI is local."""
    na = ctx.received.to
    return na is not None and myself(ctx, str(na.uri))


@module.function("is_myself_suri", ret="bool")
def is_myself_suri(ctx: Ctx) -> bool:
    """The source address (as a URI) is local."""
    src = ctx.source
    return ctx.core is not None and ctx.core.is_myself(src.ip, src.port, src.proto)


@module.function("is_myself_srcip", ret="bool")
def is_myself_srcip(ctx: Ctx) -> bool:
    """The source IP is local."""
    return ctx.core is not None and ctx.core.is_myself(ctx.source.ip, None, None)


# -- flags --------------------------------------------------------------------------------------
def _flag_ok(flag: int) -> bool:
    if 0 <= flag <= 31:
        return True
    script_log.error("flag index %d out of range 0..31", flag)
    return False


def _declare_flags(prefix: str, get: Any, put: Any) -> None:
    def setf(ctx: Ctx, flag: int) -> bool:
        return _flag_ok(flag) and (put(ctx, get(ctx) | 1 << flag) or True)

    def resetf(ctx: Ctx, flag: int) -> bool:
        return _flag_ok(flag) and (put(ctx, get(ctx) & ~(1 << flag)) or True)

    def isset(ctx: Ctx, flag: int) -> bool:
        return _flag_ok(flag) and bool(get(ctx) >> flag & 1)

    module.function(f"set{prefix}flag", "i", ret="bool", doc=f"set a {prefix or 'message'} flag")(
        setf
    )
    module.function(f"reset{prefix}flag", "i", ret="bool", doc="reset a flag")(resetf)
    module.function(f"is{prefix}flagset", "i", ret="bool", doc="test a flag")(isset)


def _put_flags(ctx: Ctx, value: int) -> None:
    ctx.flags = value


def _put_sflags(ctx: Ctx, value: int) -> None:
    ctx.sflags = value


def _put_bflags(ctx: Ctx, value: int) -> None:
    ctx.bflags[0] = value


_declare_flags("", lambda ctx: ctx.flags, _put_flags)
_declare_flags("s", lambda ctx: ctx.sflags, _put_sflags)
_declare_flags("b", lambda ctx: ctx.bflags.get(0, 0), _put_bflags)


@module.function("setbiflag", "ii", ret="bool")
def setbiflag(ctx: Ctx, flag: int, branch: int) -> bool:
    """Set a flag of a branch."""
    if _flag_ok(flag):
        ctx.bflags[branch] = ctx.bflags.get(branch, 0) | 1 << flag
        return True
    return False


@module.function("resetbiflag", "ii", ret="bool")
def resetbiflag(ctx: Ctx, flag: int, branch: int) -> bool:
    """Reset a flag of a branch."""
    if _flag_ok(flag):
        ctx.bflags[branch] = ctx.bflags.get(branch, 0) & ~(1 << flag)
        return True
    return False


@module.function("isbiflagset", "ii", ret="bool")
def isbiflagset(ctx: Ctx, flag: int, branch: int) -> bool:
    """Test a flag of a branch."""
    return _flag_ok(flag) and bool(ctx.bflags.get(branch, 0) >> flag & 1)


# -- KSR.x ------------------------------------------------------------------------------------
@x_module.function("modf", "s", ret="int")
def modf(ctx: Ctx, fname: str, *params: Any) -> int:
    """Native module functions do not exist in siprouter: logs an error, returns -1."""
    script_log.error("KSR.x.modf(%r): no native module functions; use the KSR.* API", fname)
    return -1


@x_module.function("exit", ret="none")
def x_exit(ctx: Ctx) -> int:
    """Extension (as app_lua): end the route now."""
    raise ScriptExit()


@x_module.function("drop", ret="none")
def x_drop(ctx: Ctx) -> int:
    """Extension (as app_lua): set_drop() and end the route."""
    ctx.drop = True
    raise ScriptExit()
