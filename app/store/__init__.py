"""Stores for state that outlives a message: registrations, subscribers, key/values.

* :func:`open_store` turns a ``db_url`` into a store: ``memory://`` (default),
  ``sqlite:///abs/path.db`` or ``sqlite://rel/path.db``. Kamailio URLs of databases siprouter
  does not speak (``mysql://``, ``postgres://``, ``redis://`` ...) raise :class:`StoreError`
  saying which ones are supported; modules turn that into a start-up error naming the
  ``modparam`` line. Stores are cached per URL in a process.
* :func:`shared_store` is the default store of a module that keeps shared state without a
  ``db_url`` (usrloc ``db_mode=0``, auth nonces): process memory in a single-process server,
  an SQLite file in ``/dev/shm`` (tmpfs: memory shared by the workers, like Kamailio's shm)
  when this process is a forked worker. The master removes that file when it exits.
* :class:`CachedStore` keeps usrloc's location records in memory in front of an SQLite file
  (``db_mode`` 1 write-through, 2 write-back) when siprouter runs one worker process.
* :func:`call` runs one store method from a route: a blocking store's call runs in the
  store's thread and parks the route greenlet (:func:`app.greenpool.wait`), so the event loop
  never waits for a write or a scan; the few short indexed reads a store lists in ``inline``
  (SQLite: ``get_subscriber``, on a reader connection) run on the calling thread, as a thread
  hand-off costs ~10x the read; so does a read-modify-write of the tmpfs file of
  :func:`shared_store` when no other worker holds its write lock (``try_modify``);
  :func:`acall` is the same for coroutines (timers, RPC).
"""

from __future__ import annotations

import asyncio
import atexit
import glob
import importlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from app.module import Module, ParamError
from app.store.base import Q_UNSPECIFIED, Contact, Store, StoreError, Subscriber
from app.store.cached import CachedStore
from app.store.memory import MemoryStore
from app.store.sqlite import SQLiteStore

__all__ = [
    "Contact", "Store", "StoreError", "Subscriber", "Q_UNSPECIFIED", "MemoryStore",
    "SQLiteStore", "CachedStore", "open_store", "shared_store", "call", "acall", "forked_worker", "StoreModule", "drop",
]  # fmt: skip

T = TypeVar("T")
SUPPORTED = "memory:// and sqlite:///path (redis:// is planned)"
_MASTER = os.getpid()  # modules are imported by the master, before the workers fork
_stores: dict[tuple[int, str], Store] = {}


def forked_worker() -> bool:
    """True in a worker forked by a multi-worker master (``children`` > 1)."""
    return os.getpid() != _MASTER


def open_store(url: str, private: bool = False) -> Store:
    """The store for ``url`` (one per URL and process; ``private``: a new one of the
    caller's own, e.g. usrloc's, which must outlive the other modules' use of the file at
    stop); raise :class:`StoreError`."""
    if private:
        return _open(url)
    key = (os.getpid(), url)
    store = _stores.get(key)
    if store is None:
        store = _stores[key] = _open(url)
    return store


def _open(url: str) -> Store:
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise StoreError(f"invalid database URL {url!r}; supported: {SUPPORTED}")
    scheme = scheme.lower()
    if scheme == "memory":
        return MemoryStore(url)
    if scheme in ("sqlite", "sqlite3"):
        if not rest or rest == "/":
            raise StoreError(f"{url!r}: no database file (sqlite:///path/to.db)")
        Path(rest).parent.mkdir(parents=True, exist_ok=True)
        return SQLiteStore(rest, url)
    raise StoreError(f"database URL scheme {scheme}:// is not supported; supported: {SUPPORTED}")


def check_url(url: str) -> None:
    """Raise :class:`StoreError` unless ``url`` names a backend siprouter has."""
    scheme = url.partition("://")[0].lower()
    if scheme not in ("memory", "sqlite", "sqlite3"):
        raise StoreError(
            f"{scheme}:// databases are not supported; use sqlite:///path/to.db "
            "(siprouter stores: memory, sqlite; redis is planned)"
        )


class StoreModule(Module):
    """A module with a ``db_url`` modparam: a URL of an unsupported database is a start-up
    error that names the modparam's file and line (``mysql://`` of a Kamailio config)."""

    def set_param(self, name: str, value: object) -> None:
        super().set_param(name, value)
        if name == "db_url" and isinstance(value, str) and value:
            try:
                check_url(value)
            except StoreError as exc:
                raise ParamError(f'modparam "{self.name}" "db_url": {exc}') from None


def shared_path(name: str, master: int = _MASTER) -> str:
    """The tmpfs SQLite file that the workers of master ``master`` share for ``name``."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    return os.path.join(base, f"siprouter-{master}-{name}.db")


def shared_store(name: str) -> Store:
    """Memory for one process; a tmpfs SQLite file shared by forked workers (see above)."""
    if not forked_worker():
        return open_store(f"memory://{name}")
    path = shared_path(name)
    store = open_store(f"sqlite://{path}")
    if isinstance(store, SQLiteStore) and path.startswith("/dev/shm/"):
        store.inline_writes = True  # memory: a commit never waits for a disk
    return store


@atexit.register
def _remove_shared() -> None:
    if forked_worker():
        return  # workers leave with os._exit anyway; the master cleans up
    for path in glob.glob(shared_path("*")[: -len("*.db")] + "*"):
        try:
            os.unlink(path)
        except OSError:
            pass


def call(store: Store, method: Callable[..., T], *args: Any) -> T:
    """Run ``method(*args)`` of ``store``; a blocking one off the loop when in a route."""
    if store.blocking and isinstance(store, SQLiteStore) and method.__name__ not in store.inline:
        if store.inline_writes and method.__name__ == "modify_contacts":
            done, result = store.try_modify(*args)
            if done:
                return result  # type: ignore[return-value]
        # imported here so that the store layer type-checks without the engine's modules
        pool: Any = importlib.import_module("app.greenpool")
        if pool.in_route():
            loop = asyncio.get_running_loop()
            return pool.wait(loop.run_in_executor(store.thread(), method, *args))  # type: ignore[no-any-return]
    return method(*args)


async def acall(store: Store, method: Callable[..., T], *args: Any) -> T:
    """:func:`call` for coroutines: await a blocking store's call in its thread."""
    if store.blocking and isinstance(store, SQLiteStore):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(store.thread(), method, *args)
    return method(*args)


def drop(store: Store) -> None:
    """Close ``store`` and forget it (a module stopping; memory contents are lost)."""
    for key in [k for k, v in _stores.items() if v is store]:
        del _stores[key]
    store.close()


def close_all() -> None:
    """Close every store of this process (tests, shutdown)."""
    for key in [k for k in _stores if k[0] == os.getpid()]:
        _stores.pop(key).close()
