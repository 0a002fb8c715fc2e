"""maxfwd: Max-Forwards processing (Kamailio's maxfwd module; RFC 3261 §16.3 item 3,
§16.6 item 3).

``process_maxfwd(limit)``: 2 the header was missing and is added with ``limit``, 1 it was
decremented (and capped at ``max_limit``), -1 it is 0 (the script answers 483), -2 it is
not a number. ``is_maxfwd_lt(n)``: 1 if the value is below ``n``, -1 if not or absent, -2
if not a number. The change applies to the outgoing message; reads (``$hdr``) keep the
received value. ``ctx.extra["maxfwd"]`` records the value set, so the relaying code
(core ``forward``, tm) does not decrement a second time.
"""

from __future__ import annotations

import logging
from typing import Any

from app.module import Module

module = Module("maxfwd", doc="Max-Forwards processing")
module.param("max_limit", int, 70, doc="upper bound of the outgoing Max-Forwards value")

log = logging.getLogger("siprouter.maxfwd")
MAX_VALUE = 255


def _value(ctx: Any) -> int | None:
    """The received Max-Forwards; None if absent; -1 if it is not a number."""
    text = ctx.received.get("Max-Forwards")
    if text is None:
        return None
    text = text.strip()
    if not text.isdigit() or not text.isascii():
        log.error("maxfwd: bad Max-Forwards %r (Call-ID %s)", text[:20], ctx.call_id)
        return -1
    return int(text)


def _set(ctx: Any, value: int) -> None:
    ctx.editing().replace("Max-Forwards", str(value))
    ctx.extra["maxfwd"] = value


@module.function("process_maxfwd", "i")
def process_maxfwd(ctx: Any, limit: int) -> int:
    """Add Max-Forwards (2), decrement it (1); -1 when it is 0, -2 when malformed."""
    if ctx.request is None or not 0 <= limit <= MAX_VALUE:
        return -2
    if "maxfwd" in ctx.extra:
        return 1  # already processed for this message
    value = _value(ctx)
    if value is None:
        _set(ctx, min(limit, int(module.cfg["max_limit"])))
        return 2
    if value < 0:
        return -2
    if value == 0:
        return -1
    _set(ctx, min(value - 1, int(module.cfg["max_limit"])))
    return 1


@module.function("is_maxfwd_lt", "i")
def is_maxfwd_lt(ctx: Any, limit: int) -> int:
    """1 if Max-Forwards is lower than ``limit``; -1 if not (or absent); -2 malformed."""
    value = _value(ctx)
    if value is None:
        return -1
    if value < 0:
        return -2
    return 1 if value < limit else -1
