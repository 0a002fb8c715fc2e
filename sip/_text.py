"""Small lexical helpers shared by the parser modules (RFC 3261 §25.1 basic rules)."""

from __future__ import annotations

import re

__all__ = ["is_digits", "is_token", "TOKEN_RE", "unquote", "quote", "METHODS"]

#: the methods of RFC 3261 and its extensions (RFC 3262, 3265, 3311, 3428, 3515, 3903, 6086)
METHODS = frozenset(
    {
        "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
        "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
    }
)  # fmt: skip
TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_UNQUOTE_RE = re.compile(r"\\(.)", re.S)


def is_digits(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts other scripts' digits)."""
    return text.isascii() and text.isdigit()


def is_token(text: str) -> bool:
    return TOKEN_RE.match(text) is not None


def unquote(text: str) -> str:
    """``"a \\"b\\""`` → ``a "b"``; text without quotes is returned unchanged."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return unescape_quoted(text[1:-1])
    return text


def unescape_quoted(inner: str) -> str:
    """The inside of a quoted string (quotes already stripped) with its escapes resolved."""
    return _UNQUOTE_RE.sub(r"\1", inner) if "\\" in inner else inner


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
