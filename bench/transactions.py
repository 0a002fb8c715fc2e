"""Transaction layer benchmark: full non-INVITE transaction pairs driven in memory.

One round trip per transaction: a client :class:`~sip.transaction.TransactionLayer` sends an
OPTIONS (serialize), the server layer parses and receives it (new server transaction), the
server core answers 200, the client parses and receives the response; then time is moved
past Timers J and K so every transaction terminates. No sockets, one core.

Prints transaction pairs (client + server) per second, best of several rounds.

Run: ``python bench/transactions.py`` (``--rounds N --number N`` to change the effort).
Figures are recorded in docs/performance.md. This never fails a test run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sip import parse  # noqa: E402
from sip.message import Request, make_response  # noqa: E402
from sip.transaction import Peer, RequestReceived, TransactionLayer  # noqa: E402

CLIENT = Peer("UDP", "192.0.2.1", 5060)
SERVER = Peer("UDP", "192.0.2.2", 5060)


def options(i: int) -> Request:
    return Request("OPTIONS", "sip:bob@192.0.2.2", [
        ("Via", f"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{i:x}x;rport"),
        ("Max-Forwards", "70"), ("From", "<sip:alice@example.com>;tag=a1"),
        ("To", "<sip:bob@example.com>"), ("Call-ID", f"bench-{i}@192.0.2.1"),
        ("CSeq", "1 OPTIONS"), ("Content-Length", "0"),
    ])  # fmt: skip


def run(number: int, start: int) -> float:
    """Seconds for ``number`` transaction pairs (messages built beforehand)."""
    requests = [options(start + i) for i in range(number)]
    client, server = TransactionLayer(), TransactionLayer()
    now = 0.0
    t0 = time.perf_counter()
    for req in requests:
        client.send_request(req, SERVER, now)
        (out,) = client.drain()
        for ev in server.receive(parse(out.data), CLIENT, now):
            if isinstance(ev, RequestReceived):
                server.send_response(make_response(ev.request, 200, to_tag="b1"), now, ev.tx)
        (back,) = server.drain()
        client.receive(parse(back.data), SERVER, now)
    client.handle_timers(now + 60.0)
    server.handle_timers(now + 60.0)
    elapsed = time.perf_counter() - t0
    assert len(client) == 0 and len(server) == 0
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--number", type=int, default=20000)
    args = ap.parse_args()
    best = min(run(args.number, r * args.number) for r in range(args.rounds))
    rate = args.number / best
    print(f"non-INVITE transaction pairs (client + server, parse + serialize): {rate:,.0f}/s "
          f"({best / args.number * 1e6:.1f} µs each; best of {args.rounds} × {args.number})")  # fmt: skip


if __name__ == "__main__":
    main()
