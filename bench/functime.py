"""Thread CPU per call of chosen functions while an in-process bench runs: where py-spy loses
the route's frames (it cannot follow greenlets), wrap the functions themselves.

    python bench/functime.py MODULE:FUNC[,MODULE:CLASS.METHOD ...] BENCH [BENCH ARGS ...]

    python bench/functime.py "modules.auth_db:_subscriber,app.core:Core.reply" \\
        bench/inproc_register.py memory-auth --n 10000

Each named function is replaced by a wrapper that adds up ``time.thread_time_ns`` around
its calls (inclusive: callees count; the wrapper's own ~0.5 µs too), then BENCH runs as
``__main__``. Only calls that look the name up at call time are seen: a function bound
into a table at start-up (a KEMI export, a module API dict) keeps the original. Prints
calls and µs per call, largest total first. A benchmark tool, never part of the tests.
"""

from __future__ import annotations

import functools
import importlib
import runpy
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NS: dict[str, int] = {}  # thread CPU per wrapped function
CALLS: dict[str, int] = {}


def timed(
    key: str, func: Callable[..., Any], ns: dict[str, int], calls: dict[str, int] | None = None
) -> Callable[..., Any]:
    """``func`` adding the thread CPU of each call to ``ns[key]`` (and counting the calls
    in ``calls[key]``). bench/inproc_http.py times the query and the resumed route with it."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.thread_time_ns()
        try:
            return func(*args, **kwargs)
        finally:
            ns[key] = ns.get(key, 0) + time.thread_time_ns() - t0
            if calls is not None:
                calls[key] = calls.get(key, 0) + 1

    return wrapper


def wrap(target: str) -> None:
    """Replace ``module:function`` or ``module:Class.method`` by its timed wrapper."""
    module_name, _, attr = target.partition(":")
    owner: Any = importlib.import_module(module_name)
    *path, name = attr.split(".")
    for part in path:
        owner = getattr(owner, part)
    setattr(owner, name, timed(target, getattr(owner, name), NS, CALLS))


def report() -> None:
    for key, ns in sorted(NS.items(), key=lambda kv: -kv[1]):
        calls = CALLS.get(key, 0)
        print(f"{key:60s} {calls:8d} calls {ns / max(calls, 1) / 1000:9.2f} us/call")


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    for target in sys.argv[1].split(","):
        wrap(target.strip())
    bench = sys.argv[2]
    sys.argv = [bench, *sys.argv[3:]]
    try:
        runpy.run_path(bench, run_name="__main__")
    finally:
        report()


if __name__ == "__main__":
    main()
