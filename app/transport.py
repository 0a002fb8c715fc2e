"""UDP and TCP transports on asyncio (IPv4 and IPv6): the thin I/O shell around ``sip/``.

:class:`Transports` owns the listening sockets and the TCP connections. Received bytes go
to two callbacks given by the core: ``on_datagram(data, source)`` for UDP and
``on_message(msg, source)`` for each message framed on a TCP connection by
:class:`sip.framer.StreamFramer`. A framing error closes the connection; a malformed message
on a stream is counted and skipped (the stream goes on). ``send(data, dest)`` picks the UDP
socket of the right family, or reuses a TCP connection (by id, or to the same address:
responses and requests share connections), or opens one. Idle connections are closed after
``idle_timeout``; at most ``max_connections`` are kept (new ones are refused).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.context import Dest, Source
from sip import DEFAULT_LIMITS, Limits, Message, RemoteProtocolError, Request
from sip.framer import FramingError, KeepAlive, StreamFramer

log = logging.getLogger("siprouter.transport")
OnDatagram = Callable[[bytes, Source], None]
OnMessage = Callable[[Message, Source], None]
OnBad = Callable[[str, Source], None]
_BLANK = (b"", b"\r", b"\n", b"\0", b" ")


@dataclass
class TransportSettings:
    """Limits of the transports."""

    limits: Limits = DEFAULT_LIMITS
    idle_timeout: float = 120.0
    max_connections: int = 2048
    connect_timeout: float = 5.0


@dataclass
class Stats:
    """Counters shown by the core statistics."""

    received: int = 0
    sent: int = 0
    send_errors: int = 0
    dropped: int = 0
    connections: int = 0
    refused: int = 0
    counts: dict[str, int] = field(default_factory=dict)


class UDPEndpoint(asyncio.DatagramProtocol):
    """One bound UDP socket."""

    def __init__(self, owner: Transports, host: str, port: int) -> None:
        self.owner, self.host, self.port = owner, host, port
        self.transport: asyncio.DatagramTransport | None = None
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.owner.stats.received += 1
        if data[:1] not in _BLANK:  # Kamailio's core:rcv_requests / core:rcv_replies
            self.owner.count("rcv_replies" if data[:4].upper() == b"SIP/" else "rcv_requests")
        self.owner.on_datagram(data, Source("udp", addr[0], addr[1], self.host, self.port))

    def error_received(self, exc: Exception) -> None:
        log.debug("udp %s:%d: %s", self.host, self.port, exc)


class TCPConnection(asyncio.Protocol):
    """One TCP connection, accepted or opened by us, framed by a StreamFramer."""

    def __init__(self, owner: Transports, listen: tuple[str, int]) -> None:
        self.owner = owner
        self.listen = listen  # the local listening address (for Via and $Ri/$Rp)
        self.id = next(owner.ids)
        self.framer = StreamFramer(owner.settings.limits)
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.last = asyncio.get_running_loop().time()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1])
        if not self.owner.register(self):
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.unregister(self)

    def data_received(self, data: bytes) -> None:
        self.last = asyncio.get_running_loop().time()
        self.framer.feed(data)
        while True:
            try:
                event = self.framer.next_event()
            except FramingError as exc:
                self.owner.bad(f"tcp framing: {exc}", self.source())
                self.close()
                return
            except RemoteProtocolError as exc:
                self.owner.bad(f"tcp message: {exc}", self.source())
                continue
            if event is None:
                return
            self.handle(event)

    def handle(self, event: Message | KeepAlive) -> None:
        if isinstance(event, KeepAlive):
            self.write(b"\r\n")
            return
        self.owner.stats.received += 1
        self.owner.count("rcv_requests" if isinstance(event, Request) else "rcv_replies")
        self.owner.on_message(event, self.source())

    def source(self) -> Source:
        return Source("tcp", self.peer[0], self.peer[1], self.listen[0], self.listen[1], self.id)

    def write(self, data: bytes) -> bool:
        if self.transport is None or self.transport.is_closing():
            return False
        self.transport.write(data)
        self.last = asyncio.get_running_loop().time()
        return True

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Transports:
    """Listeners, connections and sending; see the module docstring."""

    def __init__(
        self,
        on_datagram: OnDatagram,
        on_message: OnMessage,
        on_bad: OnBad | None = None,
        settings: TransportSettings | None = None,
    ) -> None:
        self.on_datagram, self.on_message = on_datagram, on_message
        self.on_bad = on_bad
        self.settings = settings or TransportSettings()
        self.stats = Stats()
        self.ids = itertools.count(1)
        self.udp: list[UDPEndpoint] = []
        self._udp_by_family: dict[bool, UDPEndpoint] = {}  # v6? -> the endpoint that sends
        self.servers: list[tuple[asyncio.Server, tuple[str, int]]] = []
        self.conns: dict[int, TCPConnection] = {}
        self.by_addr: dict[tuple[str, int], TCPConnection] = {}
        self._pending: dict[tuple[str, int], list[bytes]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reaper: asyncio.TimerHandle | None = None

    # -- start / stop ---------------------------------------------------------------------
    async def listen_udp(
        self, host: str, port: int, sock: socket.socket | None = None
    ) -> UDPEndpoint:
        """Bind a UDP socket (or use ``sock``); returns the endpoint (its ``port`` is bound)."""
        loop = asyncio.get_running_loop()
        endpoint = UDPEndpoint(self, host, port)
        kw: dict[str, Any] = {"sock": sock} if sock else {"local_addr": (host, port)}
        await loop.create_datagram_endpoint(lambda: endpoint, **kw)
        self.udp.append(endpoint)
        return endpoint

    async def listen_tcp(self, host: str, port: int, sock: socket.socket | None = None) -> int:
        """Start a TCP listener (or serve ``sock``); returns the bound port."""
        loop = asyncio.get_running_loop()
        holder: dict[str, tuple[str, int]] = {}

        def factory() -> TCPConnection:
            return TCPConnection(self, holder["addr"])

        kw: dict[str, Any] = {"sock": sock} if sock else {"host": host, "port": port}
        server = await loop.create_server(factory, reuse_address=sock is None, **kw)
        bound = server.sockets[0].getsockname()[1]
        holder["addr"] = (host, bound)
        self.servers.append((server, (host, bound)))
        self._arm_reaper()
        return int(bound)

    async def close(self) -> None:
        """Close listeners, connections and UDP sockets (in that order)."""
        if self._reaper is not None:
            self._reaper.cancel()
        for server, _ in self.servers:
            server.close()
        for conn in list(self.conns.values()):
            conn.close()
        for task in list(self._tasks):
            task.cancel()
        for server, _ in self.servers:
            await server.wait_closed()
        for endpoint in self.udp:
            if endpoint.transport is not None:
                endpoint.transport.close()
        self.servers.clear()
        self.udp.clear()
        await asyncio.sleep(0)

    # -- connections --------------------------------------------------------------------------
    def register(self, conn: TCPConnection) -> bool:
        if len(self.conns) >= self.settings.max_connections:
            self.stats.refused += 1
            log.warning("too many connections (%d): refusing %s", len(self.conns), conn.peer)
            return False
        self.conns[conn.id] = conn
        self.by_addr[conn.peer] = conn
        self.stats.connections += 1
        return True

    def unregister(self, conn: TCPConnection) -> None:
        self.conns.pop(conn.id, None)
        if self.by_addr.get(conn.peer) is conn:
            del self.by_addr[conn.peer]

    def _arm_reaper(self) -> None:
        if self._reaper is None:
            loop = asyncio.get_running_loop()
            interval = max(0.05, min(self.settings.idle_timeout / 4, 5.0))
            self._reaper = loop.call_later(interval, self._reap, interval)

    def _reap(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        too_old = loop.time() - self.settings.idle_timeout
        for conn in list(self.conns.values()):
            if conn.last < too_old:
                log.debug("closing idle connection %d to %s", conn.id, conn.peer)
                conn.close()
        self._reaper = loop.call_later(interval, self._reap, interval)

    def count(self, key: str) -> None:
        """Add one to ``stats.counts[key]`` (read by app.management's statistics)."""
        self.stats.counts[key] = self.stats.counts.get(key, 0) + 1

    def bad(self, why: str, source: Source) -> None:
        self.stats.dropped += 1
        if self.on_bad is not None:
            self.on_bad(why, source)

    # -- sending --------------------------------------------------------------------------------
    def send(self, data: bytes, dest: Dest) -> bool:
        """Send ``data``; False if it cannot go (no socket of that kind, closed connection).

        A TCP send may complete later (connect, or name resolution); errors are then logged.
        """
        try:
            ok = self._send_udp(data, dest) if dest.proto == "udp" else self._send_tcp(data, dest)
        except OSError as exc:
            log.warning("send to %s:%s/%s failed: %s", dest.host, dest.port, dest.proto, exc)
            ok = False
        if ok:
            self.stats.sent += 1
        else:
            self.stats.send_errors += 1
        return ok

    def _send_udp(self, data: bytes, dest: Dest) -> bool:
        v6 = ":" in dest.host
        endpoint = self._udp_by_family.get(v6)
        if endpoint is None or endpoint.transport is None or endpoint not in self.udp:
            family = socket.AF_INET6 if v6 else socket.AF_INET
            endpoint = next((e for e in self.udp if e.family == family), None)
            if endpoint is not None:
                self._udp_by_family[v6] = endpoint
        if endpoint is None or endpoint.transport is None:
            if not _is_ip(dest.host) and self.udp:
                self._spawn(self._resolve_and_send(data, dest))
                return True
            return False
        endpoint.transport.sendto(data, (dest.host, dest.port))
        return True

    def _send_tcp(self, data: bytes, dest: Dest) -> bool:
        if dest.proto != "tcp":
            return False
        conn = self.conns.get(dest.conn_id) if dest.conn_id else None
        conn = conn or self.by_addr.get((dest.host, dest.port))
        if conn is not None and conn.write(data):
            return True
        key = (dest.host, dest.port)
        pending = self._pending.get(key)
        if pending is not None:
            pending.append(data)
            return True
        if not self.servers:
            return False
        self._pending[key] = [data]
        self._spawn(self._connect(key))
        return True

    async def _connect(self, key: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        listen = self._local_tcp(key[0])
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: TCPConnection(self, listen), *key),
                self.settings.connect_timeout,
            )
        except (OSError, TimeoutError) as exc:
            lost = len(self._pending.pop(key, []))
            self.stats.send_errors += lost
            log.warning("cannot connect to %s:%d: %s (%d message(s) lost)", *key, exc, lost)
            return
        if conn.peer != key:
            self.by_addr[key] = conn  # a name resolved: reach it by the name too
        for data in self._pending.pop(key, []):
            conn.write(data)

    def _local_tcp(self, host: str) -> tuple[str, int]:
        v6 = ":" in host
        for _, addr in self.servers:
            if (":" in addr[0]) == v6:
                return addr
        return self.servers[0][1]

    async def _resolve_and_send(self, data: bytes, dest: Dest) -> None:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(dest.host, dest.port, type=socket.SOCK_DGRAM)
        except OSError as exc:
            log.warning("cannot resolve %s: %s", dest.host, exc)
            return
        families = {e.family for e in self.udp}
        for family, *_, addr in infos:
            if family in families:
                self._send_udp(data, Dest("udp", str(addr[0]), dest.port))
                return

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def local_address(self, proto: str, v6: bool) -> tuple[str, int] | None:
        """(host, port) of a listener of ``proto`` and family, for Via and Record-Route."""
        if proto == "udp":
            family = socket.AF_INET6 if v6 else socket.AF_INET
            hit = next((e for e in self.udp if e.family == family), None)
            return (hit.host, hit.port) if hit is not None else None
        addrs = [a for _, a in self.servers if (":" in a[0]) == v6]
        return addrs[0] if addrs else None


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True
