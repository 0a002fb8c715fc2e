"""One transaction: the table-driven state machine of RFC 3261 §17 (with RFC 6026's
Accepted state) plus the ACK and CANCEL a client builds (RFC 3261 §17.1.1.3, §9.1).

A :class:`Transaction` looks up ``(state, input)`` in its table
(:mod:`sip.transaction_tables`), runs the listed operations and moves to the next state.
A pair outside the table terminates the transaction with an ``"error: ..."`` reason; it
never raises. Output goes through a :class:`Host` (the transaction layer): events for the
core, bytes to send, deadlines to remember and the notice of termination.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .headers import split_commas
from .matching import TxKey
from .message import Message, Request, Response, make_response
from .proxy import response_target
from .timers import TimerConfig, is_reliable
from .transaction_events import (
    AckReceived,
    Event,
    Peer,
    ResponseReceived,
    Timeout,
    TimerCFired,
    TransportFailed,
)  # fmt: skip
from .transaction_tables import (
    ENTRY,
    INITIAL,
    KEEP,
    TABLES,
    TIMER_INPUTS,
    Input,
    Kind,
    Op,
    State,
)  # fmt: skip

__all__ = ["Transaction", "Host", "make_ack", "make_cancel"]

_RETRANSMISSION_TIMERS = frozenset("AEG")
_NO_TIMERS: frozenset[str] = frozenset()


class Host(Protocol):
    """What a transaction needs from the layer that owns it."""

    def emit(self, event: Event) -> None: ...
    def send(self, data: bytes, target: Peer, message: Message) -> None: ...
    def schedule(self, tx: Transaction, deadline: float) -> None: ...
    def terminated(self, tx: Transaction, reason: str) -> None: ...


class Transaction:
    """A client or server transaction (``kind``), keyed by ``key``."""

    __slots__ = (
        "kind", "key", "state", "request", "peer", "reliable", "config", "host", "timers",
        "interval", "last_response", "response_data", "ack", "ack_data", "request_data",
        "invite_to_tag", "response_to_tag", "retransmissions", "_table", "_due", "_msg",
        "_source", "_input", "_reason", "scheduled",
    )  # fmt: skip

    def __init__(
        self, kind: Kind, key: TxKey, request: Request, peer: Peer, config: TimerConfig, host: Host
    ) -> None:
        self.kind, self.key, self.request, self.peer = kind, key, request, peer
        self.config, self.host = config, host
        self.state = INITIAL[kind]
        self.reliable = is_reliable(peer.transport)
        self.timers: dict[str, float] = {}
        self.interval = config.t1
        self.last_response: Response | None = None
        self.response_data: bytes | None = None
        self.ack: Request | None = None
        self.ack_data: bytes | None = None
        self.request_data: bytes | None = None
        self.invite_to_tag = request.to_tag
        self.response_to_tag: str | None = None
        self.retransmissions = 0
        self._table = TABLES[kind]
        self._due: list[str] = []
        self._msg: Message | None = None
        self._source = peer
        self._input = Input.TRANSPORT_ERROR
        self._reason = "normal"
        self.scheduled: float | None = None  # the host's timer entry (see Host.schedule)

    @property
    def is_client(self) -> bool:
        return self.kind in (Kind.ICT, Kind.NICT)

    def start(self, now: float) -> None:
        """Send the request (client) and arm the initial state's timers."""
        if self.is_client:
            self.request_data = bytes(self.request)
            self.host.send(self.request_data, self.peer, self.request)
        self._arm_entry(now)
        self._run_due(now)

    # -- the machine -----------------------------------------------------------------------
    def fire(
        self, event: Input, now: float, msg: Message | None = None, source: Peer | None = None
    ) -> None:
        """Feed one input; never raises for an input the table does not list."""
        if self.state is State.TERMINATED:
            return
        row = self._table.get((self.state, event))
        if row is None:
            self._enter(State.TERMINATED, now, f"error: {event.value} in {self.state.value}")
            return
        ops, nxt = row
        self._msg, self._input = msg, event
        self._source = source or self.peer
        for op in ops:
            _OPS[op](self, now)
        if nxt is not self.state:
            self._enter(nxt, now, self._reason)
        self._run_due(now)

    def expire(self, now: float) -> None:
        """Fire every timer whose deadline is ``now`` or earlier, earliest first."""
        while self.timers and self.state is not State.TERMINATED:
            name = min(self.timers, key=self.timers.__getitem__)
            if self.timers[name] > now:
                return
            del self.timers[name]
            self.fire(TIMER_INPUTS[name], now)

    def _enter(self, state: State, now: float, reason: str) -> None:
        keep = KEEP.get((self.kind, state), _NO_TIMERS)
        self.timers = {n: d for n, d in self.timers.items() if n in keep}
        self.state = state
        if state is State.TERMINATED:
            self._due.clear()
            self.host.terminated(self, reason)
            return
        self._arm_entry(now)

    def _arm_entry(self, now: float) -> None:
        for name in ENTRY.get((self.kind, self.state), ()):
            if name in _RETRANSMISSION_TIMERS:
                if not self.reliable:
                    self.interval = self.config.t1
                    self._arm(name, now, self.interval)
            else:
                self._arm(name, now, self.config.wait(name, self.reliable))

    def _arm(self, name: str, now: float, delay: float) -> None:
        self.timers[name] = now + delay
        if delay <= 0:
            self._due.append(name)
        else:
            self.host.schedule(self, now + delay)

    def _run_due(self, now: float) -> None:
        while self._due and self.state is not State.TERMINATED:
            name = self._due.pop(0)
            if self.timers.get(name, now + 1) <= now:
                del self.timers[name]
                self.fire(TIMER_INPUTS[name], now)

    # -- operations (one per Op) -------------------------------------------------------------
    def _report(self, now: float) -> None:
        msg = self._msg
        if isinstance(msg, Response):
            self.host.emit(ResponseReceived(self.key, msg, self._source))
        elif isinstance(msg, Request):
            self.host.emit(AckReceived(self.key, msg, self._source))

    def _send_ack(self, now: float) -> None:
        if isinstance(self._msg, Response):
            ack = self.ack = make_ack(self.request, self._msg)
            self.ack_data = bytes(ack)
            self.host.send(self.ack_data, self.peer, ack)

    def _resend_ack(self, now: float) -> None:
        if self.ack is not None and self.ack_data is not None:
            self.retransmissions += 1
            self.host.send(self.ack_data, self.peer, self.ack)

    def _retransmit(self, now: float) -> None:
        timer = "A" if self.kind is Kind.ICT else "E"
        if self.kind is Kind.NICT and self.state is State.PROCEEDING:
            self.interval = self.config.t2
        else:
            self.interval = self.config.next_interval(timer, self.interval)
        self.retransmissions += 1
        self.host.send(self.request_data or bytes(self.request), self.peer, self.request)
        self._arm(timer, now, self.interval)

    def _send(self, now: float) -> None:
        msg = self._msg
        if not isinstance(msg, Response):
            return
        self.last_response = msg
        self.response_data = bytes(msg)
        self.response_to_tag = msg.to_tag or self.response_to_tag
        via = msg.via
        target = self.peer if via is None else response_target(via, self.peer)
        self._source = target
        self.host.send(self.response_data, target, msg)

    def _resend(self, now: float) -> None:
        if self.response_data is not None and self.last_response is not None:
            self.retransmissions += 1
            via = self.last_response.via
            target = self.peer if via is None else response_target(via, self.peer)
            self.host.send(self.response_data, target, self.last_response)

    def _retransmit_response(self, now: float) -> None:
        self._resend(now)
        self.interval = self.config.next_interval("G", self.interval)
        self._arm("G", now, self.interval)

    def _reset_c(self, now: float) -> None:
        self._arm("C", now, self.config.wait("C", self.reliable))

    def _timer_c(self, now: float) -> None:
        self.host.emit(TimerCFired(self.key))
        self._arm("B", now, self.config.timeout)

    def _timeout(self, now: float) -> None:
        resp = make_response(self.request, 408) if self.is_client else None
        self._reason = "timeout"
        self.host.emit(Timeout(self.key, self._input.value, resp))

    def _fail(self, now: float) -> None:
        resp = make_response(self.request, 503) if self.is_client else None
        self._reason = "transport"
        self.host.emit(TransportFailed(self.key, resp))

    def __repr__(self) -> str:
        return f"<Transaction {self.kind.name} {self.state.value} {self.key}>"


_OPS: dict[Op, Callable[[Transaction, float], None]] = {
    Op.REPORT: Transaction._report,
    Op.SEND_ACK: Transaction._send_ack,
    Op.RESEND_ACK: Transaction._resend_ack,
    Op.RETRANSMIT: Transaction._retransmit,
    Op.SEND: Transaction._send,
    Op.RESEND: Transaction._resend,
    Op.RETRANSMIT_RESPONSE: Transaction._retransmit_response,
    Op.RESET_C: Transaction._reset_c,
    Op.TIMER_C: Transaction._timer_c,
    Op.TIMEOUT: Transaction._timeout,
    Op.FAIL: Transaction._fail,
}


def _top_via(request: Request) -> str:
    return split_commas(request.get("via") or "")[0]


def _hop_headers(invite: Request, method: str) -> list[tuple[str, str]]:
    cseq = invite.cseq
    seq = cseq.seq if cseq is not None else 0
    headers = [("Via", _top_via(invite))]
    headers += [("Route", value) for value in invite.get_all("route")]
    headers += [("Max-Forwards", "70"), ("From", invite.get("from") or "")]
    return headers + [("Call-ID", invite.call_id or ""), ("CSeq", f"{seq} {method}")]


def make_ack(invite: Request, response: Response) -> Request:
    """The ACK of a non-2xx final response (RFC 3261 §17.1.1.3): Request-URI, Call-ID,
    From, CSeq number and Route of the INVITE, its top Via only, To of the response."""
    headers = _hop_headers(invite, "ACK")
    headers.insert(4, ("To", response.get("to") or invite.get("to") or ""))
    return Request("ACK", invite.uri_text, headers + [("Content-Length", "0")])


def make_cancel(invite: Request, reason: str | None = None) -> Request:
    """The CANCEL of ``invite`` (RFC 3261 §9.1): same Request-URI, Call-ID, From, To, CSeq
    number, top Via (so the same branch) and Route; ``reason`` adds a Reason header
    (RFC 3326)."""
    headers = _hop_headers(invite, "CANCEL")
    headers.insert(4, ("To", invite.get("to") or ""))
    if reason:
        headers.append(("Reason", reason))
    return Request("CANCEL", invite.uri_text, headers + [("Content-Length", "0")])
