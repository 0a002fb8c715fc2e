"""REGISTER rate of a siprouter process under sipp load, with and without digest auth.

    python bench/register.py [--users 2000] [--rate 3000] [--store sqlite|memory]

Starts one siprouter worker (tests/e2e/register_kit.py configuration: auth_db subscriber
table and usrloc location table in SQLite, db_mode=2), runs sipp's REGISTER scenarios
(tests/e2e/scenarios/register_plain.xml and register_auth.xml: 401 then 200) for ``--users``
distinct users, and prints registrations per second and the proxy's CPU time per
registration (utime + stime of the worker from /proc). Never fails: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.store import SQLiteStore  # noqa: E402
from app.store.cli import make_subscriber  # noqa: E402
from tests.e2e.proc import SCENARIOS, Siprouter, finish, free_port, sipp  # noqa: E402
from tests.e2e.register_kit import write_config  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (seconds)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def users(db: Path, count: int, csv: Path) -> None:
    """Subscribers user1..userN and the sipp -inf file."""
    store = SQLiteStore(str(db))
    lines = ["SEQUENTIAL"]
    for n in range(1, count + 1):
        store.put_subscriber("subscriber", make_subscriber(f"user{n}@example.com", f"pw{n}"))
        lines.append(f"user{n};[authentication username=user{n} password=pw{n}]")
    store.close()
    csv.write_text("\n".join(lines) + "\n")


def run(folder: Path, auth: bool, count: int, rate: int, sqlite: bool) -> tuple[float, float, int]:
    """(registrations/s, CPU ms per registration, sipp exit code) for one mode."""
    db, csv, port = folder / "bench.db", folder / "users.csv", free_port()
    users(db, count, csv)
    cfg = write_config(folder, port, db=db if sqlite else None)
    args = ["-f", str(cfg)] + (["-A", "AUTH"] if auth else [])
    router = Siprouter(args, folder / f"siprouter-{auth}.log")
    scenario = "register_auth.xml" if auth else "register_plain.xml"
    try:
        cpu0, t0 = cpu_seconds(router.proc.pid), time.monotonic()
        proc = sipp(["-sf", str(SCENARIOS / scenario), f"127.0.0.1:{port}", "-i", "127.0.0.1",
                     "-p", str(free_port()), "-inf", str(csv), "-m", str(count), "-r", str(rate),
                     "-l", "500"], folder / f"sipp-{auth}.log", timeout=120)  # fmt: skip
        rc = finish(proc, timeout=150)
        elapsed, cpu = time.monotonic() - t0, cpu_seconds(router.proc.pid) - cpu0
    finally:
        router.stop()
    return count / elapsed, 1000 * cpu / count, rc


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--rate", type=int, default=3000)
    p.add_argument("--store", choices=("sqlite", "memory"), default="sqlite")
    a = p.parse_args()
    if shutil.which("sipp") is None:
        print("sipp is not installed")
        return
    print(f"REGISTER x {a.users} users, sipp -r {a.rate}, location store: {a.store}")
    for auth in (False, True) if a.store == "sqlite" else (False,):  # subscribers: SQLite
        with tempfile.TemporaryDirectory() as tmp:
            rps, cpu_ms, rc = run(Path(tmp), auth, a.users, a.rate, a.store == "sqlite")
        label = "with digest auth (401 + 200)" if auth else "without auth        "
        print(f"  {label}: {rps:7.0f} registrations/s, {cpu_ms:.3f} ms proxy CPU per registration"
              f"{'' if rc == 0 else f'  (sipp exit {rc}: some failed)'}")  # fmt: skip


if __name__ == "__main__":
    main()
