"""The store interface: state that outlives a message (design.md, "State that outlives a message").

Three kinds of state live behind one :class:`Store`:

* **location records** (usrloc): :class:`Contact` rows grouped by table and address of record
  (AoR); Kamailio's ``location`` table columns;
* **subscribers** (auth_db): :class:`Subscriber` rows (``username``, ``domain``, ``password``,
  ``ha1``, ``ha1b``), Kamailio's ``subscriber`` table;
* **key/values with expiry** in namespaces (htable items, dialogs, the auth nonce replay
  window): JSON-able values; :meth:`Store.kv_add` (insert if absent) and
  :meth:`Store.kv_raise` (store if greater) are atomic, so workers of one machine (SQLite) or
  nodes (Redis) share one replay window.

The interface is synchronous; a backend whose calls block (``blocking = True``: SQLite, Redis)
is called through :func:`app.store.call`, which runs the call in the store's own thread and
parks the route greenlet meanwhile (never the event loop). Times are unix seconds (floats).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

T = TypeVar("T")

Q_UNSPECIFIED = -1.0
"""The q of a contact registered without one (Kamailio's ``Q_UNSPECIFIED``)."""


class StoreError(Exception):
    """A store cannot be opened or used (bad URL, unsupported backend, I/O error)."""


@dataclass
class Contact:
    """One registered contact (a row of Kamailio's ``location`` table)."""

    aor: str
    contact: str
    ruid: str = ""
    expires: float = 0.0  # absolute unix time; 0 = permanent
    q: float = Q_UNSPECIFIED
    callid: str = ""
    cseq: int = 0
    received: str = ""
    path: str = ""
    socket: str = ""
    user_agent: str = ""
    flags: int = 0
    cflags: int = 0
    methods: int = 0xFFFFFFFF
    instance: str = ""
    reg_id: int = 0
    server_id: int = 0
    connection_id: int = -1
    keepalive: int = 0
    last_modified: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (JSON-able)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Contact:
        """The inverse of :meth:`to_dict` (unknown keys ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def expired(self, now: float) -> bool:
        """True when the contact's lifetime is over."""
        return 0 < self.expires <= now

    def copy(self) -> Contact:
        """A shallow copy (``extra`` shared), much cheaper than :func:`copy.copy`."""
        twin = object.__new__(Contact)
        twin.__dict__.update(self.__dict__)
        return twin


Change = tuple[list[str], list[Contact], T]
"""What a :meth:`Store.modify_contacts` function decides: ruids to delete, contacts to put
(insert or replace by ruid), and a value handed back to the caller."""


def merged(existing: list[Contact], delete: list[str], put: list[Contact]) -> list[Contact]:
    """``existing`` (store order) once ``delete`` and ``put`` are applied: a replaced contact
    keeps its position, new ones go last, as every backend stores them."""
    if not delete and not put:
        return list(existing)
    gone = set(delete)
    fresh = {c.ruid: c for c in put}
    out = []
    for c in existing:
        if c.ruid in gone:
            continue
        out.append(fresh.pop(c.ruid, c))
    out.extend(c for c in put if c.ruid in fresh and c.ruid not in gone)
    return out


@dataclass(frozen=True)
class Subscriber:
    """A subscriber's credentials (a row of Kamailio's ``subscriber`` table)."""

    username: str
    domain: str
    password: str = ""
    ha1: str = ""
    ha1b: str = ""


class Store(ABC):
    """Location records, subscribers and key/values; see the module docstring."""

    blocking: bool = False
    url: str = "memory://"

    # -- location ------------------------------------------------------------------------
    @abstractmethod
    def get_contacts(self, table: str, aor: str) -> list[Contact]:
        """The contacts of ``aor`` in insertion order (expired ones included)."""

    @abstractmethod
    def put_contact(self, table: str, contact: Contact) -> None:
        """Insert ``contact`` or replace the one with the same ``ruid`` (keeps its position)."""

    @abstractmethod
    def delete_contacts(self, table: str, aor: str, ruids: list[str] | None = None) -> int:
        """Delete the contacts of ``aor`` (only those ``ruids`` if given); how many."""

    def modify_contacts(
        self, table: str, aor: str, change: Callable[[list[Contact]], Change[T]]
    ) -> tuple[T, list[Contact]]:
        """Read-modify-write of one AoR as a single store call: ``change(contacts)`` (store
        order, expired ones included) says what to delete and put; the store applies it
        atomically (one transaction) and returns ``(value, contacts after)``. An exception
        raised by ``change`` leaves the AoR untouched and propagates."""
        existing = self.get_contacts(table, aor)
        delete, put, value = change(existing)
        if delete:
            self.delete_contacts(table, aor, delete)
        for c in put:
            self.put_contact(table, c)
        return value, merged(existing, delete, put)

    @abstractmethod
    def all_contacts(self, table: str) -> list[Contact]:
        """Every contact of ``table``, grouped by AoR."""

    @abstractmethod
    def expire_contacts(self, table: str, now: float) -> list[Contact]:
        """Delete and return the contacts of ``table`` that expired at ``now``."""

    @abstractmethod
    def tables(self) -> list[str]:
        """The location tables that hold contacts."""

    # -- subscribers -----------------------------------------------------------------------
    @abstractmethod
    def get_subscriber(self, table: str, username: str, domain: str) -> Subscriber | None:
        """The subscriber ``username@domain`` (``domain`` "" = any domain)."""

    @abstractmethod
    def put_subscriber(self, table: str, sub: Subscriber) -> None:
        """Add or replace a subscriber."""

    @abstractmethod
    def delete_subscriber(self, table: str, username: str, domain: str) -> bool:
        """Remove a subscriber; False if there was none."""

    @abstractmethod
    def list_subscribers(self, table: str) -> list[Subscriber]:
        """Every subscriber of ``table``."""

    # -- key/values --------------------------------------------------------------------------
    @abstractmethod
    def kv_get(self, ns: str, key: str, now: float) -> Any:
        """The value of ``key`` or None (also when it expired)."""

    @abstractmethod
    def kv_set(self, ns: str, key: str, value: Any, expires: float = 0.0) -> None:
        """Set ``key``; ``expires`` is an absolute time (0 = never)."""

    @abstractmethod
    def kv_delete(self, ns: str, key: str) -> bool:
        """Delete ``key``; False if it was not there."""

    @abstractmethod
    def kv_add(self, ns: str, key: str, value: Any, expires: float, now: float) -> bool:
        """Atomically set ``key`` only if absent (or expired); True if it was set."""

    @abstractmethod
    def kv_raise(self, ns: str, key: str, value: int, expires: float, now: float) -> bool:
        """Atomically set integer ``key`` only if absent or lower than ``value``."""

    @abstractmethod
    def kv_items(self, ns: str, now: float) -> dict[str, Any]:
        """Every live item of ``ns``."""

    @abstractmethod
    def kv_expire(self, ns: str, now: float) -> list[str]:
        """Delete and return the keys of ``ns`` that expired at ``now``."""

    # -- life cycle --------------------------------------------------------------------------
    def close(self) -> None:  # noqa: B027 - optional for backends
        """Release files, connections and threads."""
