"""Suspend and resume a transaction: ``tmx.t_suspend``/``t_continue`` (kemi.md §5.9) and the
Python API that asynchronous modules build on (docs/kemi.md, "Suspending a transaction").

``suspend(ctx)`` creates the transaction if needed (100 Trying for an INVITE), keeps the
routing context (flags, ``$avp``, ``$xavp``, ``$du``, the destination set; ``$var`` is per
worker and stays anyway) and adds a *blind branch*: its ``fr_timer`` keeps running, so when
nobody resumes, the branch gets a local 408 and the failure route runs. A CANCEL ends the
blind branch with 487. ``resume(index, label, route)`` runs the named route method on the
loop that owns the transaction, as a failure route, on a context rebuilt from the saved one;
the route may relay, reply, or suspend again (chained async). If it leaves the transaction
without a final reply and without a pending branch, a 500 is sent (as Kamailio does).

The number of suspended transactions is bounded (``tm`` modparam ``max_suspended``); the
current count and the refusals are in ``tm.stats``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from app.context import Ctx
from app.engine import HANDLER
from app.greenpool import in_route
from app.tm_cell import DONE, SETTINGS, Cell, UacBranch

if TYPE_CHECKING:
    from app.core import Core

log = logging.getLogger("siprouter.tm")
ERROR_REASON = "I'm terribly sorry, server error occurred (1/TM)"
Setup = Callable[[Ctx], None]


class Suspensions:
    """Suspend/resume (mixed into :class:`app.stateful.Stateful`)."""

    core: Core
    stats: Counter[str]
    suspended: set[Cell]
    by_id: dict[tuple[int, int], Cell]

    if TYPE_CHECKING:  # provided by Stateful / ReplyContext, which mix this class in

        def new_cell(self, ctx: Ctx) -> Cell | None: ...

        def derive_ctx(self, cell: Cell, route: str, keep_branches: bool = False) -> Ctx: ...

        def arm(self, cell: Cell, br: UacBranch, seconds: float) -> None: ...

        def reply(self, ctx: Ctx, status: int, reason: str | None = None) -> bool: ...

        def check_done(self, cell: Cell) -> None: ...

        def unsuspend(self, cell: Cell) -> None: ...

    # -- suspend -------------------------------------------------------------------------------
    def suspend(self, ctx: Ctx) -> tuple[int, int] | None:
        """Suspend the context's transaction; ``(index, label)`` or None (refused)."""
        if len(self.suspended) >= SETTINGS.max_suspended:
            self.stats["suspend_refused"] += 1
            log.error("t_suspend: %d transactions suspended already (max_suspended)",
                      len(self.suspended))  # fmt: skip
            return None
        cell = self.new_cell(ctx)
        if cell is None or cell.status >= 200 or cell.canceled or cell.blind() is not None:
            return None
        cell.saved, cell.suspended = ctx, True
        cell.step += 1
        br = UacBranch(len(cell.branches), cell.step, blind=True)
        cell.branches.append(br)
        self.arm(cell, br, cell.fr)
        self.suspended.add(cell)
        self.stats["suspended_total"] += 1
        ctx.extra["tm_suspended"] = True
        return cell.index, cell.label

    # -- resume --------------------------------------------------------------------------------
    def resumable(self, index: int, label: int) -> Cell | None:
        """The suspended cell ``index:label`` if it can be resumed now."""
        cell = self.by_id.get((index, label))
        if cell is None or not cell.suspended or cell.blind() is None:
            return None
        return cell

    def resume(self, index: int, label: int, route: str, setup: Setup | None = None,
               as_request: bool = False) -> int:  # fmt: skip
        """Resume ``index:label`` in the handler method ``route``; ``setup(ctx)`` runs first
        (set module variables there). 1 if it runs (or was canceled), -1 if there is no such
        suspended transaction. From inside a route the continuation starts on the next loop
        iteration, in its own route greenlet. ``as_request``: the route runs as a request
        route (``registrar.save``, ``t_is_request_route``, ``$T_reply_code`` of the last
        reply sent) instead of Kamailio's failure route. The route runs on the handler object
        of the script version that suspended the transaction (a reload meanwhile does not
        change the script of a call half-way)."""
        cell = self.by_id.get((index, label))
        if cell is not None and cell.canceled:
            return 1
        cell = self.resumable(index, label)
        if cell is None:
            log.warning("t_continue: no suspended transaction %d:%d", index, label)
            return -1
        blind = cell.blind()
        assert blind is not None
        blind.stop_timer()
        blind.status = DONE
        self.unsuspend(cell)
        self.stats["resumed"] += 1
        if in_route():
            asyncio.get_running_loop().call_soon(self._continue, cell, route, setup, as_request)
        else:
            self._continue(cell, route, setup, as_request)
        return 1

    def _continue(self, cell: Cell, route: str, setup: Setup | None, as_request: bool) -> None:
        kind = "request_route" if as_request else "failure_route"
        ctx = self.derive_ctx(cell, kind, keep_branches=True)
        engine = self.core.engine
        try:
            if setup is not None:
                setup(ctx)
        except Exception:  # noqa: BLE001 - a module's setup must not kill the loop
            log.exception("t_continue %d:%d: setup failed", cell.index, cell.label)
        handler = ctx.extra.get(HANDLER)  # the script version that suspended
        done = lambda c: self.continued(cell, c)  # noqa: E731
        if engine is None or not engine.run(ctx, route, then=done, handler=handler):
            log.error("t_continue: the script has no %s() method", route)
            self.continued(cell, ctx)

    def continued(self, cell: Cell, ctx: Ctx) -> None:
        """After a continuation: a transaction left without a reply or branch gets a 500."""
        if cell.suspended or cell.status >= 200 or cell.pending():
            return
        if any(b.final is not None for b in cell.branches if b.step == cell.step):
            self.check_done(cell)
            return
        self.reply(ctx, 500, ERROR_REASON)

    # -- helpers for asynchronous modules -----------------------------------------------------
    def suspend_until(
        self,
        ctx: Ctx,
        awaitable: Awaitable[Any],
        route: str,
        on_result: Callable[[Ctx, Any, BaseException | None], None] | None = None,
    ) -> tuple[int, int] | None:
        """Suspend, await ``awaitable`` on the loop, then resume in ``route`` with
        ``on_result(ctx, result, error)`` as setup. None if the suspension was refused (the
        awaitable is then closed/cancelled)."""
        ids = self.suspend(ctx)
        future = asyncio.ensure_future(awaitable)
        if ids is None:
            future.cancel()
            return None

        def done(fut: asyncio.Future[Any]) -> None:
            if fut.cancelled():
                return
            error = fut.exception()
            result = None if error is not None else fut.result()

            def setup(c: Ctx) -> None:
                if on_result is not None:
                    on_result(c, result, error)

            self.resume(ids[0], ids[1], route, setup)

        future.add_done_callback(done)
        return ids
