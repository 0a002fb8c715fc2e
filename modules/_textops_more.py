"""More textops functions: string comparisons, and the cfg-only header helpers offered as
KEMI extensions (``append_hf``, ``insert_hf``, ``append_to_reply``, ``is_method``)."""

from __future__ import annotations

from typing import Any

from modules._pvfmt import pv_format
from modules.textops import module


def _rc(ok: bool) -> int:
    return 1 if ok else -1


def _lines(ctx: Any, text: str) -> list[tuple[str, str]] | None:
    out = []
    for line in pv_format(ctx, text).replace("\r\n", "\n").strip("\n").split("\n"):
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or " " in name.strip():
            return None
        out.append((name.strip(), value.strip()))
    return out


@module.function("append_hf", "s")
def append_hf(ctx: Any, text: str) -> int:
    """Extension: append header(s) (``"X-A: 1\\r\\n"``, PVs expanded) after the last one."""
    lines = _lines(ctx, text)
    if not lines:
        return -1
    msg = ctx.editing()
    for name, value in lines:
        msg.add(name, value)
    return 1


@module.function("insert_hf", "s")
def insert_hf(ctx: Any, text: str) -> int:
    """Extension: insert header(s) before the first header."""
    lines = _lines(ctx, text)
    if not lines:
        return -1
    msg = ctx.editing()
    for name, value in reversed(lines):
        msg.insert(name, value)
    return 1


@module.function("append_to_reply", "s")
def append_to_reply(ctx: Any, text: str) -> int:
    """Extension: add header(s) to the replies generated for this request."""
    lines = _lines(ctx, text)
    if not lines:
        return -1
    ctx.reply_headers.extend(lines)
    return 1


@module.function("is_method", "s")
def is_method(ctx: Any, names: str) -> int:
    """Extension: 1 if the method (CSeq method of a reply) is one of ``A|B|C``."""
    method = ctx.method.upper()
    return _rc(any(method == n.strip().upper() for n in names.replace(",", "|").split("|")))


@module.function("in_list", "sss")
def in_list(ctx: Any, subject: str, items: str, sep: str) -> int:
    """1 if ``subject`` is one of the ``sep``-separated ``items``."""
    return _rc(subject in [i.strip() for i in items.split(sep or ",")])


@module.function("in_list_prefix", "sss")
def in_list_prefix(ctx: Any, subject: str, items: str, sep: str) -> int:
    """1 if an item of the list is a prefix of ``subject``."""
    return _rc(any(subject.startswith(i.strip()) for i in items.split(sep or ",") if i.strip()))


@module.function("cmp_str", "ss")
def cmp_str(ctx: Any, a: str, b: str) -> int:
    """1 if the strings are equal."""
    return _rc(a == b)


@module.function("cmp_istr", "ss")
def cmp_istr(ctx: Any, a: str, b: str) -> int:
    """1 if the strings are equal ignoring case."""
    return _rc(a.lower() == b.lower())


@module.function("starts_with", "ss")
def starts_with(ctx: Any, text: str, prefix: str) -> int:
    """1 if ``text`` starts with ``prefix``."""
    return _rc(text.startswith(prefix))


@module.function("ends_with", "ss")
def ends_with(ctx: Any, text: str, suffix: str) -> int:
    """1 if ``text`` ends with ``suffix``."""
    return _rc(text.endswith(suffix))


@module.function("str_find", "ss")
def str_find(ctx: Any, text: str, needle: str) -> int:
    """1 if ``needle`` occurs in ``text``, else -1."""
    return _rc(needle in text)


@module.function("search_str", "ss")
def search_str(ctx: Any, text: str, pattern: str) -> int:
    """1 if the regular expression matches ``text``."""
    import re  # noqa: PLC0415

    try:
        return _rc(re.search(pattern, text) is not None)
    except re.error:
        return -1
