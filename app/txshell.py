"""The asyncio shell of the sans-IO transaction layer (:mod:`sip.transaction`, issue 3).

* One timer: after every call into the layer, :meth:`TransactionShell.rearm` moves a single
  ``loop.call_at`` to :meth:`~sip.transaction.TransactionLayer.next_deadline`.
* Outgoing datagrams (:meth:`~sip.transaction.TransactionLayer.drain`) are sent through the
  core's transports; a ``Peer`` maps to a :class:`~app.context.Dest` (a stream peer is
  reached over its connection by address).
* Server transactions are created only by ``tm`` (``t_newtran``/``t_relay``): from then on
  the layer absorbs the request's retransmissions (re-sending the final reply), retransmits
  non-2xx replies to INVITE over UDP and absorbs their ACK. Local replies without tm are
  stateless, as Kamailio's ``sl`` (:meth:`app.core.Core.reply`), and a request that is
  forwarded statelessly gets no transaction, so its retransmissions run the script again
  (RFC 3261 §16.11).
* Stray responses and ACKs that match no transaction go on to the script (reply route /
  request route) and are relayed statelessly.

``on_event(event, source)`` hands every event to the stateful core (:mod:`app.stateful`,
the tm module's transaction user) with the :class:`~app.context.Source` of the message that
caused it (None for timers). An ACK that matched an INVITE server transaction in Accepted (a
2xx ACK reusing the INVITE branch) goes on to the script like any 2xx ACK.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from app.context import Dest, Source
from sip import Message, Request
from sip.matching import server_key
from sip.transaction import (
    AckReceived,
    CancelReceived,
    Event,
    Peer,
    RequestReceived,
    StrayAck,
    StrayResponse,
    TransactionLayer,
    TxKey,
)

if TYPE_CHECKING:
    from app.core import Core

log = logging.getLogger("siprouter.tx")


def peer_of(dest: Dest | Source) -> Peer:
    """The layer's address type for a destination or a source."""
    host = dest.host if isinstance(dest, Dest) else dest.ip
    return tuple.__new__(Peer, (dest.proto.upper(), host, dest.port))  # no NamedTuple __new__


class TransactionShell:
    """Drives one :class:`TransactionLayer`; see the module docstring."""

    def __init__(self, core: Core, layer: TransactionLayer | None = None) -> None:
        self.core = core
        self.layer = layer or TransactionLayer()
        self.on_event: Callable[[Event, Source | None], None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._armed: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def now(self) -> float:
        loop = self._loop
        if loop is None or loop.is_closed():
            loop = self._loop = asyncio.get_running_loop()
        return loop.time()

    # -- inputs -----------------------------------------------------------------------------
    def receive(self, msg: Message, source: Source) -> bool:
        """Feed a received message; True if a transaction absorbed it."""
        layer = self.layer
        if isinstance(msg, Request) and server_key(msg) not in layer:
            return False  # a new request (or a 2xx ACK): the script decides
        events = layer.receive(msg, peer_of(source), self.now())
        self._after(events, source)
        return not any(isinstance(e, StrayResponse | StrayAck | AckReceived) for e in events)

    def server(self, request: Request, dest: Dest) -> TxKey | None:
        """The server transaction of a received request, created if needed; replies go to
        ``dest``. None if the request cannot have one (ACK, broken headers)."""
        layer = self.layer
        key = server_key(request)
        if key in layer:
            return key
        events = layer.receive(request, peer_of(dest), self.now())
        key = next((e.tx for e in events if isinstance(e, RequestReceived | CancelReceived)), None)
        if key is None:
            self._after(events)
        return key

    # -- outputs and the timer ------------------------------------------------------------------
    def _after(self, events: list[Event], source: Source | None = None) -> None:
        self.flush()
        for event in events:
            if self.on_event is not None:
                self.on_event(event, source)
            else:
                log.debug("transaction event %s", type(event).__name__)
        self.rearm()

    def flush(self) -> None:
        """Send what the layer has queued."""
        for out in self.layer.drain():
            target = out.target
            dest = Dest(target.transport.lower(), target.host, target.port)
            if not self.core.send(out.data, dest):
                log.debug("cannot send to %s", target)

    def rearm(self) -> None:
        """Move the one timer to the layer's next deadline."""
        deadline = self.layer.next_deadline()
        if deadline == self._armed:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed = deadline
        if deadline is not None:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer, self._armed = None, None
        try:
            self._after(self.layer.handle_timers(self.now()))
        except Exception:  # noqa: BLE001 - the timer must never stop
            log.exception("transaction timer failed")
            self.rearm()

    def close(self) -> None:
        """Stop the timer (shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._armed = None, None

    def __len__(self) -> int:
        return len(self.layer)
