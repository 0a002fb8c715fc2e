"""A registrar configuration for the register end-to-end tests and bench/register.py:
REGISTERs authenticated against the subscriber table (when AUTH is defined) and saved in
location; other requests answered with the lookup result."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

from app.store.cli import main as db_main

CFG = """#!KAMAILIO
children=CHILDREN
log_stderror=yes
debug=2
listen=udp:127.0.0.1:PORT
loadmodule "sl.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "app_python3.so"
modparam("usrloc", "db_mode", DBMODE)
modparam("usrloc", "db_url", DBURL)
modparam("auth_db", "db_url", DBURL)
modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")
modparam("app_python3", "load", "script.py")
cfgengine "python"
"""

SCRIPT = """import KSR

class H:
    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        if KSR.is_REGISTER():
            if KSR.kx.ifdef("AUTH"):
                if KSR.auth_db.auth_check(KSR.pv.get("$fd"), "subscriber", 1) < 0:
                    KSR.auth.auth_challenge(KSR.pv.get("$fd"), 0)
                    return 1
            if KSR.registrar.save("location", 0) < 0:
                KSR.sl.sl_reply_error()
            return 1
        rc = KSR.registrar.lookup("location")
        KSR.sl.sl_send_reply(200 if rc > 0 else 404, "lookup %d %s" % (rc, KSR.pv.get("$ru")))
        return 1

def mod_init():
    return H()
"""


def write_config(folder: Path, port: int, children: int = 1, db: Path | None = None) -> Path:
    """kamailio.cfg + script.py in ``folder``; SQLite ``db`` (db_mode 2) or memory."""
    (folder / "script.py").write_text(SCRIPT)
    url = f'"sqlite://{db}"' if db else '"memory://"'
    text = CFG.replace("PORT", str(port)).replace("CHILDREN", str(children))
    text = text.replace("DBMODE", "2" if db else "0").replace("DBURL", url)
    (folder / "kamailio.cfg").write_text(text)
    return folder / "kamailio.cfg"


def add_users(db: Path, count: int, csv: Path) -> None:
    """``count`` subscribers user1..userN (password pwN) in ``db`` and a sipp -inf file."""
    lines = ["SEQUENTIAL"]
    for n in range(1, count + 1):
        db_main(["-d", f"sqlite://{db}", "add", f"user{n}@example.com", f"pw{n}"])
        lines.append(f"user{n};[authentication username=user{n} password=pw{n}]")
    csv.write_text("\n".join(lines) + "\n")


def lookup(port: int, user: str) -> str:
    """Send an OPTIONS for ``user``; the reply's status line."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(3)
        me = s.getsockname()[1]
        msg = (
            f"OPTIONS sip:{user}@example.com SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{uuid.uuid4().hex};rport\r\n"
            f"From: <sip:probe@example.com>;tag=p\r\nTo: <sip:{user}@example.com>\r\n"
            f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        s.sendto(msg.encode(), ("127.0.0.1", port))
        return s.recv(65535).decode(errors="replace").split("\r\n", 1)[0]
