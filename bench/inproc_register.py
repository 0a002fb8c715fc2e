"""The proxy's own CPU per REGISTER, without sockets, sipp or the kernel: one siprouter worker
running bench/register.py's kamailio.cfg and KEMI script (the real Server, engine, registrar,
usrloc, auth) fed with sipp-shaped REGISTERs in-process, its replies captured instead of sent.

    python bench/inproc_register.py [memory|sqlite|sqlite-auth|memory-auth ...] [--n N]
                                    [--profile] [--valgrind]

Cases as bench/register.py's: ``memory`` (usrloc ``db_mode=0``), ``sqlite`` (``db_mode=2``,
an SQLite file behind the memory cache; its write-back is flushed at the end and counted),
``sqlite-auth`` (the same, plus ``auth_check`` against the subscriber table: the REGISTER
is answered 401, the driver computes the digest response from the challenge's nonce and
sends the authorized REGISTER, answered 200: two transactions per registration), and
``memory-auth``; ``floor`` answers the same REGISTERs with ``sl_send_reply(200)`` instead of
``save()`` (no registrar: the core's part of a registration). Registrations come in pairs per user, as sipp's two rounds do: the first
inserts the contact, the second refreshes it under a new Call-ID. Prints µs of CPU per
registration; ``--valgrind`` re-runs itself under callgrind for N and 3N registrations and
prints instructions per registration (the difference over 2N: start-up cancelled out, and
the same figure whatever else runs on the machine); ``--profile`` prints cProfile's top
functions (for proportions use py-spy: ``py-spy record -f raw -o out.txt -- python
bench/inproc_register.py memory --n 20000``). A benchmark, never part of the tests.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.cli import load  # noqa: E402
from app.cli import parser as cli_parser  # noqa: E402
from app.context import Source  # noqa: E402
from app.server import Server, tune_gc  # noqa: E402
from app.transport import Transports  # noqa: E402
from bench import register  # noqa: E402
from bench.inproc import SENT, callgrind_per_op, capture, runner, timed_loop  # noqa: E402
from tests.e2e.proc import free_port  # noqa: E402

CASES = ("memory", "sqlite", "sqlite-auth", "memory-auth", "floor")
SAVE = 'KSR.registrar.save("location", 0)'

PORT, UAC_PORT = free_port(), 25998  # only PORT is bound
UAC = Source("udp", "127.0.0.1", UAC_PORT, "127.0.0.1", PORT)
WARM_UP = 300  # registrations before measuring (caches, pooled greenlets, first inserts)
_NONCE = re.compile(rb'nonce="([^"]+)"')


def register_request(user: int, call: int, cseq: int, auth: str = "") -> bytes:
    """A REGISTER as tests/e2e/scenarios/register_*.xml makes it (``auth``: the header)."""
    return (
        f"REGISTER sip:example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{UAC_PORT};branch=z9hG4bK-{call}-{cseq}\r\n"
        f"From: <sip:user{user}@example.com>;tag=1SIPpTag00{call}\r\n"
        f"To: <sip:user{user}@example.com>\r\nCall-ID: {call}-1@127.0.0.1\r\n"
        f"CSeq: {cseq} REGISTER\r\nContact: <sip:user{user}@127.0.0.1:{UAC_PORT}>\r\n"
        f"{auth}Max-Forwards: 70\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - the protocol's hash


class Driver:
    """Plays sipp's part: feeds REGISTERs, answers 401 challenges; ``costs`` adds up thread
    CPU (ns) spent in the proxy per message kind."""

    def __init__(self, server: Server, auth: bool) -> None:
        self.core = server.core
        self.auth = auth
        self.costs: dict[str, int] = {}
        self.ha2 = _md5("REGISTER:sip:example.com")

    def feed(self, kind: str, data: bytes) -> bytes:
        t0 = time.thread_time_ns()
        self.core.on_datagram(data, UAC)
        self.costs[kind] = self.costs.get(kind, 0) + time.thread_time_ns() - t0
        reply = SENT[-1][0] if SENT else b""
        SENT.clear()
        return reply

    def registration(self, k: int) -> None:
        """Registration ``k``: user k // 2 (inserted by even k, refreshed by odd k)."""
        user = k // 2 + 1
        first = self.feed("REGISTER", register_request(user, k, 1))
        if not self.auth:
            self._expect(first, b"SIP/2.0 200")
            return
        self._expect(first, b"SIP/2.0 401")
        found = _NONCE.search(first)
        assert found is not None, first
        nonce = found.group(1).decode()
        ha1 = _md5(f"user{user}:example.com:pw{user}")
        response = _md5(f"{ha1}:{nonce}:{self.ha2}")
        header = (f'Authorization: Digest username="user{user}",realm="example.com",'
                  f'uri="sip:example.com",nonce="{nonce}",response="{response}",'
                  "algorithm=MD5\r\n")  # fmt: skip
        self._expect(self.feed("REGISTER+auth", register_request(user, k, 2, header)),
                     b"SIP/2.0 200")  # fmt: skip

    @staticmethod
    def _expect(reply: bytes, start: bytes) -> None:
        if not reply.startswith(start):
            raise SystemExit(f"expected {start.decode()}, got:\n{reply.decode(errors='replace')}")


async def measure(case: str, n: int, profile: bool) -> dict[str, Any]:
    """Run ``WARM_UP`` then ``n`` registrations of ``case``; CPU figures."""
    folder = Path(tempfile.mkdtemp(prefix="siprouter-inproc-reg-"))
    users = (WARM_UP + n) // 2 + 2
    db, _ = register.prepare(folder, case, "siprouter", users)
    cfg = register.configure(folder, "memory" if case == "floor" else case, PORT, db)
    if case == "floor":  # the same REGISTER answered 200 by sl: the core's part
        script = folder / "script.py"
        script.write_text(script.read_text().replace(SAVE, 'KSR.sl.sl_send_reply(200, "OK")'))
    config, modules, listens = load(cli_parser().parse_args(["-f", str(cfg)]))
    Transports.send = capture  # type: ignore[method-assign]
    server = Server(config, modules, listens, 1)  # type: ignore[arg-type]
    await server.start()
    try:
        driver = Driver(server, case.endswith("-auth"))
        for k in range(WARM_UP):
            driver.registration(k)
        await _flush()
        driver.costs.clear()
        tune_gc()  # as a real worker does after start-up
        cpu = await timed_loop(driver.registration, range(WARM_UP, WARM_UP + n), profile, 35)
        t1 = time.process_time()
        await _flush()  # the write-back of db_mode=2 (the flusher's job, every second)
        driver.costs["flush"] = int((time.process_time() - t1) * 1e9)
        cpu += time.process_time() - t1
    finally:
        await server.stop()
    per_kind = {k: v / n / 1000 for k, v in driver.costs.items()}
    return {"case": case, "n": n, "us_per_op": cpu / n * 1e6, "per_message_us": per_kind}


async def _flush() -> None:
    """Commit usrloc's write-back queue now (nothing to do without the cache)."""
    from app.store import CachedStore
    from modules import usrloc

    st = usrloc._state["store"]  # noqa: SLF001 - the bench looks inside
    if isinstance(st, CachedStore):
        await usrloc.flush(st)


def instructions(case: str, n: int) -> float:
    """Instructions per registration under callgrind: (count(3n) - count(n)) / 2n."""
    return callgrind_per_op(__file__, [case], n)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("cases", nargs="*", default=["memory", "sqlite", "sqlite-auth"])
    p.add_argument("--n", type=int, default=0, help="registrations (default 10000)")
    p.add_argument("--profile", action="store_true", help="cProfile's top functions")
    p.add_argument("--valgrind", action="store_true", help="instructions per op (slow)")
    a = p.parse_args()
    for case in a.cases:
        if case not in CASES:
            raise SystemExit(f"unknown case {case!r}; cases: {', '.join(CASES)}")
        if a.valgrind:
            n = a.n or 300
            print(f"{case}: {instructions(case, n):,.0f} instructions per registration "
                  "(callgrind)", flush=True)  # fmt: skip
            continue
        n = a.n or 10000
        res = runner()(measure(case, n, a.profile))
        parts = ", ".join(f"{k} {v:.1f}" for k, v in res["per_message_us"].items())
        print(f"{case}: {res['us_per_op']:.1f} us of CPU per registration (n={n}); "
              f"in the proxy per registration (us, thread CPU): {parts}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
