"""Proxy rules of RFC 3261 §16 as pure functions (routing headers are in :mod:`sip.routing`).

- Max-Forwards check (§16.3 item 3) and decrement (§16.6 item 3);
- loop detection, spiral vs loop (§16.3 item 4, §16.6 item 8, RFC 5393 §4.2);
- Via branches: unique per forwarded branch (§16.6 item 8, §8.1.1.7) and deterministic for
  stateless forwarding so retransmissions keep it (§16.11);
- our Via (§16.6 item 8), ``received``/``rport`` on the received top Via (§18.2.1,
  RFC 3581 §4), where a response goes (§18.2.2, RFC 3581 §4), removing our Via from a
  response (§16.7 item 3);
- choosing the best response of a response context (§16.7 items 6 and 7).

Functions that change a message edit it in place and leave the other header lines byte-exact.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from typing import Literal

from .errors import LocalProtocolError
from .headers import Params, Via, split_commas
from .matching import MAGIC_COOKIE
from .message import Message, Request, Response, make_response
from .timers import is_reliable
from .transaction_events import Peer

__all__ = [
    "check_max_forwards", "decrement_max_forwards", "loop_hash", "detect_loop", "new_branch",
    "stateless_branch", "via_value", "add_via", "add_received", "received_via", "response_target",
    "pop_via",
    "best_response", "DEFAULT_MAX_FORWARDS",
]  # fmt: skip

DEFAULT_MAX_FORWARDS = 70
_LOOP_SEP = "."
_VIA_NAMES = ("via", "v")
#: within the 4xx class these are the most useful to the caller (§16.7 item 6)
_USEFUL_4XX = (401, 407, 415, 420, 484)
#: response class preference: 2xx, then 6xx, 3xx, 4xx, 5xx (§16.7 item 6)
_CLASS_RANK = {2: 0, 6: 1, 3: 2, 4: 3, 5: 4}


def _digest(*parts: str, size: int = 10) -> str:
    data = "\x00".join(parts).encode("utf-8", "surrogateescape")
    return hashlib.blake2b(data, digest_size=size).hexdigest()


# -- Max-Forwards ------------------------------------------------------------------------------
def check_max_forwards(request: Request) -> int | None:
    """483 when Max-Forwards is 0 (§16.3 item 3), else None. A bad value raises
    RemoteProtocolError (400)."""
    mf = request.max_forwards
    return 483 if mf == 0 else None


def decrement_max_forwards(request: Request, default: int = DEFAULT_MAX_FORWARDS) -> int:
    """Decrement Max-Forwards, or add it with ``default`` (§16.6 item 3); returns the value."""
    mf = request.max_forwards
    value = default if mf is None else max(mf - 1, 0)
    request.replace("Max-Forwards", str(value))
    return value


# -- loops and branches ------------------------------------------------------------------------
def loop_hash(request: Request) -> str:
    """The loop-detection part of our branch (§16.6 item 8 as updated by RFC 5393 §4.2):
    everything a spiral may change and a loop does not — Request-URI as received, To and
    From tags, Call-ID, CSeq number, Route, Proxy-Require and Proxy-Authorization. The top
    Via is left out: it changes at every hop, so a loop would never be recognised."""
    cseq = request.cseq
    parts = [request.uri_text, request.to_tag or "", request.from_tag or ""]
    parts += [request.call_id or "", str(cseq.seq if cseq else "")]
    for name in ("route", "proxy-require", "proxy-authorization"):
        parts.append(",".join(request.get_all(name)))
    return _digest(*parts)


def detect_loop(
    request: Request, is_mine: Callable[[Via], bool]
) -> Literal["loop", "spiral"] | None:
    """Spiral or loop (§16.3 item 4, RFC 5393 §4.2): every Via we placed earlier (``is_mine``
    tells by sent-by) carries the loop hash of the request as it was then; the same hash now
    means nothing changed — a loop (answer 482). None: the request never passed here."""
    here = loop_hash(request)
    seen = False
    for via in request.vias:
        if not is_mine(via):
            continue
        seen = True
        branch = via.branch or ""
        if branch.startswith(MAGIC_COOKIE) and branch.rpartition(_LOOP_SEP)[2] == here:
            return "loop"
    return "spiral" if seen else None


def new_branch(request: Request | None = None, *, loop_detect: bool = True) -> str:
    """A fresh branch (§8.1.1.7): magic cookie, 96 random bits and, for a request, the loop
    hash (§16.6 item 8) after a dot."""
    branch = MAGIC_COOKIE + secrets.token_hex(12)
    if request is not None and loop_detect:
        branch += _LOOP_SEP + loop_hash(request)
    return branch


def stateless_branch(
    request: Request, index: int = 0, secret: str = "", *, loop_detect: bool = True
) -> str:
    """The branch a stateless proxy puts in its Via (§16.11): the same for every
    retransmission, and for the CANCEL and non-2xx ACK of an INVITE. Derived from the
    received top Via branch when it has the magic cookie, else from the RFC 2543 matching
    fields (Request-URI, From tag, Call-ID, CSeq number, top Via); ``index`` tells targets
    apart, ``secret`` keeps the value unpredictable. ``loop_detect=False`` leaves out the
    loop hash (a 2xx ACK gets no reply, so a 482 could never be sent for it)."""
    top = split_commas(request.get("via") or "")[0]
    branch = request.branch or ""
    if branch.startswith(MAGIC_COOKIE):
        seed = [branch, top.partition(";")[0].lower()]
    else:
        cseq = request.cseq
        seed = [request.uri_text, request.from_tag or "", request.call_id or ""]
        seed += [str(cseq.seq if cseq else ""), top]
    head = f"{MAGIC_COOKIE}{_digest(secret, str(index), *seed, size=12)}"
    return f"{head}{_LOOP_SEP}{loop_hash(request)}" if loop_detect else head


# -- Via -----------------------------------------------------------------------------------------
def via_value(transport: str, host: str, port: int | None, branch: str, rport: bool = True) -> str:
    """``SIP/2.0/UDP host:port;branch=...;rport`` (§8.1.1.7, RFC 3581 §3)."""
    sent_by = host if port is None else f"{host}:{port}"
    return f"SIP/2.0/{transport.upper()} {sent_by};branch={branch}" + (";rport" if rport else "")


def add_via(msg: Message, value: str) -> None:
    """Insert ``value`` as the top Via (above the existing ones, §16.6 item 8)."""
    msg.add_before("Via", value, "Via")


def _first_via_line(msg: Message) -> int:
    for i, line in enumerate(msg.raw_lines()):
        if line.partition(":")[0].strip().lower() in _VIA_NAMES:
            return i
    return 0


def replace_top_via(msg: Message, via: Via | str) -> None:
    """Replace the first Via value, keeping its place and the other values' bytes."""
    if msg.replace_first_value("Via", str(via)):
        return
    index = _first_via_line(msg)
    msg.remove_first_value("Via")
    msg.add("Via", str(via), index)


def add_received(request: Message, source: Peer, *, force_rport: bool = False) -> bool:
    """Add ``received`` when the top Via's host is not the source address (§18.2.1), and
    fill ``rport`` with the source port — with ``received`` always — when the client asked
    for it (RFC 3581 §4) or ``force_rport`` (Kamailio's ``force_rport()``). Returns whether
    the Via changed. ``request`` may also be a local response to that request, whose top
    Via is the request's (it then carries the same)."""
    via = request.via
    stamped = None if via is None else received_via(via, source, force_rport=force_rport)
    if stamped is None:
        return False
    replace_top_via(request, stamped)
    return True


def received_via(via: Via, source: Peer, *, force_rport: bool = False) -> Via | None:
    """``via`` as :func:`add_received` leaves it for a message from ``source``; None when it
    stays as it is (e.g. for a local reply built with ``make_response(top_via=...)``)."""
    host = source.host[1:-1] if source.host.startswith("[") else source.host
    if force_rport or via.rport is not None:
        params = _with_params(via.params, received=host, rport=str(source.port))
    elif via.host.strip("[]").lower() != host.lower():
        params = _with_params(via.params, received=host)
    else:
        return None
    return Via(via.transport, via.host, via.port, params, via.protocol)


def _with_params(params: Params, **values: str) -> Params:
    """``params`` with each of ``values`` set (replaced in place, or appended), in one pass."""
    out: list[tuple[str, str | None]] = []
    for name, value in params:
        key = name.lower()
        if key in values:
            value = values.pop(key)
        out.append((name, value))
    out.extend(values.items())
    return tuple(out)


def response_target(via: Via, source: Peer) -> Peer:
    """Where a response goes (§18.2.2, RFC 3581 §4): back on the connection for a reliable
    transport, to ``maddr``, to ``received``:``rport``, to ``received``:port, else to the
    sent-by. ``source`` is where the request came from."""
    if is_reliable(source.transport) or is_reliable(via.transport):
        return source
    port = via.port or 5060
    if via.maddr:
        return Peer(source.transport, via.maddr, port)
    rport = via.rport
    if rport == "":
        return source
    host = via.received or via.host.strip("[]")
    if rport is not None and rport.isdigit():
        return Peer(source.transport, via.received or source.host, int(rport))
    return Peer(source.transport, host, port)


def pop_via(response: Response) -> Via | None:
    """Remove our (top) Via from a response to forward (§16.7 item 3). Returns the Via that
    was removed; when no Via is left the response was for us and must not be forwarded."""
    via = response.via
    if via is not None:
        response.remove_first_value("Via")
    return via


# -- the best response (§16.7 items 6 and 7) -----------------------------------------------------
def _rank(resp: Response) -> tuple[int, int]:
    useful = 0 if resp.status in _USEFUL_4XX else 1
    return _CLASS_RANK.get(resp.status // 100, 5), useful


def best_response(responses: Sequence[Response], request: Request | None = None) -> Response:
    """The response to send upstream when a response context is done (§16.7 item 6): a 2xx,
    else a 6xx, else the lowest class (3xx, 4xx, 5xx), a 401/407/415/420/484 first in 4xx;
    the first received wins a tie. No response at all gives 408 (``request`` needed). A 503
    becomes a 500, and a 401/407 gathers every challenge of the context (item 7). Returns a
    copy; the inputs are untouched."""
    finals = [r for r in responses if r.status >= 200]
    if not finals:
        if request is None:
            raise LocalProtocolError("no final response and no request to answer 408")
        return make_response(request, 408)
    best = min(enumerate(finals), key=lambda p: (_rank(p[1]), p[0]))[1]
    out = best.copy()
    assert isinstance(out, Response)
    if out.status == 503:
        out.status, out.reason = 500, "Server Internal Error"
    elif out.status in (401, 407):
        _merge_challenges(out, best, finals)
    return out


def _merge_challenges(out: Response, best: Response, finals: Sequence[Response]) -> None:
    for other in finals:
        if other is best or other.status not in (401, 407):
            continue
        for name in ("WWW-Authenticate", "Proxy-Authenticate"):
            for value in other.get_all(name):
                out.add(name, value)
