"""End to end: sipp registers users with digest auth against a real siprouter process
(SQLite subscriber and location tables); the registrations survive a restart; with forked
workers and no database the registrations are shared by the workers."""

from __future__ import annotations

from pathlib import Path

from .proc import SCENARIOS, Siprouter, finish, free_port, require_tool, sipp
from .register_kit import add_users, lookup, write_config

USERS = 5


def _register(tmp: Path, port: int, scenario: str, csv: Path) -> int:
    proc = sipp(
        ["-sf", str(SCENARIOS / scenario), f"127.0.0.1:{port}", "-i", "127.0.0.1",
         "-p", str(free_port()), "-inf", str(csv), "-m", str(USERS), "-r", "50"],
        tmp / f"sipp-{scenario}.log",
    )  # fmt: skip
    return finish(proc)


def _logs(tmp: Path) -> str:
    return "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in tmp.glob("*.log")
    )


def test_register_with_auth_survives_restart(tmp_path: Path) -> None:
    require_tool("sipp")
    db, csv, port = tmp_path / "siprouter.db", tmp_path / "users.csv", free_port()
    add_users(db, USERS, csv)
    cfg = write_config(tmp_path, port, children=2, db=db)
    router = Siprouter(["-f", str(cfg), "-A", "AUTH"], tmp_path / "siprouter.log", workers=2)
    try:
        rc = _register(tmp_path, port, "register_auth.xml", csv)
        assert rc == 0, _logs(tmp_path)
        assert lookup(port, "user3").startswith("SIP/2.0 200 lookup 1 sip:user3@127.0.0.1:")
        assert lookup(port, "nobody") == "SIP/2.0 404 lookup -1 sip:nobody@example.com"
    finally:
        assert router.stop() == 0, _logs(tmp_path)
    router = Siprouter(["-f", str(cfg), "-A", "AUTH"], tmp_path / "siprouter2.log", workers=2)
    try:
        for n in range(1, USERS + 1):
            assert lookup(port, f"user{n}").startswith("SIP/2.0 200 lookup 1 "), _logs(tmp_path)
    finally:
        assert router.stop() == 0
    assert "Traceback" not in (tmp_path / "siprouter.log").read_text()


def test_wrong_password_is_refused(tmp_path: Path) -> None:
    require_tool("sipp")
    db, csv, port = tmp_path / "siprouter.db", tmp_path / "users.csv", free_port()
    add_users(db, USERS, csv)
    csv.write_text(csv.read_text().replace("password=pw", "password=bad"))
    cfg = write_config(tmp_path, port, db=db)
    router = Siprouter(["-f", str(cfg), "-A", "AUTH"], tmp_path / "siprouter.log")
    try:
        proc = sipp(
            ["-sf", str(SCENARIOS / "register_auth.xml"), f"127.0.0.1:{port}", "-i", "127.0.0.1",
             "-p", str(free_port()), "-inf", str(csv), "-m", "1"],
            tmp_path / "sipp.log", timeout=5,
        )  # fmt: skip
        assert finish(proc) != 0  # the second REGISTER gets 401 again, not 200
        assert lookup(port, "user1") == "SIP/2.0 404 lookup -1 sip:user1@example.com"
    finally:
        router.stop()


def test_forked_workers_share_memory_registrations(tmp_path: Path) -> None:
    require_tool("sipp")
    csv, port = tmp_path / "users.csv", free_port()
    csv.write_text("SEQUENTIAL\n" + "".join(f"user{n};x\n" for n in range(1, USERS + 1)))
    cfg = write_config(tmp_path, port, children=3)
    router = Siprouter(["-f", str(cfg)], tmp_path / "siprouter.log", workers=3)
    try:
        assert _register(tmp_path, port, "register_plain.xml", csv) == 0, _logs(tmp_path)
        for _ in range(3):  # whichever worker gets the lookup sees every registration
            for n in range(1, USERS + 1):
                assert lookup(port, f"user{n}").startswith("SIP/2.0 200 lookup 1 "), _logs(tmp_path)
    finally:
        assert router.stop() == 0
