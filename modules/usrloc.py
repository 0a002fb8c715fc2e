"""usrloc: the location table (Kamailio's usrloc module) kept in a store (app/store).

Where contacts live depends on ``db_mode`` (docs/store.md):

* ``db_mode=0`` (default): memory. With one worker process, this process's memory; with
  forked workers (``children`` > 1), a tmpfs SQLite file shared by the workers (Kamailio keeps
  usrloc in shared memory: every worker sees every registration). Lost at restart.
* ``db_mode=1/2/3``: the database of ``db_url`` (``sqlite:///path/to.db``) keeps the
  location table; registrations survive restarts. With one worker process, modes 1 and 2 serve
  reads from a memory cache loaded at start (:class:`app.store.CachedStore`): 1 writes each
  change through before save() answers, 2 writes back every second (and at stop) in one
  transaction, as Kamailio's usrloc does. Mode 3, and every mode when the workers are forked,
  use the database alone (every worker sees every registration): one store call per save().
  ``mysql://``/``postgres://`` URLs are start-up errors naming the modparam line.

Other modules reach the table through the exported API (``module.api``): ``aor``,
``get_urecord``, ``modify_urecord`` (registrar's save: one read-modify-write), ``insert_ucontact``, ``update_ucontact``, ``delete_ucontact``,
``delete_urecord``, ``get_all_ucontacts``, ``new_ruid``, ``statistics``, ``nat_bflag``.
A timer removes expired contacts every ``timer_interval`` seconds. RPC commands ``ul.dump``,
``ul.lookup``, ``ul.rm``, ``ul.rm_contact``, ``ul.add``, ``ul.flush`` live in
:mod:`modules._usrloc_rpc`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from app.module import ParamError
from app.store import (
    CachedStore,
    Contact,
    SQLiteStore,
    Store,
    StoreError,
    StoreModule,
    acall,
    call,
    drop,
    forked_worker,
    open_store,
    shared_store,
)
from app.store.base import Change, T

log = logging.getLogger("siprouter.usrloc")


module = StoreModule("usrloc", doc="location table (registrations) in the store")
module.param("db_url", str, "", doc="sqlite:///path/to.db (used when db_mode > 0)")
module.param("db_mode", int, 0, doc="0 memory; 1, 2, 3: the db_url database")
module.param("nat_bflag", int, -1, doc="branch flag marking contacts behind NAT")
module.param("preload", str, multi=True, doc="location tables to open at start")
module.param("use_domain", int, 0, doc="AoR is user@domain instead of user")
module.param("timer_interval", int, 60, doc="seconds between expiry runs")
module.param("desc_time_order", int, 0, doc="1: most recent contact first")
module.param("matching_mode", int, 0, doc="0 contact; 1 contact+callid; 2 contact+path; 3 callid")
module.param("cseq_delay", int, 20, doc="seconds an equal CSeq counts as a retransmission")
module.param("hash_size", int, 10, doc="accepted (Kamailio hash table size)")
module.param("db_load", int, 1, doc="accepted")
module.param("db_insert_update", int, 0, doc="accepted")
module.param("db_timer_clean", int, 0, doc="accepted")
module.param("timer_procs", int, 0, doc="accepted")
module.param("server_id_filter", int, 0, doc="accepted")
module.param("handle_lost_tcp", int, 0, doc="accepted")

_state: dict[str, Any] = {"store": None, "timer": None, "flusher": None, "expired": {}}
FLUSH_INTERVAL = 1.0  # seconds between write-backs (the cache's queue: db_mode=2, timers, RPC)
_ruids = itertools.count(1)


def store() -> Store:
    """The location store (opened on first use)."""
    st = _state["store"]
    if st is None:
        st = _state["store"] = _open()
    return st  # type: ignore[no-any-return]


def _open() -> Store:
    url, mode = str(module.cfg["db_url"]), int(module.cfg["db_mode"])
    if mode == 0 or not url:
        if mode:
            log.warning("usrloc: db_mode=%d without db_url: registrations stay in memory", mode)
        return shared_store("usrloc")
    try:
        st = open_store(url, private=True)  # its own connection: flushed at stop
    except StoreError as exc:
        raise ParamError(f'modparam "usrloc" "db_url": {exc}') from None
    if mode in (1, 2) and isinstance(st, SQLiteStore) and not forked_worker():
        return CachedStore(st, write_back=mode == 2, run=call)
    return st


@module.on_start
async def _start() -> None:
    _state["store"], _state["expired"] = None, {}
    st = store()
    for table in module.cfg["preload"]:
        await acall(st, st.get_contacts, table, "")
    interval = max(1, int(module.cfg["timer_interval"]))
    _state["timer"] = asyncio.create_task(_timer(interval), name="usrloc-timer")
    if isinstance(st, CachedStore):
        _state["flusher"] = asyncio.create_task(_flusher(st), name="usrloc-flusher")


@module.on_stop
async def _stop() -> None:
    for name in ("timer", "flusher"):
        task = _state[name]
        if task is not None:
            task.cancel()
            _state[name] = None
    st = _state["store"]
    if isinstance(st, CachedStore):
        await flush(st)
        drop(st.backing)
    elif st is not None:
        drop(st)
    _state["store"] = None


async def flush(st: CachedStore) -> None:
    """Commit the cache's queued writes in the store's thread (one transaction)."""
    ops = st.take()
    if ops:
        try:
            await acall(st.backing, st.backing.write, ops)
        except StoreError:
            st.pending[:0] = ops  # tried again at the next flush
            raise


async def commit() -> None:
    """After a change made outside a route (timer, RPC): with the write-through cache,
    commit it now (in the store's thread); otherwise nothing to do."""
    st = _state["store"]
    if isinstance(st, CachedStore) and not st.write_back:
        await flush(st)


async def _flusher(st: CachedStore) -> None:
    while True:
        await asyncio.sleep(FLUSH_INTERVAL)
        try:
            await flush(st)
        except Exception:  # noqa: BLE001 - the flusher must survive a bad store call
            log.exception("usrloc: writing the location cache back failed")


async def _timer(interval: int) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await expire(time.time())
        except Exception:  # noqa: BLE001 - the timer must survive a bad store call
            log.exception("usrloc: expiry run failed")


async def expire(now: float) -> list[Contact]:
    """Remove the contacts that expired at ``now`` in every table (the timer's job)."""
    st = store()
    gone: list[Contact] = []
    for table in await acall(st, st.tables):
        removed = await acall(st, st.expire_contacts, table, now)
        counts = _state["expired"]
        counts[table] = counts.get(table, 0) + len(removed)
        gone.extend(removed)
    await commit()
    return gone


# -- the API for registrar, nathelper and the RPC commands ---------------------------------
@module.export("aor")
def aor(user: str, domain: str) -> str:
    """The AoR key of ``user@domain`` (``user`` alone unless ``use_domain``)."""
    if module.cfg["use_domain"] and domain:
        return f"{user}@{domain.lower()}"
    return user


@module.export("new_ruid")
def new_ruid() -> str:
    """A record unique id, Kamailio's shape ``uloc-<time>-<pid>-<n>``: as Kamailio's sruid,
    the time (of the first id) and pid are fixed per process, ``n`` counts."""
    prefix = _ruid_prefix[0]
    if not prefix:
        prefix = _ruid_prefix[0] = f"uloc-{int(time.time()):x}-{os.getpid():x}-"
    return f"{prefix}{next(_ruids)}"


def _forget_ruid_prefix() -> None:
    _ruid_prefix[0] = ""


_ruid_prefix = [""]
os.register_at_fork(after_in_child=_forget_ruid_prefix)  # a forked worker has its own pid


def order(contacts: list[Contact]) -> list[Contact]:
    """Kamailio's record order: q descending (unspecified last), else insertion order."""
    if len(contacts) < 2:
        return contacts
    if module.cfg["desc_time_order"]:
        return sorted(contacts, key=lambda c: -c.last_modified)
    return sorted(contacts, key=_q_key)


def _q_key(c: Contact) -> float:
    return -c.q if c.q >= 0 else 2.0


@module.export("get_urecord")
def get_urecord(table: str, aor: str, now: float | None = None) -> list[Contact]:
    """The live contacts of ``aor`` in lookup order."""
    st = store()
    now = time.time() if now is None else now
    return order([c for c in call(st, st.get_contacts, table, aor) if not 0 < c.expires <= now])


@module.export("modify_urecord")
def modify_urecord(
    table: str, aor: str, change: Callable[[list[Contact]], Change[T]], now: float | None = None
) -> tuple[T, list[Contact]]:
    """One read-modify-write of ``aor``: ``change(live contacts in lookup order)`` returns
    (ruids to delete, contacts to put, a value); applied atomically in one store call.
    Returns (the value, the live contacts afterwards in lookup order). An exception raised
    by ``change`` leaves the record as it was and propagates."""
    st = store()
    when = time.time() if now is None else now

    def live(existing: list[Contact]) -> Change[T]:
        return change(order([c for c in existing if not 0 < c.expires <= when]))

    value, after = call(st, st.modify_contacts, table, aor, live)
    return value, order([c for c in after if not 0 < c.expires <= when])


@module.export("insert_ucontact")
def insert_ucontact(table: str, contact: Contact) -> Contact:
    """Add a contact (a ruid is given if it has none)."""
    contact.ruid = contact.ruid or new_ruid()
    contact.last_modified = contact.last_modified or time.time()
    st = store()
    call(st, st.put_contact, table, contact)
    return contact


@module.export("update_ucontact")
def update_ucontact(table: str, contact: Contact) -> Contact:
    """Replace the contact with the same ruid."""
    st = store()
    call(st, st.put_contact, table, contact)
    return contact


@module.export("delete_ucontact")
def delete_ucontact(table: str, aor: str, ruid: str) -> bool:
    """Remove one contact; False if it was not there."""
    st = store()
    return call(st, st.delete_contacts, table, aor, [ruid]) > 0


@module.export("delete_urecord")
def delete_urecord(table: str, aor: str) -> int:
    """Remove every contact of ``aor``; how many."""
    st = store()
    return call(st, st.delete_contacts, table, aor, None)


@module.export("get_all_ucontacts")
def get_all_ucontacts(flags: int = 0, table: str | None = None) -> list[Contact]:
    """Live contacts of every table (or ``table``) whose cflags contain ``flags`` (NAT pings)."""
    st, now = store(), time.time()
    tables = [table] if table else call(st, st.tables)
    found = [c for t in tables for c in call(st, st.all_contacts, t)]
    return [c for c in found if not c.expired(now) and (c.cflags & flags) == flags]


@module.export("nat_bflag")
def nat_bflag() -> int:
    """The branch flag marking NATed contacts (-1: none)."""
    return int(module.cfg["nat_bflag"])


@module.export("statistics")
def statistics() -> dict[str, int]:
    """Kamailio's usrloc statistics: registered_users and <table>-users/-contacts/-expires."""
    st, now = store(), time.time()
    out: dict[str, int] = {"usrloc:registered_users": 0}
    tables = set(call(st, st.tables)) | set(module.cfg["preload"]) | set(_state["expired"])
    for table in sorted(tables):
        live = [c for c in call(st, st.all_contacts, table) if not c.expired(now)]
        users = len({c.aor for c in live})
        out["usrloc:registered_users"] += users
        out[f"usrloc:{table}-users"] = users
        out[f"usrloc:{table}-contacts"] = len(live)
        out[f"usrloc:{table}-expires"] = int(_state["expired"].get(table, 0))
    return out


from modules import _usrloc_rpc  # noqa: E402,F401 - declares the ul.* RPC commands
