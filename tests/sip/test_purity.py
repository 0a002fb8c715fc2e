"""``sip`` is sans-IO: importing it loads no asyncio, socket, ssl, threading or time, and
nothing of app/, modules/ or rpc/ (design.md, "Layers")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("asyncio", "socket", "ssl", "threading", "time", "_thread", "select", "selectors")
OURS = ("app", "modules", "rpc")


def loaded_by_import_sip() -> list[str]:
    names = [p.stem for p in (ROOT / "sip").glob("*.py") if p.stem != "__init__"]
    code = (
        f"import sys, json; sys.path.insert(0, {str(ROOT)!r}); before = set(sys.modules)\n"
        f"import sip\nfor n in {names!r}: __import__('sip.' + n)\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout))


def test_import_sip_is_sans_io() -> None:
    loaded = loaded_by_import_sip()
    assert any(name.startswith("sip.") for name in loaded)
    bad = [n for n in loaded if n.split(".")[0] in FORBIDDEN or n.split(".")[0] in OURS]
    assert bad == []


@pytest.mark.parametrize("path", sorted((ROOT / "sip").glob("*.py")), ids=lambda p: p.name)
def test_no_forbidden_import_statements(path: Path) -> None:
    for line in path.read_text().splitlines():
        words = line.split()
        if words[:1] in (["import"], ["from"]) and len(words) > 1:
            top = words[1].split(".")[0]
            assert top not in FORBIDDEN + OURS, f"{path.name}: {line}"
