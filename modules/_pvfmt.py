"""Format strings with pseudo-variables (``"$rm from $si:$sp to $(hdr(To))"``), as xlog,
``record_route_preset``, ``add_rr_param`` and textops' ``subst`` expand them.

Recognised forms: ``$name``, ``$name(inner)`` (balanced parentheses, so ``$sht(t=>$si)``
works), ``$(name(inner)[index])`` and ``$(name)``. A PV that is null or unknown prints as
``<null>`` (Kamailio's xlog); a ``$`` not followed by a name is kept as is.
"""

from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger("siprouter.kemi")
NULL = "<null>"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _balanced(text: str, start: int) -> int:
    """Index just past the ``)`` closing the ``(`` at ``start``, or -1."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


def split_pv(text: str, pos: int) -> int:
    """End index of the PV name starting with ``$`` at ``pos``; ``pos`` if none."""
    nxt = pos + 1
    if nxt < len(text) and text[nxt] == "(":
        end = _balanced(text, nxt)
        return end if end > 0 else pos
    m = _NAME.match(text, nxt)
    if m is None:
        return pos
    end = m.end()
    if end < len(text) and text[end] == "(":
        close = _balanced(text, end)
        return close if close > 0 else end
    return end


def value_text(value: Any) -> str:
    """How a PV value prints."""
    if value is None:
        return NULL
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def pv_value(ctx: Any, name: str) -> Any:
    """The value of one PV name (None when unknown, null or failing)."""
    engine = ctx.engine
    if engine is None:
        return None
    if name.startswith("$(") and _NAME.fullmatch(name[2:-1]):
        name = "$" + name[2:-1]
    try:
        return engine.pvs.get(ctx, name)
    except Exception as exc:  # noqa: BLE001 - unknown PV, broken header: prints as <null>
        log.debug("pv %s: %s", name, exc)
        return None


def pv_format(ctx: Any, fmt: str) -> str:
    """``fmt`` with every PV replaced by its printed value."""
    if "$" not in fmt:
        return fmt
    out: list[str] = []
    pos = 0
    while (i := fmt.find("$", pos)) >= 0:
        out.append(fmt[pos:i])
        end = split_pv(fmt, i)
        if end == i:
            out.append("$")
            pos = i + 1
            continue
        out.append(value_text(pv_value(ctx, fmt[i:end])))
        pos = end
    out.append(fmt[pos:])
    return "".join(out)
