"""The basic example (examples/basic) under test: starting it as siprouter or as Kamailio 5.6
(the same kamailio.cfg and KEMI script, app_python3 + db_sqlite), subscribers, a small SIP
client for single transactions (digest auth, replays, error replies), and the sipp call flows.

Every scenario returns an *outcome* (status codes, sipp exit codes) so that the end-to-end
tests (tests/e2e/test_basic_calls.py) can check siprouter's and the differential test
(tests/diff/test_kamailio_diff.py) can compare it with Kamailio's.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.store.cli import make_subscriber

from .proc import ROOT, Siprouter, finish, free_port, require_tool, sipp
from .proc import scenario_file as scenario

EXAMPLE_DIR = ROOT / "examples" / "basic"
CFG = EXAMPLE_DIR / "kamailio.cfg"
SCRIPT = EXAMPLE_DIR / "siprouter.py"
DOMAIN = "example.com"
USERS = {"alice": "alice-secret", "bob": "bob-secret"}
KAMAILIO_MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
KAMAILIO_SCHEMA = Path("/usr/share/kamailio/db_sqlite")


def console_script(name: str, module: str) -> list[str]:
    """The installed console script ``name``, else ``python -m module``."""
    script = Path(sys.executable).parent / name
    return [str(script)] if script.exists() else [sys.executable, "-m", module]


def db_url(path: Path) -> str:
    """An SQLite URL both servers read as ``path``: Kamailio's db_sqlite takes what follows
    ``sqlite:///`` as the file name, so an absolute path needs a fourth slash."""
    return f"sqlite:///{path.resolve()}"


def example_defines(port: int, db: Path, extra: Sequence[str] = ()) -> list[str]:
    """``-A`` arguments that start the example on ``port`` with ``db``, serving DOMAIN."""
    names = [f"SIP_PORT={port}", f"SIP_DOMAIN={DOMAIN}", f'DBURL="{db_url(db)}"', *extra]
    return [a for name in names for a in ("-A", name)]


# -- servers ------------------------------------------------------------------------------------
@dataclass
class Server:
    """A running example: siprouter or Kamailio, stopped by its own process handle."""

    kind: str
    port: int
    log: Path
    stop_fn: object = None
    proc: subprocess.Popen[bytes] | None = None

    def stop(self) -> int:
        if self.kind == "siprouter":
            assert isinstance(self.stop_fn, Siprouter)
            return self.stop_fn.stop()
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def start_siprouter(tmp: Path, db: Path, extra: Sequence[str] = ()) -> Server:
    """siprouter -f examples/basic/kamailio.cfg on a free port; subscribers added first."""
    port = free_port()
    add_subscribers(db)
    log = tmp / "siprouter.log"
    router = Siprouter(["-f", str(CFG), *example_defines(port, db, extra)], log, workers=2)
    return Server("siprouter", port, log, stop_fn=router)


def add_subscribers(db: Path) -> None:
    """USERS@DOMAIN in ``db`` with the real ``siprouter-db`` console script."""
    cmd = console_script("siprouter-db", "app.store.cli")
    for user, password in USERS.items():
        done = subprocess.run(
            [*cmd, "-d", db_url(db), "add", f"{user}@{DOMAIN}", password],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0 or "exists" in done.stderr, done.stderr


def require_kamailio() -> str:
    """The kamailio binary with app_python3 and db_sqlite; missing: fail under CI=true."""
    path = require_tool("kamailio")
    for module in ("app_python3.so", "db_sqlite.so"):
        if not (KAMAILIO_MODULES / module).exists():
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"kamailio module {module} is required (CI=true)")
            pytest.skip(f"kamailio module {module} is not installed")
    return path


def kamailio_db(db: Path) -> None:
    """Kamailio's db_sqlite schema (version, subscriber, location) with USERS, as kamctl
    would write them (the same rows siprouter-db writes)."""
    con = sqlite3.connect(db)
    try:
        for part in ("standard", "auth_db", "usrloc"):
            con.executescript((KAMAILIO_SCHEMA / f"{part}-create.sql").read_text())
        for user, password in USERS.items():
            s = make_subscriber(f"{user}@{DOMAIN}", password)
            con.execute(
                "INSERT INTO subscriber (username, domain, password, ha1, ha1b) "
                "VALUES (?, ?, ?, ?, ?)",
                (s.username, s.domain, s.password, s.ha1, s.ha1b),
            )
        con.commit()
    finally:
        con.close()


def start_kamailio(tmp: Path, db: Path, extra: Sequence[str] = ()) -> Server:
    """Kamailio 5.6 with the example's kamailio.cfg and KEMI script, in the foreground."""
    binary = require_kamailio()
    kamailio_db(db)
    port, log = free_port(), tmp / "kamailio.log"
    run = tmp / "kamailio-run"
    run.mkdir(exist_ok=True)
    args = [
        binary,
        "-DD",
        "-E",
        "-f",
        str(CFG),
        "-Y",
        str(run),
        "-w",
        str(tmp),
        "-P",
        str(run / "kamailio.pid"),
        "-A",
        f'KEMILOAD="{SCRIPT}"',
        *example_defines(port, db, extra),
    ]
    out = log.open("wb")
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=tmp)
    out.close()
    server = Server("kamailio", port, log, proc=proc)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if SipClient(port, timeout=0.5).options() == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise AssertionError(f"kamailio did not start:\n{server.logs()}")


START = {"siprouter": start_siprouter, "kamailio": start_kamailio}


# -- a SIP client for single transactions ------------------------------------------------------
def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - digest auth is MD5


_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]+))')


def digest(
    challenge: str,
    method: str,
    uri: str,
    user: str,
    password: str,
    nc: int = 1,
    cnonce: str = "0a4f113b",
) -> str:
    """The Authorization value answering a ``Digest`` challenge (qop=auth when offered)."""
    params = {m[0].lower(): m[1] or m[2] for m in _PARAM.findall(challenge)}
    realm, nonce = params["realm"], params["nonce"]
    ha1, ha2 = _md5(f"{user}:{realm}:{password}"), _md5(f"{method}:{uri}")
    value = f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}"'
    if "auth" in params.get("qop", "").split(","):
        ncs = f"{nc:08x}"
        response = _md5(f"{ha1}:{nonce}:{ncs}:{cnonce}:auth:{ha2}")
        value += f', qop=auth, nc={ncs}, cnonce="{cnonce}"'
    else:
        response = _md5(f"{ha1}:{nonce}:{ha2}")
    value += f', response="{response}", algorithm=MD5'
    if "opaque" in params:
        value += f', opaque="{params["opaque"]}"'
    return value


@dataclass
class Reply:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)


class SipClient:
    """One UDP socket on loopback sending requests to the proxy on ``port``; each request
    waits for its final reply (an INVITE's negative final reply is ACKed)."""

    def __init__(self, port: int, timeout: float = 3.0, to_uri: str | None = None) -> None:
        self.proxy = ("127.0.0.1", port)
        self.timeout = timeout
        self.to_uri = to_uri  # the To of every request (default: the R-URI)

    def send(
        self,
        method: str,
        ruri: str,
        from_uri: str,
        to_uri: str | None = None,
        headers: Sequence[str] = (),
        call_id: str | None = None,
        cseq: int = 1,
        max_forwards: int = 70,
        to_tag: str = "",
    ) -> Reply:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.settimeout(self.timeout)
            me = s.getsockname()[1]
            branch = "z9hG4bK" + uuid.uuid4().hex
            call_id = call_id or uuid.uuid4().hex
            to = f"<{to_uri or self.to_uri or ruri}>" + (f";tag={to_tag}" if to_tag else "")
            head = [
                f"{method} {ruri} SIP/2.0",
                f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch={branch};rport",
                f"From: <{from_uri}>;tag=c{me}",
                f"To: {to}",
                f"Call-ID: {call_id}",
                f"CSeq: {cseq} {method}",
                f"Max-Forwards: {max_forwards}",
                f"Contact: <sip:client@127.0.0.1:{me}>",
                *headers,
                "Content-Length: 0",
            ]
            s.sendto(("\r\n".join(head) + "\r\n\r\n").encode(), self.proxy)
            while True:
                reply = _parse(s.recv(65535))
                if reply.status >= 200:
                    break
            if method == "INVITE" and reply.status >= 300:
                ack = [
                    head[0].replace("INVITE", "ACK", 1),
                    head[1],
                    head[2],
                    "To: " + reply.headers.get("to", to),
                    head[4],
                    f"CSeq: {cseq} ACK",
                    head[6],
                    "Content-Length: 0",
                ]
                s.sendto(("\r\n".join(ack) + "\r\n\r\n").encode(), self.proxy)
            return reply

    def options(self) -> int:
        """OPTIONS to the proxy itself (the keep-alive): the status."""
        host = f"127.0.0.1:{self.proxy[1]}"
        return self.send("OPTIONS", f"sip:{host}", f"sip:ping@{host}").status


def _parse(data: bytes) -> Reply:
    text = data.decode(errors="replace")
    lines = text.split("\r\n")
    _, code, reason = (lines[0].split(" ", 2) + [""])[:3]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            break
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return Reply(int(code), reason, headers)


# -- scenarios of single transactions ---------------------------------------------------------
def register_probes(port: int) -> dict[str, int]:
    """REGISTER with digest auth: challenge, success, wrong password, a replayed
    Authorization, and the same nonce with the next nc (credentials reuse)."""
    aor, ruri, call_id = f"sip:alice@{DOMAIN}", f"sip:{DOMAIN}", uuid.uuid4().hex
    c = SipClient(port, to_uri=aor)
    hdrs = ["Expires: 60"]
    out: dict[str, int] = {}
    first = c.send("REGISTER", ruri, aor, call_id=call_id, cseq=1, headers=hdrs)
    out["register without credentials"] = first.status
    challenge = first.headers.get("www-authenticate", "")
    bad = digest(challenge, "REGISTER", ruri, "alice", "wrong")
    out["register, wrong password"] = c.send(
        "REGISTER", ruri, aor, call_id=call_id, cseq=2, headers=[*hdrs, f"Authorization: {bad}"]
    ).status
    again = c.send("REGISTER", ruri, aor, call_id=call_id, cseq=3, headers=hdrs)
    challenge = again.headers.get("www-authenticate", "")
    good = digest(challenge, "REGISTER", ruri, "alice", USERS["alice"])
    out["register with credentials"] = c.send(
        "REGISTER", ruri, aor, call_id=call_id, cseq=4, headers=[*hdrs, f"Authorization: {good}"]
    ).status
    out["register, replayed Authorization"] = c.send(
        "REGISTER", ruri, aor, call_id=call_id, cseq=5, headers=[*hdrs, f"Authorization: {good}"]
    ).status
    nxt = digest(challenge, "REGISTER", ruri, "alice", USERS["alice"], nc=2)
    out["register, same nonce, next nc"] = c.send(
        "REGISTER", ruri, aor, call_id=call_id, cseq=6, headers=[*hdrs, f"Authorization: {nxt}"]
    ).status
    return out


def request_probes(port: int) -> dict[str, int]:
    """Requests answered by the proxy itself: keep-alive, hop limit, unknown user, relay
    policy, authentication of local callers, incomplete address, in-dialog without route."""
    c, here = SipClient(port), f"127.0.0.1:{port}"
    outsider = "sip:carol@elsewhere.invalid"
    return {
        "OPTIONS keep-alive to the proxy": c.options(),
        "Max-Forwards 0": c.send("OPTIONS", f"sip:bob@{DOMAIN}", outsider, max_forwards=0).status,
        "INVITE to an unknown user": c.send("INVITE", f"sip:nobody@{DOMAIN}", outsider).status,
        "INVITE from outside to outside": c.send("INVITE", "sip:x@other.invalid", outsider).status,
        "INVITE from a local user, no credentials": c.send(
            "INVITE", f"sip:bob@{DOMAIN}", f"sip:alice@{DOMAIN}"
        ).status,
        "INVITE without R-URI user": c.send("INVITE", f"sip:{DOMAIN}", outsider).status,
        "INVITE to sip:bob@localhost (Kamailio's automatic alias)": c.send(
            "INVITE", "sip:bob@localhost", outsider
        ).status,
        "BYE in a dialog without Route": c.send(
            "BYE", f"sip:bob@{here}", outsider, to_tag="t1"
        ).status,
        "scanner User-Agent": c.send(
            "OPTIONS", f"sip:bob@{DOMAIN}", outsider, headers=["User-Agent: friendly-scanner"]
        ).status,
    }


# -- sipp call flows ----------------------------------------------------------------------------
@dataclass
class Callee:
    """A sipp callee registered as ``user`` (with ``q``) before it starts."""

    scenario: str
    args: Sequence[str] = ()
    q: str = "1.0"
    user: str = "bob"


def _mode(transport: str) -> str:
    return "u1" if transport == "udp" else "t1"


def register(
    server: Server, tmp: Path, user: str, port: int, transport: str, q: str = "1.0"
) -> int:
    """sipp registers ``user`` with digest auth, Contact on ``port``; sipp's exit code."""
    csv = tmp / f"reg-{user}-{port}.csv"
    csv.write_text(
        f"SEQUENTIAL\n{user};[authentication username={user} password={USERS[user]}];{q}\n"
    )
    proc = sipp(
        [
            "-sf",
            scenario(tmp, "basic_register.xml"),
            f"127.0.0.1:{server.port}",
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-t",
            _mode(transport),
            "-inf",
            str(csv),
            "-m",
            "1",
        ],
        tmp / f"sipp-register-{user}-{port}.log",
        timeout=10,
    )
    return finish(proc, 20)


def call_flow(
    server: Server,
    tmp: Path,
    transport: str,
    caller: tuple[str, Sequence[str]],
    callees: Sequence[Callee],
    caller_user: str | None = None,
) -> list[int]:
    """Register the callees (and ``caller_user`` on the caller's port), start them, run the
    caller; the sipp exit codes: registrations, caller, callees (0 = the flow happened)."""
    mode = _mode(transport)
    ports = [free_port() for _ in callees]
    caller_port = free_port()
    codes = [
        register(server, tmp, c.user, p, transport, c.q)
        for c, p in zip(callees, ports, strict=True)
    ]
    if caller_user is not None:
        codes.append(register(server, tmp, caller_user, caller_port, transport))
    procs = [
        sipp(
            [
                "-sf",
                scenario(tmp, c.scenario),
                "-i",
                "127.0.0.1",
                "-p",
                str(p),
                "-t",
                mode,
                "-trace_err",
                "-trace_msg",
                *c.args,
            ],
            tmp / f"sipp-uas{n}.log",
        )
        for n, (c, p) in enumerate(zip(callees, ports, strict=True))
    ]
    try:
        time.sleep(0.3)  # the callees listen before the first INVITE
        name, args = caller
        extra: list[str] = []
        if caller_user is not None:
            csv = tmp / "caller.csv"
            csv.write_text(
                f"SEQUENTIAL\n{caller_user};[authentication username={caller_user} "
                f"password={USERS[caller_user]}]\n"
            )
            extra = ["-inf", str(csv)]
        uac = sipp(
            [
                "-sf",
                scenario(tmp, name),
                f"127.0.0.1:{server.port}",
                "-i",
                "127.0.0.1",
                "-p",
                str(caller_port),
                "-t",
                mode,
                "-s",
                "bob",
                "-trace_err",
                *extra,
                *args,
            ],
            tmp / "sipp-uac.log",
            timeout=60,
        )
        codes.append(finish(uac, 70))
        codes += [finish(p, 35) for p in procs]  # sipp's own -timeout (30 s) decides
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
    return codes


def flow_logs(tmp: Path) -> str:
    """The tails of every log of a flow (for assertion messages)."""
    return "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}" for p in sorted(tmp.glob("*.log"))
    )


# The call flows every server is held to: name -> (transport, caller, callees, caller_user,
# extra defines). Callers without a user call from outside the domain (no authentication).
ONE = ["-m", "1"]
FLOWS: dict[str, tuple[str, tuple[str, list[str]], list[Callee], str | None, tuple[str, ...]]] = {
    "call with record-route, udp": (
        "udp",
        ("basic_uac.xml", ["-m", "2", "-r", "5"]),
        [Callee("basic_uas.xml", ["-m", "2"])],
        "alice",
        (),
    ),
    "call with record-route, tcp": (
        "tcp",
        ("basic_uac.xml", ["-m", "2", "-r", "5"]),
        [Callee("basic_uas.xml", ["-m", "2"])],
        "alice",
        (),
    ),
    "CANCEL before answer: 487": (
        "udp",
        ("tm_uac_cancel.xml", ONE),
        [Callee("tm_uas_ring.xml", ONE)],
        None,
        (),
    ),
    "callee busy: 486": (
        "udp",
        ("tm_uac_fail.xml@486", ONE),
        [Callee("tm_uas_busy.xml", ONE)],
        None,
        (),
    ),
    "callee silent: 408 at fr_inv_timer": (
        "udp",
        ("tm_uac_fail.xml@408", ONE),
        [Callee("tm_uas_ring.xml", ONE)],
        None,
        ("FR_INV_TIMER=1500",),
    ),
    "serial forking: q 1.0 busy, then q 0.5": (
        "udp",
        ("basic_uac.xml", ONE),
        [Callee("basic_uas_busy.xml", ONE, q="1.0"), Callee("basic_uas.xml", ONE, q="0.5")],
        "alice",
        (),
    ),
    "parallel forking: first 200 wins, other branch cancelled": (
        "udp",
        ("basic_uac.xml", ONE),
        # the winner answers 300 ms after its 180: the other branch is ringing by then, so
        # the proxy cancels it at once (before a provisional it would have to wait, §9.1)
        [Callee("basic_uas.xml", (*ONE, "-d", "300")), Callee("tm_uas_ring.xml", ONE)],
        "alice",
        (),
    ),
}
