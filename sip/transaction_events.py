"""What the transaction layer tells the core, and what it asks the transport to send
(RFC 3261 §17: the interface between a transaction and its TU).

Every event is a frozen dataclass. ``tx`` is the :class:`~sip.matching.TxKey` of the
transaction concerned; ``source`` and ``target`` are :class:`Peer` addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .errors import RemoteProtocolError
from .matching import TxKey
from .message import Message, Request, Response
from .transaction_tables import State

__all__ = [
    "Peer", "Outgoing", "Event", "RequestReceived", "CancelReceived", "AckReceived", "StrayAck",
    "ResponseReceived", "StrayResponse", "Timeout", "TransportFailed", "TimerCFired",
    "TransactionTerminated", "BadMessage",
]  # fmt: skip


class Peer(NamedTuple):
    """A transport address: ``("UDP", "192.0.2.1", 5060)``. For a stream transport the
    shell maps it to its connection."""

    transport: str
    host: str
    port: int


class Outgoing(NamedTuple):
    """Bytes to send to ``target`` (``message`` is what they encode, for logs and hooks)."""

    data: bytes
    target: Peer
    message: Message


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of every transaction layer event."""


@dataclass(frozen=True, slots=True)
class RequestReceived(Event):
    """A new request created server transaction ``tx`` (ACK and CANCEL excepted)."""

    tx: TxKey
    request: Request
    source: Peer


@dataclass(frozen=True, slots=True)
class CancelReceived(Event):
    """A new CANCEL (its own server transaction ``tx``). ``invite`` is the INVITE server
    transaction it matches and ``invite_state`` that transaction's state (None: no match,
    answer 481 or forward statelessly, RFC 3261 §9.2, §16.10)."""

    tx: TxKey
    request: Request
    source: Peer
    invite: TxKey | None
    invite_state: State | None


@dataclass(frozen=True, slots=True)
class AckReceived(Event):
    """An ACK matched INVITE server transaction ``tx`` in Accepted: an ACK for a 2xx, for
    the core (RFC 6026 §7.1). ACKs for non-2xx responses are absorbed, never reported."""

    tx: TxKey
    request: Request
    source: Peer


@dataclass(frozen=True, slots=True)
class StrayAck(Event):
    """An ACK that matches no transaction: normally the ACK of a 2xx (new branch), which a
    proxy forwards statelessly (RFC 3261 §16.10, §17.2.3)."""

    request: Request
    source: Peer


@dataclass(frozen=True, slots=True)
class ResponseReceived(Event):
    """A response for client transaction ``tx`` (1xx, 2xx — retransmissions of 2xx too, in
    Accepted, RFC 6026 §7.2 — and the first non-2xx final response)."""

    tx: TxKey
    response: Response
    source: Peer


@dataclass(frozen=True, slots=True)
class StrayResponse(Event):
    """A response that matches no client transaction (a proxy forwards it statelessly,
    RFC 3261 §16.7; a 2xx retransmitted after the transaction ended lands here)."""

    response: Response
    source: Peer


@dataclass(frozen=True, slots=True)
class Timeout(Event):
    """Timer ``timer`` expired: B, F (client, with a synthesised 408 in ``response``), C (no
    provisional response: 408 too), H (no ACK for our final response) or TU (the core
    never answered a server transaction)."""

    tx: TxKey
    timer: str
    response: Response | None


@dataclass(frozen=True, slots=True)
class TransportFailed(Event):
    """The transport reported a failure for ``tx`` (RFC 3261 §17.1.4, §17.2.4); a client
    transaction carries a synthesised 503 (RFC 3261 §8.1.3.1)."""

    tx: TxKey
    response: Response | None


@dataclass(frozen=True, slots=True)
class TimerCFired(Event):
    """Timer C fired after a provisional response: the proxy MUST CANCEL the branch
    (RFC 3261 §16.8). The transaction now waits 64*T1 for a final response."""

    tx: TxKey


@dataclass(frozen=True, slots=True)
class TransactionTerminated(Event):
    """Transaction ``tx`` is gone. ``reason`` is ``"normal"``, ``"timeout"``,
    ``"transport"`` or ``"error: ..."`` (a (state, input) pair outside the table)."""

    tx: TxKey
    reason: str


@dataclass(frozen=True, slots=True)
class BadMessage(Event):
    """A received message lacks what matching needs (Via, CSeq, ...). ``error.status`` is
    the answer for a request, when a reply is possible."""

    message: Message
    source: Peer
    error: RemoteProtocolError
