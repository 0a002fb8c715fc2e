"""``KSR.hdr`` (kemi.md §3.3): add, remove and read headers.

Edits apply to the outgoing message; reads (``get``, ``is_present``, ``$hdr``) see the
message as received, as Kamailio's lumps do. A header text passed to ``append``/``insert``
includes the name and may end with ``\\r\\n`` (several lines are accepted).
"""

from __future__ import annotations

import logging
from typing import Any

from app.context import Ctx
from app.module import Module

module = Module("hdr", doc="KSR.hdr: header functions")
log = logging.getLogger("siprouter.kemi")


def parse_lines(text: str) -> list[tuple[str, str]] | None:
    """``"X-A: 1\\r\\nX-B: 2\\r\\n"`` -> ``[("X-A", "1"), ("X-B", "2")]``; None if malformed."""
    out = []
    for line in text.replace("\r\n", "\n").strip("\n").split("\n"):
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or " " in name.strip():
            log.error("KSR.hdr: bad header text %r", text[:80])
            return None
        out.append((name.strip(), value.strip()))
    return out


def _add(ctx: Ctx, text: str, where: str, anchor: str | None = None) -> int:
    lines = parse_lines(text)
    if not lines:
        return -1
    msg = ctx.editing()
    try:
        if where == "append":
            index = _after(msg.raw_lines(), anchor) if anchor else None
            for offset, (name, value) in enumerate(lines):
                msg.add(name, value, None if index is None else index + offset)
        else:
            for name, value in reversed(lines):
                msg.add_before(name, value, anchor) if anchor else msg.insert(name, value)
    except Exception as exc:  # noqa: BLE001 - LocalProtocolError on a bad name or value
        log.error("KSR.hdr: %s", exc)
        return -1
    return 1


def _after(lines: list[str], name: str) -> int | None:
    low = name.strip().lower()
    for i, line in enumerate(lines):
        if line.partition(":")[0].strip().lower() == low:
            return i + 1
    return None


@module.function("append", "s")
def append(ctx: Ctx, text: str) -> int:
    """Add header(s) after the last header."""
    return _add(ctx, text, "append")


@module.function("append_after", "ss")
def append_after(ctx: Ctx, text: str, name: str) -> int:
    """Add header(s) after the first ``name`` header (else at the end)."""
    return _add(ctx, text, "append", name)


@module.function("insert", "s")
def insert(ctx: Ctx, text: str) -> int:
    """Add header(s) before the first header."""
    return _add(ctx, text, "insert")


@module.function("insert_before", "ss")
def insert_before(ctx: Ctx, text: str, name: str) -> int:
    """Add header(s) before the first ``name`` header (else at the top)."""
    return _add(ctx, text, "insert", name)


@module.function("remove", "s")
def remove(ctx: Ctx, name: str) -> int:
    """Remove every ``name`` header (compact forms match); 1 if any went, else -1."""
    if name.strip() not in ctx.received:
        return -1
    ctx.editing().remove(name.strip())
    return 1


@module.function("rmappend", "ss")
def rmappend(ctx: Ctx, rmname: str, text: str) -> int:
    """Remove ``rmname`` headers, then append."""
    remove(ctx, rmname)
    return append(ctx, text)


@module.function("rminsert", "ss")
def rminsert(ctx: Ctx, rmname: str, text: str) -> int:
    """Remove ``rmname`` headers, then insert."""
    remove(ctx, rmname)
    return insert(ctx, text)


@module.function("is_present", "s")
def is_present(ctx: Ctx, name: str) -> int:
    """1 if a ``name`` header is present, else -1."""
    return 1 if name.strip() in ctx.received else -1


@module.function("append_to_reply", "s")
def append_to_reply(ctx: Ctx, text: str) -> int:
    """Add header(s) to the replies generated locally for this request."""
    lines = parse_lines(text)
    if not lines:
        return -1
    ctx.reply_headers.extend(lines)
    return 1


def _value(ctx: Ctx, name: str, idx: int = 0) -> str | None:
    values = ctx.received.get_all(name.strip())
    return values[idx] if -len(values) <= idx < len(values) else None


def _declare_getters(suffix: str, null: Any) -> None:
    def get(ctx: Ctx, name: str) -> Any:
        value = _value(ctx, name)
        return null if value is None else value

    def get_idx(ctx: Ctx, name: str, idx: int) -> Any:
        value = _value(ctx, name, idx)
        return null if value is None else value

    module.function(f"get{suffix}", "s", ret="xval", doc="first header body")(get)
    module.function(f"get{suffix}_idx", "si", ret="xval", doc="header body by index")(get_idx)


_declare_getters("", None)
_declare_getters("e", "")
_declare_getters("w", "<null>")


@module.function("match_content", "ssss", ret="bool")
def match_content(ctx: Ctx, name: str, op: str, val: str, which: str) -> bool:
    """Compare header bodies: op eq/ne/sw/in; which f(irst), l(ast), a(ll), o(ne)."""
    values = [v.strip().lower() for v in ctx.received.get_all(name.strip())]
    if not values:
        return False
    tests = {"eq": str.__eq__, "ne": str.__ne__, "sw": str.startswith, "in": lambda v, x: x in v}
    test = tests.get(op.lower())
    if test is None:
        return False
    picked = {"f": values[:1], "l": values[-1:]}.get(which[:1].lower(), values)
    results = [bool(test(v, val.strip().lower())) for v in picked]
    return any(results) if which[:1].lower() == "o" else all(results)
