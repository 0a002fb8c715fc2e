"""usrloc through the engine: RPC commands in Kamailio's shapes, expiry, statistics, the
exported API, and registrations that survive a restart with the SQLite store."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from app.store import SQLiteStore
from modules import _usrloc_rpc as rpc
from modules import usrloc
from rpc.registry import RpcFault
from tests.store.kit import UA, contacts_of, start


async def test_rpc_dump_lookup_rm_add(tmp_path: Path) -> None:
    server = await start(tmp_path, 'modparam("usrloc", "preload", "location")\n')
    ua = await UA.open(server, "bob")
    try:
        await ua.register("<sip:bob@10.0.0.1>;q=0.2, <sip:bob@10.0.0.2>", "User-Agent: t/1\r\n")
        dump = await rpc.rpc_dump()
        domain = dump["Domains"][0]["Domain"]
        assert (domain["Domain"], domain["Stats"]["Records"]) == ("location", 1)
        info = domain["AoRs"][0]["Info"]
        assert info["AoR"] == "bob" and len(info["Contacts"]) == 2
        first = info["Contacts"][0]["Contact"]
        assert (first["Address"], first["Q"], first["User-Agent"]) == (
            "sip:bob@10.0.0.1",
            0.2,
            "t/1",
        )
        assert first["Expires"] in (3599, 3600)  # remaining seconds, truncated as Kamailio
        assert first["Received"] == "[not set]" and first["Ruid"].startswith("uloc-")
        brief = await rpc.rpc_dump("brief")
        assert brief["Domains"][0]["Domain"]["AoRs"][0]["Info"]["Contacts"][1] == {
            "Contact": {"Address": "sip:bob@10.0.0.2"}}  # fmt: skip
        found = await rpc.rpc_lookup("location", "sip:bob@example.com")
        assert found["AoR"] == "bob" and len(found["Contacts"]) == 2
        await rpc.rpc_rm_contact("location", "bob", "sip:bob@10.0.0.2")
        with pytest.raises(RpcFault):
            await rpc.rpc_rm_contact("location", "bob", "sip:bob@10.0.0.2")
        await rpc.rpc_add("location", "carol", "sip:carol@10.0.0.3", 0, 0.5)
        assert usrloc.statistics() == {
            "usrloc:registered_users": 2, "usrloc:location-users": 2,
            "usrloc:location-contacts": 2, "usrloc:location-expires": 0,
        }  # fmt: skip
        await rpc.rpc_rm("location", "bob")
        with pytest.raises(RpcFault):
            await rpc.rpc_lookup("location", "bob")
        await rpc.rpc_flush()
    finally:
        ua.close()
        await server.stop()


async def test_expiry_timer_and_nat_contacts(tmp_path: Path) -> None:
    server = await start(tmp_path, 'modparam("usrloc", "timer_interval", 1)\n'
                                   'modparam("registrar", "min_expires", 1)\n')  # fmt: skip
    ua = await UA.open(server, "bob")
    try:
        await ua.register("<sip:bob@10.0.0.1>;expires=1, <sip:bob@10.0.0.2>;expires=60")
        usrloc.update_ucontact("location", _flagged(usrloc.get_urecord("location", "bob")[1]))
        assert [c.contact for c in usrloc.get_all_ucontacts(1 << 6)] == ["sip:bob@10.0.0.2"]
        deadline = time.monotonic() + 5
        while usrloc.statistics()["usrloc:location-expires"] == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        stats = usrloc.statistics()
        assert (stats["usrloc:location-expires"], stats["usrloc:location-contacts"]) == (1, 1)
    finally:
        ua.close()
        await server.stop()


def _flagged(c: usrloc.Contact) -> usrloc.Contact:
    c.cflags |= 1 << 6
    return c


SQLITE = """modparam("usrloc", "db_mode", {mode})
modparam("usrloc", "db_url", "sqlite://{path}")
"""


@pytest.mark.parametrize("mode", [1, 2, 3])
async def test_sqlite_registrations_survive_restart(tmp_path: Path, mode: int) -> None:
    """1: memory cache written through; 2: written back (each second, and at stop); 3: the
    database alone."""
    path = tmp_path / "loc.db"
    params = SQLITE.format(path=path, mode=mode)
    server = await start(tmp_path, params)
    ua = await UA.open(server, "bob")
    r = await ua.register("<sip:bob@10.0.0.7>;expires=120")
    assert contacts_of(r) == ["<sip:bob@10.0.0.7>;expires=120"]
    if mode == 2:  # written back within a second, or at once by ul.flush
        await rpc.rpc_flush()
    assert [c.contact for c in SQLiteStore(str(path)).all_contacts("location")] == [
        "sip:bob@10.0.0.7"]  # fmt: skip
    ua.close()
    await server.stop()
    server = await start(tmp_path, params)
    ua = await UA.open(server, "bob")
    try:
        r = await ua.send("INVITE", "sip:bob@example.com", call_id="after-restart")
        assert (r.get("x-lookup") or "").startswith("1 sip:bob@10.0.0.7 ")
    finally:
        ua.close()
        await server.stop()


async def test_write_back_survives_auth_db_closing_the_same_file(tmp_path: Path) -> None:
    """auth_db on the same SQLite file may stop first: usrloc's last write-back still lands."""
    path = tmp_path / "both.db"
    params = (
        SQLITE.format(path=path, mode=2) + f'modparam("auth_db", "db_url", "sqlite://{path}")\n'
    )
    server = await start(tmp_path, params)
    from modules import auth_db

    auth_db.store()  # opened, as the first auth_check would
    ua = await UA.open(server, "bob")
    await ua.register("<sip:bob@10.0.0.8>;expires=120")
    ua.close()
    auth_db._stop()  # noqa: SLF001 - the order modules happened to stop in
    await server.stop()
    assert [c.contact for c in SQLiteStore(str(path)).all_contacts("location")] == [
        "sip:bob@10.0.0.8"]  # fmt: skip


async def test_write_through_rpc_and_expiry_are_committed(tmp_path: Path) -> None:
    """db_mode=1: changes made by RPC commands and by the expiry timer reach the file at once."""
    path = tmp_path / "wt.db"
    server = await start(tmp_path, SQLITE.format(path=path, mode=1))
    try:
        await rpc.rpc_add("location", "carol", "sip:carol@10.0.0.3", 60)
        await rpc.rpc_add("location", "dave", "sip:dave@10.0.0.4", 1)
        on_disk = SQLiteStore(str(path))
        assert sorted(c.aor for c in on_disk.all_contacts("location")) == ["carol", "dave"]
        await usrloc.expire(time.time() + 5)
        assert [c.aor for c in on_disk.all_contacts("location")] == ["carol"]
        await rpc.rpc_rm("location", "carol")
        assert on_disk.all_contacts("location") == []
        on_disk.close()
    finally:
        await server.stop()
