"""A memory cache of location records in front of an SQLite store (Kamailio's usrloc
``db_mode`` 1 and 2): every read is served from memory, every write changes memory first and
then reaches the database

* at once (write-through, ``db_mode=1``): the route's REGISTER waits for the commit, one
  store call (one thread hand-off) per change (changes made by timers and RPC commands are
  queued and committed by their caller with :meth:`CachedStore.take`), or
* later (write-back, ``db_mode=2``): writes are queued and :meth:`CachedStore.aflush` commits
  the queue in one transaction (usrloc's flusher, every second, and at stop).

The cache is loaded from the database when it is made (every location table in the file),
so registrations survive restarts. It is the authority for this process: other processes
writing the same location table are not seen (Kamailio's cache behaves the same), so usrloc
uses it only when siprouter runs one worker process (docs/store.md). Subscribers and
key/values are not cached: those calls go to the database.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from app.store.base import Change, Contact, Store, Subscriber
from app.store.memory import MemoryStore
from app.store.sqlite import Op, SQLiteStore

T = TypeVar("T")


def _in_route() -> bool:
    """True in a route greenlet (which may park while the database commits)."""
    pool: Any = importlib.import_module("app.greenpool")  # the store layer needs no engine
    return bool(pool.in_route())


class CachedStore(Store):
    """Location records in memory, written through or back to ``backing``; see above."""

    blocking = False

    def __init__(self, backing: SQLiteStore, write_back: bool, run: Callable[..., Any]) -> None:
        """``run(store, method, *args)`` runs a backing call (:func:`app.store.call`)."""
        self.backing, self.write_back, self._run = backing, write_back, run
        self.url = backing.url
        self.memory = MemoryStore(backing.url)
        self.pending: list[Op] = []
        self._loaded: set[str] = set()
        for table in backing.tables():
            self._load(table)

    def _load(self, table: str) -> None:
        if table in self._loaded:
            return
        put = self.memory.put_contact
        for c in self.backing.all_contacts(table):
            put(table, c)
        self._loaded.add(table)

    def _wrote(self, ops: list[Op]) -> None:
        if self.write_back or not _in_route():
            self.pending += ops  # timers and RPC commands: flushed by their caller (usrloc)
        else:
            self._run(self.backing, self.backing.write, ops)

    def take(self) -> list[Op]:
        """The queued writes (write-back), now owned by the caller."""
        ops, self.pending = self.pending, []
        return ops

    def flush(self) -> None:
        """Commit the queued writes now (blocking: start-up, tests, close)."""
        self.backing.write(self.take())

    # -- location ------------------------------------------------------------------------
    def get_contacts(self, table: str, aor: str) -> list[Contact]:
        self._load(table)
        return self.memory.get_contacts(table, aor)

    def put_contact(self, table: str, contact: Contact) -> None:
        self._load(table)
        self.memory.put_contact(table, contact)
        self._wrote([("put", table, contact.copy())])

    def delete_contacts(self, table: str, aor: str, ruids: list[str] | None = None) -> int:
        self._load(table)
        count = self.memory.delete_contacts(table, aor, ruids)
        if count:
            self._wrote([("delete", table, aor, None if ruids is None else list(ruids))])
        return count

    def modify_contacts(
        self, table: str, aor: str, change: Callable[[list[Contact]], Change[T]]
    ) -> tuple[T, list[Contact]]:
        self._load(table)
        decided: list[Change[T]] = []

        def record(existing: list[Contact]) -> Change[T]:
            decided.append(change(existing))
            return decided[0]

        value, after = self.memory.modify_contacts(table, aor, record)
        delete, put, _ = decided[0]
        ops: list[Op] = [("delete", table, aor, list(delete))] if delete else []
        ops += [("put", table, c.copy()) for c in put]
        if ops:
            self._wrote(ops)
        return value, after

    def all_contacts(self, table: str) -> list[Contact]:
        self._load(table)
        return self.memory.all_contacts(table)

    def expire_contacts(self, table: str, now: float) -> list[Contact]:
        self._load(table)
        gone = self.memory.expire_contacts(table, now)
        if gone:
            self._wrote([("expire", table, now)])
        return gone

    def tables(self) -> list[str]:
        return self.memory.tables()

    # -- subscribers and key/values: the database's -----------------------------------------
    def get_subscriber(self, table: str, username: str, domain: str) -> Subscriber | None:
        return self.backing.get_subscriber(table, username, domain)

    def put_subscriber(self, table: str, sub: Subscriber) -> None:
        self.backing.put_subscriber(table, sub)

    def delete_subscriber(self, table: str, username: str, domain: str) -> bool:
        return self.backing.delete_subscriber(table, username, domain)

    def list_subscribers(self, table: str) -> list[Subscriber]:
        return self.backing.list_subscribers(table)

    def kv_get(self, ns: str, key: str, now: float) -> Any:
        return self.backing.kv_get(ns, key, now)

    def kv_set(self, ns: str, key: str, value: Any, expires: float = 0.0) -> None:
        self.backing.kv_set(ns, key, value, expires)

    def kv_delete(self, ns: str, key: str) -> bool:
        return self.backing.kv_delete(ns, key)

    def kv_add(self, ns: str, key: str, value: Any, expires: float, now: float) -> bool:
        return self.backing.kv_add(ns, key, value, expires, now)

    def kv_raise(self, ns: str, key: str, value: int, expires: float, now: float) -> bool:
        return self.backing.kv_raise(ns, key, value, expires, now)

    def kv_items(self, ns: str, now: float) -> dict[str, Any]:
        return self.backing.kv_items(ns, now)

    def kv_expire(self, ns: str, now: float) -> list[str]:
        return self.backing.kv_expire(ns, now)

    def close(self) -> None:
        """Commit what is queued; the backing store is closed by its owner."""
        self.flush()
