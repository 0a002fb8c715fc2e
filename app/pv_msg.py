"""Pseudo-variables of the SIP message (kemi.md §4): R-URI, $du, From/To, Call-ID, CSeq,
method, status, source and local addresses, User-Agent, Contact, ``$hdr(name)``.

Registered on the built-in ``pv`` module by :func:`register_message_pvs`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.context import Ctx
from app.module import Module
from app.pv import split_index
from sip import URI, NameAddr, Request, Response, parse_uri


def _ruri(ctx: Ctx) -> URI | None:
    return ctx.msg.uri if isinstance(ctx.msg, Request) else None


def _duri(ctx: Ctx) -> URI | None:
    return parse_uri(ctx.dst_uri) if ctx.dst_uri else None


def _port_text(uri: URI | None) -> str | None:
    if uri is None:
        return None
    return str(uri.port or (5061 if uri.scheme == "sips" else 5060))


def _proto(uri: URI | None) -> str | None:
    return None if uri is None else (uri.transport or "udp").lower()


def _na(name: str) -> Callable[[Ctx], NameAddr | None]:
    return lambda ctx: getattr(ctx.received, name)


def _user(uri: URI | None) -> str | None:
    return (uri.user or None) if uri is not None else None


def _uri_parts(
    prefix: str, get: Callable[[Ctx], NameAddr | None]
) -> dict[str, Callable[[Ctx], Any]]:
    def uri(ctx: Ctx) -> URI | None:
        na = get(ctx)
        return na.uri if na is not None else None

    return {
        f"{prefix}u": lambda ctx: str(u) if (u := uri(ctx)) is not None else None,
        f"{prefix}U": lambda ctx: _user(uri(ctx)),
        f"{prefix}d": lambda ctx: u.host if (u := uri(ctx)) is not None else None,
        f"{prefix}n": lambda ctx: na.display_name if (na := get(ctx)) is not None else None,
        f"{prefix}t": lambda ctx: na.tag if (na := get(ctx)) is not None else None,
    }


def _status(ctx: Ctx) -> int | None:
    return ctx.msg.status if isinstance(ctx.msg, Response) else None


def _reason(ctx: Ctx) -> str | None:
    return ctx.msg.reason if isinstance(ctx.msg, Response) else None


def _su(ctx: Ctx, with_proto: bool) -> str:
    src = ctx.source
    host = f"[{src.ip}]" if src.is_ipv6 else src.ip
    tail = f";transport={src.proto}" if with_proto and src.proto != "udp" else ""
    return f"sip:{host}:{src.port}{tail}"


def _cseq(ctx: Ctx, part: str) -> str | None:
    cseq = ctx.received.cseq
    if cseq is None:
        return None
    return {"n": str(cseq.seq), "b": f"{cseq.seq} {cseq.method}"}[part]


def _contact_uri(ctx: Ctx) -> str | None:
    contacts = ctx.received.contacts
    return str(contacts[0].uri) if contacts else None


READ_ONLY: dict[str, Callable[[Ctx], Any]] = {
    "rP": lambda ctx: _proto(_ruri(ctx)),
    "dd": lambda ctx: u.host if (u := _duri(ctx)) is not None else None,
    "dp": lambda ctx: _port_text(_duri(ctx)),
    "dP": lambda ctx: _proto(_duri(ctx)),
    **_uri_parts("f", _na("from_")),
    **_uri_parts("t", _na("to")),
    "ci": lambda ctx: ctx.received.call_id,
    "cs": lambda ctx: _cseq(ctx, "n"),
    "csb": lambda ctx: _cseq(ctx, "b"),
    "rm": lambda ctx: ctx.method or None,
    "rs": _status,
    "rr": _reason,
    "si": lambda ctx: ctx.source.ip,
    "sp": lambda ctx: ctx.source.port,
    "su": lambda ctx: _su(ctx, False),
    "sut": lambda ctx: _su(ctx, True),
    "Ri": lambda ctx: ctx.source.local_ip,
    "Rp": lambda ctx: ctx.source.local_port,
    "pr": lambda ctx: ctx.source.proto,
    "proto": lambda ctx: ctx.source.proto,
    "ua": lambda ctx: ctx.received.get("User-Agent"),
    "ct": lambda ctx: ctx.received.get("Contact"),
    "ctu": _contact_uri,
    "cT": lambda ctx: ctx.received.get("Content-Type"),
    "ai": lambda ctx: ctx.received.get("P-Asserted-Identity"),
}


def _set_ruri(ctx: Ctx, **changes: Any) -> None:
    req = ctx.request
    if req is None:
        raise TypeError("the R-URI of a reply cannot be set")
    req.uri = req.uri.replace(**changes) if changes else req.uri


def _ru_set(ctx: Ctx, inner: str | None, value: Any) -> None:
    req = ctx.request
    if req is None or value is None:
        raise TypeError("$ru takes a URI")
    req.uri = parse_uri(str(value))


def _du_set(ctx: Ctx, inner: str | None, value: Any) -> None:
    ctx.dst_uri = None if value in (None, "") else str(parse_uri(str(value)))


READ_WRITE: dict[str, tuple[Callable[[Ctx], Any], Callable[[Ctx, str | None, Any], None]]] = {
    "ru": (lambda ctx: ctx.msg.uri_text if isinstance(ctx.msg, Request) else None, _ru_set),
    "rU": (
        lambda ctx: _user(_ruri(ctx)),
        lambda ctx, inner, value: _set_ruri(ctx, user="" if value is None else str(value)),
    ),
    "rd": (
        lambda ctx: u.host if (u := _ruri(ctx)) is not None else None,
        lambda ctx, inner, value: _set_ruri(ctx, host=str(value)),
    ),
    "rp": (
        lambda ctx: _port_text(_ruri(ctx)),
        lambda ctx, inner, value: _set_ruri(ctx, port=None if value is None else int(value)),
    ),
    "du": (lambda ctx: ctx.dst_uri, _du_set),
}


def hdr_get(ctx: Ctx, inner: str | None) -> str | None:
    """$hdr(name), $(hdr(name)[N]) (N < 0 counts from the end), $(hdr(name)[*])."""
    name, idx = split_index(inner or "")
    values = ctx.received.get_all(name.strip())
    if not values:
        return None
    if idx == "*":
        return ",".join(values)
    i = idx or 0
    return values[i] if -len(values) <= i < len(values) else None


def hdrc_get(ctx: Ctx, inner: str | None) -> int:
    """$hdrc(name): number of headers called name."""
    return len(ctx.received.get_all((inner or "").strip()))


def register_message_pvs(module: Module) -> None:
    """Declare the message PVs on ``module``."""
    for name, func in READ_ONLY.items():
        module.pv(name)(_getter(func))
    for name, (get, put) in READ_WRITE.items():
        module.pv(name)(_getter(get))
        module.pv_setter(name)(put)
    module.pv("hdr", "header body")(hdr_get)
    module.pv("hdrc", "header count")(hdrc_get)


def _getter(func: Callable[[Ctx], Any]) -> Callable[[Ctx, str | None], Any]:
    def getter(ctx: Ctx, inner: str | None) -> Any:
        return func(ctx)

    return getter
