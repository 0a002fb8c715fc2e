"""Every compiled regular expression of the project matches alike on every Python 3.11: none
repeats a group with a possessive quantifier (``(?:...)*+``, ``(...)?+``, ``(?:...){1,3}+``),
which Python before 3.11.5 mis-matches (CPython gh-106052; Debian 12 ships 3.11.2). The
atomic form ``(?>(?:...)*)`` means the same and is matched alike. CI runs a fixed Python, so
this reads the patterns themselves."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sip", "app", "modules", "rpc")
#: a group closed, a quantifier, then ``+`` (an escaped ``\\)`` is a literal, not a group)
POSSESSIVE_GROUP = re.compile(r"(?<!\\)\)(?:[*+?]|\{\d*,?\d*\})\+")


def _patterns() -> list[tuple[str, str]]:
    found = []
    for pkg in PACKAGES:
        for info in pkgutil.walk_packages([str(ROOT / pkg)], prefix=f"{pkg}."):
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
                    found.append((f"{info.name}.{name}", value.pattern))
    return found


def test_the_scan_sees_the_fast_paths() -> None:
    names = {name for name, _ in _patterns()}
    assert {"sip.section.PLAIN_RE", "sip.headers._NA_FAST_RE", "sip.uri._FAST_RE"} <= names


def test_no_possessive_repeat_of_a_group() -> None:
    bad = [(name, m.group()) for name, pat in _patterns() if (m := POSSESSIVE_GROUP.search(pat))]
    assert not bad, f"write (?>(?:...)*) instead of (?:...)*+ (gh-106052): {bad}"


def test_the_check_recognises_the_faulty_forms() -> None:
    for faulty in (r"(?:ab?c)*+", r"(x)?+y", r"(?:a|b){1,3}+", r"(?:a)++"):
        assert POSSESSIVE_GROUP.search(faulty), faulty
    for fine in (r"(?>(?:ab?c)*)", r"[a-z]*+", r"\)*+", r"a{1,5}+"):
        assert not POSSESSIVE_GROUP.search(fine), fine
