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

import json
import random
import re
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from app.store.base import Contact, Store, StoreError, Subscriber

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


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise StoreError(f"invalid table name {name!r}")
    return name


def _split_aor(aor: str) -> tuple[str, str]:
    user, _, domain = aor.partition("@")
    return user, domain


def _row_contact(row: sqlite3.Row) -> Contact:
    names = row.keys()  # noqa: SIM118 - sqlite3.Row iterates values, not keys
    data = {k: row[k] for k in names if k in Contact.__dataclass_fields__}
    data["aor"] = row["username"] + (f"@{row['domain']}" if row["domain"] else "")
    data["extra"] = json.loads(row["extra"] or "{}")
    return Contact.from_dict({k: v for k, v in data.items() if v is not None})


class _Result:
    """Rows and row count of one statement, read while holding the connection's lock."""

    __slots__ = ("rows", "rowcount")

    def __init__(self, rows: list[sqlite3.Row], rowcount: int) -> None:
        self.rows, self.rowcount = rows, rowcount

    def fetchall(self) -> list[sqlite3.Row]:
        return self.rows

    def fetchone(self) -> sqlite3.Row | None:
        return self.rows[0] if self.rows else None


class SQLiteStore(Store):
    """A SQLite database file; see the module docstring."""

    blocking = True

    def __init__(self, path: str, url: str | None = None) -> None:
        self.path, self.url = path, url or f"sqlite:///{path}"
        self._lock = threading.RLock()
        self._ready: set[str] = set()
        self.executor: ThreadPoolExecutor | None = None
        try:
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.db.row_factory = sqlite3.Row
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
        t = _ident(table)
        if t not in self._ready:
            with self._lock:
                self.db.executescript(ddl.format(t=t))
            self._ready.add(t)
        return t

    # -- location ------------------------------------------------------------------------
    def get_contacts(self, table: str, aor: str) -> list[Contact]:
        t = self._table(table, _LOC_DDL)
        rows = self._exec(f"SELECT * FROM {t} WHERE username=? AND domain=? ORDER BY id",
                          _split_aor(aor)).fetchall()  # fmt: skip
        return [_row_contact(r) for r in rows]

    def put_contact(self, table: str, contact: Contact) -> None:
        t = self._table(table, _LOC_DDL)
        values = contact.to_dict()
        values["username"], values["domain"] = _split_aor(contact.aor)
        values["extra"] = json.dumps(contact.extra)
        cols = ", ".join(_LOC_COLS)
        sets = ", ".join(f"{c}=excluded.{c}" for c in _LOC_COLS[1:])
        sql = f"INSERT INTO {t} ({cols}) VALUES ({', '.join('?' * len(_LOC_COLS))}) "
        self._exec(sql + f"ON CONFLICT (ruid) DO UPDATE SET {sets}",
                   tuple(values[c] for c in _LOC_COLS))  # fmt: skip

    def delete_contacts(self, table: str, aor: str, ruids: list[str] | None = None) -> int:
        t = self._table(table, _LOC_DDL)
        where, args = "username=? AND domain=?", tuple[str, ...](_split_aor(aor))
        if ruids is not None:
            where += f" AND ruid IN ({', '.join('?' * len(ruids))})"
            args = (*args, *ruids)
        return self._exec(f"DELETE FROM {t} WHERE {where}", args).rowcount

    def all_contacts(self, table: str) -> list[Contact]:
        t = self._table(table, _LOC_DDL)
        rows = self._exec(f"SELECT * FROM {t} ORDER BY username, domain, id").fetchall()
        return [_row_contact(r) for r in rows]

    def expire_contacts(self, table: str, now: float) -> list[Contact]:
        t = self._table(table, _LOC_DDL)
        rows = self._exec(
            f"DELETE FROM {t} WHERE expires > 0 AND expires <= ? RETURNING *", (now,)
        ).fetchall()
        return [_row_contact(r) for r in rows]

    def tables(self) -> list[str]:
        rows = self._exec("SELECT name FROM sqlite_master WHERE type='table' AND sql LIKE '%ruid%'")
        return [r[0] for r in rows.fetchall()]

    # -- subscribers -----------------------------------------------------------------------
    def get_subscriber(self, table: str, username: str, domain: str) -> Subscriber | None:
        t = self._table(table, _SUB_DDL)
        sql = f"SELECT username, domain, password, ha1, ha1b FROM {t} WHERE username=?"
        args: tuple[str, ...] = (username,)
        if domain:
            sql, args = sql + " AND domain=?", (username, domain)
        row = self._exec(sql + " ORDER BY id LIMIT 1", args).fetchone()
        return None if row is None else Subscriber(*row)

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
