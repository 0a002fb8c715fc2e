"""The per-message execution context of the KEMI engine, and the script's ``msg`` object.

A :class:`Ctx` is what every KEMI function receives as its first argument: the message being
routed, where it came from, the flags, ``$du``, the AVPs and the reply headers added with
``KSR.hdr.append_to_reply``. :data:`CURRENT` holds the context of the running route; every
route runs in its own greenlet, and greenlets (and the asyncio tasks they start) each have
their own ``contextvars`` context, so a parked route keeps its message.

:class:`Source` says where a message was received (the ``$si``/``$sp``/``$Ri``/``$Rp``
values) and :class:`Dest` where one is sent.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from sip import Message, Request, Response

if TYPE_CHECKING:
    from app.core import Core
    from app.engine import Engine


class Source(NamedTuple):
    """Where a message was received: transport, peer address, local socket, connection
    (a named tuple: one is made per datagram, and a frozen dataclass's ``__init__`` costs
    a call per field)."""

    proto: str  # "udp" | "tcp"
    ip: str
    port: int
    local_ip: str = "127.0.0.1"
    local_port: int = 5060
    conn_id: int = 0

    @property
    def is_ipv6(self) -> bool:
        """True when the peer address is IPv6."""
        return ":" in self.ip


class Dest(NamedTuple):
    """Where to send: transport, host (IP or name), port, and a connection to prefer (a
    named tuple, as :class:`Source`)."""

    proto: str
    host: str
    port: int
    conn_id: int = 0


@dataclass(slots=True)
class Branch:
    """An additional destination set by ``append_branch``/``lookup`` (Kamailio's dset):
    branch 0 is the message's own R-URI, ``$du`` and branch flags; these are the others."""

    uri: str
    dst_uri: str | None = None
    path: list[str] = field(default_factory=list)
    q: float | None = None  # None = no q given (Kamailio's Q_UNSPECIFIED)
    flags: int = 0  # branch flags
    socket: str | None = None  # forced send socket, "proto:ip:port"
    instance: str | None = None  # +sip.instance of the contact (RFC 5626)
    ruid: str | None = None  # usrloc record id
    location_ua: str | None = None


FAKED_SOURCE = Source("udp", "127.0.0.1", 5060, "127.0.0.1", 5060)


def _faked_request() -> Request:
    headers = [
        ("Via", "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKfaked"),
        ("From", "<sip:you@kamailio.org>;tag=123"),
        ("To", "<sip:you@kamailio.org>"),
        ("Call-ID", "123"),
        ("CSeq", "1 OPTIONS"),
        ("Content-Length", "0"),
    ]
    return Request("OPTIONS", "sip:you@kamailio.org", headers)


@dataclass(eq=False)
class Ctx:
    """The state of one message's routing (Kamailio's ``sip_msg`` + action context)."""

    msg: Message
    source: Source = FAKED_SOURCE
    core: Core | None = None
    engine: Engine | None = None
    route: str = "request_route"
    flags: int = 0
    sflags: int = 0
    bflags: dict[int, int] = field(default_factory=dict)
    dst_uri: str | None = None
    drop: bool = False
    replied: int = 0
    faked: bool = False
    reply_headers: list[tuple[str, str]] = field(default_factory=list)
    avps: dict[str, list[Any]] = field(default_factory=dict)
    xavps: dict[str, list[dict[str, list[Any]]]] = field(default_factory=dict)
    original: Message | None = None  # the message as received, once a header was edited
    orig_uri: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # modules' per-message state
    branches: list[Branch] = field(default_factory=list)  # destinations beyond branch 0
    path: list[str] = field(default_factory=list)  # Path of branch 0 (set by lookup)
    q: float | None = None  # q of branch 0

    def __post_init__(self) -> None:
        if self.orig_uri is None and isinstance(self.msg, Request):
            self.orig_uri = self.msg.uri_text

    @property
    def request(self) -> Request | None:
        """The message if it is a request."""
        return self.msg if isinstance(self.msg, Request) else None

    @property
    def received(self) -> Message:
        """The message as received (header edits apply to the outgoing message only)."""
        return self.original if self.original is not None else self.msg

    def editing(self) -> Message:
        """The message to edit; the first edit keeps a copy of the received one."""
        if self.original is None:
            self.original = self.msg.copy()
        return self.msg

    @property
    def method(self) -> str:
        """The request method, or the CSeq method of a reply."""
        if isinstance(self.msg, Request):
            return self.msg.method
        cseq = self.msg.cseq
        return cseq.method if cseq is not None else ""

    @property
    def call_id(self) -> str:
        """The Call-ID, for logs."""
        try:
            return self.msg.call_id or "-"
        except Exception:  # noqa: BLE001 - a broken header must not break a log line
            return "-"


def faked_ctx(engine: Engine | None = None, core: Core | None = None) -> Ctx:
    """A context on a faked request, for KSR calls made outside any route."""
    return Ctx(_faked_request(), engine=engine, core=core, route="faked", faked=True)


CURRENT: contextvars.ContextVar[Ctx | None] = contextvars.ContextVar("ksr_ctx", default=None)
"""The context of the route running in this greenlet / task."""


class MsgObject:
    """The ``msg`` argument of app_python3 callbacks (kemi.md §1.4)."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Ctx) -> None:
        self._ctx = ctx

    @property
    def Type(self) -> str:  # noqa: N802 - Kamailio's name
        msg = self._ctx.msg
        if isinstance(msg, Request):
            return "SIP_REQUEST"
        return "SIP_REPLY" if isinstance(msg, Response) else "SIP_INVALID"

    @property
    def Method(self) -> str:  # noqa: N802
        return self._req().method

    @property
    def Status(self) -> str:  # noqa: N802
        msg = self._ctx.msg
        if not isinstance(msg, Response):
            raise TypeError("Not a non-reply message")
        return str(msg.status)

    @property
    def RURI(self) -> str:  # noqa: N802
        return self._req().uri_text

    @property
    def src_address(self) -> tuple[str, int]:
        return (self._ctx.source.ip, self._ctx.source.port)

    @property
    def dst_address(self) -> tuple[str, int]:
        return (self._ctx.source.local_ip, self._ctx.source.local_port)

    def rewrite_ruri(self, uri: str) -> None:
        """Set the Request-URI."""
        self._req().uri = uri

    def set_dst_uri(self, uri: str) -> None:
        """Set ``$du``."""
        self._req()
        self._ctx.dst_uri = uri

    def getHeader(self, name: str) -> str | None:  # noqa: N802
        """The body of the first ``name`` header, or None."""
        return self._ctx.received.get(name)

    def copy(self) -> MsgObject:
        return MsgObject(self._ctx)

    def call_function(self, fname: str, *params: str) -> int:
        """Native cfg functions do not exist here: always -1 (logged)."""
        import logging

        logging.getLogger("siprouter.kemi").error(
            "msg.call_function(%r): no native functions", fname
        )
        return -1

    def _req(self) -> Request:
        msg = self._ctx.msg
        if not isinstance(msg, Request):
            raise TypeError("Not a request message")
        return msg
