"""The store backends (memory, SQLite) behind one interface; SQLite shared by processes;
URLs; the siprouter-db command."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cfgpre import ConfigError
from app.config import load_modules, parse_config_text
from app.store import (
    Contact,
    MemoryStore,
    SQLiteStore,
    Store,
    StoreError,
    Subscriber,
    open_store,
    shared_path,
)
from app.store.cli import main as db_main


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    st: Store = MemoryStore() if request.param == "memory" else SQLiteStore(str(tmp_path / "s.db"))
    yield st
    st.close()


def test_contacts(store: Store) -> None:
    store.put_contact("location", Contact("bob", "sip:bob@h1", "r1", expires=100))
    store.put_contact("location", Contact("bob", "sip:bob@h2", "r2", expires=0))
    store.put_contact("location", Contact("bob", "sip:bob@h9", "r1", expires=100, q=0.5))
    store.put_contact("location", Contact("carol@example.com", "sip:c@h3", "r3", expires=50))
    got = store.get_contacts("location", "bob")
    assert [(c.ruid, c.contact, c.q) for c in got] == [
        ("r1", "sip:bob@h9", 0.5),
        ("r2", "sip:bob@h2", -1.0),
    ]
    assert store.get_contacts("location", "carol@example.com")[0].aor == "carol@example.com"
    assert [c.ruid for c in store.expire_contacts("location", 75)] == ["r3"]
    assert store.tables() == ["location"]
    assert store.delete_contacts("location", "bob", ["r2", "nope"]) == 1
    assert store.delete_contacts("location", "bob") == 1 and store.all_contacts("location") == []


def test_subscribers(store: Store) -> None:
    store.put_subscriber("subscriber", Subscriber("alice", "a.com", "pw"))
    store.put_subscriber("subscriber", Subscriber("alice", "a.com", "pw2", "h"))
    assert store.get_subscriber("subscriber", "alice", "a.com") == Subscriber(
        "alice", "a.com", "pw2", "h"
    )
    assert store.get_subscriber("subscriber", "alice", "") is not None
    assert store.get_subscriber("subscriber", "alice", "b.com") is None
    assert len(store.list_subscribers("subscriber")) == 1
    assert store.delete_subscriber("subscriber", "alice", "a.com")
    assert not store.delete_subscriber("subscriber", "alice", "a.com")


def test_key_values(store: Store) -> None:
    assert store.kv_add("n", "a", {"x": 1}, 10, 0) and not store.kv_add("n", "a", 2, 10, 5)
    assert store.kv_add("n", "a", 3, 20, 11) and store.kv_get("n", "a", 12) == 3
    assert store.kv_raise("n", "c", 3, 0, 0) and not store.kv_raise("n", "c", 3, 0, 0)
    assert store.kv_raise("n", "c", 4, 0, 0) and store.kv_get("n", "c", 0) == 4
    store.kv_set("n", "e", "v", 5)
    assert store.kv_items("n", 1) == {"a": 3, "c": 4, "e": "v"}
    assert store.kv_expire("n", 6) == ["e"] and store.kv_get("n", "e", 0) is None
    assert store.kv_delete("n", "c") and not store.kv_delete("n", "c")


def test_sqlite_is_shared_by_forked_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    pids = []
    for n in range(4):
        pid = os.fork()
        if pid == 0:
            st = SQLiteStore(path)
            won = st.kv_add("otn", "nonce", n, 0, 0)
            st.put_contact("location", Contact("bob", f"sip:bob@h{n}", f"r{n}"))
            os._exit(0 if won else 3)
        pids.append(pid)
    codes = [os.waitpid(pid, 0)[1] >> 8 for pid in pids]
    assert sorted(codes) == [0, 3, 3, 3]  # exactly one process claimed the nonce
    assert len(SQLiteStore(path).get_contacts("location", "bob")) == 4


def test_urls(tmp_path: Path) -> None:
    assert isinstance(open_store("memory://x"), MemoryStore)
    assert isinstance(open_store(f"sqlite://{tmp_path}/a/b.db"), SQLiteStore)
    for bad in ("mysql://kamailio:pw@localhost/kamailio", "nourl", "sqlite://"):
        with pytest.raises(StoreError):
            open_store(bad)
    assert shared_path("usrloc", 42).endswith("siprouter-42-usrloc.db")


def test_mysql_db_url_is_a_startup_error_with_file_and_line(tmp_path: Path) -> None:
    cfg = ('loadmodule "sl.so"\nloadmodule "usrloc.so"\n'
           'modparam("usrloc", "db_url", "mysql://kamailio:kamailiorw@localhost/kamailio")\n')  # fmt: skip
    config = parse_config_text(cfg, str(tmp_path / "kamailio.cfg"))
    with pytest.raises(ConfigError) as err:
        load_modules(config)
    assert f"{tmp_path / 'kamailio.cfg'}:3:" in str(err.value) and "sqlite" in str(err.value)


def test_siprouter_db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite://{tmp_path}/sub.db"
    assert db_main(["-d", url, "add", "alice@example.com", "secret"]) == 0
    assert db_main(["-d", url, "add", "alice@example.com", "x"]) == 1
    assert db_main(["-d", url, "passwd", "alice@example.com", "new"]) == 0
    assert db_main(["-d", url, "list"]) == 0
    sub = SQLiteStore(f"{tmp_path}/sub.db").get_subscriber("subscriber", "alice", "example.com")
    assert sub is not None and sub.password == "new" and len(sub.ha1) == 32
    assert db_main(["-d", url, "rm", "alice@example.com"]) == 0
    assert db_main(["-d", url, "rm", "alice@example.com"]) == 1
    assert db_main(["-d", "mysql://x", "list"]) == 1
    out = capsys.readouterr()
    assert "alice@example.com" in out.out and "not supported" in out.err


def test_forked_workers_open_one_new_file_at_once(tmp_path: Path) -> None:
    """Workers forked together open the shared file at the same moment (WAL switch race)."""
    from app.store.sqlite import SQLiteStore

    for round_ in range(5):
        path = str(tmp_path / f"race{round_}.db")
        pids = []
        for _ in range(6):
            pid = os.fork()
            if pid == 0:
                try:
                    SQLiteStore(path).kv_set("ns", "k", 1, 0.0)
                    os._exit(0)
                except BaseException:  # noqa: BLE001 - any failure is the child's exit code
                    os._exit(1)
            pids.append(pid)
        assert [os.waitpid(pid, 0)[1] for pid in pids] == [0] * 6


def _change(existing: list[Contact]) -> tuple[list[str], list[Contact], int]:
    """Delete r1, replace r2 (keeps its place), add r4; the value is how many there were."""
    put = [Contact("bob", "sip:bob@h2b", "r2", expires=900), Contact("bob", "sip:bob@h4", "r4")]
    return ["r1"], put, len(existing)


def test_modify_contacts_is_one_read_modify_write(store: Store) -> None:
    for n in (1, 2, 3):
        store.put_contact("location", Contact("bob", f"sip:bob@h{n}", f"r{n}"))
    value, after = store.modify_contacts("location", "bob", _change)
    assert value == 3
    assert [(c.ruid, c.contact) for c in after] == [
        ("r2", "sip:bob@h2b"), ("r3", "sip:bob@h3"), ("r4", "sip:bob@h4")]  # fmt: skip
    assert [c.ruid for c in store.get_contacts("location", "bob")] == ["r2", "r3", "r4"]

    def refuse(existing: list[Contact]) -> tuple[list[str], list[Contact], int]:
        raise ValueError("no")

    with pytest.raises(ValueError):
        store.modify_contacts("location", "bob", refuse)
    assert len(store.get_contacts("location", "bob")) == 3


def test_sqlite_rows_round_trip(tmp_path: Path) -> None:
    st = SQLiteStore(str(tmp_path / "r.db"))
    c = Contact("bob@example.com", "sip:bob@h", "r1", expires=12.5, q=0.5, callid="c", cseq=3,
                received="sip:1.2.3.4:5", path="<sip:p>", socket="udp:1.1.1.1:5060",
                user_agent="ua", flags=1, cflags=64, methods=5, instance="<urn:x>", reg_id=2,
                last_modified=11.0, extra={"k": "v"})  # fmt: skip
    st.put_contact("location", c)
    assert st.get_contacts("location", "bob@example.com") == [c]
    assert st.all_contacts("location") == [c]
    st.close()


@pytest.mark.parametrize("write_back", [False, True])
def test_cached_store_writes_through_or_back(
    tmp_path: Path, write_back: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Write-through commits each change a route makes at once (outside a route, e.g. a
    timer or an RPC command, changes are queued for usrloc to commit); write-back queues."""
    from app.store import CachedStore, cached, call

    monkeypatch.setattr(cached, "_in_route", lambda: True)

    path = str(tmp_path / "c.db")
    backing = SQLiteStore(path)
    backing.put_contact("location", Contact("old", "sip:old@h", "r0"))
    cache = CachedStore(backing, write_back=write_back, run=call)
    assert [c.ruid for c in cache.get_contacts("location", "old")] == ["r0"]  # loaded at start
    for n in (1, 2, 3):
        cache.put_contact("location", Contact("bob", f"sip:bob@h{n}", f"r{n}", expires=100))
    cache.modify_contacts("location", "bob", _change)
    cache.delete_contacts("location", "old")
    assert [c.ruid for c in cache.expire_contacts("location", 200)] == ["r3"]
    assert [c.ruid for c in cache.get_contacts("location", "bob")] == ["r2", "r4"]
    on_disk = SQLiteStore(path)
    if write_back:  # nothing written until the flush, then everything in one transaction
        assert len(on_disk.all_contacts("location")) == 1 and cache.pending
        cache.flush()
    assert not cache.pending
    assert [c.ruid for c in on_disk.all_contacts("location")] == ["r2", "r4"]
    assert [c.ruid for c in CachedStore(on_disk, True, call).all_contacts("location")] == [
        "r2", "r4"]  # fmt: skip
    on_disk.close()
    backing.close()


def test_sqlite_subscriber_reads_are_inline(tmp_path: Path) -> None:
    st = SQLiteStore(str(tmp_path / "s.db"))
    assert "get_subscriber" in st.inline
    st.put_subscriber("subscriber", Subscriber("alice", "a.com", "pw"))
    assert st.get_subscriber("subscriber", "alice", "") == Subscriber("alice", "a.com", "pw")
    other = SQLiteStore(str(tmp_path / "s.db"))  # another process's change is seen at once
    other.put_subscriber("subscriber", Subscriber("alice", "a.com", "pw2"))
    assert st.get_subscriber("subscriber", "alice", "a.com") == Subscriber("alice", "a.com", "pw2")
    other.close()
    st.close()


def test_try_modify_writes_inline_only_when_the_lock_is_free(tmp_path: Path) -> None:
    """A tmpfs store (forked workers' shared memory) writes on the caller's thread unless
    another connection holds the write lock; then the caller uses the store's thread."""
    import sqlite3

    path = str(tmp_path / "shm.db")
    st = SQLiteStore(path)
    st.put_contact("location", Contact("bob", "sip:bob@h1", "r1"))
    assert st.try_modify("location", "bob", _change) == (False, None)  # not a memory file
    st.inline_writes = True
    for n in (2, 3):
        st.put_contact("location", Contact("bob", f"sip:bob@h{n}", f"r{n}"))
    done, result = st.try_modify("location", "bob", _change)
    assert done and result is not None and result[0] == 3
    assert [c.ruid for c in st.get_contacts("location", "bob")] == ["r2", "r3", "r4"]
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another worker writing
    assert st.try_modify("location", "bob", _change) == (False, None)
    other.execute("ROLLBACK")
    other.close()

    def refuse(existing: list[Contact]) -> tuple[list[str], list[Contact], int]:
        raise ValueError("no")

    with pytest.raises(ValueError):
        st.try_modify("location", "bob", refuse)
    assert st.try_modify("location", "bob", lambda cs: ([], [], len(cs))) == (
        True, (3, st.get_contacts("location", "bob")))  # fmt: skip
    st.close()


def test_sqlite_write_batches_puts_in_order(tmp_path: Path) -> None:
    """A flush's consecutive puts go in multi-row statements; a ruid put twice keeps the
    last, deletes and puts stay in order."""
    from app.store import sqlite

    st = SQLiteStore(str(tmp_path / "w.db"))
    ops: list[tuple[object, ...]] = [
        ("put", "location", Contact("bob", f"sip:bob@h{n}", f"r{n % 500}"))
        for n in range(sqlite.PUT_ROWS + 150)
    ]
    ops += [
        ("delete", "location", "bob", ["r3"]),
        ("put", "location", Contact("bob", "sip:x", "r3")),
    ]
    st.write(ops)
    got = {c.ruid: c.contact for c in st.get_contacts("location", "bob")}
    assert len(got) == 500 and got["r4"] == "sip:bob@h504" and got["r3"] == "sip:x"
    assert got["r200"] == "sip:bob@h200"
    st.close()


@pytest.mark.parametrize("inline", [False, True])
def test_forked_read_modify_writes_do_not_lose_updates(tmp_path: Path, inline: bool) -> None:
    """Workers adding contacts to one AoR at once: every addition survives (BEGIN IMMEDIATE;
    inline: try_modify first, the locked path when another worker writes)."""
    from app.store import call

    path = str(tmp_path / "rmw.db")
    SQLiteStore(path).get_contacts("location", "bob")  # the table exists before the fork
    pids = []
    for n in range(4):
        pid = os.fork()
        if pid == 0:
            try:
                st = SQLiteStore(path)
                st.inline_writes = inline
                st.get_contacts("location", "bob")
                for i in range(20):
                    new = Contact("bob", f"sip:bob@w{n}-{i}", f"w{n}-{i}")
                    call(st, st.modify_contacts, "location", "bob",
                         lambda cs, c=new: ([], [c], len(cs)))  # fmt: skip
                os._exit(0)
            except BaseException:  # noqa: BLE001 - the child's exit code says it
                os._exit(1)
        pids.append(pid)
    assert [os.waitpid(pid, 0)[1] for pid in pids] == [0] * 4
    assert len(SQLiteStore(path).get_contacts("location", "bob")) == 80
