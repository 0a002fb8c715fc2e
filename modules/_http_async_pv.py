"""The pseudo-variables of http_async_client: ``$http_req(key)`` (write-only query settings)
and the result variables read in the callback route (kemi.md §5.2).

Settings are kept per message context (``ctx.extra["http_req"]``) -- Kamailio keeps them per
process, which is the same for a script that sets them right before ``query`` -- and are
reset to the module defaults after each query. String keys must be assigned strings
(``KSR.pv.sets``), integer keys integers (``KSR.pv.seti``); ``$http_req(all) = $null``
resets all. Result variables read the reply stored in the callback's context; after a
transport error only ``$http_ok`` (0), ``$http_err``, ``$http_time``, ``$http_req_id`` and
``$http_xdata`` have values, the others are ``$null``.
"""

from __future__ import annotations

import logging
from typing import Any

from app.context import Ctx
from app.module import Module
from app.pv import split_index

log = logging.getLogger("siprouter.http_async_client")
STR_KEYS = frozenset(
    ("hdr", "body", "method", "tls_client_cert", "tls_client_key", "tls_ca_path",
     "username", "password")
)  # fmt: skip
INT_KEYS = frozenset(
    ("timeout", "authmethod", "suspend", "tcp_keepalive", "tcp_ka_idle", "tcp_ka_interval",
     "follow_redirect", "http_version", "tls_verify_peer", "tls_verify_host")
)  # fmt: skip
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
REPLY = "http_async_reply"  # ctx.extra key of the result seen by the callback
TIMES = ("total", "lookup", "connect", "appconnect", "pretransfer", "starttransfer", "redirect")


def settings(ctx: Ctx) -> dict[str, Any]:
    """The pending ``$http_req`` settings of this context (created empty)."""
    return ctx.extra.setdefault("http_req", {"hdr": []})  # type: ignore[no-any-return]


def take_settings(ctx: Ctx) -> dict[str, Any]:
    """The pending settings, reset for the next query."""
    return ctx.extra.pop("http_req", None) or {"hdr": []}


def set_request(ctx: Ctx, key: str | None, value: Any) -> None:
    """``$http_req(key) = value``; raise ValueError on a bad key or type."""
    key = (key or "").strip()
    if key == "all":
        if value is not None:
            raise ValueError("$http_req(all) can only be reset with $null")
        ctx.extra.pop("http_req", None)
        return
    current = settings(ctx)
    if value is None:
        current.pop(key, None)
        if key == "hdr":
            current["hdr"] = []
        return
    if key in STR_KEYS:
        _set_str(current, key, value)
    elif key in INT_KEYS:
        if not isinstance(value, int):
            raise ValueError(f"$http_req({key}) takes an integer (KSR.pv.seti)")
        current[key] = int(value)
    else:
        raise ValueError(f"unknown $http_req key {key!r}")


def _set_str(current: dict[str, Any], key: str, value: Any) -> None:
    if not isinstance(value, str):
        raise ValueError(f"$http_req({key}) takes a string (KSR.pv.sets)")
    if key == "hdr":
        current["hdr"].append(value)
    elif key == "method":
        if value.upper() not in METHODS:
            raise ValueError(f"unsupported HTTP method {value!r}")
        current[key] = value.upper()
    else:
        current[key] = value


def _reply(ctx: Ctx, ok_only: bool = True) -> Any:
    result = ctx.extra.get(REPLY)
    if result is None:
        return None
    reply = result.reply
    if ok_only and not reply.ok:
        log.warning("http_async_client: reading a result variable after an error")
        return None
    return reply


def register(module: Module) -> None:
    """Declare the PVs on ``module``."""
    module.pv("http_req", "query settings (write-only)")(lambda ctx, inner: None)
    module.pv_setter("http_req")(set_request)

    def simple(name: str, func: Any, ok_only: bool = True) -> None:
        def getter(ctx: Ctx, inner: str | None) -> Any:
            reply = _reply(ctx, ok_only)
            return None if reply is None else func(reply)

        module.pv(name)(getter)

    simple("http_ok", lambda r: 1 if r.ok else 0, ok_only=False)
    simple("http_err", lambda r: r.error, ok_only=False)
    simple("http_rs", lambda r: r.status)
    simple("http_rr", lambda r: r.reason)
    simple("http_rb", lambda r: r.text)
    simple("http_bs", lambda r: len(r.body))
    simple("http_mb", lambda r: r.raw())
    simple("http_ml", lambda r: len(r.raw().encode()))
    module.pv("http_hdr")(_header)
    module.pv("http_time")(_time)
    module.pv("http_req_id")(lambda ctx, inner: ctx.extra.get("http_req_id"))
    module.pv("http_xdata")(_xdata)


def _header(ctx: Ctx, inner: str | None) -> Any:
    """$http_hdr(Name), $(http_hdr(Name)[N]) (N < 0 from the end)."""
    reply = _reply(ctx)
    if reply is None:
        return None
    name, idx = split_index(inner or "")
    values = reply.headers.getall(name.strip(), [])
    i = 0 if idx in (None, "*") else int(idx)
    return values[i] if -len(values) <= i < len(values) else None


def _time(ctx: Ctx, inner: str | None) -> Any:
    """$http_time(total|lookup|connect|appconnect|pretransfer|starttransfer|redirect), µs."""
    result = ctx.extra.get(REPLY)
    key = (inner or "total").strip()
    if result is None or key not in TIMES:
        return None
    return result.reply.times.get(key, 0)


def _xdata(ctx: Ctx, inner: str | None) -> Any:
    result = ctx.extra.get(REPLY)
    return None if result is None else result.xdata
