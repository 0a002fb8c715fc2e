"""registrar's unregister(), reg_fetch_contacts()/reg_free_contacts() and ``$ulc``.

``$ulc(profile=>attr)`` and ``$(ulc(profile=>attr)[i])`` read the contacts a
``reg_fetch_contacts(table, uri, profile)`` stored (per worker process, as in Kamailio, until
``reg_free_contacts(profile)`` or the next fetch into the same profile). Attributes: aor,
domain, aorhash, addr, path, received, expires, callid, q, cseq, flags, cflags, user_agent,
socket, modified, methods, count, ruid, regid, instance, conid, server_id.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

from app.context import Ctx
from app.pv import split_index
from modules import registrar as reg

module = reg.module


@module.function("unregister", "ss")
def unregister(ctx: Ctx, table: str, uri: str) -> int:
    """Remove every contact of the AoR of ``uri``; 1, -1 bad URI, -3 not found."""
    return _unregister(table, uri, "")


@module.function("unregister_ruid", "sss")
def unregister_ruid(ctx: Ctx, table: str, uri: str, ruid: str) -> int:
    """Remove the contact ``ruid`` of the AoR of ``uri``; 1, -1 bad URI, -3 not found."""
    return _unregister(table, uri, ruid)


def _unregister(table: str, uri: str, ruid: str) -> int:
    api = reg.ul()
    try:
        key = reg.aor_of(uri)
    except Exception:  # noqa: BLE001 - Kamailio: failed to extract the AoR
        return -1
    if ruid:
        return 1 if api["delete_ucontact"](table, key, ruid) else -3
    return 1 if api["delete_urecord"](table, key) else -3


@module.function("reg_fetch_contacts", "sss")
def reg_fetch_contacts(ctx: Ctx, table: str, uri: str, profile: str) -> int:
    """Load the contacts of ``uri`` into ``$ulc(profile)``; 1 found, -1 none or error."""
    reg.profiles.pop(profile, None)
    try:
        key = reg.aor_of(uri)
    except Exception:  # noqa: BLE001
        return -1
    contacts = reg.ul()["get_urecord"](table, key)
    if not contacts:
        return -1
    reg.profiles[profile] = {"aor": key, "domain": table, "contacts": contacts}
    return 1


@module.function("reg_free_contacts", "s")
def reg_free_contacts(ctx: Ctx, profile: str) -> int:
    """Forget the contacts of ``$ulc(profile)``; 1."""
    reg.profiles.pop(profile, None)
    return 1


_RECORD = {
    "aor": lambda p: p["aor"],
    "domain": lambda p: p["domain"],
    "aorhash": lambda p: zlib.crc32(p["aor"].encode()) & 0x7FFFFFFF,
    "count": lambda p: len(p["contacts"]),
}
_CONTACT = {
    "addr": lambda c: c.contact,
    "path": lambda c: c.path or None,
    "received": lambda c: c.received or None,
    "expires": lambda c: max(0, int(c.expires - time.time() + 0.5)) if c.expires else 0,
    "callid": lambda c: c.callid,
    "q": lambda c: int(c.q * 1000) if c.q >= 0 else -1,
    "cseq": lambda c: c.cseq,
    "flags": lambda c: c.flags,
    "cflags": lambda c: c.cflags,
    "user_agent": lambda c: c.user_agent or None,
    "socket": lambda c: c.socket or None,
    "modified": lambda c: int(c.last_modified),
    "methods": lambda c: c.methods,
    "ruid": lambda c: c.ruid,
    "regid": lambda c: c.reg_id,
    "instance": lambda c: c.instance or None,
    "conid": lambda c: c.connection_id if c.connection_id >= 0 else None,
    "server_id": lambda c: c.server_id,
}


@module.pv("ulc")
def ulc_get(ctx: Ctx, inner: str | None) -> Any:
    """$ulc(profile=>attr), $(ulc(profile=>attr)[i]): fetched contacts (reg_fetch_contacts)."""
    spec, idx = split_index(inner or "")
    profile, _, attr = spec.partition("=>")
    p = reg.profiles.get(profile.strip())
    attr = attr.strip()
    if p is None:
        return None
    if attr in _RECORD:
        return _RECORD[attr](p)
    get = _CONTACT.get(attr)
    i = 0 if idx in (None, "*") else int(idx)  # type: ignore[arg-type]
    if get is None or not -len(p["contacts"]) <= i < len(p["contacts"]):
        return None
    return get(p["contacts"][i])


@module.export("statistics")
def statistics() -> dict[str, int]:
    """Kamailio's registrar statistics: the limits, accepted_regs and rejected_regs."""
    cfg = module.cfg
    names = ("max_expires", "max_contacts", "default_expires", "accepted_regs", "rejected_regs")
    values = {**{k: int(cfg[k]) for k in names[:3]}, **reg.stats}
    return {f"registrar:{k}": int(values.get(k, 0)) for k in names}
