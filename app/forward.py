"""Stateless proxy rules, minimal, until ``sip/proxy.py`` (issue 3) provides them:

* where a request goes: the transport, host and port of a SIP URI (``;transport=``);
* RFC 3261 §16.6 step 3 Max-Forwards, §18.2.1 ``received`` and RFC 3581 ``rport`` on the top
  Via of a request we relay (streams always get both, so that the response finds the
  connection again), and our own Via with a stateless branch (§16.11: a retransmission, the
  CANCEL and the ACK of a non-2xx get the same branch as the request they belong to);
* where a response goes (§18.2.2): over the request's connection, to ``received``/``rport``
  or to the Via's sent-by.

Pure functions of messages and addresses: no sockets here.
"""

from __future__ import annotations

import hashlib
import socket
from functools import lru_cache

from app.context import Dest, Source
from sip import URI, Request, Response, Via
from sip.proxy import add_received
from sip.transaction_events import Peer

MAGIC = "z9hG4bK"
DEFAULT_MAX_FORWARDS = 70
PROTOS = ("udp", "tcp")


class ForwardError(Exception):
    """The request cannot be forwarded (reason in the message; ``status`` for the reply)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def uri_dest(uri: URI) -> Dest:
    """Where a request for ``uri`` goes (no DNS SRV/NAPTR: host and port, 5060 by default)."""
    if not uri.is_sip or not uri.host:
        raise ForwardError(f"cannot forward to {uri}")
    proto = (uri.transport or ("tls" if uri.scheme == "sips" else "udp")).lower()
    if proto not in PROTOS:
        raise ForwardError(f"transport {proto} is not supported")
    maddr = uri.param("maddr")
    host = (maddr or uri.host_bare).strip("[]")
    return Dest(proto, host, uri.port or 5060)


def via_dest(via: Via) -> Dest:
    """Where a response goes by its top Via (RFC 3261 §18.2.2, RFC 3581 §4)."""
    proto = via.transport.lower()
    host = (via.received or via.maddr or via.host).strip("[]")
    rport = via.rport
    port = int(rport) if rport and rport.isdigit() else (via.port or 5060)
    return Dest(proto, host, port)


def reply_dest(request: Request, source: Source, force_rport: bool = False) -> Dest:
    """Where a locally generated reply to ``request`` goes."""
    if source.proto != "udp":
        return Dest(source.proto, source.ip, source.port, source.conn_id)
    via = request.via
    if via is None or force_rport or via.rport is not None:
        return Dest("udp", source.ip, source.port)
    return Dest("udp", source.ip, via.port or 5060)


def check_max_forwards(request: Request) -> None:
    """Decrement Max-Forwards (add 70 if absent); raise ForwardError(483) at zero."""
    value = request.max_forwards
    if value is None:
        request.add("Max-Forwards", str(DEFAULT_MAX_FORWARDS))
    elif value <= 0:
        raise ForwardError("Max-Forwards reached 0", 483)
    else:
        request.replace("Max-Forwards", str(value - 1))


def stamp_received(request: Request, source: Source, force_rport: bool = False) -> None:
    """``received``/``rport`` on the top Via of a request to forward (§18.2.1, RFC 3581 §4;
    :func:`sip.proxy.add_received`); ForwardError(400) without a Via. Over a stream both are
    always set: a reply relayed by that Via then finds the connection (whose source port is
    not the sent-by port)."""
    if request.via is None:
        raise ForwardError("request without Via", 400)
    force = force_rport or source.proto != "udp"
    add_received(request, Peer(source.proto.upper(), source.ip, source.port), force_rport=force)


def stateless_branch(request: Request, dest: Dest) -> str:
    """A branch that is the same for retransmissions, the CANCEL and the non-2xx ACK."""
    top = request.branch or ""
    if top.startswith(MAGIC):
        key = f"{top}|{dest.proto}:{dest.host}:{dest.port}"
    else:
        cseq = request.cseq
        key = f"{request.call_id}|{request.from_tag}|{cseq.seq if cseq else 0}|{request.uri_text}"
    return MAGIC + "sr" + hashlib.sha1(key.encode("utf-8", "replace")).hexdigest()[:22]


def add_via(request: Request, host: str, port: int, proto: str, branch: str) -> None:
    """Put our Via on top."""
    sent_by = f"[{host}]" if ":" in host else host
    request.add_before("Via", f"SIP/2.0/{proto.upper()} {sent_by}:{port};branch={branch}", "Via")


def strip_top_via(response: Response) -> Via | None:
    """Remove the top Via (ours) of a response; returns the next one, or None if none."""
    response.remove_first_value("Via")
    return response.via


@lru_cache(maxsize=256)
def route_source_ip(dest_host: str, v6: bool) -> str:
    """The local IP the kernel would use towards ``dest_host`` (for a wildcard listener)."""
    family = socket.AF_INET6 if v6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((dest_host, 9))
            return str(probe.getsockname()[0])
    except OSError:
        return "::1" if v6 else "127.0.0.1"
