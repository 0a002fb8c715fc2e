"""rtjson: routing from a JSON document (Kamailio's rtjson module, kemi.md §5.5).

The document::

    {"version": "1.0", "routing": "serial" | "parallel",
     "routes": [{"uri": "sip:b@10.0.0.2", "dst_uri": "sip:10.0.0.9:5060",
                 "path": "<sip:p1>, <sip:p2>", "socket": "udp:10.0.0.1:5060",
                 "headers": {"from": {"display": "A", "uri": "sip:a@x"},
                             "to": {"display": "B", "uri": "sip:b@y"},
                             "extra": "X-Tag: 1\\r\\n"},
                 "branch_flags": 8, "fr_timer": 5000, "fr_inv_timer": 30000}, ...]}

* ``init_routes(doc)`` validates and stores the document in ``$xavp(rtjson=>json)`` with the
  next index in ``$xavp(rtjson=>idx)`` (``xavp_cfg`` names the xavp); the xavp travels with
  the transaction, so a failure route finds it again.
* ``push_routes()``: serial -> the first route becomes branch 0 (R-URI, ``$du``, Path,
  socket, branch flags; older branches are dropped); parallel -> branch 0 plus one branch per
  other route.
* ``next_route()`` (request or failure route, serial only): appends the next route as a
  branch -- then ``KSR.tm.t_relay()``; -1 when the routes are exhausted.
* ``update_branch()`` (branch route): applies ``fr_timer``/``fr_inv_timer`` (through
  ``KSR.tm.t_set_fr``), ``headers.extra`` and ``headers.from``/``headers.to`` of the route
  the branch was built from. From/To: the display name and URI of the branch's request are
  replaced, the header's parameters (the tags) kept; an empty ``display`` removes the
  display name.

From/To for the whole dialog (Kamailio's uac ``restore_mode`` "auto", the default here:
``restore_mode`` "auto" | "none"): replies relayed back to the caller carry the From/To it
sent (display name and URI; the callee's To tag kept), and later in-dialog requests are
translated in both directions -- from the caller, From/To get the new values; from the
callee, its From gets the To the caller sent and its To the caller's From; their replies get
back what their sender sent. The values travel in parameters of our Record-Route
(``rr_from_param`` ``rjf``, ``rr_to_param`` ``rjt``; see :mod:`modules._fromto` for the
encoding, ``MAX_VALUE`` 256 characters per value), so **the INVITE must be record-routed**
(``KSR.rr.record_route()`` before ``t_relay``), as Kamailio requires; the direction of an
in-dialog request comes from the ``ftag`` of our Route (rr's ``append_fromtag``, on by
default). ``restore_key`` (a secret, the same on every proxy of the dialog's path that
restores) seals the parameter values: the user agents, which see our Record-Route, can
neither read the other side's identity nor forge it. The replies of the initial INVITE are
restored through ``Cell.upstream_fixups``; those of in-dialog requests through
``ctx.extra["tm_upstream_fixups"]``, which tm must move to the cell it creates for the
request (``t_relay`` after ``loose_route``). The callee's 2xx retransmitted after the INVITE
transaction ended is relayed as it comes (statelessly).

Differences from Kamailio, for what its users trip over: ``branch_flags`` apply to every
route (Kamailio applies them to the first route only, although its README says otherwise),
``update_branch`` also works for parallel documents (route chosen by the branch index), and
From/To are rewritten by rtjson itself on the outgoing branch (Kamailio hands them to the
uac module, whose replace functions act on the original request through lumps and get the
display name and URI of forked branches wrong); each branch records its own values, so
parallel or serial routes with different From/To are restored correctly, display names
included (uac restores URIs only).
"""

from __future__ import annotations

import logging
from typing import Any

from app.context import Branch, Ctx
from app.module import Module
from modules import _fromto as ft
from modules import load_module
from modules._jsonpath import PathError, loads
from sip import RemoteProtocolError, parse_uri
from sip.headers import NameAddr, parse_name_addr

module = Module("rtjson", doc="routing from a JSON document")
module.param("xavp_cfg", str, "rtjson", doc="xavp holding the document and the index")
module.param("restore_mode", str, "auto", doc="auto: From/To restored for the whole dialog; none")
module.param("rr_from_param", str, "rjf", doc="Record-Route parameter keeping From")
module.param("rr_to_param", str, "rjt", doc="Record-Route parameter keeping To")
module.param("restore_key", str, "", doc="secret sealing the Record-Route parameters")
log = logging.getLogger("siprouter.rtjson")
ROUTINGS = ("serial", "parallel")
_last: list[Any] = [None, None]  # the last document parsed: text, document


class DocError(ValueError):
    """The routing document is not usable."""


def validate(doc: Any) -> dict[str, Any]:
    """Check the document's shape; return it or raise :class:`DocError`."""
    if not isinstance(doc, dict):
        raise DocError("the routing document must be a JSON object")
    if doc.get("routing") not in ROUTINGS:
        raise DocError(f"routing must be serial or parallel, got {doc.get('routing')!r}")
    routes = doc.get("routes")
    if not isinstance(routes, list) or not routes:
        raise DocError("routes must be a non-empty array")
    for pos, route in enumerate(routes):
        if not isinstance(route, dict):
            raise DocError(f"routes[{pos}] must be an object")
        for key in ("uri", "dst_uri"):
            if route.get(key):
                _check_uri(pos, key, route[key])
        for key in ("branch_flags", "fr_timer", "fr_inv_timer"):
            if key in route and not isinstance(route[key], int):
                raise DocError(f"routes[{pos}].{key} must be an integer")
        headers = route.get("headers")
        if headers is not None and not isinstance(headers, dict):
            raise DocError(f"routes[{pos}].headers must be an object")
        for which in ("from", "to"):
            value = (headers or {}).get(which)
            if isinstance(value, dict) and value.get("uri"):
                _check_uri(pos, f"headers.{which}.uri", value["uri"])
    return doc


def _check_uri(pos: int, key: str, value: Any) -> None:
    try:
        parse_uri(str(value))
    except (ValueError, RemoteProtocolError) as exc:
        raise DocError(f"routes[{pos}].{key}: {exc}") from None


def _state(ctx: Ctx) -> dict[str, list[Any]] | None:
    items = ctx.xavps.get(module.cfg["xavp_cfg"])
    return items[0] if items else None


def parsed(text: str) -> dict[str, Any]:
    """``text`` parsed and validated; the last document is kept, so that push_routes, the
    branch routes and next_route of a call do not parse again what init_routes parsed
    (documents are never modified). Raise :class:`PathError` / :class:`DocError`."""
    last = _last
    if last[0] is text or last[0] == text:
        return last[1]  # type: ignore[no-any-return]
    doc = validate(loads(text))
    last[0], last[1] = text, doc
    return doc


def document(ctx: Ctx) -> tuple[dict[str, Any], int] | None:
    """The stored document and next index."""
    state = _state(ctx)
    if state is None or not state.get("json"):
        log.error("rtjson: no routing document (call init_routes first)")
        return None
    idx = (state.get("idx") or [0])[0]
    return parsed(state["json"][0]), int(idx)


def _set_idx(ctx: Ctx, idx: int) -> None:
    state = _state(ctx)
    if state is not None:
        state["idx"] = [idx]


@module.function("init_routes", "s")
def init_routes(ctx: Ctx, text: str) -> int:
    """Validate and store the routing document; 1 / -1."""
    try:
        parsed(text)
    except (PathError, DocError) as exc:
        log.error("rtjson: invalid routing document: %s", exc)
        return -1
    ctx.xavps[module.cfg["xavp_cfg"]] = [{"json": [text], "idx": [0]}]
    return 1


def _path(route: dict[str, Any]) -> list[str]:
    value = route.get("path") or ""
    return [p.strip() for p in str(value).split(",") if p.strip()]


def make_branch(ctx: Ctx, route: dict[str, Any]) -> Branch:
    """The destination a route describes (R-URI kept when it has no ``uri``)."""
    req = ctx.request
    uri = route.get("uri") or (req.uri_text if req is not None else "")
    return Branch(
        uri=str(uri),
        dst_uri=route.get("dst_uri") or None,
        path=_path(route),
        flags=int(route.get("branch_flags") or 0),
        socket=route.get("socket") or None,
    )


def set_branch0(ctx: Ctx, route: dict[str, Any]) -> None:
    """Make ``route`` branch 0: R-URI, ``$du``, Path, socket, flags; drop other branches."""
    req = ctx.request
    if req is not None and route.get("uri"):
        req.uri = parse_uri(str(route["uri"]))
    ctx.branches.clear()
    ctx.dst_uri = route.get("dst_uri") or None
    ctx.path = _path(route)
    ctx.q = None
    ctx.extra["rtjson_socket"] = route.get("socket") or None
    ctx.bflags[0] = ctx.bflags.get(0, 0) | int(route.get("branch_flags") or 0)
    ctx.extra.pop("tm_ruri_consumed", None)  # the R-URI is a new branch again


@module.function("push_routes")
def push_routes(ctx: Ctx) -> int:
    """Apply the document: serial -> first route; parallel -> all routes; 1 / -1."""
    found = _load(ctx)
    if found is None or ctx.request is None:
        return -1
    doc, _ = found
    routes = doc["routes"]
    set_branch0(ctx, routes[0])
    if doc["routing"] == "serial":
        _set_idx(ctx, 1)
        return 1
    ctx.branches.extend(make_branch(ctx, route) for route in routes[1:])
    _set_idx(ctx, len(routes))
    return 1


def _load(ctx: Ctx) -> tuple[dict[str, Any], int] | None:
    try:
        return document(ctx)
    except (PathError, DocError) as exc:
        log.error("rtjson: stored document is invalid: %s", exc)
        return None


@module.function("next_route")
def next_route(ctx: Ctx) -> int:
    """Serial documents: append the next route as a branch (then t_relay); 1 / -1."""
    found = _load(ctx)
    if found is None or ctx.request is None:
        return -1
    doc, idx = found
    if doc["routing"] != "serial" or idx >= len(doc["routes"]):
        return -1
    ctx.branches.append(make_branch(ctx, doc["routes"][idx]))
    _set_idx(ctx, idx + 1)
    return 1


def _branch_route(ctx: Ctx, doc: dict[str, Any], idx: int) -> dict[str, Any] | None:
    routes = doc["routes"]
    if doc["routing"] == "serial":
        return routes[idx - 1] if 0 < idx <= len(routes) else None
    tm = getattr(ctx.engine.ksr, "tm", None) if ctx.engine else None
    branch = tm.t_get_branch_index() if tm is not None else -1
    return routes[branch] if isinstance(branch, int) and 0 <= branch < len(routes) else None


@module.function("update_branch")
def update_branch(ctx: Ctx) -> int:
    """In a branch route: timers, extra headers, From/To of the branch's route; 1 / -1."""
    found = _load(ctx)
    if found is None:
        return -1
    route = _branch_route(ctx, *found)
    if route is None:
        return -1
    ksr = ctx.engine.ksr if ctx.engine else None
    _timers(ksr, route)
    extra = (route.get("headers") or {}).get("extra") or ""
    if len(extra) > 4 and ksr is not None:
        text = extra if extra.endswith("\n") else extra + "\r\n"
        ksr.hdr.append(text)
    _from_to(ctx, route.get("headers") or {})
    return 1


def _timers(ksr: Any, route: dict[str, Any]) -> None:
    fr, fr_inv = int(route.get("fr_timer") or 0), int(route.get("fr_inv_timer") or 0)
    tm = getattr(ksr, "tm", None)
    if tm is None or not (fr or fr_inv):
        return
    tm.t_set_fr(fr_inv, fr)


def _from_to(ctx: Ctx, headers: dict[str, Any]) -> None:
    """Rewrite From/To of the branch's request (display name and URI; tags kept) and keep
    what the rest of the dialog needs to translate them (restore_mode auto)."""
    kept: dict[str, tuple[str, str]] = {}  # header -> (as the caller sent it, as relayed)
    for which, name in (("from", "From"), ("to", "To")):
        value = headers.get(which)
        if not isinstance(value, dict) or not value.get("uri"):
            continue
        msg = ctx.editing()
        current = msg.get(name)
        if current is None:
            continue
        try:
            new = rewrite(
                parse_name_addr(current), str(value.get("display") or ""), str(value["uri"])
            )
            sent = ctx.received.get(name) or current
            kept[name] = (ft.bare(parse_name_addr(sent)), ft.bare(parse_name_addr(new)))
        except (ValueError, RemoteProtocolError) as exc:
            log.error("rtjson: cannot rewrite %s (Call-ID %s): %s", name, ctx.call_id, exc)
            continue
        msg.replace(name, new)
    if kept and module.cfg["restore_mode"] == "auto":
        _keep(ctx, kept)


def _keep(ctx: Ctx, kept: dict[str, tuple[str, str]]) -> None:
    """Replies restored through the transaction; the values in our Record-Route."""
    _restore_replies(ctx, {name: pair[0] for name, pair in kept.items()})
    key = module.cfg["restore_key"]
    params = ""
    for name, (original, new) in kept.items():
        encoded = ft.encode(original, new, key)
        if encoded is None:
            log.warning("rtjson: %s too long to keep in Record-Route, the dialog's later "
                        "requests are not translated (Call-ID %s)", name, ctx.call_id)  # fmt: skip
            continue
        params += f";{_param_name(name)}={encoded}"
    if params and _rr_api("add_branch_param")(ctx, params) < 0:
        log.debug("rtjson: INVITE not record-routed, From/To of later requests are not "
                  "translated (Call-ID %s)", ctx.call_id)  # fmt: skip


def _param_name(header: str) -> str:
    return str(module.cfg["rr_from_param" if header == "From" else "rr_to_param"])


def _rr_api(name: str) -> Any:
    return load_module("rr").api[name]


def _restore_replies(ctx: Ctx, values: dict[str, str]) -> None:
    """Replies upstream get ``values`` (header -> ``display <uri>``) back: through the
    transaction's fixups (``tm_upstream_fixups`` until tm has created it)."""
    cell = ctx.extra.get("tm_cell")
    if cell is not None:
        fixups = cell.upstream_fixups
    else:
        fixups = ctx.extra.setdefault("tm_upstream_fixups", [])
    for fixup in fixups:
        if isinstance(fixup, ft.RestoreReplies):
            for name, value in values.items():
                fixup.values.setdefault(name, value)
            return
    fixups.append(ft.RestoreReplies(dict(values)))


def on_route(ctx: Ctx, params: str) -> None:
    """rr callback (loose_route consumed our Route): translate From/To of an in-dialog
    request whose Route carries our parameters."""
    names = (module.cfg["rr_from_param"], module.cfg["rr_to_param"])
    if names[0] + "=" not in params and names[1] + "=" not in params:
        return
    received = ctx.received
    if ctx.request is None or not received.to_tag or module.cfg["restore_mode"] != "auto":
        return
    found = dict(p.partition("=")[::2] for p in params.split(";"))
    pairs: dict[str, tuple[str, str]] = {}
    for header, name in zip(("From", "To"), names, strict=True):
        if found.get(name):
            pair = ft.decode(found[name], module.cfg["restore_key"])
            if pair is None:
                log.warning("rtjson: Route parameter %s does not decode, %s left as is "
                            "(Call-ID %s)", name, header, ctx.call_id)  # fmt: skip
                continue
            pairs[header] = pair
    down = _downstream(ctx, found.get("ftag"), pairs)
    if not pairs or down is None:
        return
    if down:  # caller -> callee: the values the callee knows
        wanted = {name: pair[1] for name, pair in pairs.items()}
    else:  # callee -> caller: its From is the caller's To, its To the caller's From
        swap = {"From": "To", "To": "From"}
        wanted = {swap[name]: pair[0] for name, pair in pairs.items()}
    msg = ctx.editing()
    sent = {}
    for name, value in wanted.items():
        current = received.get(name)
        if current is None:
            continue
        try:
            sent[name] = ft.bare(parse_name_addr(current))
        except (ValueError, RemoteProtocolError):
            continue
        if sent[name] != value:
            ft.rewrite_header(msg, name, value)
    if sent and ctx.request.method != "ACK":
        _restore_replies(ctx, sent)


def _downstream(ctx: Ctx, ftag: str | None, pairs: dict[str, tuple[str, str]]) -> bool | None:
    """True for a request from the caller, False from the callee, None if unknown: the
    ``ftag`` of our Route, else which of the kept values the request's From matches."""
    received = ctx.received
    if ftag is not None:
        return ftag == (received.from_tag or "")
    try:
        sender = str(parse_name_addr(received.get("From") or "").uri)
        target = str(parse_name_addr(received.get("To") or "").uri)
        if "From" in pairs:
            original, new = (str(parse_name_addr(v).uri) for v in pairs["From"])
            if sender == original or target == new:
                return sender == original
        if "To" in pairs:
            original, new = (str(parse_name_addr(v).uri) for v in pairs["To"])
            if sender == new or target == original:
                return sender != new
    except (ValueError, RemoteProtocolError):
        return None
    return None


@module.on_start
def _register() -> None:
    """loose_route() calls :func:`on_route` (also after a restart: the dialogs' data is in
    their Route sets)."""
    _rr_api("register_rrcb")(on_route)


module.on_child_init(lambda rank: _register())


def rewrite(current: NameAddr, display: str, uri: str) -> str:
    """``"display" <uri>`` followed by the parameters of ``current`` (its tag)."""
    parse_uri(uri)
    quoted = display.replace("\\", "\\\\").replace('"', '\\"')
    return str(NameAddr(uri, f'"{quoted}"' if display else None, current.params))
