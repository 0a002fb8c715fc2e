"""Which worker owns a SIP message when several are forked (``children > 1``), and the
hand-off of a UDP datagram to its owner (docs/kemi.md, "Workers").

Every worker reads the same listening sockets (bound by the master before forking), so the
kernel gives a datagram to whichever worker is waiting. Transactions live in the worker that
created them, so each received message goes to its *owner*:

* a request: ``crc32(Call-ID) % N`` — the INVITE, its retransmissions, its CANCEL (from any
  source port), the ACKs and the in-dialog requests of the call all meet in one worker;
* a reply: the rank written in our top Via branch (``z9hG4bKW<rank>-...``) by the worker that
  sent the request (tm branches); a reply without it (stateless forwards) is relayed where it
  lands;
* a request received over TCP stays with the worker that holds the connection (its replies
  must go back over it); replies received over TCP follow their branch like UDP ones.

A datagram that belongs to another worker is passed over a unix datagram socket (one
socketpair per worker, made before forking) with its source address, and the owner handles
it as if it had read it itself (it answers from the same shared listening socket, so the
caller sees the usual source address and port).
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import zlib
from collections.abc import Callable

from app.context import Source
from sip import Message, Response

log = logging.getLogger("siprouter.workers")
MAGIC = "z9hG4bK"
TAG = MAGIC + "W"
BUFFER = 4 * 1024 * 1024
BATCH = 64
_VIA_RE = re.compile(rb"\r\n(?i:via|v)[ \t]*:([^\r\n]*)")
_RANK_RE = re.compile(rb";[ \t]*(?i:branch)[ \t]*=[ \t]*z9hG4bKW([0-9]{1,4})-")
_CALL_ID_RE = re.compile(rb"\r\n(?i:call-id|i)[ \t]*:[ \t]*([^\r\n]*)")


class Workers:
    """Ownership and hand-off among ``count`` forked workers (ranks 1..count)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.rank = 0
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        for _ in range(count):
            rx, tx = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            for sock, opt in ((rx, socket.SO_RCVBUF), (tx, socket.SO_SNDBUF)):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, opt, BUFFER)
                except OSError:
                    pass
                sock.setblocking(False)
            self.pairs.append((rx, tx))
        self.handed = 0
        self.received = 0
        self.lost = 0
        self._on: Callable[[bytes, Source], None] | None = None
        self._rx: socket.socket | None = None

    # -- processes ------------------------------------------------------------------------
    def attach(self, rank: int) -> None:
        """In worker ``rank`` after the fork: keep its receiving end and every sending end."""
        self.rank = rank
        for n, (rx, _tx) in enumerate(self.pairs, 1):
            if n == rank:
                self._rx = rx
            else:
                rx.close()

    def close(self) -> None:
        """Close every end (the master after forking; a worker at shutdown)."""
        loop = _running_loop()
        if self._rx is not None and loop is not None:
            loop.remove_reader(self._rx.fileno())
        for rx, tx in self.pairs:
            rx.close()
            tx.close()
        self._rx = None

    def start(self, on_datagram: Callable[[bytes, Source], None]) -> None:
        """Read datagrams handed to this worker on the running loop."""
        self._on = on_datagram
        if self._rx is not None:
            asyncio.get_running_loop().add_reader(self._rx.fileno(), self._read)

    # -- ownership ---------------------------------------------------------------------------
    def branch(self, branch: str) -> str:
        """Mark a branch we create (tm) with our rank, so that its replies come back here."""
        if not self.rank or not branch.startswith(MAGIC):
            return branch
        return f"{TAG}{self.rank}-{branch[7:]}"

    def owner(self, msg: Message) -> int:
        """The rank that owns ``msg`` (this worker's rank when nobody else does)."""
        if isinstance(msg, Response):
            branch = msg.branch or ""
            if branch.startswith(TAG):
                rank = branch[8 : branch.find("-", 8)]
                if rank.isdigit() and 1 <= int(rank) <= self.count:
                    return int(rank)
            return self.rank
        call_id = msg.call_id
        if not call_id:
            return self.rank
        return zlib.crc32(call_id.encode("utf-8", "surrogateescape")) % self.count + 1

    def owner_of(self, data: bytes) -> int | None:
        """:meth:`owner` read from the datagram's bytes, without parsing it: the Call-ID of a
        request, the rank in the top Via branch of a reply. None when the bytes do not show
        it plainly (the caller then parses and asks :meth:`owner`)."""
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return None
        if data.startswith(b"SIP/"):
            via = _VIA_RE.search(data, 0, end + 2)
            if via is None:
                return None
            mark = _RANK_RE.search(via.group(1).split(b",", 1)[0])
            rank = int(mark.group(1)) if mark is not None else 0
            return rank if 1 <= rank <= self.count else self.rank
        found = _CALL_ID_RE.search(data, 0, end + 2)
        if found is None:
            return None
        call_id = found.group(1).strip()
        return zlib.crc32(call_id) % self.count + 1 if call_id else None

    # -- hand-off --------------------------------------------------------------------------
    def hand(self, rank: int, data: bytes, source: Source) -> bool:
        """Pass ``data`` received from ``source`` to worker ``rank``; False if it cannot go."""
        head = f"{source.proto}|{source.ip}|{source.port}|{source.local_ip}|{source.local_port}\n"
        try:
            self.pairs[rank - 1][1].send(head.encode() + data)
        except OSError as exc:  # queue full (EAGAIN), worker gone (ECONNREFUSED)
            self.lost += 1
            log.debug("hand-off to worker %d failed: %s", rank, exc)
            return False
        self.handed += 1
        return True

    def _read(self) -> None:
        rx, on = self._rx, self._on
        if rx is None or on is None:
            return
        for _ in range(BATCH):
            try:
                packet = rx.recv(70000)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("hand-off socket: %s", exc)
                return
            head, _, data = packet.partition(b"\n")
            try:
                proto, ip, port, lip, lport = head.decode().split("|")
                source = Source(proto, ip, int(port), lip, int(lport))
            except ValueError:
                continue
            self.received += 1
            try:
                on(data, source)
            except Exception:  # noqa: BLE001 - nothing handed over may stop the loop
                log.exception("error handling a handed-off message")

    def statistics(self) -> dict[str, int]:
        return {"rank": self.rank, "handed_off": self.handed, "handed_in": self.received,
                "handoff_lost": self.lost}  # fmt: skip


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
