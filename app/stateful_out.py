"""What a stateful proxy sends downstream (RFC 3261 §16.6): the destination set and one
request per branch.

- :func:`destinations`: branch 0 (R-URI, ``$du``, Path, branch flags of the message) unless a
  relay consumed it already, then every ``append_branch``/``lookup`` branch (Kamailio's dset);
- :func:`target_dest`: where a branch goes — ``$du``, else the first Path hop, else the
  R-URI (§16.6 item 7, no DNS SRV/NAPTR);
- :func:`prepare`: the copy to send — R-URI of the branch, Path as Route values (RFC 3327 §5.2),
  ``received``/``rport`` on the received top Via (§18.2.1, RFC 3581 §4) and our Via with a
  fresh branch carrying the loop-detection hash (§16.6 item 8, RFC 5393);
- :func:`stateless_ack`: the ACK of a 2xx, which has no transaction (§16.10, §17.1.1.3).

Max-Forwards is left alone: the ``maxfwd`` module decrements it, as in Kamailio.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from app import forward as fw
from app.context import Branch, Ctx, Dest
from sip import Request, parse_uri
from sip.proxy import (
    add_via,
    new_branch,
    stateless_branch,
    via_value,
)
from sip.transaction import Peer

if TYPE_CHECKING:
    from app.core import Core

__all__ = ["destinations", "consume", "target_dest", "prepare", "stateless_ack", "peer"]

log = logging.getLogger("siprouter.tm")
CONSUMED = "tm_ruri_consumed"


def destinations(ctx: Ctx) -> list[Branch]:
    """Branch 0 (unless consumed by an earlier relay) and the appended branches."""
    req = ctx.request
    out: list[Branch] = []
    if req is not None and not ctx.extra.get(CONSUMED):
        flags = ctx.bflags.get(0, 0)
        out.append(Branch(req.uri_text, ctx.dst_uri, list(ctx.path), ctx.q, flags))
    out.extend(ctx.branches)
    return out


def consume(ctx: Ctx) -> None:
    """After a relay: branch 0 and the appended branches are used up."""
    ctx.extra[CONSUMED] = True
    ctx.branches.clear()


def target_dest(target: Branch) -> Dest:
    """``$du``, else the first Path URI, else the R-URI (ForwardError if impossible)."""
    text = target.dst_uri or (_path_uri(target.path[0]) if target.path else target.uri)
    try:
        return fw.uri_dest(parse_uri(text))  # parse_uri remembers the URIs it parsed
    except ValueError as exc:
        raise fw.ForwardError(f"bad destination {text!r}: {exc}") from None


def _path_uri(value: str) -> str:
    value = value.strip()
    return value[1 : value.index(">")] if value.startswith("<") else value.split(";")[0]


def peer(dest: Dest) -> Peer:
    """The transaction layer's address of a destination."""
    return Peer(dest.proto.upper(), dest.host, dest.port)


def _our_via(core: Core, dest: Dest, branch: str) -> str:
    host, port = core.via_address(dest)
    return _via_text(dest.proto, host, port, branch)


def _via_text(proto: str, host: str, port: int, branch: str) -> str:
    sent_by = f"[{host}]" if ":" in host else host
    return via_value(proto, sent_by, port, branch, rport=False)


def prepare(core: Core, ctx: Ctx, msg: Request, target: Branch, dest: Dest) -> Request:
    """The request to send on one branch (a copy of ``msg``; ``msg`` is untouched)."""
    out = msg.copy()
    assert isinstance(out, Request)
    out.uri = target.uri
    for value in reversed(target.path):
        out.insert("Route", value)
    fw.stamp_received(out, ctx.source, bool(ctx.extra.get("force_rport")))
    received = ctx.received
    assert isinstance(received, Request)
    branch = new_branch(received)
    if core.workers is not None:  # replies find the worker that owns the branch
        branch = core.workers.branch(branch)
    host, port = core.via_address(dest)
    add_via(out, _via_text(dest.proto, host, port, branch))
    for hook in ctx.extra.get("relay_hooks", ()):  # e.g. rr's double Record-Route
        hook(ctx, out, dest.proto, host, port)
    return out


def stateless_ack(core: Core, ctx: Ctx, dest: Dest | None = None) -> bool:
    """Forward an ACK (of a 2xx) statelessly to ``dest``, ``$du`` or the R-URI."""
    req = ctx.request
    if req is None:
        return False
    try:
        target = destinations(ctx)[0]
        dest = dest or target_dest(target)
        out = req.copy()
        assert isinstance(out, Request)
        fw.stamp_received(out, ctx.source, bool(ctx.extra.get("force_rport")))
        received = ctx.received
        assert isinstance(received, Request)
        add_via(out, _our_via(core, dest, stateless_branch(received, loop_detect=False)))
    except (fw.ForwardError, IndexError, ValueError) as exc:
        log.warning("cannot forward ACK (Call-ID %s): %s", ctx.call_id, exc)
        return False
    return core.send(bytes(out), dest)
