"""REGISTER rate of siprouter (and of Kamailio 5.6 running the same script) under sipp load.

    python bench/register.py [--users 2000] [--rounds 2] [--rate 3000]
                             [--cases memory,sqlite,sqlite-auth] [--proxy siprouter,kamailio]
                             [--profile DIR] [--children 1] [--keep DIR]

One proxy worker (``-n 1``; ``--children N``: N) on loopback runs the same kamailio.cfg + KEMI Python script in
every case (siprouter natively, Kamailio through app_python3): a REGISTER is authenticated
against the ``subscriber`` table when the case says ``-auth`` (``auth_check`` then
``auth_challenge``: 401, then 200) and saved with ``registrar.save("location", 0)``. Cases:

* ``memory``: usrloc ``db_mode=0`` (location in process memory / Kamailio's shm);
* ``sqlite``: usrloc ``db_mode=2`` with an SQLite ``db_url`` (registrations survive restart);
* ``sqlite-auth``: the same plus digest auth (auth_db on the same SQLite file);
* ``memory-auth``: memory location, subscribers in SQLite;
* ``options``: OPTIONS answered by ``sl.sl_send_reply(200)`` at the same rate: the core's
  cost of receiving a request and answering it, without the registrar (the floor).

sipp (tests/e2e/scenarios/register_plain.xml or register_auth.xml) registers ``--users``
distinct users ``--rounds`` times each (the first round inserts, later rounds refresh: same
contact, new Call-ID). Printed per case: registrations per second of wall time and the
proxy's CPU time (utime + stime of the proxy and all its processes, from /proc) per
registration, i.e. per 200 OK (with auth: two transactions, 401 + 200). ``--profile DIR``
records each siprouter run with py-spy (``DIR/<case>.txt``, raw collapsed stacks).
Never fails: it prints figures.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.store.cli import make_subscriber  # noqa: E402
from bench.proxy_kit import Running as Proxy  # noqa: E402
from tests.e2e.proc import SCENARIOS, finish, free_port, sipp  # noqa: E402

KAMAILIO_SCHEMA = Path("/usr/share/kamailio/db_sqlite")
CASES = ("memory", "sqlite", "sqlite-auth", "memory-auth", "options")
OPTIONS_XML = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="options: the core's floor (no registrar)">
  <send retrans="500">
    <![CDATA[
      OPTIONS sip:[field0]@example.com SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@example.com>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field0]@example.com>
      Call-ID: [call_id]
      CSeq: 1 OPTIONS
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" />
</scenario>
"""

CFG = """#!KAMAILIO
children=1
log_stderror=yes
debug=1
listen=udp:127.0.0.1:SIP_PORT
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "db_sqlite.so"
loadmodule "auth_db.so"
loadmodule "kemix.so"
loadmodule "app_python3.so"
modparam("usrloc", "db_mode", DB_MODE)
modparam("usrloc", "preload", "location")
modparam("usrloc", "db_url", "LOCATION_URL")
modparam("auth_db", "db_url", "SUBSCRIBER_URL")
modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")
modparam("app_python3", "load", "SCRIPT")
cfgengine "python"
"""

SCRIPT = '''"""bench: REGISTERs (digest-authenticated when AUTH) saved in location."""
import KSR

AUTH = WITH_AUTH


def mod_init():
    return Bench()


class Bench:
    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        if KSR.is_OPTIONS():
            KSR.sl.sl_send_reply(200, "OK")
            return 1
        if KSR.is_REGISTER():
            if AUTH and KSR.auth_db.auth_check(KSR.pv.get("$fd"), "subscriber", 1) < 0:
                KSR.auth.auth_challenge(KSR.pv.get("$fd"), 0)
                return 1
            if KSR.registrar.save("location", 0) < 0:
                KSR.sl.sl_reply_error()
            return 1
        rc = KSR.registrar.lookup("location")
        KSR.sl.sl_send_reply(200 if rc > 0 else 404, "lookup")
        return 1
'''


def udp_drops(port: int) -> int:
    """Datagrams the kernel dropped on 127.0.0.1:``port`` (receive buffer full)."""
    want = f"0100007F:{port:04X}"
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == want:
            return int(fields[-1])
    return 0


def kamailio_url(path: Path) -> str:
    """An SQLite URL both proxies read as ``path`` (Kamailio's db_sqlite takes what follows
    ``sqlite:///`` as the file name, so an absolute path gets a fourth slash)."""
    return f"sqlite:///{path.resolve()}"


def prepare(folder: Path, case: str, kind: str, users: int) -> tuple[Path, Path]:
    """Subscribers user1..userN (password pwN) in ``folder/bench.db`` (Kamailio's schema for
    Kamailio; siprouter makes its own tables) and the sipp -inf file."""
    db, csv = folder / "bench.db", folder / "users.csv"
    rows = [make_subscriber(f"user{n}@example.com", f"pw{n}") for n in range(1, users + 1)]
    con = sqlite3.connect(db)
    try:
        if kind == "kamailio":
            for part in ("standard", "auth_db", "usrloc"):
                con.executescript((KAMAILIO_SCHEMA / f"{part}-create.sql").read_text())
        else:
            con.execute(
                "CREATE TABLE subscriber (id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT "
                "NOT NULL, domain TEXT NOT NULL DEFAULT '', password TEXT NOT NULL DEFAULT '', "
                "ha1 TEXT NOT NULL DEFAULT '', ha1b TEXT NOT NULL DEFAULT '', "
                "UNIQUE (username, domain))"
            )
        con.executemany(
            "INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES (?,?,?,?,?)",
            [(s.username, s.domain, s.password, s.ha1, s.ha1b) for s in rows],
        )
        con.commit()
    finally:
        con.close()
    lines = ["SEQUENTIAL"] + [
        f"user{n};[authentication username=user{n} password=pw{n}]" for n in range(1, users + 1)
    ]
    csv.write_text("\n".join(lines) + "\n")
    return db, csv


def configure(folder: Path, case: str, port: int, db: Path) -> Path:
    """kamailio.cfg + script.py for ``case`` in ``folder``."""
    script = folder / "script.py"
    script.write_text(SCRIPT.replace("WITH_AUTH", str(case.endswith("-auth"))))
    url = kamailio_url(db)
    memory = case.startswith("memory")
    text = (
        CFG.replace("SIP_PORT", str(port))
        .replace("DB_MODE", "0" if memory else "2")
        .replace("LOCATION_URL", url)
        .replace("SUBSCRIBER_URL", url)
        .replace("SCRIPT", str(script))
    )
    cfg = folder / "kamailio.cfg"
    cfg.write_text(text)
    return cfg


def run(
    folder: Path,
    kind: str,
    case: str,
    users: int,
    rounds: int,
    rate: int,
    profile: Path | None,
    children: int = 1,
) -> tuple[float, float, int, int, int, int]:
    """(registrations/s, proxy CPU ms per registration, registrations, sipp exit code,
    datagrams dropped at the proxy's socket, REGISTERs sipp retransmitted)."""
    port = free_port()
    db, csv = prepare(folder, case, kind, users)
    cfg = configure(folder, case, port, db)
    proxy = Proxy(kind, cfg, folder, children)
    spy = None
    scenario = str(
        SCENARIOS / ("register_auth.xml" if case.endswith("-auth") else "register_plain.xml")
    )
    if case == "options":
        scenario = str(folder / "options.xml")
        Path(scenario).write_text(OPTIONS_XML)
    count = users * rounds
    log = folder / f"sipp-{case}.log"
    try:
        if profile is not None and kind == "siprouter" and shutil.which("py-spy"):
            out = profile / f"{case}.txt"
            cmd = ["py-spy", "record", "-p", str(proxy.proc.pid), "-o", str(out), "-f", "raw",
                   "-r", "500", "--nonblocking"]  # fmt: skip
            spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        cpu0, t0 = proxy.cpu(), time.monotonic()
        proc = sipp(["-sf", scenario, f"127.0.0.1:{port}", "-i", "127.0.0.1",
                     "-p", str(free_port()), "-inf", str(csv), "-m", str(count), "-r", str(rate),
                     "-l", "500"], log, timeout=300)  # fmt: skip
        rc = finish(proc, timeout=330)
        elapsed, cpu = time.monotonic() - t0, proxy.cpu() - cpu0
        drops = udp_drops(port)
    finally:
        if spy is not None:
            spy.send_signal(2)
            spy.wait(30)
        proxy.stop()
    return count / elapsed, 1000 * cpu / count, count, rc, drops, retransmissions(log)


def retransmissions(log: Path) -> int:
    """REGISTER retransmissions sipp reports in its final screen."""
    text = log.read_text(errors="replace") if log.exists() else ""
    screen = text.rsplit("Retrans", 1)[-1].split("Test Terminated")[0]
    return sum(int(m.split()[3]) for m in screen.splitlines() if "---------->" in m)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=2, help="registrations per user")
    p.add_argument("--rate", type=int, default=1000, help="sipp -r (new REGISTER flows per s)")
    p.add_argument("--cases", default="memory,sqlite,sqlite-auth")
    p.add_argument("--proxy", default="siprouter,kamailio")
    p.add_argument("--profile", type=Path, help="py-spy raw profiles of siprouter into DIR")
    p.add_argument("--children", type=int, default=1, help="proxy worker processes (-n)")
    p.add_argument("--keep", type=Path, help="keep each run's folder (logs, database) in DIR")
    a = p.parse_args()
    if shutil.which("sipp") is None:
        print("sipp is not installed")
        return
    if a.profile is not None:
        a.profile.mkdir(parents=True, exist_ok=True)
    kinds = [k for k in a.proxy.split(",") if k == "siprouter" or shutil.which("kamailio")]
    print(f"REGISTER: {a.users} users x {a.rounds} rounds, sipp -r {a.rate} -l 500, "
          f"{a.children} worker(s)")  # fmt: skip
    for case in a.cases.split(","):
        if case not in CASES:
            raise SystemExit(f"unknown case {case!r}; cases: {', '.join(CASES)}")
        for kind in kinds:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp) if a.keep is None else a.keep / f"{kind}-{case}"
                if a.keep is not None:
                    shutil.rmtree(folder, ignore_errors=True)
                    folder.mkdir(parents=True)
                rps, cpu_ms, count, rc, drops, retrans = run(
                    folder, kind, case, a.users, a.rounds, a.rate, a.profile, a.children
                )
            fail = "" if rc == 0 else f"  (sipp exit {rc}: some failed)"
            print(f"  {kind:9} {case:12} {count} registrations: {rps:7.0f} registrations/s, "
                  f"{cpu_ms:.3f} ms proxy CPU per registration "
                  f"({1000 / cpu_ms if cpu_ms else 0:,.0f} per CPU-second); "
                  f"{retrans} retransmitted, {drops} dropped at the proxy{fail}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
