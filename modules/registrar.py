"""registrar: REGISTER processing and location lookups (Kamailio's registrar module).

``save(table, flags)`` / ``save_uri(table, flags, uri)`` update the location table from a
REGISTER (see :mod:`modules._registrar_save` for the rules) and answer 200 OK listing the
AoR's contacts; ``lookup``/``lookup_uri``/``lookup_to_dset``/``lookup_branches`` rewrite the
R-URI to the best contact (``$du`` from Path or the received address, branch flags from the
contact) and add the others as branches ordered by q; ``registered``, ``unregister``,
``reg_fetch_contacts``/``reg_free_contacts`` with ``$ulc(profile=>attr)``,
``reg_send_reply``. Return codes as Kamailio (kemi.md §2.3). The table itself is usrloc's,
reached through its exported API.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from functools import lru_cache, partial
from typing import Any

from app.context import Branch, Ctx
from app.module import Module
from modules import _registrar_save as rs
from modules import load_module
from sip import URI, Request, parse_name_addr, parse_uri, unescape

log = logging.getLogger("siprouter.registrar")
module = Module("registrar", doc="REGISTER processing and lookups", requires=("usrloc", "sl"))
for _name, _default, _doc in (
    ("default_expires", 3600, "expires when the REGISTER gives none"),
    ("min_expires", 60, "lower bound of expires"),
    ("min_expires_mode", 0, "1: answer 423 below min_expires"),
    ("max_expires", 0, "upper bound of expires (0: none)"),
    ("max_contacts", 0, "contacts per AoR (0: no limit)"),
    ("default_q", -1, "q (x1000) of contacts without one; -1 unspecified"),
    ("append_branches", 1, "lookup adds the other contacts as branches"),
    ("case_sensitive", 0, "1: AoR user part is case sensitive"),
    ("method_filtering", 0, "lookup skips contacts that do not allow the method"),
    ("use_path", 0, "store the Path of REGISTERs"),
    ("path_mode", 2, "0 store, 1 store and reply if supported, 2 require Supported: path"),
    ("path_use_received", 0, "received of the first Path URI as received address"),
    ("gruu_enabled", 1, "accepted; GRUU is not implemented"),
    ("outbound_mode", 0, "accepted"),
    ("regid_mode", 0, "accepted"),
    ("sock_flag", -1, "accepted"),
    ("retry_after", 0, "Retry-After of 503 replies (0: none)"),
    ("expires_range", 0, "accepted"),
    ("default_expires_range", 0, "accepted"),
    ("use_expired_contacts", 0, "accepted"),
    ("lookup_filter_mode", 0, "accepted"),
    ("contact_max_size", 512, "longest Contact URI accepted"),
):
    module.param(_name, int, _default, doc=_doc)
for _name, _default, _doc in (
    ("received_avp", "", "AVP holding the received address ($avp(RECEIVED))"),
    ("received_param", "received", "Contact parameter carrying it in replies"),
    ("realm_prefix", "", "accepted"),
    ("aor_avp", "", "accepted"),
    ("reg_callid_avp", "", "accepted"),
    ("xavp_cfg", "", "accepted"),
    ("xavp_rcd", "", "accepted"),
    ("sock_hdr_name", "", "accepted"),
    ("event_callback", "", "accepted"),
):
    module.param(_name, str, _default, doc=_doc)

stats: Counter[str] = Counter()
profiles: dict[str, dict[str, Any]] = {}  # reg_fetch_contacts results, per process (Kamailio)
_AVP = re.compile(r"\$avp\((?:[si]:)?([^)\[]+)\)")


class _Usrloc:
    """usrloc's exported API and parameters, looked up once (registrar requires usrloc)."""

    def __init__(self) -> None:
        self._module: Any = None
        self._api: dict[str, Any] | None = None

    def _get(self) -> Any:
        if self._module is None:
            self._module = load_module("usrloc")
        return self._module

    def __getitem__(self, name: str) -> Any:
        api = self._api
        if api is None:
            api = self._api = self._get().api
        return api[name]

    @property
    def cfg(self) -> dict[str, Any]:
        return self._get().cfg  # type: ignore[no-any-return]


_ul = _Usrloc()


def ul() -> dict[str, Any]:
    """usrloc's exported API."""
    return _ul._get().api  # type: ignore[no-any-return]  # noqa: SLF001


def aor_of(uri: URI | str) -> str:
    """The AoR key of a SIP URI (ValueError if it has none)."""
    u = parse_uri(uri) if isinstance(uri, str) else uri
    if not u.is_sip and u.scheme != "tel":
        raise ValueError(f"not a SIP URI: {u}")
    key: str = _ul["aor"](unescape(u.user), u.host_bare.lower())
    return key if module.cfg["case_sensitive"] else key.lower()


# -- save ---------------------------------------------------------------------------------------
@module.function("save", "si")
def save(ctx: Ctx, table: str, flags: int) -> int:
    """Process a REGISTER; 1 inserted, 2 updated, 3 deleted, 4 queried, -1 error, -2 too many."""
    return _save(ctx, table, flags, None)


@module.function("save_uri", "sis")
def save_uri(ctx: Ctx, table: str, flags: int, uri: str) -> int:
    """save() for the AoR of ``uri`` instead of the To URI."""
    return _save(ctx, table, flags, uri)


def _save(ctx: Ctx, table: str, flags: int, uri: str | None) -> int:
    req = ctx.request
    if req is None:
        return -1
    try:
        r = _register(ctx, req, uri, flags)
        p: rs.Plan
        p, contacts = _ul["modify_urecord"](table, r.aor, partial(_plan, r), r.now)
    except rs.Refused as err:
        return _refuse(ctx, err, flags, err.existing)
    except Exception as exc:  # noqa: BLE001 - a malformed REGISTER is a 400, not a 500
        log.warning("save(%s): %s (Call-ID %s)", table, exc, ctx.call_id)
        return _refuse(ctx, rs.Refused(400, "Bad Request", "Invalid AOR"), flags, [])
    stats["accepted_regs"] += 1
    _answer(ctx, 200, "OK", _contact_headers(contacts, r.now) + _path_reply(req), flags)
    return p.rc


def _plan(r: rs.Request_, existing: list[Any]) -> tuple[list[str], list[Any], rs.Plan]:
    """usrloc's modify_urecord callback: the changes (and the plan) for REGISTER ``r``."""
    try:
        p = rs.plan(r, existing)
    except rs.Refused as err:
        err.existing = existing
        raise
    return p.delete, p.put, p


def _register(ctx: Ctx, req: Request, uri: str | None, flags: int) -> rs.Request_:
    to = req.to
    target = parse_uri(uri) if uri else (to.uri if to else None)
    if target is None:
        raise rs.Refused(400, "Bad Request", "No To header")
    cfg = module.cfg
    path = _path(req) if cfg["use_path"] else ""
    src = ctx.source
    ulcfg = _ul.cfg
    r = rs.Request_(
        req, aor_of(target), time.time(), cfg, flags, _received(ctx, path, cfg), path,
        f"{src.proto}:{src.local_ip}:{src.local_port}", ctx.bflags.get(0, 0), _ul["new_ruid"],
        int(ulcfg["matching_mode"]), int(ulcfg["cseq_delay"]),
    )  # fmt: skip
    r.read()
    return r


def _path(req: Request) -> str:
    if not module.cfg["use_path"]:
        return ""
    path = ",".join(req.get_all("path"))
    supported = {t.strip().lower() for v in req.get_all("supported") for t in v.split(",")}
    if path and module.cfg["path_mode"] == 2 and "path" not in supported:
        err = rs.Refused(420, "Bad Extension", "Path not supported by UA")
        err.headers += [("Unsupported", "path"), ("Path", path)]
        raise err
    return path


def _received(ctx: Ctx, path: str, cfg: Any) -> str:
    if path and cfg["path_use_received"]:
        first = parse_name_addr(path.split(",")[0].strip())
        recv = first.uri.param("received")
        if recv:
            return unescape(recv)
    avp = cfg["received_avp"]
    name = _avp_name(str(avp)) if avp else ""
    stack = ctx.avps.get(name) if name else None
    return str(stack[0]) if stack else ""


@lru_cache(maxsize=16)
def _avp_name(spec: str) -> str:
    """The AVP name of ``received_avp`` (``$avp(RECEIVED)``: ``RECEIVED``), "" for none."""
    m = _AVP.match(spec)
    return m.group(1) if m else ""


def _refuse(ctx: Ctx, err: rs.Refused, flags: int, existing: list[Any]) -> int:
    stats["rejected_regs"] += 1
    headers = list(err.headers)
    if err.status == 503:
        headers += _contact_headers(existing, time.time())
        if module.cfg["retry_after"]:
            headers.append(("Retry-After", str(module.cfg["retry_after"])))
    headers.append(("P-Registrar-Error", err.detail))
    _answer(ctx, err.status, err.reason, headers, flags)
    return err.rc


def _contact_headers(contacts: list[Any], now: float) -> list[tuple[str, str]]:
    if not contacts:
        return []
    if len(contacts) == 1:
        return [("Contact", _contact_value(contacts[0], now))]
    return [("Contact", ", ".join([_contact_value(c, now) for c in contacts]))]


def _contact_value(c: Any, now: float) -> str:
    expires = max(0, int(c.expires - now + 0.5)) if c.expires else 0
    if c.q < 0 and not c.received and not c.instance:
        return f"<{c.contact}>;expires={expires}"  # the usual contact
    text = f"<{c.contact}>"
    if c.q >= 0:
        text += f";q={c.q:.3f}".rstrip("0").rstrip(".")
    text += f";expires={expires}"
    if c.received:
        text += f';{module.cfg["received_param"]}="{c.received}"'
    if c.instance:
        text += f";+sip.instance={c.instance}" + (f";reg-id={c.reg_id}" if c.reg_id else "")
    return text


def _path_reply(req: Request) -> list[tuple[str, str]]:
    if not module.cfg["use_path"] or module.cfg["path_mode"] == 0 or "path" not in req:
        return []
    supported = ",".join(req.get_all("supported")).lower()
    return [("Path", ",".join(req.get_all("path")))] if "path" in supported else []


def _answer(ctx: Ctx, status: int, reason: str, headers: list[tuple[str, str]], flags: int) -> None:
    if flags & 0x02:
        ctx.extra["registrar_reply"] = (status, reason, headers)
        if flags & 0x10:
            ctx.reply_headers.extend(headers)
        return
    send_reply(ctx, status, reason, headers)


def send_reply(ctx: Ctx, status: int, reason: str, headers: list[tuple[str, str]]) -> bool:
    """Answer the REGISTER (statefully when tm made a transaction)."""
    tm_reply = ctx.extra.get("tm_reply")
    if tm_reply is not None:
        ctx.reply_headers.extend(headers)
        return bool(tm_reply(status, reason))
    return ctx.core is not None and bool(ctx.core.reply(ctx, status, reason, headers=headers))


@module.function("reg_send_reply")
def reg_send_reply(ctx: Ctx) -> int:
    """Send the reply that save(..., 0x02) prepared; 1, or -1 if there is none."""
    prepared = ctx.extra.pop("registrar_reply", None)
    if prepared is None:
        return -1
    status, reason, headers = prepared
    done = [h for h in headers if h in ctx.reply_headers]
    return 1 if send_reply(ctx, status, reason, [h for h in headers if h not in done]) else -1


# -- lookups --------------------------------------------------------------------------------------
@module.function("lookup", "s")
def lookup(ctx: Ctx, table: str) -> int:
    """R-URI to the best contact, others as branches; 1, -1 none, -2 method, -3 error."""
    return _lookup(ctx, table, None, to_dset=False)


@module.function("lookup_uri", "ss")
def lookup_uri(ctx: Ctx, table: str, uri: str) -> int:
    """lookup() for the AoR of ``uri``."""
    return _lookup(ctx, table, uri, to_dset=False)


@module.function("lookup_to_dset", "s")
def lookup_to_dset(ctx: Ctx, table: str) -> int:
    """Every contact as a branch; the R-URI stays."""
    return _lookup(ctx, table, None, to_dset=True)


@module.function("lookup_branches", "s")
def lookup_branches(ctx: Ctx, table: str) -> int:
    """lookup() for the R-URI and for every branch that is only a URI."""
    plain = [b for b in ctx.branches if _plain(b)]
    ctx.branches = [b for b in ctx.branches if not _plain(b)]
    rc = _lookup(ctx, table, None, to_dset=False)
    for b in plain:
        rb = _contacts_for(ctx, table, b.uri)
        if isinstance(rb, list):
            ctx.branches.extend(_branch(c) for c in rb)
            rc = 1
        else:
            rc = rc if rc == 1 else rb
    return rc


def _plain(b: Branch) -> bool:
    return not (b.dst_uri or b.path or b.flags or b.socket or b.ruid) and b.q is None


def _contacts_for(ctx: Ctx, table: str, uri: str | None) -> list[Any] | int:
    req = ctx.request
    if req is None:
        return -3
    try:
        key = aor_of(uri or req.uri)
    except Exception:  # noqa: BLE001 - an R-URI without an AoR
        return -3
    contacts: list[Any] = _ul["get_urecord"](table, key)
    if not contacts:
        return -1
    if module.cfg["method_filtering"] and req.to_tag is None:
        bit = rs.METHOD_BITS.get(req.method, rs.OTHER_METHOD)
        contacts = [c for c in contacts if c.methods & bit]
        if not contacts:
            return -2
    return contacts


def _lookup(ctx: Ctx, table: str, uri: str | None, to_dset: bool) -> int:
    found = _contacts_for(ctx, table, uri)
    if isinstance(found, int):
        return found
    rest = found if to_dset else found[1:]
    if not to_dset:
        _set_branch0(ctx, found[0])
    if to_dset or module.cfg["append_branches"]:
        ctx.branches.extend(_branch(c) for c in rest)
    return 1


def _dst(c: Any) -> tuple[str | None, list[str]]:
    path = [p.strip() for p in c.path.split(",") if p.strip()] if c.path else []
    if path:
        return path[0].strip("<>"), path
    return (c.received or None), []


def _set_branch0(ctx: Ctx, c: Any) -> None:
    req = ctx.request
    assert req is not None
    ctx.editing()
    req.uri = parse_uri(c.contact)
    ctx.dst_uri, ctx.path = _dst(c)
    ctx.q = None if c.q < 0 else c.q
    ctx.bflags[0] = ctx.bflags.get(0, 0) | c.cflags
    ctx.extra["location_ruid"] = c.ruid


def _branch(c: Any) -> Branch:
    dst, path = _dst(c)
    return Branch(
        uri=c.contact, dst_uri=dst, path=path, q=None if c.q < 0 else c.q, flags=c.cflags,
        socket=c.socket or None, instance=c.instance or None, ruid=c.ruid,
        location_ua=c.user_agent or None,
    )  # fmt: skip


@module.function("registered", "s")
def registered(ctx: Ctx, table: str) -> int:
    """1 if the AoR of the R-URI (To URI of a reply) has contacts, else -1."""
    req = ctx.request
    target = req.uri if req is not None else (ctx.msg.to.uri if ctx.msg.to else None)
    return _registered(table, target)


@module.function("registered_uri", "ss")
def registered_uri(ctx: Ctx, table: str, uri: str) -> int:
    """registered() for ``uri``."""
    return _registered(table, uri)


def _registered(table: str, uri: URI | str | None) -> int:
    try:
        return 1 if uri is not None and ul()["get_urecord"](table, aor_of(uri)) else -1
    except Exception:  # noqa: BLE001
        return -1


from modules import _registrar_ulc  # noqa: E402,F401 - unregister, reg_fetch_contacts, $ulc
