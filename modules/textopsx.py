"""textopsx: more text operations (Kamailio's textopsx module, KEMI names, 1/-1 returns).

``msg_apply_changes()`` makes later reads see the edits made so far; ``remove_body()``;
``change_reply_status(code, reason)`` / ``change_reply_status_code(code)`` in a reply route
(a 1xx/2xx cannot become another class); ``keep_hf()`` / ``keep_hf_re(re)`` (only the
mandatory headers and those matching stay); ``fnmatch(value, pattern)`` /
``fnmatch_ex(value, pattern, "i")``; header values: ``hf_value_exists(name, value)``,
``append_hf_value(name, value)``, ``insert_hf_value(name, value)``,
``remove_hf_value(name)`` (the first value; ``name[N]`` for the N-th),
``assign_hf_value(name, value)``.
"""

from __future__ import annotations

import fnmatch as fnm
import re
from typing import Any

from app.module import Module
from modules import _textedit as te
from sip import Response

module = Module("textopsx", doc="more text operations")
KEEP = {"via", "from", "to", "call-id", "cseq", "content-length", "content-type", "max-forwards",
        "contact", "route", "record-route"}  # fmt: skip
_INDEX = re.compile(r"(.*)\[(-?\d+)\]\Z")


def _rc(ok: bool) -> int:
    return 1 if ok else -1


@module.function("msg_apply_changes")
def msg_apply_changes(ctx: Any) -> int:
    """Make the edits visible to later reads of this route."""
    ctx.original = None
    return 1


@module.function("remove_body")
def remove_body(ctx: Any) -> int:
    """Remove the body (and Content-Type)."""
    if not ctx.msg.body:
        return -1
    te.rebuild(ctx, body=b"")
    ctx.msg.remove("Content-Type")
    return 1


@module.function("change_reply_status", "is")
def change_reply_status(ctx: Any, code: int, reason: str) -> int:
    """Change the status of the reply being routed."""
    msg = ctx.msg
    if not isinstance(msg, Response) or not 100 <= code <= 699:
        return -1
    if msg.status < 300 and msg.status // 100 != code // 100:
        return -1
    msg.status, msg.reason = code, reason or msg.reason
    return 1


@module.function("change_reply_status_code", "i")
def change_reply_status_code(ctx: Any, code: int) -> int:
    """change_reply_status() keeping a default reason for the new class."""
    from sip.status import reason_phrase  # noqa: PLC0415

    return change_reply_status(ctx, code, reason_phrase(code))


def _keep(ctx: Any, match: Any) -> int:
    names = {n for n, _ in ctx.msg.items() if n.lower() not in KEEP and not match(n)}
    msg = ctx.editing()
    for name in names:
        msg.remove(name)
    return 1


@module.function("keep_hf")
def keep_hf(ctx: Any) -> int:
    """Remove every header but the mandatory/routing ones."""
    return _keep(ctx, lambda n: False)


@module.function("keep_hf_re", "s")
def keep_hf_re(ctx: Any, pattern: str) -> int:
    """Remove every header but the mandatory ones and those whose name matches."""
    try:
        rx = re.compile(pattern, re.I)
    except re.error:
        return -1
    return _keep(ctx, rx.search)


@module.function("fnmatch", "ss")
def fnmatch(ctx: Any, value: str, pattern: str) -> int:
    """Shell-style match."""
    return _rc(fnm.fnmatchcase(value, pattern))


@module.function("fnmatch_ex", "sss")
def fnmatch_ex(ctx: Any, value: str, pattern: str, flags: str) -> int:
    """Shell-style match; flags "i" ignores case."""
    if "i" in flags:
        return _rc(fnm.fnmatchcase(value.lower(), pattern.lower()))
    return fnmatch(ctx, value, pattern)


def _values(ctx: Any, name: str) -> list[str]:
    return ctx.msg.values(name)


def _write(ctx: Any, name: str, values: list[str]) -> None:
    msg = ctx.editing()
    msg.remove(name)
    if values:
        msg.add(name, ", ".join(values))


@module.function("hf_value_exists", "ss")
def hf_value_exists(ctx: Any, name: str, value: str) -> int:
    """1 if a comma-separated value of ``name`` is ``value``."""
    return _rc(value.strip() in [v.strip() for v in ctx.received.values(name)])


@module.function("append_hf_value", "ss")
def append_hf_value(ctx: Any, name: str, value: str) -> int:
    """Add a value at the end of the ``name`` list."""
    _write(ctx, name, [*_values(ctx, name), value])
    return 1


@module.function("insert_hf_value", "ss")
def insert_hf_value(ctx: Any, name: str, value: str) -> int:
    """Add a value at the start of the ``name`` list."""
    _write(ctx, name, [value, *_values(ctx, name)])
    return 1


@module.function("remove_hf_value", "s")
def remove_hf_value(ctx: Any, hexp: str) -> int:
    """Remove the first value (``name[N]``: the N-th, from 1) of a header list."""
    m = _INDEX.match(hexp.strip())
    name, idx = (m.group(1), int(m.group(2))) if m else (hexp.strip(), 1)
    values = _values(ctx, name)
    pos = idx - 1 if idx > 0 else len(values) + idx
    if not 0 <= pos < len(values):
        return -1
    del values[pos]
    _write(ctx, name, values)
    return 1


@module.function("assign_hf_value", "ss")
def assign_hf_value(ctx: Any, name: str, value: str) -> int:
    """Set ``name`` to the single value ``value``."""
    _write(ctx, name, [value])
    return 1
