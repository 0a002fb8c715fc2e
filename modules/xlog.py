"""xlog: logging with pseudo-variables (Kamailio's xlog module).

``xlog(level, fmt)`` and ``xdbg/xinfo/xnotice/xwarn/xerr/xalert/xcrit(fmt)`` expand the PVs
of ``fmt`` (``$rm``, ``$var(x)``, ``$hdr(X)``, ``$(hdr(X)[1])``, ``$sht(t=>$si)``; a null or
unknown PV prints ``<null>``) and log the text on the ``siprouter.script`` logger; they
return 1. Levels: ``L_ALERT``, ``L_BUG``, ``L_CRIT``, ``L_ERR``, ``L_WARN``, ``L_NOTICE``,
``L_INFO``, ``L_DBG`` (also without ``L_`` and in lower case); anything else logs at error.
Extension: ``xlogl(level, fmt)`` (Kamailio's cfg-only variant with the config line; here the
same as xlog).
"""

from __future__ import annotations

import logging
from typing import Any

from app.module import Module
from modules._pvfmt import pv_format

module = Module("xlog", doc="formatted logging with PVs")
module.param("buf_size", int, 4096, doc="longest logged line (longer text is cut)")
module.param("force_color", int, 0, doc="accepted; not used")
module.param("long_format", int, 0, doc="accepted; not used")
module.param("prefix", str, "", doc="text put before every xlog line")
module.param("log_facility", str, "", doc="accepted; not used")
module.param("log_colors", str, "", multi=True, doc="accepted; not used")
module.param("methods_filter", int, -1, doc="accepted; not used")

log = logging.getLogger("siprouter.script")
LEVELS = {
    "alert": logging.CRITICAL, "bug": logging.CRITICAL, "crit": logging.CRITICAL,
    "err": logging.ERROR, "error": logging.ERROR, "warn": logging.WARNING,
    "notice": logging.INFO, "info": logging.INFO, "dbg": logging.DEBUG, "debug": logging.DEBUG,
}  # fmt: skip


def level_of(name: str) -> int:
    """Kamailio level name -> logging level (unknown: error)."""
    key = name.strip().lower()
    return LEVELS.get(key.removeprefix("l_"), logging.ERROR)


def emit(ctx: Any, level: int, fmt: str) -> int:
    """Expand and log; always 1."""
    if not log.isEnabledFor(level):
        return 1
    text = (str(module.cfg["prefix"]) + pv_format(ctx, fmt))[: int(module.cfg["buf_size"])]
    log.log(level, "%s", text.rstrip("\n"))
    return 1


@module.function("xlog", "ss")
def xlog(ctx: Any, level: str, fmt: str) -> int:
    """Log ``fmt`` (PVs expanded) at a named level."""
    return emit(ctx, level_of(level), fmt)


@module.function("xlogl", "ss")
def xlogl(ctx: Any, level: str, fmt: str) -> int:
    """Extension: xlog() (Kamailio adds the config line; a KEMI script has none)."""
    return emit(ctx, level_of(level), fmt)


def _declare(name: str, level: str) -> None:
    def func(ctx: Any, fmt: str) -> int:
        return emit(ctx, level_of(level), fmt)

    func.__doc__ = f"Log at {level} with PVs expanded."
    module.function(name, "s")(func)


for _name, _level in (
    ("xdbg", "dbg"), ("xinfo", "info"), ("xnotice", "notice"), ("xwarn", "warn"),
    ("xerr", "err"), ("xalert", "alert"), ("xcrit", "crit"),
):  # fmt: skip
    _declare(_name, _level)
