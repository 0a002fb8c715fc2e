"""corex: core extensions (Kamailio's corex module, KEMI names, 1/-1 returns).

Branches: ``append_branch()`` (the current R-URI, ``$du``, Path, q and branch flags become
an extra branch, :class:`app.context.Branch`), ``append_branch_uri(uri)``,
``append_branch_uri_q(uri, q)``. Sockets: ``set_send_socket("proto:ip:port")`` (must be one
of ours; kept in ``ctx.extra["send_socket"]`` for the relaying code), ``set_recv_socket``,
``set_source_address`` (changes ``$si``/``$sp`` for the rest of the route),
``is_socket_name`` (-1: listen names are not supported). Messages: ``has_ruri_user``,
``has_user_agent``, ``is_faked_msg``, ``send_data(uri, data)`` / ``sendx`` (raw bytes to a
URI's address). Flags: ``setxflag``/``resetxflag``/``isxflagset`` (0..63). Files:
``file_read`` / ``file_write``.
"""

from __future__ import annotations

import logging
from typing import Any

from app.context import Branch, Dest
from app.module import Module
from sip import Request, parse_uri

module = Module("corex", doc="core extensions")
module.param("alias_subdomains", str, "", multi=True, doc="accepted; not used")
module.param("network_io_intercept", int, 0, doc="accepted; not used")
module.param("min_msg_len", int, 0, doc="accepted; not used")
module.param("msg_recv_max_size", int, 0, doc="accepted; not used")

log = logging.getLogger("siprouter.corex")


def _rc(ok: bool) -> int:
    return 1 if ok else -1


def _branch(ctx: Any, uri: str, q: float | None) -> int:
    try:
        text = str(parse_uri(uri))
    except Exception:  # noqa: BLE001
        return -1
    ctx.branches.append(Branch(text, ctx.dst_uri, list(ctx.path), q, ctx.bflags.get(0, 0),
                               ctx.extra.get("send_socket")))  # fmt: skip
    return 1


@module.function("append_branch")
def append_branch(ctx: Any) -> int:
    """Add a branch with the current R-URI, $du, Path, q and branch flags."""
    req = ctx.request
    return -1 if req is None else _branch(ctx, req.uri_text, ctx.q)


@module.function("append_branch_uri", "s")
def append_branch_uri(ctx: Any, uri: str) -> int:
    """Add a branch to ``uri``."""
    return _branch(ctx, uri, None)


@module.function("append_branch_uri_q", "ss")
def append_branch_uri_q(ctx: Any, uri: str, q: str) -> int:
    """Add a branch to ``uri`` with q value ``q`` ("0.5")."""
    try:
        value = float(q)
    except ValueError:
        return -1
    return _branch(ctx, uri, value)


def _socket(text: str) -> tuple[str, str, int] | None:
    parts = text.strip().rsplit(":", 1)
    head, port = (parts[0], parts[1]) if len(parts) == 2 and parts[1].isdigit() else (text, "5060")
    proto, _, host = head.partition(":")
    if not host:
        return None
    return proto.lower(), host.strip("[]"), int(port)


def _local_socket(ctx: Any, text: str) -> tuple[str, str, int] | None:
    sock = _socket(text)
    if sock is None or ctx.core is None or not ctx.core.is_myself(sock[1], sock[2], sock[0]):
        log.error("corex: %r is not a local socket", text)
        return None
    return sock


@module.function("set_send_socket", "s")
def set_send_socket(ctx: Any, text: str) -> int:
    """Force the socket to send from (``proto:ip:port``, one of ours)."""
    sock = _local_socket(ctx, text)
    if sock is None:
        return -1
    ctx.extra["send_socket"] = f"{sock[0]}:{sock[1]}:{sock[2]}"
    return 1


@module.function("set_send_socket_name", "s")
def set_send_socket_name(ctx: Any, name: str) -> int:
    """Listen names are not supported: -1."""
    return -1


@module.function("set_recv_socket", "s")
def set_recv_socket(ctx: Any, text: str) -> int:
    """Pretend the message came in on another local socket (``$Ri``/``$Rp``/``$pr``)."""
    sock = _local_socket(ctx, text)
    if sock is None:
        return -1
    ctx.source = ctx.source._replace(proto=sock[0], local_ip=sock[1],
                                     local_port=sock[2])  # fmt: skip
    return 1


@module.function("set_recv_socket_name", "s")
def set_recv_socket_name(ctx: Any, name: str) -> int:
    """Listen names are not supported: -1."""
    return -1


@module.function("set_source_address", "s")
def set_source_address(ctx: Any, text: str) -> int:
    """Change the source address (``[proto:]ip:port``) for the rest of the route."""
    sock = _socket(text if text.count(":") >= 2 else "udp:" + text)
    if sock is None:
        return -1
    ctx.source = ctx.source._replace(ip=sock[1], port=sock[2])
    return 1


@module.function("is_socket_name", "s")
def is_socket_name(ctx: Any, name: str) -> int:
    """Listen names are not supported: -1."""
    return -1


@module.function("has_ruri_user")
def has_ruri_user(ctx: Any) -> int:
    """1 if the R-URI has a user part."""
    req = ctx.request
    return _rc(
        isinstance(req, Request) and bool(req.uri.user if req.uri.is_sip else req.uri.opaque)
    )


@module.function("has_user_agent")
def has_user_agent(ctx: Any) -> int:
    """1 if there is a User-Agent header."""
    return _rc("user-agent" in ctx.received)


@module.function("is_faked_msg")
def is_faked_msg(ctx: Any) -> int:
    """1 for the faked request used outside of routes."""
    return _rc(bool(ctx.faked))


@module.function("send_data", "ss")
def send_data(ctx: Any, uri: str, data: str) -> int:
    """Send ``data`` as is to the address of ``uri``."""
    try:
        target = parse_uri(uri)
        dest = Dest((target.transport or "udp").lower(), target.host_bare, target.port or 5060)
    except Exception:  # noqa: BLE001
        return -1
    return _rc(ctx.core is not None and bool(ctx.core.send(data.encode(), dest)))


@module.function("sendx", "sss")
def sendx(ctx: Any, uri: str, socket: str, data: str) -> int:
    """send_data() (the socket argument is not used)."""
    return send_data(ctx, uri, data)


def _xflag(ctx: Any, flag: int) -> bool:
    return 0 <= flag <= 63


@module.function("setxflag", "i")
def setxflag(ctx: Any, flag: int) -> int:
    """Set an extended flag (0..63)."""
    if not _xflag(ctx, flag):
        return -1
    ctx.extra["xflags"] = ctx.extra.get("xflags", 0) | 1 << flag
    return 1


@module.function("resetxflag", "i")
def resetxflag(ctx: Any, flag: int) -> int:
    """Reset an extended flag."""
    if not _xflag(ctx, flag):
        return -1
    ctx.extra["xflags"] = ctx.extra.get("xflags", 0) & ~(1 << flag)
    return 1


@module.function("isxflagset", "i")
def isxflagset(ctx: Any, flag: int) -> int:
    """1 if the extended flag is set."""
    return _rc(_xflag(ctx, flag) and bool(ctx.extra.get("xflags", 0) >> flag & 1))


@module.function("file_read", "s", ret="xval")
def file_read(ctx: Any, path: str) -> str | None:
    """The content of a file, or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


@module.function("file_write", "ss")
def file_write(ctx: Any, path: str, content: str) -> int:
    """Write ``content`` to a file; 1 or -1."""
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(content)
    except OSError:
        return -1
    return 1
