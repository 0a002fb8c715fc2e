"""An in-memory datagram network for transaction layer tests: no sockets, a hand-moved clock.

:class:`Net` owns a clock and a queue of datagrams in flight. Each :class:`Node` wraps a
:class:`~sip.transaction.TransactionLayer`; whatever the layer queues (``drain()``) is put
on the wire, where a seeded random generator may drop or duplicate it, or a ``drop`` hook
may drop chosen datagrams. :meth:`Net.run` moves time to the next arrival or deadline,
delivers (parsing the bytes, like a real transport) and feeds the layer's timers, calling
each node's ``on_event`` (the test's "core") for every event.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from sip import parse
from sip.message import Message, Request, Response
from sip.proxy import new_branch, via_value
from sip.timers import TimerConfig
from sip.transaction import Event, Outgoing, Peer, TransactionLayer

DropHook = Callable[[Message, Peer, Peer], bool]


@dataclass
class Wire:
    """One datagram as seen on the wire (for assertions)."""

    time: float
    src: Peer
    dst: Peer
    message: Message
    dropped: bool


@dataclass
class Node:
    net: Net
    peer: Peer
    layer: TransactionLayer
    events: list[tuple[float, Event]] = field(default_factory=list)
    on_event: Callable[[Node, Event], None] | None = None

    @property
    def now(self) -> float:
        return self.net.now

    def via(self) -> str:
        return via_value(self.peer.transport, self.peer.host, self.peer.port, new_branch())

    def request(
        self, method: str, to: Node, *, call_id: str = "c1", seq: int = 1, tag: str = "ft"
    ) -> Request:
        """A minimal valid request from this node to ``to``."""
        uri = f"sip:bob@{to.peer.host}:{to.peer.port}"
        return Request(method, uri, [
            ("Via", self.via()), ("Max-Forwards", "70"),
            ("From", f"<sip:alice@{self.peer.host}>;tag={tag}"), ("To", f"<{uri}>"),
            ("Call-ID", call_id), ("CSeq", f"{seq} {method}"),
            ("Contact", f"<sip:alice@{self.peer.host}:{self.peer.port}>"), ("Content-Length", "0"),
        ])  # fmt: skip

    def send_request(self, request: Request, to: Node) -> object:
        key = self.layer.send_request(request, to.peer, self.net.now)
        self.net.flush(self)
        return key

    def send_response(self, response: Response, tx: object = None) -> None:
        self._record(self.layer.send_response(response, self.net.now, tx))  # type: ignore[arg-type]
        self.net.flush(self)

    def send_stateless(self, msg: Message, to: Peer) -> None:
        self.layer.send_stateless(msg, to)
        self.net.flush(self)

    def _record(self, events: list[Event]) -> None:
        for ev in events:
            self.events.append((self.net.now, ev))
            if self.on_event is not None:
                self.on_event(self, ev)
        self.net.flush(self)

    def of(self, kind: type) -> list[Event]:
        return [ev for _, ev in self.events if isinstance(ev, kind)]


class Net:
    """The wire and the clock."""

    def __init__(
        self, seed: int = 0, loss: float = 0.0, dup: float = 0.0, latency: float = 0.01
    ) -> None:
        self.now = 0.0
        self.rng = random.Random(seed)
        self.loss, self.dup, self.latency = loss, dup, latency
        self.nodes: dict[tuple[str, int], Node] = {}
        self.wire: list[Wire] = []
        self.drop: DropHook | None = None
        self._flight: list[tuple[float, int, bytes, Peer, Peer]] = []
        self._seq = 0
        self._timers: list[tuple[float, int, Callable[[], None]]] = []

    def node(
        self, host: str, port: int = 5060, transport: str = "UDP", config: TimerConfig | None = None
    ) -> Node:
        layer = TransactionLayer(config or TimerConfig())
        n = Node(self, Peer(transport, host, port), layer)
        self.nodes[(host, port)] = n
        return n

    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` at ``when`` (a core's own timer, e.g. 2xx retransmission)."""
        self._seq += 1
        heapq.heappush(self._timers, (when, self._seq, fn))

    def flush(self, node: Node) -> None:
        for out in node.layer.drain():
            self._put(node.peer, out)

    def _put(self, src: Peer, out: Outgoing) -> None:
        dropped = self.drop(out.message, src, out.target) if self.drop else False
        dropped = dropped or self.rng.random() < self.loss
        self.wire.append(Wire(self.now, src, out.target, out.message, dropped))
        if dropped:
            return
        copies = 2 if self.rng.random() < self.dup else 1
        for _ in range(copies):
            self._seq += 1
            heapq.heappush(
                self._flight, (self.now + self.latency, self._seq, out.data, src, out.target)
            )

    def _next_time(self) -> float | None:
        times = [t for t in (n.layer.next_deadline() for n in self.nodes.values()) if t is not None]
        if self._flight:
            times.append(self._flight[0][0])
        if self._timers:
            times.append(self._timers[0][0])
        return min(times) if times else None

    def run(self, until: float = 1e9) -> None:
        """Advance time, delivering datagrams and firing timers, until nothing is left."""
        while (t := self._next_time()) is not None and t <= until:
            self.now = max(self.now, t)
            self._deliver_due()
            while self._timers and self._timers[0][0] <= self.now:
                heapq.heappop(self._timers)[2]()
            for n in list(self.nodes.values()):
                n._record(n.layer.handle_timers(self.now))
        if until < 1e9:
            self.now = max(self.now, until)

    def _deliver_due(self) -> None:
        while self._flight and self._flight[0][0] <= self.now:
            _, _, data, src, dst = heapq.heappop(self._flight)
            node = self.nodes.get((dst.host, dst.port))
            if node is not None:
                node._record(node.layer.receive(parse(data), src, self.now))

    def sent(self, src: Node, pred: Callable[[Message], bool]) -> list[Wire]:
        """Datagrams ``src`` put on the wire (dropped or not) matching ``pred``."""
        return [w for w in self.wire if w.src == src.peer and pred(w.message)]


def is_req(method: str) -> Callable[[Message], bool]:
    return lambda m: isinstance(m, Request) and m.method == method


def is_resp(lo: int, hi: int | None = None, method: str | None = None) -> Callable[[Message], bool]:
    top = lo if hi is None else hi

    def pred(m: Message) -> bool:
        if not isinstance(m, Response) or not lo <= m.status <= top:
            return False
        return method is None or (m.cseq is not None and m.cseq.method == method)

    return pred
