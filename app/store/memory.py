"""The in-memory store: dicts in this process (the zero-setup default).

Registrations and key/values held here are lost at restart and are not seen by other worker
processes; :func:`app.store.shared_store` replaces it with a tmpfs SQLite file when the
workers are forked (docs/store.md). Every call is immediate (``blocking = False``).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

from app.store.base import Change, Contact, Store, Subscriber

T = TypeVar("T")


class MemoryStore(Store):
    """Process-local dicts; see the module docstring."""

    blocking = False

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._loc: dict[str, dict[str, dict[str, Contact]]] = defaultdict(dict)
        self._subs: dict[str, dict[tuple[str, str], Subscriber]] = defaultdict(dict)
        self._kv: dict[str, dict[str, tuple[Any, float]]] = defaultdict(dict)

    # -- location ------------------------------------------------------------------------
    def get_contacts(self, table: str, aor: str) -> list[Contact]:
        record = self._loc[table].get(aor)
        return [c.copy() for c in record.values()] if record else []

    def put_contact(self, table: str, contact: Contact) -> None:
        self._loc[table].setdefault(contact.aor, {})[contact.ruid] = contact.copy()

    def modify_contacts(
        self, table: str, aor: str, change: Callable[[list[Contact]], Change[T]]
    ) -> tuple[T, list[Contact]]:
        records = self._loc[table]
        record = records.get(aor)
        delete, put, value = change([c.copy() for c in record.values()] if record else [])
        if delete or put:
            if record is None:
                record = records[aor] = {}
            for ruid in delete:
                record.pop(ruid, None)
            for c in put:
                record[c.ruid] = c.copy()
            if not record:
                del records[aor]
        return value, [c.copy() for c in record.values()] if record else []

    def delete_contacts(self, table: str, aor: str, ruids: list[str] | None = None) -> int:
        record = self._loc[table].get(aor)
        if not record:
            return 0
        doomed = list(record) if ruids is None else [r for r in ruids if r in record]
        for ruid in doomed:
            del record[ruid]
        if not record:
            del self._loc[table][aor]
        return len(doomed)

    def all_contacts(self, table: str) -> list[Contact]:
        return [c.copy() for rec in self._loc[table].values() for c in rec.values()]

    def expire_contacts(self, table: str, now: float) -> list[Contact]:
        gone = [c for c in self.all_contacts(table) if c.expired(now)]
        for c in gone:
            self.delete_contacts(table, c.aor, [c.ruid])
        return gone

    def tables(self) -> list[str]:
        return [name for name, recs in self._loc.items() if recs]

    # -- subscribers -----------------------------------------------------------------------
    def get_subscriber(self, table: str, username: str, domain: str) -> Subscriber | None:
        subs = self._subs[table]
        if domain:
            return subs.get((username, domain))
        return next((s for (u, _), s in subs.items() if u == username), None)

    def put_subscriber(self, table: str, sub: Subscriber) -> None:
        self._subs[table][(sub.username, sub.domain)] = sub

    def delete_subscriber(self, table: str, username: str, domain: str) -> bool:
        return self._subs[table].pop((username, domain), None) is not None

    def list_subscribers(self, table: str) -> list[Subscriber]:
        return list(self._subs[table].values())

    # -- key/values --------------------------------------------------------------------------
    def _live(self, ns: str, key: str, now: float) -> tuple[Any, float] | None:
        item = self._kv[ns].get(key)
        if item is not None and 0 < item[1] <= now:
            del self._kv[ns][key]
            return None
        return item

    def kv_get(self, ns: str, key: str, now: float) -> Any:
        item = self._live(ns, key, now)
        return None if item is None else copy.deepcopy(item[0])

    def kv_set(self, ns: str, key: str, value: Any, expires: float = 0.0) -> None:
        self._kv[ns][key] = (copy.deepcopy(value), expires)

    def kv_delete(self, ns: str, key: str) -> bool:
        return self._kv[ns].pop(key, None) is not None

    def kv_add(self, ns: str, key: str, value: Any, expires: float, now: float) -> bool:
        if self._live(ns, key, now) is not None:
            return False
        self.kv_set(ns, key, value, expires)
        return True

    def kv_raise(self, ns: str, key: str, value: int, expires: float, now: float) -> bool:
        item = self._live(ns, key, now)
        if item is not None and int(item[0]) >= value:
            return False
        self.kv_set(ns, key, value, expires)
        return True

    def kv_items(self, ns: str, now: float) -> dict[str, Any]:
        self.kv_expire(ns, now)
        return {k: copy.deepcopy(v) for k, (v, _) in self._kv[ns].items()}

    def kv_expire(self, ns: str, now: float) -> list[str]:
        items = self._kv[ns]
        gone = [k for k, (_, exp) in items.items() if 0 < exp <= now]
        for k in gone:
            del items[k]
        return gone
