"""sl: stateless replies (Kamailio's sl module, kemi.md §2.3).

``KSR.sl.sl_send_reply(code, reason)`` and ``KSR.sl.send_reply(code, reason)`` answer the
current request statelessly (``send_reply`` will answer statefully once tm exists and the
request has a transaction); ``KSR.sl.sl_reply_error()`` answers 500. As in Kamailio, no
state is kept: a retransmitted request runs the script again and gets the same reply (the
To-tag is derived from Call-ID, From-tag and branch), a negative reply to an INVITE is sent
once (the caller's retransmissions bring it again), and the core filters the ACKs of these
replies (To-tag prefix ``srsl-``).
Statistics as Kamailio's (``1xx_replies`` ... ``6xx_replies``, ``sent_replies``,
``sent_err_replies``, ``failures``), RPC ``sl.stats``.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from app.module import Module

module = Module("sl", doc="stateless replies")
module.param("default_code", int, 500, doc="code of sl_reply_error()", runtime=True)
module.param(
    "default_reason", str, "Server Internal Error", doc="reason of sl_reply_error()", runtime=True
)
module.param("bind_tm", int, 1, doc="send_reply() uses tm when loaded (accepted)")
module.param("event_callback", str, "", doc="KEMI callback for sl events (accepted)")

log = logging.getLogger("siprouter.sl")
stats: Counter[str] = Counter()
DETAILED = {200, 202, 300, 301, 302, 400, 401, 403, 404, 407, 408, 483, 500}
_DETAILED_KEYS = {code: f"{code}_replies" for code in DETAILED}
_CLASS_KEYS = {cls: f"{cls}xx_replies" for cls in range(1, 7)}


def _count(code: int, ok: bool) -> None:
    if not ok:
        stats["failures"] += 1
        return
    stats["sent_replies"] += 1
    if code >= 300:
        stats["sent_err_replies"] += 1
    if code in DETAILED:
        stats[_DETAILED_KEYS[code]] += 1
    stats[_CLASS_KEYS[code // 100]] += 1


def _reply(ctx: Any, code: int, reason: str) -> int:
    if not 100 <= code <= 699:
        log.error("sl: invalid reply code %d", code)
        return -1
    if ctx.core is None or ctx.request is None:
        log.error("sl: no request to reply to")
        return -1
    ok = ctx.core.reply(ctx, code, reason or None)
    _count(code, ok)
    return 1 if ok else -1


@module.function("sl_send_reply", "is")
def sl_send_reply(ctx: Any, code: int, reason: str) -> int:
    """Send a stateless reply; 1 or -1."""
    return _reply(ctx, code, reason)


@module.function("send_reply", "is")
def send_reply(ctx: Any, code: int, reason: str) -> int:
    """Reply statefully if the request has a transaction, else statelessly; 1 or -1."""
    tm_reply = ctx.extra.get("tm_reply")  # set by tm when the request has a transaction
    if tm_reply is not None:
        return int(tm_reply(code, reason))
    return _reply(ctx, code, reason)


@module.function("sl_reply_error")
def sl_reply_error(ctx: Any) -> int:
    """Reply with the last internal error (500 Server Internal Error by default)."""
    return _reply(ctx, int(module.cfg["default_code"]), str(module.cfg["default_reason"]))


@module.function("send_reply_mode", "isi")
def send_reply_mode(ctx: Any, code: int, reason: str, mode: int) -> int:
    """send_reply with a mode (mode 1: add To-tag only if missing; same here)."""
    return send_reply(ctx, code, reason)


@module.rpc("sl.stats", scope="sum")
def rpc_stats() -> dict[str, int]:
    """The sl counters."""
    return dict(stats)


@module.on_start
def _reset_stats() -> None:
    stats.clear()
