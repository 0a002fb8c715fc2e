"""The event socket of evapi: a TCP server for subscribers, with bounded send queues.

:class:`Dispatcher` accepts at most ``max_clients`` subscribers (one more is closed at once);
each gets the slot index ``conidx`` (0..max_clients-1, Kamailio's client index) and may be
tagged. ``relay(data, mode, tag)`` writes one frame to every client (``all``), to the clients
with the tag (``multicast``) or to the first one (``unicast``) and never waits: each client's
pending output is bounded by ``max_queue`` bytes, a frame that does not fit is dropped for
that client and counted (``dropped``). A subscriber that stops reading therefore costs the
proxy nothing but its queue, and the others are served as before. Incoming bytes are decoded
with :class:`modules._netstring.Decoder`; each frame calls ``on_message(client, frame)``, one
frame per loop iteration (so a ``t_continue`` made for one frame runs before the next).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from modules._netstring import Decoder, frame

log = logging.getLogger("siprouter.evapi")
MODES = ("all", "multicast", "unicast")


@dataclass
class Limits:
    """The knobs of a dispatcher (evapi modparams)."""

    max_clients: int = 8
    netstring: bool = True
    max_queue: int = 1 << 20
    max_frame: int = 65536


@dataclass(eq=False)
class Client(asyncio.Protocol):
    """One subscriber connection."""

    owner: Dispatcher
    conidx: int = -1
    addr: str = ""
    port: int = 0
    tag: str = ""
    transport: asyncio.Transport | None = None
    decoder: Decoder = field(default_factory=Decoder)
    inbox: deque[bytes] = field(default_factory=deque)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not subclasses
        peer = transport.get_extra_info("peername") or ("", 0)
        self.addr, self.port = str(peer[0]), int(peer[1])
        self.owner.attach(self)

    def data_received(self, data: bytes) -> None:
        before, idle = self.decoder.errors, not self.inbox
        self.inbox.extend(self.decoder.feed(data))
        if self.decoder.errors != before:
            self.owner.stats["bad_frames"] += self.decoder.errors - before
            log.warning("evapi: client %d: %s", self.conidx, self.decoder.last_error)
        if idle and self.inbox:
            self._pump()

    def _pump(self) -> None:
        """One frame per loop iteration: a ``t_continue`` made by a frame's event runs
        before the next frame's event, so ``$var`` set there reaches the continuation."""
        if self.inbox:
            self.owner.message(self, self.inbox.popleft())
        if self.inbox:
            asyncio.get_running_loop().call_soon(self._pump)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.detach(self)

    def send(self, data: bytes) -> bool:
        """Queue one framed event; False (dropped) if the queue is full or closed."""
        tr = self.transport
        if tr is None or tr.is_closing():
            return False
        if tr.get_write_buffer_size() + len(data) > self.owner.limits.max_queue:
            self.owner.stats["dropped"] += 1
            return False
        tr.write(data)
        return True

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


Handler = Callable[[Client], None]


class Dispatcher:
    """The subscribers' TCP server; see the module docstring."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.clients: dict[int, Client] = {}
        self.stats: Counter[str] = Counter()
        self.server: asyncio.base_events.Server | None = None
        self.on_new: Handler = _ignore
        self.on_closed: Handler = _ignore
        self.on_message: Callable[[Client, bytes], None] = lambda c, m: None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on ``host:port`` (0 = ephemeral); the bound address."""
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._client, host, port, reuse_address=True)
        sockname = self.server.sockets[0].getsockname()
        return str(sockname[0]), int(sockname[1])

    async def stop(self) -> None:
        """Close the listener and every client."""
        if self.server is not None:
            self.server.close()
            self.server = None
        for client in list(self.clients.values()):
            client.close()
        await asyncio.sleep(0)

    def _client(self) -> Client:
        lim = self.limits
        return Client(self, decoder=Decoder(lim.max_frame, lim.netstring))

    # -- clients -------------------------------------------------------------------------------
    def attach(self, client: Client) -> None:
        free = next((i for i in range(self.limits.max_clients) if i not in self.clients), None)
        if free is None:
            self.stats["refused"] += 1
            log.warning("evapi: max_clients (%d) reached, closing %s:%d",
                        self.limits.max_clients, client.addr, client.port)  # fmt: skip
            client.transport.close()  # type: ignore[union-attr]
            return
        client.conidx = free
        self.clients[free] = client
        self.stats["connections"] += 1
        self.on_new(client)

    def detach(self, client: Client) -> None:
        if self.clients.get(client.conidx) is client:
            del self.clients[client.conidx]
            self.on_closed(client)

    def message(self, client: Client, data: bytes) -> None:
        self.stats["received"] += 1
        self.on_message(client, data)

    def get(self, conidx: int) -> Client | None:
        return self.clients.get(conidx)

    def targets(self, mode: str, tag: str = "") -> list[Client]:
        """The clients a relay in ``mode`` goes to."""
        clients = [self.clients[i] for i in sorted(self.clients)]
        if mode != "all":
            clients = [c for c in clients if c.tag == tag]
        return clients[:1] if mode == "unicast" else clients

    # -- relaying ------------------------------------------------------------------------------
    def relay(self, data: bytes | str, mode: str = "all", tag: str = "") -> int:
        """Send one event; the number of clients it was queued for."""
        framed = frame(data, self.limits.netstring)
        sent = sum(1 for client in self.targets(mode, tag) if client.send(framed))
        self.stats["relayed" if sent else "unrelayed"] += 1
        return sent


def _ignore(client: Client) -> None:
    return None
