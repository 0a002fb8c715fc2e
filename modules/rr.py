"""rr: Record-Route and Route processing (Kamailio's rr module; RFC 3261 §16.4, §16.6,
§16.12; RFC 5658 double record-routing).

``record_route()`` inserts ``<sip:ip:port;transport=x;lr;ftag=...>`` for the local socket
the request came in on (the listen's advertised address when it has one) above the other
Record-Route values, in the message that will be relayed. Double record-routing needs the
outgoing side, known only at relay time: whoever sends the request (core ``forward``,
tm's ``t_relay``) calls, for each outgoing copy, every hook in ``ctx.extra["relay_hooks"]``
as ``hook(ctx, out_msg, out_proto, out_host, out_port)`` -- the local address the copy
leaves from. rr registers its hook there; ``module.api["finalize"]`` is the same function
for a caller that prefers the module API (call one of the two, not both).

``loose_route()`` follows Kamailio 5.6 (compared on loopback): 1 routed by Route (``$du`` set
to a loose next hop, or the Request-URI rewritten for a strict one), -1 no Route, -3 an
initial request whose only Route was ours; 2/-2 (outbound flow tokens) never happen here.

Callbacks (Kamailio's rr API ``register_rrcb``): ``module.api["register_rrcb"](cb)`` adds
``cb(ctx, params)``, run by ``loose_route()`` when the Route it consumed was ours and had
parameters (``params`` as ``check_route_param`` sees them, ``"lr;ftag=x;name=value"``), before
it returns; its return code does not change, an exception in a callback is logged. With no
callback registered loose_route does nothing more. ``add_rr_param()`` in a branch route adds
the parameter to our Record-Route of that branch only (e.g. rtjson's From/To restore data).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from app.module import Module
from modules import _rrbuild as rb
from modules._pvfmt import pv_format
from sip import URI, RemoteProtocolError, Request
from sip.headers import parse_name_addr
from sip.routing import postprocess_routes, preprocess_routes

module = Module("rr", doc="Record-Route and loose routing")
module.param("enable_full_lr", int, 0, doc="write ;lr=on instead of ;lr")
module.param("append_fromtag", int, 1, doc="add ;ftag=<From tag> to Record-Route")
module.param("enable_double_rr", int, 1, doc="1: two RR when interfaces differ; 2: always two")
module.param("add_username", int, 0, doc="accepted; not used")
module.param("ignore_user", int, 1, doc="accepted; not used")
module.param("force_send_socket", int, 0, doc="accepted; not used")
module.param("ignore_sips", int, 0, doc="accepted; not used")
module.param("sockname_mode", int, 0, doc="accepted; not used")
module.param("custom_user_avp", str, "", doc="accepted; not used")

log = logging.getLogger("siprouter.rr")

#: ``cb(ctx, params)`` run by loose_route() when our Route had parameters (register_rrcb)
RR_CALLBACKS: list[Callable[[Any, str], None]] = []


@module.export("register_rrcb")
def register_rrcb(callback: Callable[[Any, str], None]) -> None:
    """Run ``callback(ctx, params)`` from loose_route() whenever our consumed Route had
    parameters (registering the same callable twice registers it once)."""
    if callback not in RR_CALLBACKS:
        RR_CALLBACKS.append(callback)


def _run_callbacks(ctx: Any, params: str) -> None:
    for callback in RR_CALLBACKS:
        try:
            callback(ctx, params)
        except Exception:  # a module's bug must not change loose_route's answer
            log.exception("rr: callback %r failed (Call-ID %s)", callback, ctx.call_id)


# -- Record-Route ---------------------------------------------------------------------------
def _inbound(ctx: Any) -> rb.Iface:
    src = ctx.source
    core = ctx.core
    adv = core.advertise.get((src.proto, src.local_ip, src.local_port)) if core else None
    if adv is not None:
        return rb.Iface(src.proto, adv[0], adv[1])
    host = src.local_ip
    if host in ("0.0.0.0", "::"):
        from app.forward import route_source_ip  # noqa: PLC0415 - wildcard listeners only

        host = route_source_ip(src.ip, src.is_ipv6)
    return rb.Iface(src.proto, host, src.local_port)


def _ftag(ctx: Any) -> str | None:
    return ctx.received.from_tag if module.cfg["append_fromtag"] else None


def _values(ctx: Any, st: rb.RRState, out: rb.Iface | None) -> list[str]:
    lr = rb.lr_param(module.cfg["enable_full_lr"])
    tail = rb.tail_params(_ftag(ctx), st.params)
    if st.preset:
        return [rb.preset_value(v, tail, lr) for v in st.preset]
    assert st.inbound is not None
    inb = st.inbound
    if out is None or _one_value(st, out):
        return [rb.auto_value(inb, tail, r2=False, transport=True, lr=lr)]
    return [rb.auto_value(x, tail, r2=True, transport=True, lr=lr) for x in (out, inb)]


def _one_value(st: rb.RRState, out: rb.Iface) -> bool:
    """True when record_route() writes one value for outgoing side ``out``, False for
    the ``r2=on`` pair of ``enable_double_rr``."""
    mode = module.cfg["enable_double_rr"]
    return not mode or (mode == 1 and out == st.inbound)


def _apply(ctx: Any, st: rb.RRState) -> int:
    values = _values(ctx, st, None)
    rb.replace_ours(ctx.editing(), st.count, values)
    st.count = len(values)
    if not st.hooked and st.inbound is not None:
        ctx.extra.setdefault("relay_hooks", []).append(finalize)
        st.hooked = True
    return 1


def _start(ctx: Any) -> rb.RRState | None:
    if not isinstance(ctx.msg, Request):
        return None
    st = rb.state(ctx)
    if st.count:
        log.error("rr: double attempt to record-route (Call-ID %s)", ctx.call_id)
        return None
    return st


@module.function("record_route")
def record_route(ctx: Any) -> int:
    """Insert our Record-Route (the incoming socket; double RR decided at relay time)."""
    st = _start(ctx)
    if st is None:
        return -1
    st.inbound = _inbound(ctx)
    return _apply(ctx, st)


@module.function("record_route_params", "s")
def record_route_params(ctx: Any, params: str) -> int:
    """record_route() with extra ``;name=value`` parameters (PVs expanded)."""
    rb.state(ctx).params += pv_format(ctx, params)
    return record_route(ctx)


@module.function("record_route_preset", "ss")
def record_route_preset(ctx: Any, addr: str, addr2: str) -> int:
    """Two Record-Route values from strings: ``addr`` outbound (top), ``addr2`` inbound."""
    st = _start(ctx)
    if st is None:
        return -1
    st.preset = [pv_format(ctx, a) for a in (addr, addr2) if a]
    return _apply(ctx, st)


@module.function("record_route_preset_one", "s")
def record_route_preset_one(ctx: Any, addr: str) -> int:
    """One Record-Route value from a ``host:port;params`` string."""
    return record_route_preset(ctx, addr, "")


@module.function("record_route_advertised_address", "s")
def record_route_advertised_address(ctx: Any, addr: str) -> int:
    """Record-Route with the given address instead of the incoming socket."""
    return record_route_preset(ctx, addr, "")


@module.function("add_rr_param", "s")
def add_rr_param(ctx: Any, param: str) -> int:
    """Add ``;name=value`` to our Record-Route (before or after record_route())."""
    text = pv_format(ctx, param).strip()
    if not text:
        return -1
    st = rb.state(ctx)
    if not st.count and ctx.route == "branch_route":
        return _branch_param(ctx, text if text.startswith(";") else ";" + text)
    st.params += text if text.startswith(";") else ";" + text
    return _apply(ctx, st) if st.count else 1


@module.export("add_branch_param")
def _branch_param(ctx: Any, params: str) -> int:
    """Branch route: append ``params`` to our Record-Route values (the top ones) of this
    branch's request; -1 when it has none (record_route() was not called)."""
    msg = ctx.msg
    is_mine = _mine(ctx)
    values = msg.values("Record-Route")[:2] if "record-route" in msg else []
    ours = []
    for value in values:
        try:
            mine = is_mine(parse_name_addr(value).uri)
        except (ValueError, RemoteProtocolError):
            mine = False
        if not mine or ">" not in value:
            break
        ours.append(value)
    if not ours:
        return -1
    cuts = [v.rindex(">") for v in ours]
    values = [v[:c] + params + v[c:] for v, c in zip(ours, cuts, strict=True)]
    rb.replace_ours(ctx.editing(), len(ours), values)
    return 1


@module.function("remove_record_route")
def remove_record_route(ctx: Any) -> int:
    """Take back the Record-Route values added by this module."""
    st = rb.state(ctx)
    if st.count:
        rb.replace_ours(ctx.editing(), st.count, [])
    st.count, st.inbound, st.preset = 0, None, []
    return 1


@module.export("finalize")
def finalize(ctx: Any, out_msg: Any, out_proto: str, out_host: str, out_port: int) -> None:
    """Relay-time hook: rewrite our Record-Route in ``out_msg`` for the outgoing side
    (two values with ``r2=on`` when the interfaces differ, per ``enable_double_rr``)."""
    st = ctx.extra.get(rb.STATE_KEY)
    if st is None or not st.count or st.inbound is None:
        return
    out = rb.Iface(out_proto.lower(), out_host, out_port)
    if st.preset or _one_value(st, out):
        return  # the value written by record_route() is right for this side
    values, single = _values(ctx, st, out), _values(ctx, st, None)
    extra = _branch_extra(out_msg, single[0])
    if extra:
        values = [v[: v.rindex(">")] + extra + v[v.rindex(">") :] for v in values]
    rb.replace_ours(out_msg, st.count, values)


def _branch_extra(msg: Any, expected: str) -> str:
    """The parameters a branch route added to our Record-Route (``add_rr_param`` there):
    what the top value has beyond ``expected`` before its ``>``."""
    values = msg.values("Record-Route")[:1] if "record-route" in msg else []
    if not values:
        return ""
    cur, cut = values[0], expected.rindex(">")
    head, tail = expected[:cut], expected[cut:]
    if len(cur) > len(expected) and cur.startswith(head) and cur.endswith(tail):
        return cur[cut : len(cur) - len(tail)]
    return ""


# -- Route ----------------------------------------------------------------------------------
def _mine(ctx: Any) -> Any:
    def is_mine(uri: URI) -> bool:
        return ctx.core is not None and ctx.core.is_myself(uri.host_bare, uri.port, None)

    return is_mine


def _params_text(uri: URI) -> str:
    return ";".join(k if v is None else f"{k}={v}" for k, v in uri.params)


@module.function("loose_route")
def loose_route(ctx: Any) -> int:
    """Route by the Route set (RFC 3261 §16.4/§16.12); 1, -1 no Route, -3 preloaded."""
    req = ctx.request
    if req is None or "route" not in ctx.msg:
        return -1
    msg = ctx.editing()
    st = rb.state(ctx)
    uri, routes = msg.uri, msg.routes
    done = preprocess_routes(msg, _mine(ctx))
    # the parameters of our local Route: the R-URI a strict router left, else our top Route
    ours = uri if done.strict else routes[0].uri if done.removed else None
    st.route_params = None if ours is None else _params_text(ours)
    st.routed = True
    if not msg.routes:
        if RR_CALLBACKS and st.route_params:
            _run_callbacks(ctx, st.route_params)
        return 1 if req.to_tag else -3
    nxt = msg.routes[0].uri
    if nxt.has_param("lr"):
        ctx.dst_uri = str(nxt.replace(headers=None))
    else:
        postprocess_routes(msg)
    if RR_CALLBACKS and st.route_params:
        _run_callbacks(ctx, st.route_params)
    return 1


@module.function("loose_route_preloaded")
def loose_route_preloaded(ctx: Any) -> int:
    """loose_route() for initial requests only: 1 when routed by a preloaded Route."""
    if ctx.received.to_tag:
        return -1
    return 1 if loose_route(ctx) in (1, -3) else -1


@module.function("loose_route_mode", "i")
def loose_route_mode(ctx: Any, vmode: int) -> int:
    """loose_route(); mode 1 skips the strict-router test of the R-URI (same here)."""
    return loose_route(ctx)


@module.function("next_hop_route")
def next_hop_route(ctx: Any) -> int:
    """1 if, after loose_route(), a Route header gives the next hop."""
    return 1 if ctx.request is not None and ctx.msg.routes else -1


@module.function("check_route_param", "s")
def check_route_param(ctx: Any, regex: str) -> int:
    """Match the parameters of our (local) Route against a regular expression."""
    params = rb.state(ctx).route_params
    if params is None:
        return -1
    try:
        return 1 if re.search(regex, params) else -1
    except re.error as exc:
        log.error("rr: bad regex %r: %s", regex, exc)
        return -1


@module.function("is_direction", "s")
def is_direction(ctx: Any, direction: str) -> int:
    """1 if the in-dialog request goes ``downstream`` (caller to callee) or ``upstream``."""
    want = direction.strip().lower()
    if want not in ("downstream", "upstream"):
        log.error("rr: unknown direction %r", direction)
        return -1
    params = rb.state(ctx).route_params or ""
    ftag = next((p[5:] for p in params.split(";") if p.lower().startswith("ftag=")), None)
    down = ftag is None or ftag == (ctx.received.from_tag or "")
    return 1 if (want == "downstream") == down else -1


@module.pv("route_uri")
def route_uri(ctx: Any, inner: str | None) -> str | None:
    """$route_uri: the URI of the top Route header (as received)."""
    routes = ctx.received.routes
    return str(routes[0].uri) if routes else None
