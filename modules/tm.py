"""tm: the transaction-stateful proxy (Kamailio's tm module, kemi.md §5.9; RFC 3261 §16,
§17, §9.2).

KEMI functions follow Kamailio's names and return codes: ``t_relay`` and the ``t_relay_to_*``
variants (parallel forking over the destination set, serial forking by relaying again from a
failure route), ``t_newtran``, ``t_reply``, ``t_check_trans``, the ``t_on_*`` route setters
(the name is a method of the handler object), the fr timers, ``t_load_contacts`` /
``t_next_contacts`` and the branch tests. The machinery lives in :mod:`app.stateful`; this
module is its KEMI face and its API for other modules (``module.api``: ``suspend``,
``resume``, ``suspend_until``, ``relay``, ``reply``, ``newtran``, ``cell``; docs/kemi.md).
Modparams ``fr_timer``/``fr_inv_timer`` are milliseconds as in Kamailio.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from app import forward as fw
from app.context import Ctx, Dest
from app.module import Module
from app.stateful import live
from app.tm_cell import SETTINGS, Cell
from modules import _tm_dset as dset
from sip import Request, Response, parse_uri
from sip.matching import cancelled_key

module = Module("tm", doc="transaction-stateful proxy")
log = logging.getLogger("siprouter.tm")
_P = [
    ("fr_timer", 30000, "final response timer of a branch (ms)"),
    ("fr_inv_timer", 120000, "INVITE final response timer after a provisional reply (ms)"),
    ("failure_reply_mode", 0, "best reply after failure routes: 0 all branches, 1-3 last step"),
    ("restart_fr_on_each_reply", 1, "restart fr_inv_timer on each provisional reply"),
    ("auto_inv_100", 1, "send 100 Trying for INVITE on t_relay/t_newtran"),
    ("max_inv_lifetime", 180000, "INVITE transaction lifetime (ms), t_is_expired"),
    ("max_noninv_lifetime", 32000, "non-INVITE transaction lifetime (ms), t_is_expired"),
    ("max_suspended", 1000, "extension: at most this many suspended transactions"),
]
for _name, _default, _doc in _P:
    module.param(_name, int, _default, doc=_doc)
module.param("auto_inv_100_reason", str, SETTINGS.auto_inv_100_reason)
for _name in ("contacts_avp", "contact_flows_avp"):
    module.param(_name, str, "", doc="accepted (contacts are kept with the transaction)")
for _name in ("wt_timer", "delete_timer", "retr_timer1", "retr_timer2", "noisy_ctimer",
              "cancel_b_method", "unix_tx_timeout", "aggregate_challenges", "reparse_invite",
              "e2e_cancel_reason", "via1_matching", "enable_stats", "pass_provisional_replies",
              "default_code"):  # fmt: skip
    module.param(_name, int, 0, doc="accepted for compatibility")
module.param("default_reason", str, "", doc="accepted for compatibility")
module.param("event_callback", str, "", doc="accepted for compatibility")


@module.on_start
def _settings() -> None:
    cfg = module.cfg
    SETTINGS.fr, SETTINGS.fr_inv = cfg["fr_timer"] / 1000, cfg["fr_inv_timer"] / 1000
    SETTINGS.failure_reply_mode = int(cfg["failure_reply_mode"])
    SETTINGS.restart_fr_on_each_reply = bool(cfg["restart_fr_on_each_reply"])
    SETTINGS.auto_inv_100 = bool(cfg["auto_inv_100"])
    SETTINGS.auto_inv_100_reason = str(cfg["auto_inv_100_reason"])
    SETTINGS.max_inv_lifetime = cfg["max_inv_lifetime"] / 1000
    SETTINGS.max_noninv_lifetime = cfg["max_noninv_lifetime"] / 1000
    SETTINGS.max_suspended = int(cfg["max_suspended"])


_sf = dset.stateful_of


# -- relaying ----------------------------------------------------------------------------------
def relay(ctx: Ctx, dest: Dest | None = None) -> int:
    """Relay statefully (API): 1, -1 (error), 0 (retransmission)."""
    sf = _sf(ctx)
    return -1 if sf is None else int(sf.relay(ctx, dest))


@module.function("t_relay")
def t_relay(ctx: Ctx) -> int:
    """Relay statefully to $du / R-URI and the appended branches."""
    return relay(ctx)


@module.function("t_relay_to_flags", "i")
def t_relay_to_flags(ctx: Ctx, flags: int) -> int:
    """t_relay (the flags are accepted)."""
    return relay(ctx)


def _proxy_dest(text: str, proto: str | None = None) -> Dest | None:
    """``[proto:]host[:port]`` (IPv6 in brackets) -> Dest."""
    head, sep, rest = text.partition(":")
    if sep and head.lower() in fw.PROTOS + ("tls", "sctp"):
        proto, text = proto or head.lower(), rest
    host, port = text, 5060
    if text.startswith("["):
        host, _, tail = text[1:].partition("]")
        port = int(tail[1:]) if tail.startswith(":") else 5060
    elif text.count(":") == 1:
        host, _, num = text.partition(":")
        port = int(num)
    return Dest((proto or "udp").lower(), host, port) if host else None


def _relay_to(ctx: Ctx, text: str, proto: str | None = None) -> int:
    try:
        dest = _proxy_dest(text, proto)
    except ValueError:
        dest = None
    if dest is None or dest.proto not in fw.PROTOS:
        log.error("t_relay_to: bad or unsupported address %r", text)
        return -1
    return relay(ctx, dest)


@module.function("t_relay_to_proxy", "s")
def t_relay_to_proxy(ctx: Ctx, proxy: str) -> int:
    """Relay to ``[proto:]host:port``."""
    return _relay_to(ctx, proxy)


@module.function("t_relay_to_proxy_flags", "si")
def t_relay_to_proxy_flags(ctx: Ctx, proxy: str, flags: int) -> int:
    """Relay to ``[proto:]host:port`` (flags accepted)."""
    return _relay_to(ctx, proxy)


@module.function("t_relay_to_proto", "s")
def t_relay_to_proto(ctx: Ctx, proto: str) -> int:
    """Relay to $du / R-URI over ``proto`` (udp, tcp)."""
    req = ctx.request
    if req is None or proto.lower() not in fw.PROTOS:
        return -1
    try:
        base = fw.uri_dest(parse_uri(ctx.dst_uri) if ctx.dst_uri else req.uri)
    except (fw.ForwardError, ValueError):
        return -1
    return relay(ctx, Dest(proto.lower(), base.host, base.port))


@module.function("t_relay_to_proto_addr", "ssi")
def t_relay_to_proto_addr(ctx: Ctx, proto: str, host: str, port: int) -> int:
    """Relay to ``host:port`` over ``proto``."""
    if proto.lower() not in fw.PROTOS:
        return -1
    return relay(ctx, Dest(proto.lower(), host.strip("[]"), port))


@module.function("t_relay_to_udp", "si", doc="extension (cfg's t_relay_to_udp)")
def t_relay_to_udp(ctx: Ctx, host: str, port: int) -> int:
    """Relay to ``host:port`` over UDP (cfg function, exported as an extension)."""
    return relay(ctx, Dest("udp", host.strip("[]"), port))


@module.function("t_relay_to_tcp", "si", doc="extension (cfg's t_relay_to_tcp)")
def t_relay_to_tcp(ctx: Ctx, host: str, port: int) -> int:
    """Relay to ``host:port`` over TCP (cfg function, exported as an extension)."""
    return relay(ctx, Dest("tcp", host.strip("[]"), port))


# -- transactions and replies -------------------------------------------------------------
@module.function("t_newtran")
def t_newtran(ctx: Ctx) -> int:
    """Create the transaction: 1; 0 for a retransmission; -1 on error."""
    if dset.cell_of(ctx) is not None:
        return 1
    sf = _sf(ctx)
    received = ctx.received
    if sf is None or not isinstance(received, Request) or received.method == "ACK":
        return -1
    if sf.lookup(received) is not None:
        return 0
    return 1 if sf.new_cell(ctx) is not None else -1


@module.function("t_reply", "is")
def t_reply(ctx: Ctx, code: int, reason: str) -> int:
    """Reply statefully (creates the transaction if needed)."""
    sf = _sf(ctx)
    if sf is None or ctx.request is None or not 100 <= code <= 699:
        return -1
    return 1 if sf.reply(ctx, code, reason or None) else -1


@module.function("t_send_reply", "is")
def t_send_reply(ctx: Ctx, code: int, reason: str) -> int:
    """Same as t_reply."""
    return t_reply(ctx, code, reason)


@module.function("t_reply_error")
def t_reply_error(ctx: Ctx) -> int:
    """Reply 500 statefully."""
    return t_reply(ctx, 500, "Server Internal Error")


@module.function("t_check_trans")
def t_check_trans(ctx: Ctx) -> int:
    """Reply/CANCEL/ACK matching; 0 = the request was a retransmission (stop)."""
    sf = _sf(ctx)
    msg = ctx.received
    if sf is None:
        return -1
    if isinstance(msg, Response):
        return 1 if dset.cell_of(ctx) is not None else -1
    assert isinstance(msg, Request)
    if msg.method == "CANCEL":
        return 1 if sf.cells.get(cancelled_key(msg)) is not None else -1
    if msg.method == "ACK":
        cell = sf.for_ack(msg)
        if cell is None:
            return -1
        return 1 if 200 <= cell.status < 300 else 0
    return 0 if sf.lookup(msg) is not None else -1


@module.function("t_lookup_cancel")
def t_lookup_cancel(ctx: Ctx) -> int:
    """1 if the CANCEL matches an INVITE transaction."""
    msg = ctx.received
    sf = _sf(ctx)
    if sf is None or not isinstance(msg, Request) or msg.method != "CANCEL":
        return -1
    return 1 if sf.cells.get(cancelled_key(msg)) is not None else -1


@module.function("t_lookup_request")
def t_lookup_request(ctx: Ctx) -> int:
    """1 if the request has a transaction."""
    sf = _sf(ctx)
    msg = ctx.received
    ok = sf is not None and isinstance(msg, Request) and sf.lookup(msg) is not None
    return 1 if ok or dset.cell_of(ctx) is not None else -1


@module.function("t_exists")
def t_exists(ctx: Ctx) -> int:
    """1 if the current message has a transaction."""
    return 1 if dset.cell_of(ctx) is not None else -1


@module.function("t_release")
def t_release(ctx: Ctx) -> int:
    """Accepted: the transaction is freed when it ends."""
    return 1 if dset.cell_of(ctx) is not None else -1


@module.function("t_clean")
def t_clean(ctx: Ctx) -> int:
    """Accepted (nothing to clean)."""
    return 1


def _cell_test(ctx: Ctx, test: Callable[[Cell], bool]) -> int:
    cell = dset.cell_of(ctx)
    return 1 if cell is not None and test(cell) else -1


@module.function("t_is_canceled")
def t_is_canceled(ctx: Ctx) -> int:
    """1 if the transaction was CANCELed."""
    return _cell_test(ctx, lambda c: c.canceled)


@module.function("t_is_expired")
def t_is_expired(ctx: Ctx) -> int:
    """1 if the transaction outlived max_inv_lifetime / max_noninv_lifetime."""
    sf = _sf(ctx)
    return _cell_test(ctx, lambda c: sf is not None and c.expired(sf.core.tx.now()))


@module.function("t_any_timeout")
def t_any_timeout(ctx: Ctx) -> int:
    """1 if any branch timed out."""
    return _cell_test(ctx, lambda c: any(b.timed_out for b in c.branches))


@module.function("t_any_replied")
def t_any_replied(ctx: Ctx) -> int:
    """1 if any branch received a reply."""
    return _cell_test(ctx, lambda c: any(b.replied for b in c.branches))


@module.function("t_branch_timeout")
def t_branch_timeout(ctx: Ctx) -> int:
    """1 if the failed branch timed out (failure route)."""
    br = dset.failed_branch(ctx)
    return 1 if br is not None and br.timed_out else -1


@module.function("t_branch_replied")
def t_branch_replied(ctx: Ctx) -> int:
    """1 if the failed branch received a reply (failure route)."""
    br = dset.failed_branch(ctx)
    return 1 if br is not None and br.replied else -1


@module.function("t_check_status", "s")
def t_check_status(ctx: Ctx, regex: str) -> int:
    """1 if $T_reply_code matches the regular expression."""
    return dset.check_status(ctx, regex)


@module.function("t_get_status_code")
def t_get_status_code(ctx: Ctx) -> int:
    """$T_reply_code (-1 without a transaction)."""
    return dset.reply_code(ctx) if dset.cell_of(ctx) is not None else -1


@module.function("t_get_branch_index")
def t_get_branch_index(ctx: Ctx) -> int:
    """$T_branch_idx."""
    return dset.branch_index(ctx)


# -- routes ----------------------------------------------------------------------------------
ROUTES = {"branch": "branch", "failure": "failure", "reply": "reply", "onreply": "reply"}


def _arm(ctx: Ctx, kind: str, name: str) -> int:
    cell = dset.cell_of(ctx)
    if cell is not None:
        setattr(cell, f"on_{kind}", name)
    else:
        ctx.extra.setdefault("tm_on", {})[kind] = name
    return 1


@module.function("t_on_failure", "s")
def t_on_failure(ctx: Ctx, name: str) -> int:
    """Arm the failure route (a handler method name; "" resets)."""
    return _arm(ctx, "failure", name)


@module.function("t_on_branch", "s")
def t_on_branch(ctx: Ctx, name: str) -> int:
    """Arm the branch route."""
    return _arm(ctx, "branch", name)


@module.function("t_on_reply", "s")
def t_on_reply(ctx: Ctx, name: str) -> int:
    """Arm the onreply route."""
    return _arm(ctx, "reply", name)


@module.function("t_on_branch_failure", "s")
def t_on_branch_failure(ctx: Ctx, name: str) -> int:
    """Arm the branch-failure route."""
    return _arm(ctx, "branch_failure", name)


@module.function("t_is_set", "s")
def t_is_set(ctx: Ctx, target: str) -> int:
    """1 if ``branch_route`` / ``failure_route`` / ``onreply_route`` is armed."""
    kind = {"b": "branch", "f": "failure", "o": "reply"}.get(target[:1].lower())
    if kind is None:
        return -1
    cell = dset.cell_of(ctx)
    name = getattr(cell, f"on_{kind}") if cell else ctx.extra.get("tm_on", {}).get(kind)
    return 1 if name else -1


# -- timers --------------------------------------------------------------------------------
def _fr(ctx: Ctx, fr_inv: int, fr: int) -> int:
    cell = dset.cell_of(ctx)
    target: Any = cell if cell is not None else ctx.extra.setdefault("tm_fr", {})
    if isinstance(target, dict):
        target.update({k: v / 1000 for k, v in (("fr_inv", fr_inv), ("fr", fr)) if v > 0})
        return 1
    if fr_inv > 0:
        target.fr_inv = fr_inv / 1000
    if fr > 0:
        target.fr = fr / 1000
    return 1


@module.function("t_set_fr", "ii")
def t_set_fr(ctx: Ctx, fr_inv: int, fr: int) -> int:
    """Set fr_inv_timer and fr_timer (ms, 0 = unchanged) for this transaction."""
    return _fr(ctx, fr_inv, fr)


@module.function("t_set_fr_inv", "i")
def t_set_fr_inv(ctx: Ctx, fr_inv: int) -> int:
    """Set fr_inv_timer (ms) for this transaction."""
    return _fr(ctx, fr_inv, 0)


@module.function("t_reset_fr")
def t_reset_fr(ctx: Ctx) -> int:
    """Back to the modparam values."""
    ctx.extra.pop("tm_fr", None)
    cell = dset.cell_of(ctx)
    if cell is not None:
        cell.fr, cell.fr_inv = SETTINGS.fr, SETTINGS.fr_inv
    return 1


@module.function("t_set_auto_inv_100", "i")
def t_set_auto_inv_100(ctx: Ctx, on: int) -> int:
    """Send (1) or not (0) 100 Trying for this INVITE."""
    if on:
        ctx.extra.pop("tm_no_100", None)
    else:
        ctx.extra["tm_no_100"] = True
    return 1


# -- destination set --------------------------------------------------------------------------
@module.function("t_load_contacts")
def t_load_contacts(ctx: Ctx) -> int:
    """Order the destination set by q for serial forking."""
    return dset.load_contacts(ctx)


@module.function("ki_t_load_contacts_mode", "i")
def t_load_contacts_mode(ctx: Ctx, mode: int) -> int:
    """t_load_contacts (the mode is accepted)."""
    return dset.load_contacts(ctx)


@module.function("t_next_contacts")
def t_next_contacts(ctx: Ctx) -> int:
    """Use the next q group of the loaded contacts."""
    return dset.next_contacts(ctx)


# -- RPC and API -------------------------------------------------------------------------------
@module.rpc("tm.stats", scope="sum")
def rpc_stats() -> dict[str, int]:
    """Transaction statistics (Kamailio's names; plus suspended, suspend_refused ...)."""
    total: dict[str, int] = {}
    for sf in live():
        for key, value in sf.statistics().items():
            total[key] = total.get(key, 0) + value
    return total


@module.export("relay")
def api_relay(ctx: Ctx, dest: Dest | None = None) -> int:
    """Relay the context's request statefully (to ``dest`` if given)."""
    return relay(ctx, dest)


@module.export("reply")
def api_reply(ctx: Ctx, code: int, reason: str | None = None, headers: Any = (),
              body: bytes = b"") -> bool:  # fmt: skip
    """Reply statefully, with extra headers and a body."""
    sf = _sf(ctx)
    return sf is not None and bool(sf.reply(ctx, code, reason, headers, body))


@module.export("newtran")
def api_newtran(ctx: Ctx) -> Cell | None:
    """The transaction of the context, created if needed."""
    sf = _sf(ctx)
    return None if sf is None else sf.new_cell(ctx)  # type: ignore[no-any-return]


@module.export("cell")
def api_cell(ctx: Ctx) -> Cell | None:
    """The transaction of the context, if any."""
    return dset.cell_of(ctx)


@module.export("suspend")
def api_suspend(ctx: Ctx) -> tuple[int, int] | None:
    """Suspend the context's transaction: ``(index, label)``, None if refused."""
    sf = _sf(ctx)
    return None if sf is None else sf.suspend(ctx)  # type: ignore[no-any-return]


@module.export("resume")
def api_resume(index: int, label: int, route: str,
               setup: Callable[[Ctx], None] | None = None, as_request: bool = False) -> int:  # fmt: skip
    """Resume ``index:label`` in the handler method ``route`` (``setup(ctx)`` first); as a
    failure route (Kamailio's t_continue), or as a request route with ``as_request``."""
    for sf in live():
        if sf.resumable(index, label) is not None or (index, label) in sf.by_id:
            return int(sf.resume(index, label, route, setup, as_request))
    log.warning("t_continue: no transaction %d:%d", index, label)
    return -1


@module.export("suspend_until")
def api_suspend_until(ctx: Ctx, awaitable: Awaitable[Any], route: str,
                      on_result: Callable[[Ctx, Any, BaseException | None], None] | None = None,
                      ) -> tuple[int, int] | None:  # fmt: skip
    """Suspend, await ``awaitable``, resume in ``route`` with ``on_result(ctx, result, err)``."""
    sf = _sf(ctx)
    return None if sf is None else sf.suspend_until(ctx, awaitable, route, on_result)  # type: ignore[no-any-return]
