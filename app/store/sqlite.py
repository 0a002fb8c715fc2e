"""The SQLite store: one database file, persistent, shared by the workers of one machine.

Tables follow Kamailio's schema where Kamailio has one: a location table per usrloc domain
(``location`` by default; ``username``, ``domain``, ``contact``, ``received``, ``path``,
``expires``, ``q``, ``callid``, ``cseq``, ``last_modified``, ``flags``, ``cflags``,
``user_agent``, ``socket``, ``methods``, ``ruid``, ``instance``, ``reg_id``, ``server_id``,
``connection_id``, ``keepalive``; ``expires`` and ``last_modified`` are unix seconds rather
than DATETIME) and ``subscriber`` (``username``, ``domain``, ``password``, ``ha1``,
``ha1b``); key/values are rows of ``kv_store(ns, key, value JSON, expires)``.

The file is opened in WAL mode with ``synchronous=NORMAL`` (a committed registration
survives a crash of the process; see docs/store.md) and a busy timeout, so forked workers
and ``siprouter-db`` can use it at the same time. Calls are serialized on one connection;
``blocking = True`` makes modules run them in the store's thread (:func:`app.store.call`).
"""

from __future__ import annotations

import functools
import json
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from app.store.base import Change, Contact, Store, StoreError, Subscriber, merged

T = TypeVar("T")
Op = tuple[Any, ...]
"""A location write of :meth:`SQLiteStore.write`: ``("put", table, contact)``,
``("delete", table, aor, ruids or None)`` or ``("expire", table, now)``."""

READER_BUSY_MS = 100  # the reader waits this long for a lock, then uses the main connection
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
_LOC_COLS = (
    "ruid", "username", "domain", "contact", "received", "path", "expires", "q", "callid",
    "cseq", "last_modified", "flags", "cflags", "user_agent", "socket", "methods", "instance",
    "reg_id", "server_id", "connection_id", "keepalive", "extra",
)  # fmt: skip
_LOC_DDL = """CREATE TABLE IF NOT EXISTS {t} (
 id INTEGER PRIMARY KEY AUTOINCREMENT, ruid TEXT NOT NULL UNIQUE, username TEXT NOT NULL,
 domain TEXT NOT NULL DEFAULT '', contact TEXT NOT NULL, received TEXT, path TEXT,
 expires REAL NOT NULL, q REAL NOT NULL DEFAULT -1, callid TEXT, cseq INTEGER,
 last_modified REAL, flags INTEGER, cflags INTEGER, user_agent TEXT, socket TEXT,
 methods INTEGER, instance TEXT, reg_id INTEGER, server_id INTEGER, connection_id INTEGER,
 keepalive INTEGER, extra TEXT);
CREATE INDEX IF NOT EXISTS {t}_account ON {t} (username, domain);"""
_SUB_DDL = """CREATE TABLE IF NOT EXISTS {t} (
 id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT NOT NULL, domain TEXT NOT NULL DEFAULT '',
 password TEXT NOT NULL DEFAULT '', ha1 TEXT NOT NULL DEFAULT '', ha1b TEXT NOT NULL DEFAULT '',
 UNIQUE (username, domain));"""
_KV_DDL = """CREATE TABLE IF NOT EXISTS kv_store (ns TEXT NOT NULL, key TEXT NOT NULL,
 value TEXT, expires REAL NOT NULL DEFAULT 0, PRIMARY KEY (ns, key));"""
_KV_UPSERT = """INSERT INTO kv_store (ns, key, value, expires) VALUES (?, ?, ?, ?)
 ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, expires = excluded.expires"""


_PUT_SQL: dict[tuple[str, int], str] = {}
PUT_ROWS = 400  # rows per multi-row upsert (x 22 columns, under SQLite's 32,766 variables)


def _put_sql(table: str, rows: int = 1) -> str:
    """Insert, or replace the row with the same ruid (its id, so its position, is kept);
    ``rows`` rows in one statement (applied in order)."""
    sql = _PUT_SQL.get((table, rows))
    if sql is None:
        sets = ", ".join(f"{c}=excluded.{c}" for c in _LOC_COLS[1:])
        values = ", ".join([f"({', '.join('?' * len(_LOC_COLS))})"] * rows)
        sql = f"INSERT INTO {table} ({_LOC_SELECT}) VALUES {values} "
        sql += f"ON CONFLICT (ruid) DO UPDATE SET {sets}"
        if len(_PUT_SQL) < 64:
            _PUT_SQL[(table, rows)] = sql
    return sql


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise StoreError(f"invalid table name {name!r}")
    return name


def _split_aor(aor: str) -> tuple[str, str]:
    user, _, domain = aor.partition("@")
    return user, domain


_LOC_SELECT = ", ".join(_LOC_COLS)
_SUB_COLS = ("username", "domain", "password", "ha1", "ha1b")
_DEFAULTS = Contact("", "")


def _row_contact(row: Sequence[Any]) -> Contact:
    """A Contact from a row of ``SELECT {_LOC_SELECT}`` (NULL columns: the defaults)."""
    c = object.__new__(Contact)
    d = c.__dict__
    d.update(_DEFAULTS.__dict__)
    for name, value in zip(_LOC_COLS, row, strict=True):
        if value is not None:
            d[name] = value
    user, domain = d.pop("username"), d.pop("domain")
    d["aor"] = f"{user}@{domain}" if domain else user
    extra = d["extra"]
    d["extra"] = json.loads(extra) if isinstance(extra, str) and extra != "{}" else {}
    return c


@functools.lru_cache(maxsize=64)
def _sub_sql(table: str, with_domain: bool) -> str:
    """The subscriber read (``LIMIT 1``: the (username, domain) index's order, no sort)."""
    where = "username=? AND domain=?" if with_domain else "username=?"
    return f"SELECT username, domain, password, ha1, ha1b FROM {table} WHERE {where} LIMIT 1"


def _subscriber(row: Sequence[Any]) -> Subscriber:
    """A Subscriber from a row of :func:`_sub_sql` (frozen: filled without its __init__)."""
    sub = object.__new__(Subscriber)
    sub.__dict__.update(zip(_SUB_COLS, row, strict=True))
    return sub


def _contact_row(c: Contact) -> tuple[Any, ...]:
    user, _, domain = c.aor.partition("@")
    return (c.ruid, user, domain, c.contact, c.received, c.path, c.expires, c.q, c.callid,
            c.cseq, c.last_modified, c.flags, c.cflags, c.user_agent, c.socket, c.methods,
            c.instance, c.reg_id, c.server_id, c.connection_id, c.keepalive,
            json.dumps(c.extra) if c.extra else "{}")  # fmt: skip


class _Result:
    """Rows and row count of one statement, read while holding the connection's lock."""

    __slots__ = ("rows", "rowcount")

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self.rows, self.rowcount = rows, rowcount

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None


class SQLiteStore(Store):
    """A SQLite database file; see the module docstring."""

    blocking = True
    inline = frozenset({"get_subscriber", "get_contacts"})
    """Methods :func:`app.store.call` runs on the calling thread (short reads)."""
    inline_writes = False
    """True for a file in memory (tmpfs: :func:`app.store.shared_store`), where a commit never
    waits for a disk: :meth:`try_modify` may then write on the caller's thread."""

    def __init__(self, path: str, url: str | None = None) -> None:
        self.path, self.url = path, url or f"sqlite:///{path}"
        self._lock = threading.RLock()
        self._rlock = threading.Lock()
        self._reader: sqlite3.Connection | None = None
        self._wlock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self._ready: set[str] = set()
        self.executor: ThreadPoolExecutor | None = None
        try:
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._setup()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {path}: {exc}") from None

    def _setup(self, attempts: int = 50) -> None:
        """WAL mode and the key/value table. Workers forked together open the same file at
        once, and switching to WAL can fail with "locked" without waiting for the busy
        handler, so it is tried again for a few seconds."""
        for attempt in range(attempts):
            try:
                self.db.execute("PRAGMA busy_timeout=5000")
                for pragma in ("journal_mode=WAL", "synchronous=NORMAL"):
                    self.db.execute(f"PRAGMA {pragma}")
                self.db.execute(_KV_DDL)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.05 + 0.05 * random.random())

    def thread(self) -> ThreadPoolExecutor:
        """The one thread that runs this store's calls for the event loop."""
        if self.executor is None:
            self.executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite-store")
        return self.executor

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> _Result:
        with self._lock:
            try:
                cur = self.db.execute(sql, args)
                return _Result(cur.fetchall(), cur.rowcount)
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {exc}") from None

    def _table(self, table: str, ddl: str) -> str:
        if table in self._ready:  # checked when it was made ready
            return table
        t = _ident(table)
        with self._lock:
            self.db.executescript(ddl.format(t=t))
        self._ready.add(t)
        return t

    # -- location ------------------------------------------------------------------------
    def get_contacts(self, table: str, aor: str) -> list[Contact]:
        """Inline (see :attr:`inline`): on the reader connection."""
        return self._contacts(table, aor, reader=table in self._ready)

    def _contacts(self, table: str, aor: str, reader: bool) -> list[Contact]:
        t = self._table(table, _LOC_DDL)
        sql = f"SELECT {_LOC_SELECT} FROM {t} WHERE username=? AND domain=? ORDER BY id"
        args = _split_aor(aor)
        rows = self._read_all(sql, args) if reader else self._exec(sql, args).fetchall()
        return [_row_contact(r) for r in rows]

    def put_contact(self, table: str, contact: Contact) -> None:
        t = self._table(table, _LOC_DDL)
        self._exec(_put_sql(t), _contact_row(contact))

    def delete_contacts(self, table: str, aor: str, ruids: list[str] | None = None) -> int:
        t = self._table(table, _LOC_DDL)
        where, args = "username=? AND domain=?", tuple[str, ...](_split_aor(aor))
        if ruids is not None:
            if not ruids:
                return 0
            where += f" AND ruid IN ({', '.join('?' * len(ruids))})"
            args = (*args, *ruids)
        return self._exec(f"DELETE FROM {t} WHERE {where}", args).rowcount

    def modify_contacts(
        self, table: str, aor: str, change: Callable[[list[Contact]], Change[T]]
    ) -> tuple[T, list[Contact]]:
        """One transaction (``BEGIN IMMEDIATE``): workers sharing the file cannot interleave
        their read-modify-writes of an AoR."""
        t = self._table(table, _LOC_DDL)
        with self._lock:
            self._begin()
            return self._modify(self.db, t, aor, change)

    def try_modify(
        self, table: str, aor: str, change: Callable[[list[Contact]], Change[T]]
    ) -> tuple[bool, tuple[T, list[Contact]] | None]:
        """:meth:`modify_contacts` on the caller's thread, for a file in memory
        (:attr:`inline_writes`) whose write lock is free at once: ``(True, result)``.
        ``(False, None)`` when it is not (another worker is writing): the caller then runs
        :meth:`modify_contacts` in the store's thread, which waits for the lock."""
        if not self.inline_writes or table not in self._ready:
            return False, None
        if not self._wlock.acquire(blocking=False):
            return False, None
        try:
            if self._writer is None:
                self._writer = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False
                )
                self._writer.execute("PRAGMA busy_timeout=0")
            try:
                self._writer.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                return False, None  # locked by another writer: never wait on this thread
            return True, self._modify(self._writer, _ident(table), aor, change)
        finally:
            self._wlock.release()

    def _modify(
        self,
        db: sqlite3.Connection,
        t: str,
        aor: str,
        change: Callable[[list[Contact]], Change[T]],
    ) -> tuple[T, list[Contact]]:
        """The read-modify-write inside a transaction begun on ``db``; commits."""
        user, domain = _split_aor(aor)
        try:
            sql = f"SELECT {_LOC_SELECT} FROM {t} WHERE username=? AND domain=? ORDER BY id"
            existing = [_row_contact(r) for r in db.execute(sql, (user, domain)).fetchall()]
            delete, put, value = change(existing)
            if delete:
                marks = ", ".join("?" * len(delete))
                db.execute(f"DELETE FROM {t} WHERE username=? AND domain=? AND ruid IN ({marks})",
                           (user, domain, *delete))  # fmt: skip
            if put:
                db.executemany(_put_sql(t), [_contact_row(c) for c in put])
            db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"{self.path}: {exc}") from None
            raise
        return value, merged(existing, delete, put)

    def write(self, ops: list[Op]) -> list[Contact]:
        """Apply location writes in order, in one transaction (a write-back cache's flush);
        the contacts the ``expire`` ops removed."""
        gone: list[Contact] = []
        if not ops:
            return gone
        for table in {op[1] for op in ops}:
            self._table(table, _LOC_DDL)  # DDL commits: never inside the transaction
        with self._lock:
            self._begin()
            try:
                puts: list[Contact] = []
                for n, op in enumerate(ops):
                    if op[0] == "put":
                        puts.append(op[2])
                        if n + 1 < len(ops) and ops[n + 1][:2] == ("put", op[1]):
                            continue  # consecutive puts to one table: one statement
                        self._put_many(op[1], puts)
                        puts = []
                    elif op[0] == "delete":
                        self.delete_contacts(op[1], op[2], op[3])
                    else:
                        gone += self.expire_contacts(op[1], op[2])
                self._exec("COMMIT")
            except BaseException:
                self._rollback()
                raise
        return gone

    def _put_many(self, table: str, contacts: list[Contact]) -> None:
        """Upsert ``contacts`` in order with multi-row statements: one step (one release of
        the GIL) per ``PUT_ROWS`` rows instead of one per row, so that a flush in the store's
        thread does not ping-pong the GIL with the event loop."""
        t = _ident(table)
        for start in range(0, len(contacts), PUT_ROWS):
            chunk = contacts[start : start + PUT_ROWS]
            args = [v for c in chunk for v in _contact_row(c)]
            self._exec(_put_sql(t, len(chunk)), tuple(args))

    def _begin(self) -> None:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from None

    def _rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def _many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self._lock:
            try:
                self.db.executemany(sql, rows)
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {exc}") from None

    def all_contacts(self, table: str) -> list[Contact]:
        t = self._table(table, _LOC_DDL)
        sql = f"SELECT {_LOC_SELECT} FROM {t} ORDER BY username, domain, id"
        return [_row_contact(r) for r in self._exec(sql).fetchall()]

    def expire_contacts(self, table: str, now: float) -> list[Contact]:
        t = self._table(table, _LOC_DDL)
        rows = self._exec(
            f"DELETE FROM {t} WHERE expires > 0 AND expires <= ? RETURNING {_LOC_SELECT}", (now,)
        ).fetchall()
        return [_row_contact(r) for r in rows]

    def tables(self) -> list[str]:
        rows = self._exec("SELECT name FROM sqlite_master WHERE type='table' AND sql LIKE '%ruid%'")
        return [r[0] for r in rows.fetchall()]

    # -- subscribers -----------------------------------------------------------------------
    def get_subscriber(self, table: str, username: str, domain: str) -> Subscriber | None:
        """Run on the caller's thread (``inline``): one indexed row read on the reader
        connection, which in WAL mode never waits for writers; busy, it falls back to the
        main connection."""
        ready = table in self._ready
        sql = _sub_sql(self._table(table, _SUB_DDL), bool(domain))
        args = (username, domain) if domain else (username,)
        rows = self._read_all(sql, args) if ready else self._exec(sql, args).fetchall()
        return _subscriber(rows[0]) if rows else None

    def _read_all(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Rows of a read on the reader connection (the main one when it is busy)."""
        with self._rlock:
            try:
                if self._reader is None:
                    self._reader = sqlite3.connect(
                        self.path, isolation_level=None, check_same_thread=False
                    )
                    self._reader.execute(f"PRAGMA busy_timeout={READER_BUSY_MS}")
                return self._reader.execute(sql, args).fetchall()
            except sqlite3.OperationalError:
                pass
        return self._exec(sql, args).fetchall()

    def put_subscriber(self, table: str, sub: Subscriber) -> None:
        t = self._table(table, _SUB_DDL)
        self._exec(
            f"INSERT INTO {t} (username, domain, password, ha1, ha1b) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (username, domain) DO UPDATE SET password=excluded.password, "
            "ha1=excluded.ha1, ha1b=excluded.ha1b",
            (sub.username, sub.domain, sub.password, sub.ha1, sub.ha1b),
        )

    def delete_subscriber(self, table: str, username: str, domain: str) -> bool:
        t = self._table(table, _SUB_DDL)
        sql = f"DELETE FROM {t} WHERE username=? AND domain=?"
        return self._exec(sql, (username, domain)).rowcount > 0

    def list_subscribers(self, table: str) -> list[Subscriber]:
        t = self._table(table, _SUB_DDL)
        sql = f"SELECT username, domain, password, ha1, ha1b FROM {t} ORDER BY domain, username"
        return [Subscriber(*r) for r in self._exec(sql).fetchall()]

    # -- key/values --------------------------------------------------------------------------
    def kv_get(self, ns: str, key: str, now: float) -> Any:
        row = self._exec(
            "SELECT value FROM kv_store WHERE ns=? AND key=? AND (expires=0 OR expires>?)",
            (ns, key, now),
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def kv_set(self, ns: str, key: str, value: Any, expires: float = 0.0) -> None:
        self._exec(_KV_UPSERT, (ns, key, json.dumps(value), expires))

    def kv_delete(self, ns: str, key: str) -> bool:
        return self._exec("DELETE FROM kv_store WHERE ns=? AND key=?", (ns, key)).rowcount > 0

    def kv_add(self, ns: str, key: str, value: Any, expires: float, now: float) -> bool:
        sql = _KV_UPSERT + " WHERE kv_store.expires > 0 AND kv_store.expires <= ?"
        return self._exec(sql, (ns, key, json.dumps(value), expires, now)).rowcount > 0

    def kv_raise(self, ns: str, key: str, value: int, expires: float, now: float) -> bool:
        sql = _KV_UPSERT + (
            " WHERE CAST(kv_store.value AS INTEGER) < ?"
            " OR (kv_store.expires > 0 AND kv_store.expires <= ?)"
        )
        return self._exec(sql, (ns, key, json.dumps(value), expires, value, now)).rowcount > 0

    def kv_items(self, ns: str, now: float) -> dict[str, Any]:
        rows = self._exec(
            "SELECT key, value FROM kv_store WHERE ns=? AND (expires=0 OR expires>?)", (ns, now)
        ).fetchall()
        return {r[0]: json.loads(r[1]) for r in rows}

    def kv_expire(self, ns: str, now: float) -> list[str]:
        rows = self._exec(
            "DELETE FROM kv_store WHERE ns=? AND expires>0 AND expires<=? RETURNING key", (ns, now)
        ).fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True)
            self.executor = None
        with self._lock:
            self.db.close()
        with self._rlock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
        with self._wlock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
