"""Replies from the branches of a stateful transaction (RFC 3261 §16.7, §16.8, §16.10).

Every reply of a branch runs ``ksr_reply_route`` (``KSR.set_drop()`` drops it), then the
route armed with ``t_on_reply``, then:

- a provisional reply (not 100) goes upstream while no final was sent; the first one of an
  INVITE branch switches its timer from ``fr_timer`` to ``fr_inv_timer`` (restarted on each
  further one with ``restart_fr_on_each_reply``);
- every 2xx of an INVITE goes upstream at once (§16.7 item 5) and cancels the other branches;
  a 6xx cancels them too;
- other final replies are kept; when no branch is pending, the best one
  (:func:`sip.proxy.best_response`, §16.7 item 6) runs the ``t_on_failure`` route, which may
  reply or relay again (serial forking); otherwise it goes upstream.

A branch whose timer fires gets a local 408 (and a CANCEL if it had a provisional reply).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import TYPE_CHECKING

from app.context import Ctx, Source
from app.tm_cell import SETTINGS, Cell, UacBranch
from sip import Response
from sip.message import make_response
from sip.proxy import best_response, pop_via
from sip.transaction import State

if TYPE_CHECKING:
    from app.core import Core

log = logging.getLogger("siprouter.tm")
COMPLETED_ELSEWHERE = 'SIP;cause=200;text="Call completed elsewhere"'
_OPEN_IST = (State.PROCEEDING, State.ACCEPTED, State.TRYING)


class ReplyContext:
    """The response context of the stateful core (mixed into :class:`app.stateful.Stateful`)."""

    core: Core
    stats: Counter[str]
    suspended: set[Cell]

    if TYPE_CHECKING:  # provided by Stateful; declared for the type checker only

        def derive_ctx(self, cell: Cell, route: str, keep_branches: bool = False) -> Ctx: ...

        def reply_ctx(
            self, cell: Cell, br: UacBranch | None, resp: Response, source: Source
        ) -> Ctx: ...

        def free(self, cell: Cell) -> None: ...

        def kick(self) -> None: ...

    # -- a reply from the network ----------------------------------------------------------
    def branch_reply(self, cell: Cell, br: UacBranch, resp: Response, source: Source) -> None:
        """Run the reply routes, then process the reply (see the module docstring)."""
        br.replied = True
        self.stats["rpl_received"] += 1
        engine = self.core.engine
        if not cell.on_reply and (engine is None or not engine.has_reply_route()):
            out = resp.copy()  # no reply route to run: straight to the transaction
            assert isinstance(out, Response)
            pop_via(out)
            self.process(cell, br, out)
            return
        ctx = self.reply_ctx(cell, br, resp, source)

        def after_onreply(c: Ctx) -> None:
            if c.drop and resp.status < 200:
                return
            out = c.msg.copy()
            assert isinstance(out, Response)
            pop_via(out)
            self.process(cell, br, out)

        def after_core(c: Ctx) -> None:
            if c.drop:
                self.stats["rpl_dropped"] += 1
                return
            name = cell.on_reply
            if engine is not None and name and engine.has(name):
                c.route = "onreply_route"
                if engine.run(c, name, then=after_onreply):
                    return
            after_onreply(c)

        if engine is None:
            after_core(ctx)
        else:
            engine.reply_route(ctx, then=after_core)

    def process(self, cell: Cell, br: UacBranch, resp: Response) -> None:
        """A reply of branch ``br`` (our Via removed) after the reply routes."""
        status = resp.status
        if status < 200:
            self._provisional(cell, br, resp)
        elif status < 300 and cell.is_invite:
            first = br.pending
            self.finish(br, status, resp)
            if first:
                self.cancel_pending(cell, COMPLETED_ELSEWHERE)
            self.upstream(cell, resp)
            self.check_free(cell)
        elif br.pending:
            self.finish(br, status, resp)
            if status < 300 and cell.status < 200:
                self.upstream(cell, resp)
            if status >= 600 and cell.is_invite:
                self.cancel_pending(cell)
            if status >= 300:
                self.branch_failure(cell, br, resp)
            self.check_done(cell)

    def _provisional(self, cell: Cell, br: UacBranch, resp: Response) -> None:
        if not br.pending:
            return
        first = br.provisional == 0
        br.provisional = resp.status
        if cell.is_invite and (first or SETTINGS.restart_fr_on_each_reply):
            self.arm(cell, br, cell.fr_inv)
        if br.canceled and first and br.key is not None:
            self.core.tx.layer.cancel(br.key, self.core.tx.now())
            self.kick()
        if resp.status > 100 and cell.status < 200:
            self.upstream(cell, resp)

    def finish(self, br: UacBranch, status: int, resp: Response | None) -> None:
        """Branch ``br`` is done with ``status`` (its final reply, or a local one)."""
        br.status, br.final = status, resp
        br.stop_timer()

    def local_final(
        self, cell: Cell, br: UacBranch, status: int, reason: str, check: bool = True
    ) -> None:
        """A local final reply for a branch (timeout, cancel): 408, 487, 503."""
        if not br.pending:
            return
        resp = make_response(cell.request, status, reason, to_tag=cell.to_tag)
        self.finish(br, status, resp)
        self.stats["rpl_generated"] += 1
        if check:
            self.check_done(cell)

    def branch_failure(self, cell: Cell, br: UacBranch, resp: Response) -> None:
        """``t_on_branch_failure``: a route for each negative final reply of a branch."""
        engine, name = self.core.engine, cell.on_branch_failure
        if engine is None or not name or not engine.has(name):
            return
        ctx = self.reply_ctx(cell, br, resp, cell.source)
        ctx.route = "branch_failure_route"
        engine.run(ctx, name)

    # -- timers -------------------------------------------------------------------------------
    def arm(self, cell: Cell, br: UacBranch, seconds: float) -> None:
        """(Re)start the final-response timer of a branch."""
        br.stop_timer()
        loop = asyncio.get_running_loop()
        br.timer = loop.call_later(max(seconds, 0.0), self.expired, cell, br)

    def expired(self, cell: Cell, br: UacBranch) -> None:
        """``fr_timer``/``fr_inv_timer`` fired: CANCEL if possible, local 408."""
        br.timer = None
        if not br.pending:
            return
        br.timed_out = True
        self.stats["timeouts"] += 1
        if cell.is_invite and br.key is not None and not br.blind:
            self.core.tx.layer.cancel(br.key, self.core.tx.now())
            self.kick()
        if br.blind:
            self.unsuspend(cell)
        self.local_final(cell, br, 408, "Request Timeout")

    # -- the end of a step -----------------------------------------------------------------
    def considered(self, cell: Cell) -> list[Response]:
        """The finals that compete for the best reply (``failure_reply_mode``)."""
        finals = [b for b in cell.branches if b.final is not None]
        if SETTINGS.failure_reply_mode in (1, 2, 3):
            last = [b for b in finals if b.step == cell.step]
            finals = last or finals
        replies = [b.final for b in finals if b.final is not None]
        # Kamailio ranks 408 below every other 4xx (a timeout says least about the callee)
        return [r for r in replies if r.status != 408] or replies

    def check_done(self, cell: Cell) -> None:
        """No branch pending: run the failure route, or relay the best reply."""
        if cell.pending() or cell.status >= 200:
            self.check_free(cell)
            return
        finals = self.considered(cell)
        if not finals:
            return  # a resumed blind branch: the continuation decides
        winner = best_response(finals, cell.request)
        cell.winner = winner
        cell.failed_branch = next(
            (b.index for b in cell.branches if b.final is not None and b.status == winner.status),
            -1,
        )
        engine, name = self.core.engine, cell.on_failure
        if winner.status >= 300 and engine is not None and name and engine.has(name):
            cell.on_failure = ""
            ctx = self.derive_ctx(cell, "failure_route")
            if engine.run(ctx, name, then=lambda c: self.after_failure(cell)):
                return
        self.upstream(cell, winner)
        self.check_free(cell)

    def after_failure(self, cell: Cell) -> None:
        """After the failure route: relay the winner unless it replied or relayed again."""
        if cell.status < 200 and not cell.pending() and cell.winner is not None:
            self.upstream(cell, cell.winner)
        self.check_free(cell)

    # -- upstream ---------------------------------------------------------------------------
    def upstream(self, cell: Cell, resp: Response) -> bool:
        """Send ``resp`` through the server transaction (a late 2xx goes statelessly)."""
        status = resp.status
        if status >= 200 and cell.status >= 200 and not (status < 300 and cell.is_invite):
            return False
        for fixup in cell.upstream_fixups:
            resp = fixup(resp)
        shell, now = self.core.tx, self.core.tx.now()
        tx = shell.layer.get(cell.key)
        if tx is None or tx.state not in _OPEN_IST:
            if not (status < 300 and cell.is_invite):
                return False
            ok = self.core.send(bytes(resp), cell.dest)  # 2xx after the transaction (§16.7)
        else:
            shell._after(shell.layer.send_response(resp, now, cell.key))
            ok = True
        cell.last_status = status
        if status >= 200 and cell.status < 200:
            cell.status, cell.reason = status, resp.reason
            self.stats[f"{status // 100}xx"] += 1
        self.stats["rpl_sent"] += 1
        return ok

    # -- CANCEL --------------------------------------------------------------------------------
    def cancel_pending(self, cell: Cell, reason: str | None = None) -> None:
        """CANCEL every pending branch (RFC 3261 §9.1, §16.10)."""
        for br in list(cell.branches):
            self.cancel_branch(cell, br, reason)

    def cancel_branch(self, cell: Cell, br: UacBranch, reason: str | None = None) -> None:
        """CANCEL one branch: sent now after a provisional reply (else when one comes); a
        branch with nothing received gets a local 487 (Kamailio's ``cancel_b_method`` 1)."""
        if not br.pending or br.canceled:
            return
        br.canceled = True
        if br.blind:
            self.unsuspend(cell)
            self.local_final(cell, br, 487, "Request Terminated", check=False)
            return
        if not cell.is_invite or br.key is None:
            return
        self.core.tx.layer.cancel(br.key, self.core.tx.now(), reason)
        self.kick()
        if not br.provisional:
            self.local_final(cell, br, 487, "Request Terminated", check=False)

    def unsuspend(self, cell: Cell) -> None:
        """The cell is no longer suspended (resumed, timed out, cancelled)."""
        cell.suspended = False
        self.suspended.discard(cell)

    def check_free(self, cell: Cell) -> None:
        if cell.terminated and not cell.pending():
            self.free(cell)
