"""registrar's save(): from a REGISTER and the stored contacts of its AoR, the changes to make
and the answer (RFC 3261 §10.3; RFC 5626 §6 for ``+sip.instance``/``reg-id``).

:func:`plan` is pure (no store, no clock): the registrar module applies the :class:`Plan`.
Kamailio's behaviour kept: ``Contact: *`` needs ``Expires: 0`` (400 otherwise); expires from
the contact's ``expires`` parameter, else the Expires header, else ``default_expires``,
raised to ``min_expires`` (or 423 with ``min_expires_mode=1``) and capped by
``max_expires``; a contact matching a stored one with the same Call-ID and a lower CSeq is
refused (400); an equal CSeq within ``cseq_delay`` seconds is a retransmission (no change);
``max_contacts`` exceeded is 503 and -2; return 1 inserted, 2 updated, 3 deleted, 4 queried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.store import Q_UNSPECIFIED, Contact
from sip import NameAddr, Request
from sip.headers import param_of, parse_name_addrs

# Kamailio's method bits (parser/msg_parser.h), for the Allow header / method_filtering
METHOD_BITS = {
    "INVITE": 1, "CANCEL": 2, "ACK": 4, "BYE": 8, "INFO": 16, "REGISTER": 32,
    "SUBSCRIBE": 64, "NOTIFY": 128, "MESSAGE": 256, "OPTIONS": 512, "PRACK": 1024,
    "UPDATE": 2048, "REFER": 4096, "PUBLISH": 8192, "KDMQ": 16384, "GET": 32768,
    "POST": 65536, "PUT": 131072, "DELETE": 262144,
}  # fmt: skip
ALL_METHODS = 0xFFFFFFFF
OTHER_METHOD = 1 << 31


class Refused(Exception):
    """save() answers with an error: status, reason, P-Registrar-Error text, return code."""

    def __init__(self, status: int, reason: str, detail: str, rc: int = -1) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail, self.rc = status, reason, detail, rc
        self.headers: list[tuple[str, str]] = []
        self.existing: list[Contact] = []  # the AoR's contacts (503 lists them)


@dataclass
class Plan:
    """What save() does to the location table, and its return code."""

    put: list[Contact] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)  # ruids
    rc: int = 4

    def result(self, existing: list[Contact]) -> list[Contact]:
        """The AoR's contacts once the plan is applied (store order)."""
        gone = set(self.delete) | {c.ruid for c in self.put}
        kept = [c for c in existing if c.ruid not in gone]
        updated = {c.ruid: c for c in self.put}
        ordered = [updated.get(c.ruid, c) for c in existing if c.ruid in updated]
        new = [c for c in self.put if c.ruid not in {e.ruid for e in existing}]
        return kept + ordered + new


def method_mask(methods: str) -> int:
    """The method bits of an Allow header value."""
    mask = 0
    for name in methods.replace(" ", "").split(","):
        if name:
            mask |= METHOD_BITS.get(name.upper(), OTHER_METHOD)
    return mask


def contact_expires(na: NameAddr, header: int | None, cfg: Any, no_range: bool) -> int:
    """The lifetime granted to a contact (seconds; 0 = remove)."""
    raw = na.param("expires") if na.params else None
    value = int(raw) if raw is not None and raw.isdigit() else header
    if value is None:
        value = int(cfg["default_expires"])
    if value == 0:
        return 0
    least = int(cfg["min_expires"])
    if value < least:
        if int(cfg["min_expires_mode"]) == 1 and not no_range:
            err = Refused(423, "Interval Too Brief", "Interval too brief")
            err.headers.append(("Min-Expires", str(least)))
            raise err
        value = least
    most = int(cfg["max_expires"])
    return most if most and value > most else value


def uri_text(na: NameAddr) -> str:
    """The contact URI as written (Kamailio compares contacts byte by byte)."""
    return na.uri.raw or str(na.uri)


def _q(na: NameAddr) -> float:
    raw = na.param("q")
    try:
        return max(0.0, min(1.0, float(raw))) if raw is not None else Q_UNSPECIFIED
    except ValueError:
        raise Refused(400, "Bad Request", "Invalid q parameter") from None


def _match(
    na: NameAddr, callid: str, path: str, existing: list[Contact], mode: int
) -> Contact | None:
    instance = na.param("+sip.instance") or ""
    if instance:
        reg_id = int(na.param("reg-id") or 0)
        for c in existing:
            if c.instance == instance and c.reg_id == reg_id:
                return c
    uri = uri_text(na)
    if mode == 0:
        return next((c for c in existing if c.contact == uri), None)
    if mode == 1:
        return next((c for c in existing if c.contact == uri and c.callid == callid), None)
    if mode == 2:
        return next((c for c in existing if c.contact == uri and c.path == path), None)
    if mode == 3:
        return next((c for c in existing if c.callid == callid), None)
    return None


@dataclass(slots=True)
class Request_:
    """The parts of a REGISTER that save() uses, read once (:meth:`read`) by the registrar
    module: the plan runs in the store's call, maybe on another thread, and parses nothing."""

    req: Request
    aor: str
    now: float
    cfg: Any
    flags: int
    received: str = ""
    path: str = ""
    socket: str = ""
    cflags: int = 0
    ruid: Any = None  # callable giving new ruids
    matching_mode: int = 0  # usrloc's
    cseq_delay: int = 20  # usrloc's
    star: bool = False  # Contact: *
    contacts: list[NameAddr] = field(default_factory=list)
    callid: str = ""
    cseq: int = 0
    expires: int | None = None  # the Expires header
    user_agent: str = ""
    methods: int = ALL_METHODS  # the Allow header's (all when absent)

    def read(self) -> None:
        """Read Contact (each header once), Call-ID, CSeq, Expires, User-Agent and Allow."""
        req = self.req
        found = req.get_all("contact")
        self.star = star = found == ["*"]
        if not star:
            self.contacts = [a for v in found for a in parse_name_addrs(v)]
        cseq = req.cseq
        self.callid, self.cseq = req.call_id or "", cseq.seq if cseq else 0
        self.expires = req.expires
        self.user_agent = req.get("user-agent") or ""
        allow = req.get("allow")
        if allow:
            self.methods = method_mask(allow)


def plan(r: Request_, existing: list[Contact]) -> Plan:
    """The changes for REGISTER ``r`` given the AoR's stored contacts; raise :class:`Refused`."""
    if r.star:
        if r.expires != 0:
            raise Refused(400, "Bad Request", "* used in contact and expires is not zero")
        return Plan(delete=[c.ruid for c in existing], rc=3)
    if not r.contacts:
        return Plan(rc=4)
    limit = int(r.cfg["contact_max_size"])
    if any(len(uri_text(na)) > limit for na in r.contacts):  # Kamailio's check_contacts()
        raise Refused(400, "Bad Request", "Contact/received too long")
    p = Plan(rc=0)
    for na in r.contacts:
        _one(r, na, existing, p)
    if r.flags & 0x04:
        keep = {c.ruid for c in p.put}
        p.delete += [c.ruid for c in existing if c.ruid not in keep and c.ruid not in p.delete]
    if r.cfg["max_contacts"]:
        _check_max(r, existing, p)
    p.rc = p.rc or 1
    return p


def _one(r: Request_, na: NameAddr, existing: list[Contact], p: Plan) -> None:
    callid, cseq = r.callid, r.cseq
    expires = contact_expires(na, r.expires, r.cfg, bool(r.flags & 0x08))
    old = _match(na, callid, r.path, existing, r.matching_mode) if existing else None
    if old is not None and old.callid == callid:
        if cseq < old.cseq or (cseq == old.cseq and old.last_modified + r.cseq_delay <= r.now):
            raise Refused(400, "Bad Request", "Invalid CSeq number")
        if cseq == old.cseq:
            return  # a retransmission: nothing changes
    if expires == 0:
        if old is not None:
            p.delete.append(old.ruid)
            p.rc = p.rc or 3
        return
    p.put.append(_contact(r, na, old, expires))
    p.rc = 1 if old is None else (p.rc if p.rc == 1 else 2)


def _contact(r: Request_, na: NameAddr, old: Contact | None, expires: int) -> Contact:
    params = na.params
    methods = param_of(params, "methods") if params else None
    instance = param_of(params, "+sip.instance") or "" if params else ""
    return Contact(
        aor=r.aor, contact=uri_text(na), ruid=old.ruid if old else r.ruid(),
        expires=r.now + expires, q=_q(na) if params else Q_UNSPECIFIED, callid=r.callid,
        cseq=r.cseq, received=r.received, path=r.path, socket=r.socket, user_agent=r.user_agent,
        cflags=r.cflags, methods=method_mask(methods) if methods else r.methods,
        instance=instance, reg_id=int(param_of(params, "reg-id") or 0) if params else 0,
        last_modified=r.now,
    )  # fmt: skip


def _check_max(r: Request_, existing: list[Contact], p: Plan) -> None:
    limit = int(r.cfg["max_contacts"])
    if limit and len(p.result(existing)) > limit:
        raise Refused(503, "Service Unavailable", "Too many registered contacts", rc=-2)
