"""What a sleep costs the work after it: the same Python work (parse a REGISTER and read the
fields a proxy reads) timed in thread CPU when run back to back, and when each run follows
a sleep, a busy wait, or a write over a buffer of some size.

    python bench/wakeup.py [--n 3000]

A proxy worker under sipp load sleeps between datagrams; on this kind of machine (a KVM
guest whose idle vCPU halts at once) the work after a wake-up runs 2-4x slower than in a hot
loop, which is why the in-process benches (bench/inproc*.py) report about half of what the
same code costs under load (docs/performance.md, "Why the load figures are twice the
in-process ones"). A benchmark, never part of the tests.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sip import parse  # noqa: E402

DATA = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1-1\r\n"
    b"From: <sip:user1@example.com>;tag=1SIPpTag001\r\nTo: <sip:user1@example.com>\r\n"
    b"Call-ID: 1-1@127.0.0.1\r\nCSeq: 1 REGISTER\r\n"
    b"Contact: <sip:user1@127.0.0.1:5061>\r\nMax-Forwards: 70\r\nExpires: 3600\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def work() -> None:
    msg = parse(DATA, datagram=True)
    msg.check()
    _ = msg.via, msg.get_all("Contact"), msg.call_id, msg.cseq, msg.from_, msg.to


def timed(n: int, before: Callable[[], object]) -> float:
    """µs of thread CPU per ``work()``, each run after ``before()`` (not counted)."""
    total = 0
    for _ in range(n):
        before()
        t0 = time.thread_time_ns()
        work()
        total += time.thread_time_ns() - t0
    return total / n / 1000


def spin(seconds: float) -> Callable[[], None]:
    def wait() -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass

    return wait


def overwrite(kib: int) -> Callable[[], None]:
    buf = bytearray(kib * 1024)
    line = b"\x01" * (len(buf) // 64)

    def touch() -> None:
        buf[::64] = line

    return touch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=3000)
    n = p.parse_args().n
    for _ in range(2000):
        work()
    cases: list[tuple[str, Callable[[], object]]] = [
        ("back to back", lambda: None),
        ("after a 10 us sleep", lambda: time.sleep(10e-6)),
        ("after a 200 us sleep", lambda: time.sleep(200e-6)),
        ("after a 1 ms sleep", lambda: time.sleep(1e-3)),
        ("after a 200 us busy wait", spin(200e-6)),
        ("after writing 1 MiB", overwrite(1024)),
        ("after writing 32 MiB", overwrite(32 * 1024)),
        ("back to back (again)", lambda: None),
    ]
    for name, before in cases:
        print(f"{name:28} {timed(n, before):7.1f} us per message")


if __name__ == "__main__":
    main()
