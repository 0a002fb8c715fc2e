"""CPU instructions per message for the cases of bench/parse.py, counted by valgrind.

Wall-clock figures move with whatever else the machine runs; instruction counts do not
(`valgrind --tool=callgrind` counts the same total for the same binary and inputs). Each case
runs N and 3N times in a fresh interpreter; the difference divided by 2N is the cost of one
message, start-up and imports cancelled out.

Run: ``python bench/instructions.py [CASE ...]`` (cases: proxy, full, edit, check; all by
default; needs valgrind: ``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNNER = """
import sys
sys.path[:0] = [{root!r}, {here!r}]
import parse as bench
cases = bench.OURS
name, n = sys.argv[1], int(sys.argv[2])
fn = cases[name] if not name.startswith("sippy-") else bench.sippy_funcs()[name[6:]]
for _ in range(n):
    fn()
"""


def count(case: str, n: int) -> int:
    code = RUNNER.format(root=str(HERE.parent), here=str(HERE))
    python = os.path.realpath(sys.executable)
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", python, "-c", code, case, str(n)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    m = re.search(r"Collected : (\d+)", out.stderr)
    if m is None:
        raise RuntimeError(out.stderr[-500:])
    return int(m.group(1))


def per_message(case: str, n: int) -> float:
    return (count(case, 3 * n) - count(case, n)) / (2 * n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--number", type=int, default=1000)
    ap.add_argument("cases", nargs="*", help="cases to count (default: all)")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    sys.path[:0] = [str(HERE.parent), str(HERE)]
    import parse as bench  # the cases and their labels

    print(f"{'case':30} {'siprouter instr/msg':>20} {'sippy instr/msg':>16} {'ratio':>7}")
    for key in args.cases or bench.LABELS:
        label = bench.LABELS[key]
        ours = per_message(key, args.number)
        if key not in ("proxy", "full", "edit"):  # no sippy counterpart
            print(f"{label:30} {ours:20,.0f} {'-':>16}")
            continue
        theirs = per_message("sippy-" + key, args.number)
        print(f"{label:30} {ours:20,.0f} {theirs:16,.0f} {theirs / ours:6.1f}x")


if __name__ == "__main__":
    main()
