"""textops: regular-expression search and replace on the message, headers and body
(Kamailio's textops module, KEMI names, 1/-1 returns).

Searches (``search``, ``search_body``, ``search_hf``, ``is_present_hf_re``) read the
message as received and are case-insensitive and line-anchored like Kamailio's
(``REG_ICASE|REG_NEWLINE``). Changes apply to the outgoing message: ``subst`` (header
section), ``subst_uri``, ``subst_user``, ``subst_body``, ``subst_hf``, ``replace*``,
``remove_hf*``, ``set_body``, ``append_body_part``. ``subst`` takes sed-like
``/re/repl/flags`` (flags ``i``, ``g``, ``s``; ``\\1`` groups). ``set_reply_body`` keeps a
body for the replies generated for this request (``ctx.extra["reply_body"]``).
Extensions (cfg-only in Kamailio): ``append_hf``, ``insert_hf``, ``append_to_reply``,
``is_method``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from app.module import Module
from modules import _textedit as te
from modules._pvfmt import pv_format
from sip import Request, parse_uri

module = Module("textops", doc="text operations on the message")
log = logging.getLogger("siprouter.textops")
FLAGS = re.I | re.M


def _rc(ok: bool) -> int:
    return 1 if ok else -1


def _rx(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, FLAGS)
    except re.error as exc:
        log.error("textops: bad regular expression %r: %s", pattern, exc)
        return None


def _search(pattern: str, text: str) -> int:
    rx = _rx(pattern)
    return -1 if rx is None else _rc(rx.search(text) is not None)


def _whole(ctx: Any) -> str:
    return bytes(ctx.received).decode("utf-8", "surrogateescape")


def _body(ctx: Any) -> str:
    return ctx.msg.body.decode("utf-8", "surrogateescape")


@module.function("search", "s")
def search(ctx: Any, pattern: str) -> int:
    """1 if the regular expression matches the message."""
    return _search(pattern, _whole(ctx))


@module.function("search_body", "s")
def search_body(ctx: Any, pattern: str) -> int:
    """1 if the regular expression matches the body."""
    return _search(pattern, ctx.received.body.decode("utf-8", "surrogateescape"))


@module.function("search_hf", "sss")
def search_hf(ctx: Any, name: str, pattern: str, flags: str) -> int:
    """1 if a ``name`` header body matches (flags: f first, l last, else any)."""
    values = ctx.received.get_all(name)
    picked = values[:1] if "f" in flags else values[-1:] if "l" in flags else values
    rx = _rx(pattern)
    return _rc(rx is not None and any(rx.search(v) for v in picked))


@module.function("is_present_hf", "s")
def is_present_hf(ctx: Any, name: str) -> int:
    """1 if a header called ``name`` is present."""
    return _rc(name.strip() in ctx.received)


@module.function("is_present_hf_re", "s")
def is_present_hf_re(ctx: Any, pattern: str) -> int:
    """1 if a header name matches the regular expression."""
    rx = _rx(pattern)
    return _rc(rx is not None and any(rx.search(n) for n, _ in ctx.received.items()))


def _subst(ctx: Any, expr: str, text: str) -> tuple[str, int] | None:
    try:
        return te.subst_text(expr, text)
    except te.SubstError as exc:
        log.error("textops: %s", exc)
        return None


@module.function("subst", "s")
def subst(ctx: Any, expr: str) -> int:
    """sed-like ``/re/repl/flags`` on the header section; 1 if something changed."""
    done = _subst(ctx, expr, te.header_text(ctx.msg))
    if not done or not done[1]:
        return -1
    te.rebuild(ctx, headers=done[0])
    return 1


@module.function("subst_uri", "s")
def subst_uri(ctx: Any, expr: str) -> int:
    """sed-like substitution on the R-URI."""
    req = ctx.request
    done = _subst(ctx, expr, req.uri_text) if isinstance(req, Request) else None
    if not done or not done[1]:
        return -1
    try:
        req.uri = parse_uri(done[0])
    except Exception:  # noqa: BLE001
        return -1
    return 1


@module.function("subst_user", "s")
def subst_user(ctx: Any, expr: str) -> int:
    """sed-like substitution on the R-URI user (an empty result removes it)."""
    req = ctx.request
    if not isinstance(req, Request) or not req.uri.is_sip:
        return -1
    done = _subst(ctx, expr, req.uri.user)
    if not done or not done[1]:
        return -1
    req.uri = req.uri.replace(user=done[0])
    return 1


@module.function("subst_body", "s")
def subst_body(ctx: Any, expr: str) -> int:
    """sed-like substitution on the body."""
    done = _subst(ctx, expr, _body(ctx))
    if not done or not done[1]:
        return -1
    te.rebuild(ctx, body=done[0].encode("utf-8", "surrogateescape"))
    return 1


@module.function("subst_hf", "sss")
def subst_hf(ctx: Any, name: str, expr: str, flags: str) -> int:
    """sed-like substitution on ``name`` header bodies (flags: f first, l last, else all)."""
    values = ctx.msg.get_all(name)
    if not values:
        return -1
    idx = [0] if "f" in flags else [len(values) - 1] if "l" in flags else range(len(values))
    changed = 0
    for i in idx:
        done = _subst(ctx, expr, values[i])
        if done and done[1]:
            values[i], changed = done[0], changed + 1
    if changed:
        msg = ctx.editing()
        msg.remove(name)
        for value in values:
            msg.add(name, value)
    return _rc(bool(changed))


def _replace(ctx: Any, pattern: str, repl: str, count: int, body: bool) -> int:
    rx = _rx(pattern)
    if rx is None:
        return -1
    text = _body(ctx) if body else te.header_text(ctx.msg)
    new, n = rx.subn(lambda m: repl, text, count=count)
    if not n:
        return -1
    if body:
        te.rebuild(ctx, body=new.encode("utf-8", "surrogateescape"))
    else:
        te.rebuild(ctx, headers=new)
    return 1


@module.function("replace", "ss")
def replace(ctx: Any, pattern: str, repl: str) -> int:
    """Replace the first match in the header section by ``repl``."""
    return _replace(ctx, pattern, repl, 1, False)


@module.function("replace_all", "ss")
def replace_all(ctx: Any, pattern: str, repl: str) -> int:
    """Replace every match in the header section."""
    return _replace(ctx, pattern, repl, 0, False)


@module.function("replace_body", "ss")
def replace_body(ctx: Any, pattern: str, repl: str) -> int:
    """Replace the first match in the body."""
    return _replace(ctx, pattern, repl, 1, True)


@module.function("replace_body_all", "ss")
def replace_body_all(ctx: Any, pattern: str, repl: str) -> int:
    """Replace every match in the body."""
    return _replace(ctx, pattern, repl, 0, True)


@module.function("replace_body_atonce", "ss")
def replace_body_atonce(ctx: Any, pattern: str, repl: str) -> int:
    """Replace every match in the body (the body as one string)."""
    return _replace(ctx, pattern, repl, 0, True)


def _remove(ctx: Any, match: Any) -> int:
    names = {n for n, _ in ctx.msg.items() if match(n)}
    if not names:
        return -1
    msg = ctx.editing()
    return sum(msg.remove(name) for name in names)


@module.function("remove_hf", "s")
def remove_hf(ctx: Any, name: str) -> int:
    """Remove every ``name`` header (compact forms too); the count, or -1."""
    if name.strip() not in ctx.msg:
        return -1
    return ctx.editing().remove(name.strip())


@module.function("remove_hf_re", "s")
def remove_hf_re(ctx: Any, pattern: str) -> int:
    """Remove the headers whose name matches; the count, or -1."""
    rx = _rx(pattern)
    return -1 if rx is None else _remove(ctx, lambda n: rx.search(n))


@module.function("remove_hf_exp", "ss")
def remove_hf_exp(ctx: Any, pattern: str, skip: str) -> int:
    """Remove headers matching ``pattern`` but not ``skip``."""
    rx, sk = _rx(pattern), _rx(skip)
    if rx is None or sk is None:
        return -1
    return _remove(ctx, lambda n: rx.search(n) and not sk.search(n))


@module.function("has_body")
def has_body(ctx: Any) -> int:
    """1 if the message has a body."""
    return _rc(bool(ctx.received.body))


@module.function("has_body_type", "s")
def has_body_type(ctx: Any, ctype: str) -> int:
    """1 if the message has a body of Content-Type ``ctype`` (type/subtype)."""
    value = (ctx.received.get("content-type") or "").split(";")[0].strip().lower()
    return _rc(bool(ctx.received.body) and value == ctype.strip().lower())


@module.function("is_privacy", "s")
def is_privacy(ctx: Any, value: str) -> int:
    """1 if the Privacy header lists ``value``."""
    items = {v.strip().lower() for h in ctx.received.get_all("privacy") for v in h.split(";")}
    return _rc(value.strip().lower() in items)


@module.function("set_body", "ss")
def set_body(ctx: Any, body: str, ctype: str) -> int:
    """Set the body (and Content-Type)."""
    te.rebuild(ctx, body=pv_format(ctx, body).encode())
    if ctype:
        ctx.msg.replace("Content-Type", ctype)
    return 1


@module.function("set_reply_body", "ss")
def set_reply_body(ctx: Any, body: str, ctype: str) -> int:
    """Body of the replies generated locally for this request."""
    ctx.extra["reply_body"] = (pv_format(ctx, body).encode(), ctype)
    return 1


@module.function("append_body_part", "ss")
def append_body_part(ctx: Any, text: str, ctype: str) -> int:
    """Add a part to the body (a single body becomes multipart/mixed)."""
    from modules._textparts import append_part  # noqa: PLC0415

    return append_part(ctx, pv_format(ctx, text).encode(), ctype, None)


@module.function("append_body_part_cd", "sss")
def append_body_part_cd(ctx: Any, text: str, ctype: str, disposition: str) -> int:
    """append_body_part() with a Content-Disposition."""
    from modules._textparts import append_part  # noqa: PLC0415

    return append_part(ctx, pv_format(ctx, text).encode(), ctype, disposition)


from modules import _textops_more as _more  # noqa: E402,F401 - declares the rest
