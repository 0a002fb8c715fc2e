"""sanity: syntax and semantic checks of a SIP message (Kamailio's sanity module).

``sanity_check(mflags, uflags)`` runs the checks selected by ``mflags`` (bits below) in
Kamailio's order; on the first failure it answers the request itself (unless the
``noreply`` modparam is set, the message is a reply or an ACK) and returns -1 -- Kamailio
5.6 returns -1 through KEMI whatever ``autodrop`` says. ``uflags`` chooses the URIs of
check 1024: 1 R-URI, 2 From, 4 To, 8 Contact. ``sanity_reply()`` sends the reply a check
prepared when ``noreply`` is set.

Bits: 1 R-URI SIP version (505), 2 R-URI scheme (416), 4 required headers, 8 Via SIP
version (505), 16 Via protocol (accepted, as Kamailio), 32 CSeq method, 64 CSeq value,
128 Content-Length, 256 Expires, 512 Proxy-Require (420 with Unsupported), 1024 URIs,
2048 digest credentials, 4096 duplicate From/To tags, 8192 Authorization username,
16384 top Via, 32768 RFC 3261 rules (Max-Forwards and Via branch of a request), 65536 sizes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from app.module import Module
from modules import _sanity_checks as chk

module = Module("sanity", doc="message sanity checks")
module.param("default_checks", int, 3047, doc="checks of sanity_check_defaults()")
module.param("uri_checks", int, 7, doc="URIs of sanity_check_defaults()")
module.param("proxy_require", str, "", doc="comma-separated supported extensions")
module.param("autodrop", int, 1, doc="accepted (KEMI returns -1 either way)")
module.param("noreply", int, 0, doc="1: do not reply on failure (see sanity_reply)")

log = logging.getLogger("siprouter.sanity")
REPLY_KEY = "sanity_reply"

CHECKS: list[tuple[int, Callable[..., chk.Failure | None]]] = [
    (1, chk.ruri_version),
    (2, chk.ruri_scheme),
    (4, chk.required_headers),
    (8, chk.via_version),
    (16, chk.via_protocol),
    (32, chk.cseq_method),
    (64, chk.cseq_value),
    (128, chk.content_length),
    (256, chk.expires),
    (512, chk.proxy_require),
    (1024, chk.uris),
    (2048, chk.digest),
    (4096, chk.duplicate_tags),
    (8192, chk.authorization),
    (16384, chk.via1),
    (32768, chk.rfc3261),
    (65536, chk.sizes),
]


def _supported() -> set[str]:
    text = str(module.cfg["proxy_require"] or "")
    return {t.strip().lower() for t in text.split(",") if t.strip()}


def run_checks(ctx: Any, mflags: int, uflags: int) -> chk.Failure | None:
    """The first failing check of ``mflags``, or None."""
    msg = ctx.received
    for bit, check in CHECKS:
        if not mflags & bit:
            continue
        try:
            failure = check(msg, uflags=uflags, supported=_supported())
        except Exception as exc:  # noqa: BLE001 - a header that breaks a parser fails the check
            failure = chk.Failure(400, f"Bad Message ({exc.__class__.__name__})")
        if failure is not None:
            return failure
    return None


def _send(ctx: Any, failure: chk.Failure) -> bool:
    req = ctx.request
    if req is None or req.method == "ACK" or ctx.core is None:
        return False
    return bool(ctx.core.reply(ctx, failure.code, failure.reason, headers=failure.headers))


@module.function("sanity_check", "ii")
def sanity_check(ctx: Any, mflags: int, uflags: int) -> int:
    """Run the checks; 1 passed, -1 failed (answered unless noreply)."""
    failure = run_checks(ctx, mflags or int(module.cfg["default_checks"]), uflags)
    if failure is None:
        return 1
    log.info("sanity check failed: %d %s (Call-ID %s)", failure.code, failure.reason, ctx.call_id)
    if module.cfg["noreply"]:
        ctx.extra[REPLY_KEY] = failure
    else:
        _send(ctx, failure)
    return -1


@module.function("sanity_check_defaults")
def sanity_check_defaults(ctx: Any) -> int:
    """sanity_check(default_checks, uri_checks)."""
    return sanity_check(ctx, int(module.cfg["default_checks"]), int(module.cfg["uri_checks"]))


@module.function("sanity_reply")
def sanity_reply(ctx: Any) -> int:
    """Send the reply prepared by a failed check (noreply mode); 1 sent, -1 nothing to send."""
    failure = ctx.extra.pop(REPLY_KEY, None)
    if failure is None:
        return -1
    return 1 if _send(ctx, failure) else -1
