"""Parser microbenchmark: siprouter's ``sip`` package beside PyPI's ``sippy`` on one message.

Prints messages per second (best of several rounds, one core) for:

1. parse + proxy accesses: parse a typical ~900-byte INVITE and read what a proxy needs
   (top Via branch, CSeq, Call-ID, From/To tags, Request-URI, Max-Forwards);
2. full parse: every header parsed into its typed view (``Message.validate``);
3. serialize after one edit (Max-Forwards decremented);
4. parse + ``Message.check()`` (the light validation the proxy core makes of every request;
   sippy has no counterpart, so only our figure is printed).

Run: ``python bench/parse.py`` (``--rounds N --number N`` to change the effort).
Figures are recorded in docs/performance.md. This never fails a test run.

``parse_uri`` keeps the URIs it parsed (a proxy sees the same ones again and again); the
benchmark empties that table before each message, so the Request-URI is parsed every time,
as sippy parses it, and the figures do not rest on a table hit.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from messages import INVITE  # noqa: E402

from sip import parse  # noqa: E402
from sip.uri import _PARSED  # noqa: E402

_forget_uris = _PARSED.clear


def ours_proxy() -> object:
    _forget_uris()
    m = parse(INVITE)
    return (m.branch, m.cseq, m.call_id, m.from_tag, m.to_tag, m.uri, m.max_forwards)  # type: ignore[union-attr]


def ours_full() -> object:
    _forget_uris()
    m = parse(INVITE)
    m.validate()
    return m


def ours_edit() -> bytes:
    _forget_uris()
    m = parse(INVITE)
    m.replace("Max-Forwards", str(m.max_forwards - 1))  # type: ignore[operator]
    return m.serialize()


def ours_check() -> object:
    _forget_uris()
    m = parse(INVITE)
    m.check()
    return m


OURS: dict[str, Callable[[], object]] = {
    "proxy": ours_proxy, "full": ours_full, "edit": ours_edit, "check": ours_check,
}  # fmt: skip
LABELS = {
    "proxy": "parse + proxy accesses",
    "full": "full parse of every header",
    "edit": "serialize after one edit",
    "check": "parse + check()",
}


def sippy_funcs() -> dict[str, Callable[[], object]] | None:
    try:
        from sippy.SipRequest import SipRequest
    except ImportError:
        return None
    text = INVITE.decode()

    def proxy() -> object:
        r = SipRequest(text)
        return (
            r.getHFBody("via").getBranch(),
            r.getHFBody("cseq").getCSeq(),
            str(r.getHFBody("call-id")),
            r.getHFBody("from").getTag(),
            r.getHFBody("to").getTag(),
            r.getRURI(),
            r.getHFBody("max-forwards").getNum(),
        )

    def full() -> object:
        r = SipRequest(text)
        for h in r.headers:
            h.getBody()
        return r

    def edit() -> object:
        r = SipRequest(text)
        mf = r.getHFBody("max-forwards")
        mf.number = mf.getNum() - 1
        return str(r)

    return {"proxy": proxy, "full": full, "edit": edit}


def rates(fns: list[Callable[[], object]], rounds: int, number: int) -> list[float]:
    """Messages per second of each function, best of ``rounds``; the rounds of the
    functions are interleaved so that a change in machine load hits them alike."""
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], timeit.timeit(fn, number=number) / number)
    return [1 / t for t in best]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--number", type=int, default=20000)
    args = ap.parse_args()
    ours = OURS
    theirs = sippy_funcs()
    labels = LABELS
    print(f"message: {len(INVITE)} bytes INVITE; best of {args.rounds} x {args.number}")
    print(f"{'case':30} {'siprouter msg/s':>16} {'sippy msg/s':>12} {'ratio':>7}")
    for key, label in labels.items():
        if theirs is None or key not in theirs:
            (a,) = rates([ours[key]], args.rounds, args.number)
            print(f"{label:30} {a:16,.0f} {'(no sippy)':>12}")
            continue
        a, b = rates([ours[key], theirs[key]], args.rounds, args.number // 4)
        print(f"{label:30} {a:16,.0f} {b:12,.0f} {a / b:6.1f}x")


if __name__ == "__main__":
    main()
