"""The core of one worker: receives messages from the transports, hands requests and
replies to the KEMI engine, and sends replies and stateless forwards.

Path of a message: ``on_datagram`` (parse) / ``on_message`` (framed on TCP) -> ``validate``
(a bad request gets 400, anything else unparsable is a counted drop) -> the transaction
seam (:meth:`Core.transactions`, :mod:`app.txshell`) absorbs retransmissions and hands
replies of our branches to the stateful core (:attr:`Core.stateful`, :mod:`app.stateful`,
driven by the tm module) -> new requests run ``ksr_request_route``; other replies run
``ksr_reply_route`` and are then relayed statelessly by their Via unless the script called
``KSR.set_drop()``.

Public API for the engine and modules: :meth:`Core.reply` (reply to the context's request:
through its tm transaction when it has one, else statelessly), :meth:`Core.build_reply`,
:meth:`Core.forward` (stateless forward), :meth:`Core.send` (bytes to a
:class:`~app.context.Dest`), :meth:`Core.is_myself`, :attr:`Core.stateful`.
"""

from __future__ import annotations

import logging
import secrets
import socket
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from app import forward as fw
from app.context import Ctx, Dest, Source
from app.stateful import Stateful
from app.transport import Transports, TransportSettings
from app.txshell import TransactionShell
from app.workers import Workers
from sip import (
    DEFAULT_LIMITS,
    URI,
    Message,
    RemoteProtocolError,
    Request,
    Response,
    parse,
    parse_uri,
)
from sip.message import make_response
from sip.proxy import received_via
from sip.transaction_events import Peer

if TYPE_CHECKING:
    from app.config import Listen
    from app.engine import Engine

log = logging.getLogger("siprouter.core")
WILDCARDS = ("0.0.0.0", "::")
TAG_PREFIX = "srsl-"
_TAG_HEAD = f"{TAG_PREFIX}{secrets.token_hex(4)}"
_BLANK = (b"", b"\r", b"\n", b"\x00", b" ")


class Core:
    """One worker's message handling; see the module docstring."""

    def __init__(
        self,
        settings: TransportSettings | None = None,
        *,
        aliases: Iterable[str] = (),
        server_header: str | None = "Server: siprouter",
    ) -> None:
        self.settings = settings or TransportSettings()
        self.limits = self.settings.limits or DEFAULT_LIMITS
        self.engine: Engine | None = None
        self.transports = Transports(self.on_datagram, self.on_message, self.on_bad, self.settings)
        self.stats: Counter[str] = Counter()
        self.server_header = _header(server_header)
        self.aliases = {a.lower() for a in aliases}
        self.advertise: dict[tuple[str, str, int], tuple[str, int]] = {}
        self._local: set[tuple[str, int]] = set()
        self.tx = TransactionShell(self)
        self.stateful = Stateful(self)
        self.tx.on_event = self.stateful.on_event
        self.workers: Workers | None = None  # set by the server when workers are forked

    # -- start / stop ---------------------------------------------------------------------
    async def start(
        self,
        listens: Sequence[Listen],
        socks: dict[tuple[str, str, int], socket.socket] | None = None,
    ) -> None:
        """Open every listener (``proto`` None = udp and tcp)."""
        for listen in listens:
            for proto in (listen.proto,) if listen.proto else ("udp", "tcp"):
                sock = (socks or {}).get((proto, listen.host, listen.port))
                if proto == "udp":
                    port = (await self.transports.listen_udp(listen.host, listen.port, sock)).port
                elif proto == "tcp":
                    port = await self.transports.listen_tcp(listen.host, listen.port, sock)
                else:
                    log.warning(
                        "listen=%s:%s: transport %s is not supported yet",
                        proto,
                        listen.hostport,
                        proto,
                    )
                    continue
                self._add_local(proto, listen, port)
        if self.workers is not None:
            self.workers.start(self.handed_in)

    def _add_local(self, proto: str, listen: Listen, port: int) -> None:
        self._local.add((listen.host.lower(), port))
        if listen.host in WILDCARDS:
            for host in ("127.0.0.1", "::1", "localhost", socket.gethostname().lower()):
                self._local.add((host, port))
        if listen.advertise_host:
            adv = (listen.advertise_host, listen.advertise_port or port)
            self.advertise[(proto, listen.host, port)] = adv
            self._local.add((adv[0].lower(), adv[1]))

    async def stop(self) -> None:
        """Stop the transaction timer, close every socket."""
        self.tx.close()
        self.stateful.close()
        await self.transports.close()
        workers = self.workers
        if workers is not None:
            log.info("worker %d: %d message(s) handed to other workers, %d received from them, "
                     "%d lost", workers.rank, workers.handed, workers.received, workers.lost)  # fmt: skip
            workers.close()

    # -- receiving ----------------------------------------------------------------------------
    def on_datagram(self, data: bytes, source: Source) -> None:
        """A UDP datagram: parse it (bad bytes are a counted drop) and handle it."""
        if data[:1] in _BLANK and not data.strip(b"\r\n\x00 "):
            return  # keep-alive
        workers = self.workers
        if workers is not None:
            owner = workers.owner_of(data)  # a datagram for another worker goes unparsed
            if owner is not None and owner != workers.rank and workers.hand(owner, data, source):
                return
        try:
            msg = parse(data, datagram=True, limits=self.limits)
        except RemoteProtocolError as exc:
            self.on_bad(f"unparsable datagram: {exc}", source)
            return
        except Exception as exc:  # noqa: BLE001 - nothing from the network may stop the loop
            self.on_bad(f"parser failure: {exc!r}", source)
            return
        if workers is not None and owner is None:
            try:
                owner = workers.owner(msg)
            except RemoteProtocolError:
                owner = workers.rank
            if owner != workers.rank and workers.hand(owner, data, source):
                return
        self.on_message(msg, source)

    def handed_in(self, data: bytes, source: Source) -> None:
        """A datagram (or a reply read from a TCP connection) that another worker passed
        to this one, its owner (:mod:`app.workers`)."""
        try:
            msg = parse(data, datagram=True, limits=self.limits)
        except Exception as exc:  # noqa: BLE001
            self.on_bad(f"unparsable hand-off: {exc!r}", source)
            return
        self.on_message(msg, source)

    def on_message(self, msg: Message, source: Source) -> None:
        """A parsed message from any transport."""
        workers = self.workers
        try:
            if workers is not None and source.proto != "udp" and isinstance(msg, Response):
                owner = workers.owner(msg)  # a reply on a stream goes to its branch's worker
                if owner != workers.rank and workers.hand(owner, bytes(msg), source):
                    return
            self._dispatch(msg, source)
        except Exception:  # noqa: BLE001
            self.stats["internal_errors"] += 1
            log.exception("error handling a message from %s:%d", source.ip, source.port)

    def on_bad(self, why: str, source: Source) -> None:
        """Count and log (debug) a dropped message."""
        self.stats["bad_messages"] += 1
        log.debug("dropped from %s:%d/%s: %s", source.ip, source.port, source.proto, why)

    def _dispatch(self, msg: Message, source: Source) -> None:
        try:
            msg.check()  # what a proxy relies on (sanity_check does the rest)
        except RemoteProtocolError as exc:
            self._invalid(msg, source, exc)
            return
        if self.transactions(msg, source):
            return
        if isinstance(msg, Request) and msg.method == "ACK" and self._our_ack(msg):
            return
        if isinstance(msg, Request):
            self.stats["requests"] += 1
            self.on_request(Ctx(msg, source, core=self, engine=self.engine))
        else:
            self.stats["replies"] += 1
            self.on_reply(Ctx(msg, source, core=self, engine=self.engine, route="reply_route"))

    def _invalid(self, msg: Message, source: Source, exc: RemoteProtocolError) -> None:
        self.on_bad(f"invalid message: {exc}", source)
        if isinstance(msg, Request) and msg.method != "ACK" and _answerable(msg):
            try:
                self.reply(Ctx(msg, source, core=self), exc.status or 400, exc.reason)
            except Exception:  # noqa: BLE001 - too broken to answer
                pass

    def transactions(self, msg: Message, source: Source) -> bool:
        """The transaction layer (:mod:`app.txshell`): True if it absorbed ``msg``."""
        return self.tx.receive(msg, source)

    def _our_ack(self, ack: Request) -> bool:
        """An ACK to a stateless reply of ours (To-tag ``sr-...``) ends here (sl's filter)."""
        if (ack.to_tag or "").startswith(TAG_PREFIX):
            self.stats["filtered_acks"] += 1
            return True
        return False

    def on_request(self, ctx: Ctx) -> None:
        """Run the request route (or answer 500 without an engine)."""
        done = self.stateful.request_done
        if self.engine is None or not self.engine.request_route(ctx, then=done):
            self.reply(ctx, 500, "No Request Route")

    def on_reply(self, ctx: Ctx) -> None:
        """Run ``ksr_reply_route``, then relay the reply unless dropped."""
        if self.engine is None:
            self.relay_reply(ctx)
        else:
            self.engine.reply_route(ctx, then=self.relay_reply)

    # -- sending ------------------------------------------------------------------------------
    def send(self, data: bytes, dest: Dest) -> bool:
        """Send bytes; see :meth:`app.transport.Transports.send`."""
        return self.transports.send(data, dest)

    def reply(
        self,
        ctx: Ctx,
        status: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> bool:
        """Reply to the context's request (RFC 3261 §8.2.6, §18.2.2): through its tm
        transaction when it has one, else statelessly as Kamailio's sl does — no state is
        kept, a retransmitted request runs the script again and gets the same reply (the
        To-tag is derived from the request), the ACK of a negative reply is filtered by
        :meth:`_our_ack`."""
        if ctx.extra.get("tm_cell") is not None:
            return self.stateful.reply(ctx, status, reason, headers, body)
        built = self.build_reply(ctx, status, reason, to_tag=to_tag, headers=headers, body=body)
        if built is None:
            return False
        resp, dest = built
        ok = self.send(bytes(resp), dest)
        if ok and status >= ctx.replied:
            ctx.replied = status
        self.stats[f"sent_replies_{status // 100}xx"] += 1
        return ok

    def build_reply(
        self,
        ctx: Ctx,
        status: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> tuple[Response, Dest] | None:
        """A local reply to the context's request (received headers, ``append_to_reply``
        headers, Server) and where it goes; None for an ACK or a reply."""
        received = ctx.received
        if not isinstance(received, Request) or received.method == "ACK":
            return None
        extra = [*ctx.reply_headers, *headers]
        if self.server_header:
            extra.append(self.server_header)
        tag = to_tag or self.to_tag(received)
        src, via = ctx.source, received.via
        stamped = (
            None if via is None else received_via(via, Peer(src.proto.upper(), src.ip, src.port))
        )
        resp = make_response(
            received,
            status,
            reason,
            to_tag=tag,
            headers=extra,
            body=body,
            top_via=None if stamped is None else str(stamped),
        )  # RFC 3581 §4
        return resp, fw.reply_dest(received, ctx.source, bool(ctx.extra.get("force_rport")))

    @staticmethod
    def to_tag(req: Request) -> str:
        """A stable To-tag for local replies (the same for retransmissions), made as
        Kamailio's sl and tm make theirs: a random part fixed at start-up, then a CRC of
        what identifies the request (Call-ID, From-tag, top Via branch)."""
        key = f"{req.call_id}|{req.from_tag}|{req.branch}".encode("utf-8", "replace")
        return f"{_TAG_HEAD}{zlib.crc32(key):08x}"

    def forward(self, ctx: Ctx, uri: str | None = None) -> bool:
        """Forward the context's request statelessly to ``uri``, $du or the R-URI."""
        req = ctx.request
        if req is None:
            return False
        try:
            target: URI = parse_uri(uri or ctx.dst_uri or req.uri_text)
            dest = fw.uri_dest(target)
            out = self._prepare(ctx, req, dest)
        except fw.ForwardError as exc:
            log.warning("cannot forward %s (Call-ID %s): %s", req.method, ctx.call_id, exc)
            if exc.status:
                self.reply(ctx, exc.status)
            return False
        except (RemoteProtocolError, ValueError) as exc:
            log.warning("cannot forward %s (Call-ID %s): %s", req.method, ctx.call_id, exc)
            return False
        if self.engine is not None and not self.engine.onsend_route(ctx):
            return True  # dropped by ksr_onsend_route
        self.stats["fwd_requests"] += 1
        return self.send(bytes(out), dest)

    def _prepare(self, ctx: Ctx, req: Request, dest: Dest) -> Request:
        out = req.copy()
        assert isinstance(out, Request)
        if "maxfwd" not in ctx.extra:  # the maxfwd module already set it
            fw.check_max_forwards(out)
        fw.stamp_received(out, ctx.source, bool(ctx.extra.get("force_rport")))
        host, port = self.via_address(dest)
        fw.add_via(out, host, port, dest.proto, fw.stateless_branch(req, dest))
        for hook in ctx.extra.get("relay_hooks", ()):  # e.g. rr's double Record-Route
            hook(ctx, out, dest.proto, host, port)
        return out

    def via_address(self, dest: Dest) -> tuple[str, int]:
        """Our sent-by towards ``dest``: the listener of that transport (advertised if set)."""
        v6 = ":" in dest.host
        local = self.transports.local_address(dest.proto, v6)
        if local is None:
            raise fw.ForwardError(f"no {dest.proto} listener for {dest.host}")
        adv = self.advertise.get((dest.proto, local[0], local[1]))
        if adv is not None:
            return adv
        if local[0] in WILDCARDS:
            return fw.route_source_ip(dest.host, v6), local[1]
        return local

    def relay_reply(self, ctx: Ctx) -> None:
        """Relay a received reply by its second Via (unless dropped or not ours)."""
        resp = ctx.msg
        if ctx.drop or not isinstance(resp, Response):
            return
        top = resp.via
        if top is None or not self.is_myself(top.host.strip("[]"), top.port, None):
            self.on_bad("reply whose top Via is not ours", ctx.source)
            return
        out = resp.copy()
        assert isinstance(out, Response)
        nxt = fw.strip_top_via(out)
        if nxt is None:
            return  # a reply to a request we sent ourselves; nothing to relay
        self.stats["fwd_replies"] += 1
        self.send(bytes(out), fw.via_dest(nxt))

    # -- myself ---------------------------------------------------------------------------
    def is_myself(self, host: str, port: int | None, proto: str | None) -> bool:
        """True if host[:port] is one of our listeners, advertised addresses or aliases."""
        host = host.lower().strip("[]")
        if host in self.aliases:
            return True
        if port is None:
            return any(h == host for h, _ in self._local)
        return (host, port) in self._local


def _answerable(msg: Request) -> bool:
    """A reply to ``msg`` can be built and routed (the headers it copies are there)."""
    try:
        return all(h in msg for h in ("from", "to", "call-id", "cseq")) and msg.via is not None
    except RemoteProtocolError:
        return False


def _header(text: str | None) -> tuple[str, str] | None:
    """``"Server: x"`` (Kamailio's server_header) -> ``("Server", "x")``."""
    if not text:
        return None
    name, colon, value = text.partition(":")
    return (name.strip(), value.strip()) if colon else ("Server", text.strip())
