"""More functions directly on ``KSR`` (kemi.md §3.1): method and transport tests, R-URI and
``$du`` manipulation, Via/transport flags and stateless forwarding.

They are declared on the ``core`` module of :mod:`app.ksr_core`.
"""

from __future__ import annotations

import ipaddress

from app.context import Ctx
from app.ksr_core import module
from sip import Request, Response, parse_uri

METHOD_LETTERS = {
    "I": "INVITE", "A": "ACK", "B": "BYE", "C": "CANCEL", "M": "MESSAGE", "R": "REGISTER",
    "E": "PRACK", "P": "PUBLISH", "S": "SUBSCRIBE", "N": "NOTIFY", "O": "OPTIONS",
    "F": "REFER", "G": "GET", "U": "UPDATE", "K": "KDMQ", "D": "DELETE", "T": "POST", "V": "PUT",
}  # fmt: skip
PROTO_LETTERS = {"e": "tls", "s": "sctp", "t": "tcp", "u": "udp", "v": "ws", "w": "wss"}


@module.function("is_method", "s", ret="bool")
def is_method(ctx: Ctx, names: str) -> bool:
    """Method (CSeq method for replies) is ``names`` or one of ``A|B|C``."""
    method = ctx.method.upper()
    return any(method == name.strip().upper() for name in names.split("|"))


@module.function("is_method_in", "s", ret="bool")
def is_method_in(ctx: Ctx, letters: str) -> bool:
    """Method is one of the letters (I INVITE, A ACK, B BYE, ...)."""
    method = ctx.method.upper()
    return any(METHOD_LETTERS.get(letter) == method for letter in letters)


def _declare_method(method: str) -> None:
    def test(ctx: Ctx) -> bool:
        return ctx.method.upper() == method

    test.__doc__ = f"Method is {method}."
    module.function(f"is_{method}", ret="bool")(test)


for _method in [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "REGISTER",
    "OPTIONS",
    "SUBSCRIBE",
    "PUBLISH",
    "NOTIFY",
    "REFER",
    "INFO",
    "UPDATE",
    "PRACK",
    "MESSAGE",
    "KDMQ",
    "GET",
    "POST",
    "PUT",
    "DELETE",
]:
    _declare_method(_method)


# -- incoming transport -------------------------------------------------------------------------
def _declare_proto(name: str, protos: tuple[str, ...]) -> None:
    def test(ctx: Ctx) -> bool:
        return ctx.source.proto in protos

    test.__doc__ = f"Received over {'/'.join(protos)}."
    module.function(f"is_{name}", ret="bool")(test)


for _name, _protos in {
    "UDP": ("udp",), "TCP": ("tcp",), "TLS": ("tls",), "SCTP": ("sctp",), "WS": ("ws",),
    "WSS": ("wss",), "WSX": ("ws", "wss"), "TCPX": ("tcp", "tls", "ws", "wss"),
}.items():  # fmt: skip
    _declare_proto(_name, _protos)


@module.function("is_IPv4", ret="bool")
def is_ipv4(ctx: Ctx) -> bool:
    """Received over IPv4."""
    return not ctx.source.is_ipv6


@module.function("is_IPv6", ret="bool")
def is_ipv6(ctx: Ctx) -> bool:
    """Received over IPv6."""
    return ctx.source.is_ipv6


@module.function("is_proto", "s", ret="bool")
def is_proto(ctx: Ctx, letters: str) -> bool:
    """Received over one of the letters (e TLS, s SCTP, t TCP, u UDP, v WS, w WSS)."""
    return any(PROTO_LETTERS.get(letter) == ctx.source.proto for letter in letters)


@module.function("is_src_port", "i", ret="bool")
def is_src_port(ctx: Ctx, port: int) -> bool:
    """Source port is ``port``."""
    return ctx.source.port == port


@module.function("is_dst_port", "i", ret="bool")
def is_dst_port(ctx: Ctx, port: int) -> bool:
    """Local receiving port is ``port``."""
    return ctx.source.local_port == port


# -- outgoing transport ---------------------------------------------------------------------------
def next_hop(ctx: Ctx) -> tuple[str, str] | None:
    """(transport, host) the message goes to: $du/R-URI, or the 2nd Via of a reply."""
    msg = ctx.msg
    if isinstance(msg, Response):
        vias = msg.vias
        return (vias[1].transport.lower(), vias[1].host.strip("[]")) if len(vias) > 1 else None
    if isinstance(msg, Request):
        uri = parse_uri(ctx.dst_uri) if ctx.dst_uri else msg.uri
        return ((uri.transport or "udp").lower(), uri.host_bare)
    return None


def _ip_version(host: str) -> int:
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        return 0


def _declare_to(name: str, test: object) -> None:
    def to(ctx: Ctx) -> bool:
        hop = next_hop(ctx)
        return hop is not None and bool(test(*hop))  # type: ignore[operator]

    to.__doc__ = f"The next hop is {name}."
    module.function(f"to_{name}", ret="bool")(to)


for _name, _test in {
    "UDP": lambda p, h: p == "udp", "TCP": lambda p, h: p == "tcp",
    "TLS": lambda p, h: p == "tls", "SCTP": lambda p, h: p == "sctp",
    "WS": lambda p, h: p == "ws", "WSS": lambda p, h: p == "wss",
    "WSX": lambda p, h: p in ("ws", "wss"),
    "IPv4": lambda p, h: _ip_version(h) == 4, "IPv6": lambda p, h: _ip_version(h) == 6,
}.items():  # fmt: skip
    _declare_to(_name, _test)


# -- R-URI and $du ----------------------------------------------------------------------------
def _rewrite(ctx: Ctx, **changes: object) -> bool:
    req = ctx.request
    if req is None:
        return False
    try:
        req.uri = req.uri.replace(**changes)
    except Exception:  # noqa: BLE001 - an unparsable R-URI cannot be rewritten
        return False
    return True


@module.function("seturi", "s", ret="bool")
def seturi(ctx: Ctx, uri: str) -> bool:
    """Set the R-URI."""
    req = ctx.request
    if req is None:
        return False
    try:
        req.uri = parse_uri(uri)
    except Exception:  # noqa: BLE001
        return False
    return True


@module.function("setuser", "s", ret="bool")
def setuser(ctx: Ctx, user: str) -> bool:
    """Set the R-URI user."""
    return _rewrite(ctx, user=user)


@module.function("sethost", "s", ret="bool")
def sethost(ctx: Ctx, host: str) -> bool:
    """Set the R-URI host."""
    return _rewrite(ctx, host=host)


@module.function("setdsturi", "s", ret="bool")
def setdsturi(ctx: Ctx, uri: str) -> bool:
    """Set $du (True even when the URI is bad, as Kamailio)."""
    try:
        ctx.dst_uri = str(parse_uri(uri))
    except Exception:  # noqa: BLE001
        pass
    return True


@module.function("resetdsturi", ret="bool")
def resetdsturi(ctx: Ctx) -> bool:
    """Unset $du."""
    ctx.dst_uri = None
    return True


@module.function("isdsturiset", ret="bool")
def isdsturiset(ctx: Ctx) -> bool:
    """$du is set."""
    return bool(ctx.dst_uri)


# -- Via and connection flags ---------------------------------------------------------------------
def _declare_flag(name: str) -> None:
    def setter(ctx: Ctx) -> bool:
        ctx.extra[name] = True
        return True

    setter.__doc__ = f"Set the {name} flag of this message."
    module.function(name, ret="bool")(setter)


for _flag in [
    "force_rport",
    "add_local_rport",
    "set_forward_close",
    "set_forward_no_connect",
    "set_reply_close",
    "set_reply_no_connect",
]:
    _declare_flag(_flag)


# -- stateless forwarding ---------------------------------------------------------------------------
@module.function("forward", ret="int")
def forward(ctx: Ctx) -> int:
    """Forward statelessly to $du, else the R-URI; 1 or -1."""
    return 1 if ctx.core is not None and ctx.core.forward(ctx) else -1


@module.function("forward_uri", "s", ret="int")
def forward_uri(ctx: Ctx, uri: str) -> int:
    """Forward statelessly to ``uri``; 1 or -1."""
    return 1 if ctx.core is not None and ctx.core.forward(ctx, uri) else -1
