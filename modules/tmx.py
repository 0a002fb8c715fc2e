"""tmx: tm extensions (Kamailio's tmx module, kemi.md §4 and §5.9): suspend/continue,
``t_precheck_trans``, route-type tests, and the ``$T_*`` pseudo-variables.

``KSR.tmx.t_suspend()`` suspends the transaction (RFC 3261 §16: the proxy keeps the server
transaction; a blind branch keeps ``fr_timer`` running) and ``$T(id_index)``/``$T(id_label)``
name it; ``KSR.tmx.t_continue(index, label, route)`` resumes it in the handler method
``route``, run as a failure route. The Python API for modules is tm's ``module.api``
(``suspend``, ``resume``, ``suspend_until``; docs/kemi.md).
"""

from __future__ import annotations

import logging
from typing import Any

from app.context import Ctx
from app.module import Module
from modules import _tm_dset as dset
from modules.tm import module as tm_module
from sip import Request, Response
from sip.matching import cancelled_key

module = Module("tmx", doc="tm extensions: suspend/continue, $T_* variables", requires=("tm",))
module.param("precheck_trans", int, 1, doc="t_precheck_trans is active")
log = logging.getLogger("siprouter.tm")
API = tm_module.api  # tm's declared API (modules do not reach into each other)


# -- suspend / continue -----------------------------------------------------------------------
@module.function("t_suspend")
def t_suspend(ctx: Ctx) -> int:
    """Suspend the transaction (created if missing); 1 or -1. The script must then stop."""
    if ctx.faked:
        log.error("t_suspend: not on a faked message")
        return -1
    return 1 if API["suspend"](ctx) is not None else -1


@module.function("t_continue", "iis")
def t_continue(ctx: Ctx, index: int, label: int, route: str) -> int:
    """Resume transaction index:label in the handler method ``route``; 1 or -1."""
    return API["resume"](index, label, route)


@module.function("t_precheck_trans")
def t_precheck_trans(ctx: Ctx) -> int:
    """1 if the same request is being handled already (not for ACK/CANCEL), else -1."""
    sf = dset.stateful_of(ctx)
    if sf is None or not module.cfg["precheck_trans"]:
        return -1
    return int(sf.precheck_trans(ctx))


@module.function("t_flush_flags")
def t_flush_flags(ctx: Ctx) -> int:
    """Flags live with the transaction's context already: 1."""
    return 1 if dset.cell_of(ctx) is not None else -1


@module.function("t_flush_xflags")
def t_flush_xflags(ctx: Ctx) -> int:
    """Like t_flush_flags."""
    return t_flush_flags(ctx)


def _route_is(ctx: Ctx, *routes: str) -> int:
    return 1 if ctx.route in routes else -1


@module.function("t_is_request_route")
def t_is_request_route(ctx: Ctx) -> int:
    """1 in the request route."""
    return _route_is(ctx, "request_route")


@module.function("t_is_failure_route")
def t_is_failure_route(ctx: Ctx) -> int:
    """1 in a failure route (and a t_continue resumption)."""
    return _route_is(ctx, "failure_route")


@module.function("t_is_branch_route")
def t_is_branch_route(ctx: Ctx) -> int:
    """1 in a branch route."""
    return _route_is(ctx, "branch_route")


@module.function("t_is_reply_route")
def t_is_reply_route(ctx: Ctx) -> int:
    """1 in an onreply route (tm's; also the core reply route of a transaction's reply)."""
    return _route_is(ctx, "onreply_route", "reply_route")


@module.function("t_cancel_branches", "s")
def t_cancel_branches(ctx: Ctx, which: str) -> int:
    """CANCEL ``all`` pending branches, the ``others``, or ``this`` one (reply routes)."""
    cell, sf = dset.cell_of(ctx), dset.stateful_of(ctx)
    if cell is None or sf is None:
        return -1
    this = ctx.extra.get("tm_branch", -1)
    for br in list(cell.branches):
        if which == "all" or (which == "others") != (br.index == this):
            sf.cancel_branch(cell, br)
    sf.check_done(cell)
    return 1


# -- pseudo-variables ------------------------------------------------------------------------
@module.pv("T_reply_code")
def pv_reply_code(ctx: Ctx, inner: str | None) -> int:
    """Reply code of the transaction (0 if none)."""
    return dset.reply_code(ctx)


@module.pv("T_reply_reason")
def pv_reply_reason(ctx: Ctx, inner: str | None) -> str | None:
    """Reason phrase of $T_reply_code."""
    return dset.reply_reason(ctx)


@module.pv("T_reply_last")
def pv_reply_last(ctx: Ctx, inner: str | None) -> int:
    """The last reply code received on any branch."""
    cell = dset.cell_of(ctx)
    codes = [b.final.status for b in cell.branches if b.final] if cell else []
    return codes[-1] if codes else 0


@module.pv("T_branch_idx")
def pv_branch_idx(ctx: Ctx, inner: str | None) -> int:
    """Branch index (branch route, replies, failure route)."""
    return dset.branch_index(ctx)


def _cell_new(ctx: Ctx) -> Any:
    return dset.cell_of(ctx) or API["newtran"](ctx)


_T = {
    "id_index": lambda ctx: (c := dset.cell_of(ctx)) and c.index,
    "id_label": lambda ctx: (c := dset.cell_of(ctx)) and c.label,
    "id_index_n": lambda ctx: (c := _cell_new(ctx)) and c.index,
    "id_label_n": lambda ctx: (c := _cell_new(ctx)) and c.label,
    "reply_code": dset.reply_code,
    "reply_reason": dset.reply_reason,
    "reply_last": lambda ctx: pv_reply_last(ctx, None),
    "branch_index": dset.branch_index,
    "reply_type": lambda ctx: 1 if _winner_local(ctx) else 0,
    "ruid": lambda ctx: None,
}


def _winner_local(ctx: Ctx) -> bool:
    cell = dset.cell_of(ctx)
    return (
        cell is not None
        and cell.winner is not None
        and not any(b.final is cell.winner and b.replied for b in cell.branches)
    )


@module.pv("T")
def pv_t(ctx: Ctx, inner: str | None) -> Any:
    """$T(id_index), $T(id_label), $T(reply_code), ... (None without a transaction)."""
    getter = _T.get(inner or "")
    if getter is None:
        log.error("$T(%s): unknown attribute", inner)
        return None
    value = getter(ctx)
    return None if value is None or value is False else value


def _eval_on(ctx: Ctx, msg: Request | Response | None, inner: str | None) -> Any:
    if msg is None or not inner or ctx.engine is None:
        return None
    other = Ctx(msg, ctx.source, ctx.core, ctx.engine, route=ctx.route)
    try:
        return ctx.engine.pvs.get(other, inner)
    except Exception as exc:  # noqa: BLE001 - an inner error reads as $null
        log.debug("$T_*(%s): %s", inner, exc)
        return None


@module.pv("T_req")
def pv_t_req(ctx: Ctx, inner: str | None) -> Any:
    """A PV evaluated on the transaction's request."""
    cell = dset.cell_of(ctx)
    return _eval_on(ctx, cell.request if cell else None, inner)


@module.pv("T_rpl")
def pv_t_rpl(ctx: Ctx, inner: str | None) -> Any:
    """A PV evaluated on the winning (else last) reply."""
    cell = dset.cell_of(ctx)
    if cell is None:
        return None
    finals = [b.final for b in cell.branches if b.final is not None]
    return _eval_on(ctx, cell.winner or (finals[-1] if finals else None), inner)


@module.pv("T_inv")
def pv_t_inv(ctx: Ctx, inner: str | None) -> Any:
    """A PV evaluated on the INVITE a CANCEL cancels."""
    msg, sf = ctx.received, dset.stateful_of(ctx)
    if sf is None or not isinstance(msg, Request) or msg.method != "CANCEL":
        return None
    cell = sf.cells.get(cancelled_key(msg))
    return _eval_on(ctx, cell.request if cell else None, inner)
