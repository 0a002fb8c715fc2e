"""Text editing helpers of textops/textopsx: sed-like ``/re/repl/flags`` expressions and
rewriting a message's header section or body as text."""

from __future__ import annotations

import re
from typing import Any

from sip import Message, Request, parse

_BACKREF = re.compile(r"\\(\d)")


class SubstError(ValueError):
    """A malformed ``/re/repl/flags`` expression."""


def _split(expr: str) -> list[str]:
    if len(expr) < 4:
        raise SubstError(f"bad subst expression {expr!r}")
    delim, parts, cur, i = expr[0], [], "", 1
    while i < len(expr):
        c = expr[i]
        if c == "\\" and i + 1 < len(expr) and expr[i + 1] == delim:
            cur += delim
            i += 2
            continue
        if c == delim:
            parts.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    parts.append(cur)
    if len(parts) != 3:
        raise SubstError(f"bad subst expression {expr!r}")
    return parts


def compile_subst(expr: str) -> tuple[re.Pattern[str], str, int]:
    """``/re/repl/flags`` -> (pattern, Python replacement, count); flags i, g, s."""
    pattern, repl, flags = _split(expr)
    reflags = re.M | (re.I if "i" in flags else 0) | (re.S if "s" in flags else 0)
    try:
        rx = re.compile(pattern, reflags)
    except re.error as exc:
        raise SubstError(f"bad regular expression {pattern!r}: {exc}") from None
    py = _BACKREF.sub(lambda m: f"\\g<{m.group(1)}>", repl.replace("\\\\", "\x00"))
    return rx, py.replace("\x00", "\\\\"), 0 if "g" in flags else 1


def subst_text(expr: str, text: str) -> tuple[str, int]:
    """Apply a sed-like expression; (new text, number of replacements)."""
    rx, repl, count = compile_subst(expr)
    return rx.subn(repl, text, count=count)


def header_text(msg: Message) -> str:
    """The header section as text, one CRLF-terminated line per header."""
    return "".join(line + "\r\n" for line in msg.raw_lines())


def rebuild(ctx: Any, headers: str | None = None, body: bytes | None = None) -> None:
    """Replace the message of ``ctx`` by one with new header text and/or body."""
    msg = ctx.editing()
    head = header_text(msg) if headers is None else headers
    data = body if body is not None else msg.body
    if body is not None:
        head = re.sub(r"(?im)^(content-length|l)[ \t]*:.*\r\n", "", head)
        head += f"Content-Length: {len(data)}\r\n"
    raw = (msg.start_line() + "\r\n" + head + "\r\n").encode("utf-8", "surrogateescape")
    new = parse(raw + data)
    if isinstance(msg, Request) and isinstance(new, Request):
        new.uri = msg.uri_text
    ctx.msg = new
