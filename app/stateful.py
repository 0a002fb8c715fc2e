"""The stateful proxy core behind Kamailio's tm/tmx (RFC 3261 §16: a transaction-stateful
proxy; §9.2 and §16.10 CANCEL; §16.7 the response context).

:class:`Stateful` owns the *cells* (:mod:`app.tm_cell`) of one worker and is the transaction
user of :mod:`sip.transaction`: the server transaction of a cell absorbs retransmissions and
retransmits our final replies; each branch is a client transaction (which ACKs non-2xx finals
itself). It creates cells (``t_newtran``), relays to the destination set (``t_relay``:
parallel forking over ``ctx.branches``; failure routes relay again for serial forking),
answers (``t_reply``), propagates CANCEL (200 to the CANCEL, CANCEL to every branch, 487
upstream) and handles the layer's events. Reply handling is in
:mod:`app.stateful_replies`, suspend/resume in :mod:`app.stateful_async`, the requests sent
in :mod:`app.stateful_out`.
"""

from __future__ import annotations

import logging
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from app import forward as fw
from app.context import Branch, Ctx, Dest, Source
from app.stateful_async import Suspensions
from app.stateful_out import CONSUMED, consume, destinations, peer, prepare, stateless_ack
from app.stateful_out import target_dest as dest_of
from app.stateful_replies import ReplyContext
from app.tm_cell import SETTINGS, Cell, UacBranch, hash_index
from sip import RemoteProtocolError, Request, Response, TxKey
from sip.matching import cancelled_key, server_key
from sip.message import make_response
from sip.transaction import (
    Event,
    ResponseReceived,
    Timeout,
    TimerCFired,
    TransactionTerminated,
    TransportFailed,
)

if TYPE_CHECKING:
    from app.core import Core

log = logging.getLogger("siprouter.tm")
LIVE: weakref.WeakSet[Stateful] = weakref.WeakSet()
"""Every running :class:`Stateful` of this process (``resume`` finds cells through them)."""


class Stateful(ReplyContext, Suspensions):
    """The cells of one worker; see the module docstring."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.cells: dict[TxKey, Cell] = {}
        self.by_id: dict[tuple[int, int], Cell] = {}
        self.by_branch: dict[TxKey, tuple[Cell, UacBranch]] = {}
        self.by_dialog: dict[tuple[str, str, int], Cell] = {}
        self.precheck: set[TxKey] = set()
        self.stats: Counter[str] = Counter()
        self.suspended: set[Cell] = set()
        self._label = 0
        LIVE.add(self)

    # -- cells ------------------------------------------------------------------------------
    def kick(self) -> None:
        """Send what the transaction layer queued and re-arm its timer."""
        self.core.tx.flush()
        self.core.tx.rearm()

    def lookup(self, request: Request) -> Cell | None:
        """The cell of a received request (None: no transaction)."""
        return self.cells.get(server_key(request))

    def new_cell(self, ctx: Ctx) -> Cell | None:
        """``t_newtran``: the cell of the context's request, created if needed (None for a
        retransmission, an ACK or a faked message)."""
        cell: Cell | None = ctx.extra.get("tm_cell")
        if cell is not None:
            return cell
        received = ctx.received
        if not isinstance(received, Request) or ctx.faked or received.method == "ACK":
            return None
        if server_key(received) in self.cells:
            return None
        dest = fw.reply_dest(received, ctx.source, bool(ctx.extra.get("force_rport")))
        key = self.core.tx.server(received, dest)
        if key is None:
            return None
        cell = self._register(ctx, received, key, dest)
        if cell.is_invite and SETTINGS.auto_inv_100 and not ctx.extra.get("tm_no_100"):
            trying = make_response(received, 100, SETTINGS.auto_inv_100_reason)
            self.upstream(cell, trying)
        return cell

    def _register(self, ctx: Ctx, received: Request, key: TxKey, dest: Dest) -> Cell:
        now = self.core.tx.now()
        cell = Cell(hash_index(key), self._next_label(), key, received, ctx.source, dest, ctx,
                    self.core.to_tag(received), now, SETTINGS.fr, SETTINGS.fr_inv)  # fmt: skip
        self.cells[key] = cell
        self.by_id[(cell.index, cell.label)] = cell
        if cell.is_invite:
            self.by_dialog[_dialog(received)] = cell
        self.attach(ctx, cell)
        self.stats["created"] += 1
        return cell

    def _next_label(self) -> int:
        """A label no other worker gives: ``$T(id_index)``/``$T(id_label)`` (what evapi,
        jsonrpcc and http subscribers echo back for ``t_continue``) name one transaction
        across all workers, as they do in Kamailio's shared memory."""
        self._label += 1
        workers = self.core.workers
        if workers is None or workers.count <= 1:
            return self._label
        return self._label * workers.count + workers.rank - 1

    def attach(self, ctx: Ctx, cell: Cell) -> None:
        """Link a routing context to its cell (``sl.send_reply`` then replies statefully)."""
        ctx.extra["tm_cell"] = cell
        ctx.extra["tx"] = cell.key
        ctx.extra["tm_reply"] = lambda code, reason: 1 if self.reply(ctx, code, reason) else -1
        fixups = ctx.extra.pop("tm_upstream_fixups", None)  # set before the cell existed
        if fixups:
            cell.upstream_fixups.extend(f for f in fixups if f not in cell.upstream_fixups)
        for kind, name in ctx.extra.pop("tm_on", {}).items():
            setattr(cell, f"on_{kind}", name)
        fr = ctx.extra.pop("tm_fr", None)
        if fr:
            cell.fr, cell.fr_inv = fr.get("fr", cell.fr), fr.get("fr_inv", cell.fr_inv)

    def free(self, cell: Cell) -> None:
        """Forget a finished cell."""
        if self.cells.get(cell.key) is not cell:
            return
        del self.cells[cell.key]
        self.by_id.pop((cell.index, cell.label), None)
        if cell.is_invite and self.by_dialog.get(_dialog(cell.request)) is cell:
            del self.by_dialog[_dialog(cell.request)]
        for br in cell.branches:
            br.stop_timer()
            if br.key is not None:
                self.by_branch.pop(br.key, None)
        self.suspended.discard(cell)
        self.stats["freed"] += 1

    def for_ack(self, ack: Request) -> Cell | None:
        """The INVITE cell an ACK belongs to (same branch, or the dialog of a 2xx)."""
        return self.cells.get(server_key(ack)) or self.by_dialog.get(_dialog(ack))

    # -- contexts -------------------------------------------------------------------------
    def derive_ctx(self, cell: Cell, route: str, keep_branches: bool = False) -> Ctx:
        """A context on the cell's request for a failure route or a continuation: flags,
        ``$avp``/``$xavp`` (shared), and for a continuation ``$du`` and the destination set."""
        saved = cell.saved
        failure = not keep_branches
        base = cell.relay_msg if failure and cell.relay_msg is not None else saved.msg
        msg = base.copy()
        ctx = Ctx(msg, saved.source, self.core, self.core.engine, route=route, flags=saved.flags,
                  bflags=dict(saved.bflags), dst_uri=cell.relay_du if failure else saved.dst_uri,
                  original=cell.request, orig_uri=saved.orig_uri, avps=saved.avps,
                  xavps=saved.xavps, reply_headers=list(saved.reply_headers),
                  extra=dict(saved.extra))  # fmt: skip
        ctx.extra.pop(CONSUMED, None)
        if keep_branches:
            ctx.branches, ctx.path, ctx.q = list(saved.branches), list(saved.path), saved.q
        self.attach(ctx, cell)
        return ctx

    def reply_ctx(self, cell: Cell, br: UacBranch | None, resp: Response, source: Source) -> Ctx:
        """A context on a branch reply, with the transaction's flags and AVPs."""
        saved = cell.saved
        ctx = Ctx(resp, source, self.core, self.core.engine, route="reply_route",
                  flags=saved.flags, avps=saved.avps, xavps=saved.xavps)  # fmt: skip
        ctx.extra.update(tm_cell=cell, tm_branch=-1 if br is None else br.index)
        return ctx

    # -- the transaction layer's events ----------------------------------------------------
    def on_event(self, event: Event, source: Source | None = None) -> None:
        """Events of our transactions (others are ignored)."""
        if isinstance(event, ResponseReceived):
            hit = self.by_branch.get(event.tx)
            if hit is not None:
                self.branch_reply(hit[0], hit[1], event.response, source or hit[0].source)
        elif isinstance(event, Timeout | TransportFailed):
            self._branch_failed(event.tx, isinstance(event, Timeout))
        elif isinstance(event, TimerCFired):
            hit = self.by_branch.get(event.tx)
            if hit is not None:
                self.cancel_branch(hit[0], hit[1])
        elif isinstance(event, TransactionTerminated):
            self._terminated(event.tx)

    def _branch_failed(self, key: TxKey, timeout: bool) -> None:
        hit = self.by_branch.get(key)
        if hit is None or not hit[1].pending:
            return
        cell, br = hit
        br.timed_out = br.timed_out or timeout
        code, reason = (408, "Request Timeout") if timeout else (503, "Service Unavailable")
        self.local_final(cell, br, code, reason)

    def _terminated(self, key: TxKey) -> None:
        self.by_branch.pop(key, None)
        cell = self.cells.get(key)
        if cell is not None:
            cell.terminated = True
            self.check_free(cell)

    # -- t_reply -----------------------------------------------------------------------------
    def reply(
        self,
        ctx: Ctx,
        status: int,
        reason: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> bool:
        """Reply statefully to the context's transaction (created if needed)."""
        cell = self.new_cell(ctx)
        if cell is None:
            return False
        if status >= 200 and cell.status >= 200:
            log.warning("t_reply %d: transaction %d:%d replied already", status, cell.index,
                        cell.label)  # fmt: skip
            return False
        built = self.core.build_reply(ctx, status, reason, to_tag=cell.to_tag, headers=headers,
                                      body=body)  # fmt: skip
        if built is None:
            return False
        if status >= 200:
            self.cancel_pending(cell)
        ok = self.upstream(cell, built[0])
        self.stats["rpl_generated"] += 1
        if ok and status >= ctx.replied:
            ctx.replied = status
        self.check_free(cell)
        return ok

    # -- t_relay --------------------------------------------------------------------------------
    def relay(self, ctx: Ctx, dest: Dest | None = None) -> int:
        """``t_relay``: forward to every destination (``dest`` overrides where); 1, -1, or 0
        for a retransmission."""
        req = ctx.request
        if req is None or ctx.faked:
            return -1
        if req.method == "ACK":
            return 1 if stateless_ack(self.core, ctx, dest) else -1
        if req.method == "CANCEL":
            return self.relay_cancel(ctx)
        cell = self.new_cell(ctx)
        if cell is None:
            return 0
        if cell.canceled or cell.status >= 200:
            return -1
        targets = destinations(ctx)
        if not targets:
            log.error("t_relay: no destination (Call-ID %s)", ctx.call_id)
            return -1
        if cell.relay_msg is None or ctx.route == "request_route":
            cell.relay_msg, cell.relay_du = req.copy(), ctx.dst_uri  # type: ignore[assignment]
        cell.step += 1
        cell.saved = ctx
        sent = sum(self.send_branch(cell, ctx, target, dest) for target in targets)
        consume(ctx)
        self.kick()
        return 1 if sent else -1

    def send_branch(self, cell: Cell, ctx: Ctx, target: Branch, dest: Dest | None) -> bool:
        """Create one branch: branch route, the request, its client transaction, fr timer."""
        req = ctx.request
        assert req is not None
        index = len(cell.branches)
        routed = self._branch_route(cell, ctx, req, target, index)
        if routed is None:
            return False
        msg, target = routed
        try:
            where = dest or dest_of(target)
            out = prepare(self.core, ctx, msg, target, where)
        except (fw.ForwardError, RemoteProtocolError, ValueError) as exc:
            log.warning("t_relay to %s (Call-ID %s): %s", target.uri, ctx.call_id, exc)
            return False
        key = self.core.tx.layer.send_request(out, peer(where), self.core.tx.now())
        br = UacBranch(index, cell.step, target.uri, where, out, key, flags=target.flags)
        cell.branches.append(br)
        self.by_branch[key] = (cell, br)
        self.arm(cell, br, cell.fr)
        self.stats["relayed"] += 1
        return True

    def _branch_route(
        self, cell: Cell, ctx: Ctx, req: Request, target: Branch, index: int
    ) -> tuple[Request, Branch] | None:
        """Run ``t_on_branch`` on a copy for this branch; None if it dropped the branch."""
        engine, name = self.core.engine, cell.on_branch
        if engine is None or not name or not engine.has(name):
            return req, target
        msg = req.copy()
        assert isinstance(msg, Request)
        msg.uri = target.uri
        bctx = Ctx(msg, ctx.source, self.core, engine, route="branch_route", flags=ctx.flags,
                   bflags={0: target.flags}, dst_uri=target.dst_uri, original=ctx.received,
                   avps=ctx.avps, xavps=ctx.xavps)  # fmt: skip
        bctx.extra.update(tm_cell=cell, tm_branch=index)
        engine.run(bctx, name)
        if bctx.drop:
            return None
        flags = bctx.bflags.get(0, 0)
        return msg, Branch(msg.uri_text, bctx.dst_uri, target.path, target.q, flags)

    # -- CANCEL -------------------------------------------------------------------------------
    def relay_cancel(self, ctx: Ctx) -> int:
        """A CANCEL: 200 to it, CANCEL every branch, 487 upstream (§9.2, §16.10); with no
        INVITE transaction it is forwarded statelessly."""
        received = ctx.received
        assert isinstance(received, Request)
        cell = self.cells.get(cancelled_key(received))
        if cell is None:
            return 1 if self.core.forward(ctx) else -1
        self.core.reply(ctx, 200, "canceling")
        self.cancel_cell(cell)
        return 1

    def cancel_cell(self, cell: Cell) -> None:
        """The caller cancelled ``cell``."""
        if cell.status >= 200 or cell.canceled:
            return
        cell.canceled = True
        self.stats["canceled"] += 1
        self.cancel_pending(cell)
        if not cell.branches:
            self.upstream(cell, make_response(cell.request, 487, to_tag=cell.to_tag))
            return
        self.check_done(cell)

    # -- t_precheck_trans -----------------------------------------------------------------
    def precheck_trans(self, ctx: Ctx) -> int:
        """1 if the same request is already being handled here, else -1 (and remember it
        until its route ends)."""
        received = ctx.received
        if not isinstance(received, Request) or received.method in ("ACK", "CANCEL"):
            return -1
        key = server_key(received)
        if key in self.cells or key in self.precheck:
            return 1
        self.precheck.add(key)
        ctx.extra["tm_precheck"] = key
        return -1

    def request_done(self, ctx: Ctx) -> None:
        """The request route of ``ctx`` ended (after any parking)."""
        key = ctx.extra.pop("tm_precheck", None)
        if key is not None:
            self.precheck.discard(key)

    def close(self) -> None:
        """Shutdown: stop every branch timer, forget the cells."""
        for cell in list(self.cells.values()):
            self.free(cell)
        LIVE.discard(self)

    # -- statistics ---------------------------------------------------------------------
    def statistics(self) -> dict[str, int]:
        """``tm.stats``: Kamailio's names, plus the suspension counters."""
        st = self.stats
        out = {"current": len(self.cells), "waiting": sum(1 for c in self.cells.values()
               if c.status >= 200), "total": st["created"], "total_local": st["rpl_generated"],
               "rpl_received": st["rpl_received"], "rpl_generated": st["rpl_generated"],
               "rpl_sent": st["rpl_sent"], "created": st["created"], "freed": st["freed"],
               "delayed_free": 0}  # fmt: skip
        for cls in range(2, 7):
            out[f"{cls}xx"] = st[f"{cls}xx"]
        out.update(suspended=len(self.suspended), suspended_total=st["suspended_total"],
                   suspend_refused=st["suspend_refused"], resumed=st["resumed"],
                   canceled=st["canceled"], timeouts=st["timeouts"])  # fmt: skip
        return out


def _dialog(msg: Request) -> tuple[str, str, int]:
    cseq = msg.cseq
    return (msg.call_id or "", msg.from_tag or "", cseq.seq if cseq else 0)


def live() -> list[Stateful]:
    """The running instances of this process."""
    return list(LIVE)


Setup = Callable[[Ctx], None]
