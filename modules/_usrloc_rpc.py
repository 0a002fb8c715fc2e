"""usrloc's RPC commands, in Kamailio's shapes (``kamcmd ul.dump`` prints the same tree).

``ul.dump [brief]``, ``ul.lookup table AoR``, ``ul.rm table AoR``,
``ul.rm_contact table AoR contact``, ``ul.add table AoR contact expires q path flags cflags
methods``, ``ul.flush`` (commits the write-back cache's queue now).
"""

from __future__ import annotations

import time
import zlib
from typing import Any

from app.store import CachedStore, Contact, acall
from modules import usrloc as ul
from rpc.registry import RpcFault

module = ul.module
NOT_SET = "[not set]"


def _hash(aor: str) -> int:
    return zlib.crc32(aor.encode()) & 0x7FFFFFFF


def contact_info(c: Contact, now: float) -> dict[str, Any]:
    """One contact as Kamailio's ``ul.dump`` shows it."""
    return {
        "Address": c.contact,
        "Expires": "permanent" if c.expires == 0 else max(0, int(c.expires - now)),
        "Q": c.q,
        "Call-ID": c.callid,
        "CSeq": c.cseq,
        "User-Agent": c.user_agent or "n/a",
        "Received": c.received or NOT_SET,
        "Path": c.path or NOT_SET,
        "State": "CS_SYNC" if ul.module.cfg["db_mode"] else "CS_NEW",
        "Flags": c.flags,
        "CFlags": c.cflags,
        "Socket": c.socket or NOT_SET,
        "Methods": c.methods,
        "Ruid": c.ruid,
        "Instance": c.instance or NOT_SET,
        "Reg-Id": c.reg_id,
        "Server-Id": c.server_id,
        "Tcpconn-Id": c.connection_id,
        "Keepalive": c.keepalive,
        "Last-Keepalive": int(c.last_modified),
        "KA-Roundtrip": 0,
        "Last-Modified": int(c.last_modified),
    }


def _aor_info(aor: str, contacts: list[Contact], now: float, brief: bool) -> dict[str, Any]:
    if brief:
        items = [{"Contact": {"Address": c.contact}} for c in contacts]
    else:
        items = [{"Contact": contact_info(c, now)} for c in contacts]
    return {"Info": {"AoR": aor, "HashID": _hash(aor), "Contacts": items}}


async def _live(table: str, aor: str | None = None) -> list[Contact]:
    st, now = ul.store(), time.time()
    if aor is None:
        found = await acall(st, st.all_contacts, table)
    else:
        found = await acall(st, st.get_contacts, table, aor)
    return [c for c in found if not c.expired(now)]


async def _domain(table: str, brief: bool) -> dict[str, Any]:
    now = time.time()
    by_aor: dict[str, list[Contact]] = {}
    for c in await _live(table):
        by_aor.setdefault(c.aor, []).append(c)
    aors = [_aor_info(a, ul.order(cs), now, brief) for a, cs in by_aor.items()]
    stats = {"Records": len(aors), "Max-Slots": 1 if aors else 0}
    return {"Domain": {"Domain": table, "Size": 1024, "AoRs": aors, "Stats": stats}}


@module.rpc("ul.dump")
async def rpc_dump(mode: str = "") -> dict[str, Any]:
    """Every location table with its AoRs and contacts ("brief": addresses only)."""
    st = ul.store()
    tables = sorted(set(await acall(st, st.tables)) | set(ul.module.cfg["preload"]))
    return {"Domains": [await _domain(t, mode == "brief") for t in tables]}


@module.rpc("ul.lookup")
async def rpc_lookup(table: str, aor: str) -> dict[str, Any]:
    """The contacts of one AoR."""
    contacts = ul.order(await _live(table, _key(aor)))
    if not contacts:
        raise RpcFault(404, "AOR not found in location table")
    now = time.time()
    return {"AoR": _key(aor), "Contacts": [{"Contact": contact_info(c, now)} for c in contacts]}


@module.rpc("ul.rm")
async def rpc_rm(table: str, aor: str) -> None:
    """Delete every contact of an AoR."""
    st = ul.store()
    if not await acall(st, st.delete_contacts, table, _key(aor), None):
        raise RpcFault(404, "AOR not found")
    await ul.commit()


@module.rpc("ul.rm_contact")
async def rpc_rm_contact(table: str, aor: str, contact: str) -> None:
    """Delete one contact (by its address) of an AoR."""
    st = ul.store()
    ruids = [c.ruid for c in await _live(table, _key(aor)) if c.contact == contact]
    if not ruids:
        raise RpcFault(404, "Contact not found")
    await acall(st, st.delete_contacts, table, _key(aor), ruids)
    await ul.commit()


@module.rpc("ul.add")
async def rpc_add(
    table: str,
    aor: str,
    contact: str,
    expires: int,
    q: float = -1.0,
    path: str = "",
    flags: int = 0,
    cflags: int = 0,
    methods: int = 0xFFFFFFFF,
) -> None:
    """Add (or refresh) a contact; ``expires`` 0 makes it permanent."""
    now, key = time.time(), _key(aor)
    old = next((c for c in await _live(table, key) if c.contact == contact), None)
    new = Contact(key, contact, old.ruid if old else ul.new_ruid(), now + expires if expires else 0,
                  q, "dfg-callid", 1, path=path, flags=flags, cflags=cflags, methods=methods,
                  last_modified=now)  # fmt: skip
    st = ul.store()
    await acall(st, st.put_contact, table, new)
    await ul.commit()


@module.rpc("ul.flush")
async def rpc_flush() -> None:
    """Write the cache's queued changes (db_mode=2) to the database now."""
    st = ul.store()
    if isinstance(st, CachedStore):
        await ul.flush(st)


def _key(aor: str) -> str:
    """An RPC's AoR argument (``sip:user@host`` or ``user[@host]``) as the table's key."""
    text = aor.split(":", 1)[1] if aor.startswith(("sip:", "sips:")) else aor
    user, _, host = text.partition("@")
    return ul.aor(user, host)
