"""``sip/`` gives the same results on the system's Python as on the one running the tests.

The tests run on one interpreter (pyenv's 3.11.7 here), while a Debian 12 host runs the proxy
on its ``/usr/bin/python3`` (3.11.2), which the README recommends: faster (built with PGO and
LTO) but older, and Python before 3.11.5 matched some regular expressions differently
(CPython gh-106052: display names kept a trailing blank). tests/sip/interp_probe.py
(standard library only) runs on both and their JSON outputs must be equal: every RFC 4475 /
RFC 5118 torture message parsed, checked and read, and header values aimed at the fast
paths. Skipped on the compiled build's run (its extension modules belong to one interpreter)
and when the system's Python is older than 3.11 (not supported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.proc import require_tool

PROBE = Path(__file__).with_name("interp_probe.py")
SYSTEM_PYTHON = "/usr/bin/python3"


def _probe(python: str) -> dict[str, Any]:
    done = subprocess.run(
        [python, "-I", str(PROBE)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{python}: {done.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_system_python_reads_sip_messages_alike() -> None:
    if os.environ.get("SIPROUTER_EXPECT_COMPILED"):
        pytest.skip("the compiled build's modules belong to the interpreter that built them")
    system = require_tool(SYSTEM_PYTHON)
    version = subprocess.run(
        [system, "-c", "import sys; print(sys.version_info >= (3, 11), sys.version.split()[0])"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.split()  # fmt: skip
    if version[0] != "True":
        pytest.skip(f"{SYSTEM_PYTHON} is Python {version[1]}, older than siprouter supports")
    ours, theirs = _probe(sys.executable), _probe(system)
    assert len(ours) > 100, "the probe read too little (conformance messages missing?)"
    differ = {k: (ours[k], theirs.get(k)) for k in ours if ours[k] != theirs.get(k)}
    assert not differ, f"{sys.version.split()[0]} vs {version[1]}: {list(differ.items())[:5]}"
