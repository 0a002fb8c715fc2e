"""The sans-IO transaction layer (RFC 3261 §17, RFC 6026; CANCEL per §9; Timer C per §16.8).

:class:`TransactionLayer` owns every client and server transaction, keyed by
:class:`~sip.matching.TxKey`. It has three kinds of input and two kinds of output:

- inputs: :meth:`~TransactionLayer.receive` (a parsed message and where it came from),
  :meth:`~TransactionLayer.send_request` / :meth:`~TransactionLayer.send_response` /
  :meth:`~TransactionLayer.cancel` (what the core sends), and time —
  :meth:`~TransactionLayer.handle_timers` with ``now``;
- outputs: the list of events each call returns (see :mod:`sip.transaction_events`) and the
  datagrams waiting in :meth:`~TransactionLayer.drain`.

The asyncio shell re-arms one timer at :meth:`~TransactionLayer.next_deadline` and calls
``handle_timers(now)`` when it fires. Nothing here reads a clock or touches a socket.
"""

from __future__ import annotations

import heapq

from .errors import LocalProtocolError, RemoteProtocolError
from .matching import TxKey, cancelled_key, client_key, response_key, server_key, to_tag_matches
from .message import Message, Request, Response
from .timers import DEFAULT_TIMERS, TimerConfig
from .transaction_events import (
    AckReceived,
    BadMessage,
    CancelReceived,
    Event,
    Outgoing,
    Peer,
    RequestReceived,
    ResponseReceived,
    StrayAck,
    StrayResponse,
    Timeout,
    TimerCFired,
    TransactionTerminated,
    TransportFailed,
)  # fmt: skip
from .transaction_machine import Transaction, make_ack, make_cancel
from .transaction_tables import Input, Kind, State

__all__ = [
    "TransactionLayer", "Transaction", "TxKey", "Kind", "State", "Input", "Peer", "Outgoing",
    "Event", "RequestReceived", "CancelReceived", "AckReceived", "StrayAck", "ResponseReceived",
    "StrayResponse", "Timeout", "TransportFailed", "TimerCFired", "TransactionTerminated",
    "BadMessage", "make_ack", "make_cancel", "TimerConfig", "DEFAULT_TIMERS",
]  # fmt: skip

_ACTIVE_CLIENT = (State.CALLING, State.PROCEEDING)


def _response_input(status: int) -> Input:
    if status < 200:
        return Input.RECV_1XX
    return Input.RECV_2XX if status < 300 else Input.RECV_FINAL


def _send_input(status: int) -> Input:
    if status < 200:
        return Input.SEND_1XX
    return Input.SEND_2XX if status < 300 else Input.SEND_FINAL


def _check_request(req: Request) -> None:
    """What a server transaction relies on (RFC 3261 §8.1.1); raises RemoteProtocolError."""
    cseq = req.cseq
    if cseq is None or req.call_id is None or req.from_ is None or req.to is None:
        raise RemoteProtocolError("missing CSeq, Call-ID, From or To")
    if cseq.method != req.method:
        raise RemoteProtocolError("CSeq method does not match the request method")


class TransactionLayer:
    """All transactions of one SIP element, driven by messages and a hand-moved clock."""

    def __init__(self, config: TimerConfig = DEFAULT_TIMERS) -> None:
        self.config = config
        self.stats: dict[str, int] = dict.fromkeys(
            ("created", "terminated", "retransmissions", "stray_responses", "stray_acks", "errors"),
            0,
        )
        self._tx: dict[TxKey, Transaction] = {}
        self._heap: list[tuple[float, int, Transaction]] = []
        self._seq = 0
        self._events: list[Event] = []
        self._out: list[Outgoing] = []
        self._pending_cancels: dict[TxKey, Request] = {}

    # -- Host protocol (called by transactions) ---------------------------------------------
    def emit(self, event: Event) -> None:
        self._events.append(event)

    def send(self, data: bytes, target: Peer, message: Message) -> None:
        self._out.append(Outgoing(data, target, message))

    def schedule(self, tx: Transaction, deadline: float) -> None:
        """One heap entry per transaction, at its earliest deadline: a later timer waits
        for that entry to come up (:meth:`handle_timers` then files the next one)."""
        sched = tx.scheduled
        if sched is not None and sched <= deadline:
            return
        tx.scheduled = deadline
        self._seq += 1
        heapq.heappush(self._heap, (deadline, self._seq, tx))

    def terminated(self, tx: Transaction, reason: str) -> None:
        if self._tx.get(tx.key) is tx:
            del self._tx[tx.key]
        self._pending_cancels.pop(tx.key, None)
        self.stats["terminated"] += 1
        self.stats["retransmissions"] += tx.retransmissions
        if reason.startswith("error"):
            self.stats["errors"] += 1
        self._events.append(TransactionTerminated(tx.key, reason))

    # -- inputs ----------------------------------------------------------------------------
    def receive(self, msg: Message, source: Peer, now: float) -> list[Event]:
        """A message arrived from ``source``: match it, feed it, report what follows."""
        try:
            if isinstance(msg, Response):
                self._on_response(msg, source, now)
            elif isinstance(msg, Request):
                self._on_request(msg, source, now)
        except RemoteProtocolError as exc:
            self._events.append(BadMessage(msg, source, exc))
        return self._take()

    def send_request(self, request: Request, target: Peer, now: float) -> TxKey:
        """Start a client transaction for ``request`` (its top Via carries a unique branch)."""
        if request.method == "ACK":
            raise LocalProtocolError("ACK is not a transaction: use send_stateless")
        key = client_key(request)
        if not key.branch:
            raise LocalProtocolError("the request's top Via has no branch")
        if key in self._tx:
            raise LocalProtocolError(f"a client transaction {key} exists already")
        kind = Kind.ICT if request.method == "INVITE" else Kind.NICT
        self._start(Transaction(kind, key, request, target, self.config, self), now)
        return key

    def send_response(self, response: Response, now: float, tx: TxKey | None = None) -> list[Event]:
        """Send ``response`` through server transaction ``tx`` (found from the response's top
        Via when omitted — RFC 3261 branches only). Unknown transactions send nothing."""
        key = tx if tx is not None else server_key(response)
        trans = self._tx.get(key)
        if trans is not None and trans.key.side == "s":
            trans.fire(_send_input(response.status), now, response)
        return self._take()

    def send_stateless(self, msg: Message, target: Peer) -> None:
        """Queue a message outside any transaction (2xx ACK, stateless forwarding)."""
        self._out.append(Outgoing(bytes(msg), target, msg))

    def cancel(self, invite: TxKey, now: float, reason: str | None = None) -> TxKey | None:
        """CANCEL INVITE client transaction ``invite`` (RFC 3261 §9.1). The CANCEL waits for a
        provisional response if none came yet; None when there is nothing to cancel."""
        tx = self._tx.get(invite)
        if tx is None or tx.kind is not Kind.ICT or tx.state not in _ACTIVE_CLIENT:
            return None
        cancel = make_cancel(tx.request, reason)
        if tx.state is State.PROCEEDING:
            return self.send_request(cancel, tx.peer, now)
        self._pending_cancels[invite] = cancel
        return client_key(cancel)

    def transport_error(self, tx: TxKey, now: float) -> list[Event]:
        """The shell could not send for ``tx`` (RFC 3261 §17.1.4, §17.2.4)."""
        trans = self._tx.get(tx)
        if trans is not None:
            trans.fire(Input.TRANSPORT_ERROR, now)
        return self._take()

    def handle_timers(self, now: float) -> list[Event]:
        """Fire every timer due at ``now``."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, tx = heapq.heappop(heap)
            if tx.scheduled != deadline:
                continue  # superseded by an earlier entry, already handled
            tx.scheduled = None
            tx.expire(now)
            self._refile(tx)
        return self._take()

    # -- outputs and introspection ----------------------------------------------------------
    def next_deadline(self) -> float | None:
        """When :meth:`handle_timers` must next be called (None: no timer runs)."""
        heap = self._heap
        while heap:
            deadline, _, tx = heap[0]
            if tx.scheduled == deadline and deadline in tx.timers.values():
                return deadline
            heapq.heappop(heap)
            if tx.scheduled == deadline:  # its timer went (a state change): file the next
                tx.scheduled = None
                self._refile(tx)
        return None

    def _refile(self, tx: Transaction) -> None:
        """Put ``tx`` back on the heap at its earliest running timer, if any."""
        if tx.timers and tx.state is not State.TERMINATED:
            self.schedule(tx, min(tx.timers.values()))

    def drain(self) -> list[Outgoing]:
        """Take the messages waiting to be sent, oldest first."""
        out, self._out = self._out, []
        return out

    def get(self, key: TxKey) -> Transaction | None:
        return self._tx.get(key)

    def __len__(self) -> int:
        return len(self._tx)

    def __contains__(self, key: object) -> bool:
        return key in self._tx

    # -- internals ---------------------------------------------------------------------------
    def _take(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def _start(self, tx: Transaction, now: float) -> None:
        self._tx[tx.key] = tx
        self.stats["created"] += 1
        tx.start(now)

    def _on_response(self, resp: Response, source: Peer, now: float) -> None:
        key = response_key(resp)
        tx = self._tx.get(key)
        if tx is None:
            self.stats["stray_responses"] += 1
            self._events.append(StrayResponse(resp, source))
            return
        tx.fire(_response_input(resp.status), now, resp, source)
        cancel = self._pending_cancels.get(key)
        if cancel is not None and tx.state is not State.CALLING:
            del self._pending_cancels[key]
            if tx.state is State.PROCEEDING:
                self.send_request(cancel, tx.peer, now)

    def _on_request(self, req: Request, source: Peer, now: float) -> None:
        key = server_key(req)
        tx = self._tx.get(key)
        fallback = tx is not None and key.branch.startswith("2543:")
        if fallback and tx and not to_tag_matches(req, tx.invite_to_tag, tx.response_to_tag):
            tx = None
        if req.method == "ACK":
            if tx is None or tx.kind is not Kind.IST:
                self.stats["stray_acks"] += 1
                self._events.append(StrayAck(req, source))
            else:
                tx.fire(Input.RECV_ACK, now, req, source)
            return
        if tx is not None:
            tx.fire(Input.RECV_REQUEST, now, req, source)
            return
        self._new_server(key, req, source, now)

    def _new_server(self, key: TxKey, req: Request, source: Peer, now: float) -> None:
        _check_request(req)
        kind = Kind.IST if req.method == "INVITE" else Kind.NIST
        tx = Transaction(kind, key, req, source, self.config, self)
        if req.method == "CANCEL":
            inv = self._tx.get(cancelled_key(req))
            state = None if inv is None else inv.state
            self._events.append(
                CancelReceived(key, req, source, None if inv is None else inv.key, state)
            )
        else:
            self._events.append(RequestReceived(key, req, source))
        self._start(tx, now)
