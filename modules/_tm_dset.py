"""Helpers of the tm module: the destination set for serial forking (``t_load_contacts`` /
``t_next_contacts``, RFC 3261 §16.6 and the q-value ordering of §16.6 item 1) and the tests on
a transaction's branches (``t_any_timeout``, ``t_branch_replied``, ``t_check_status`` ...).

Loaded contacts are kept with the transaction (``ctx.extra["tm_contacts"]``, Kamailio keeps
them in the ``tm_contacts`` xavp): groups of equal q, highest first.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

from app.context import Branch, Ctx
from app.stateful_out import CONSUMED, destinations
from app.tm_cell import Cell
from sip import Response, parse_uri

log = logging.getLogger("siprouter.tm")
CONTACTS = "tm_contacts"
Q_UNSPECIFIED = -1.0


def cell_of(ctx: Ctx) -> Cell | None:
    """The transaction of the context (None: no transaction)."""
    cell: Cell | None = ctx.extra.get("tm_cell")
    return cell


def stateful_of(ctx: Ctx) -> Any:
    """The worker's stateful core (:class:`app.stateful.Stateful`), None without a core."""
    return ctx.core.stateful if ctx.core is not None else None


def _q(branch: Branch) -> float:
    return Q_UNSPECIFIED if branch.q is None else branch.q


def load_contacts(ctx: Ctx) -> int:
    """Order branch 0 and the appended branches by q into groups of equal q (1; nothing to
    do when there is one destination or all q are equal)."""
    dests = destinations(ctx)
    if len(dests) <= 1 or len({_q(d) for d in dests}) == 1:
        return 1
    dests.sort(key=_q, reverse=True)
    groups: list[list[Branch]] = []
    for dest in dests:
        if groups and _q(groups[-1][0]) == _q(dest):
            groups[-1].append(dest)
        else:
            groups.append([dest])
    ctx.extra[CONTACTS] = groups
    ctx.branches.clear()
    return 1


def next_contacts(ctx: Ctx) -> int:
    """Take the next q group: its first contact becomes branch 0 (R-URI, ``$du``, Path,
    flags), the others appended branches. -1 when no group is left."""
    groups: list[list[Branch]] | None = ctx.extra.get(CONTACTS)
    if groups is None:
        return 1 if ctx.route == "request_route" else -1
    if not groups:
        return -1
    first, *rest = groups.pop(0)
    req = ctx.request
    if req is None:
        return -1
    try:
        req.uri = parse_uri(first.uri)
    except ValueError as exc:
        log.error("t_next_contacts: bad contact %r: %s", first.uri, exc)
        return -1
    ctx.dst_uri, ctx.path, ctx.q = first.dst_uri, list(first.path), first.q
    ctx.bflags[0] = first.flags
    ctx.branches[:] = rest
    ctx.extra.pop(CONSUMED, None)
    return 1


# -- branch tests -------------------------------------------------------------------------------
def failed_branch(ctx: Ctx) -> Any:
    """The branch that ended the last step (failure route), else None."""
    cell = cell_of(ctx)
    if cell is None or not 0 <= cell.failed_branch < len(cell.branches):
        return None
    return cell.branches[cell.failed_branch]


def reply_code(ctx: Ctx) -> int:
    """``$T_reply_code``: the reply being routed, the winning reply in a failure route, else
    the last reply sent statefully; 0 if none."""
    if isinstance(ctx.msg, Response):
        return ctx.msg.status
    cell = cell_of(ctx)
    if cell is None:
        return 0
    if ctx.route == "failure_route" and cell.winner is not None:
        return cell.winner.status
    return cell.last_status


def reply_reason(ctx: Ctx) -> str | None:
    """``$T_reply_reason``, like :func:`reply_code`."""
    if isinstance(ctx.msg, Response):
        return ctx.msg.reason
    cell = cell_of(ctx)
    if cell is None:
        return None
    if ctx.route == "failure_route" and cell.winner is not None:
        return cell.winner.reason
    return cell.reason or None


@lru_cache(maxsize=256)
def _regex(text: str) -> re.Pattern[str] | None:
    try:
        return re.compile(text)
    except re.error as exc:
        log.error("t_check_status: bad regular expression %r: %s", text, exc)
        return None


def check_status(ctx: Ctx, regex: str) -> int:
    """1 if ``$T_reply_code`` matches ``regex`` (POSIX regexec: anywhere), else -1."""
    pattern = _regex(regex)
    code = reply_code(ctx)
    return 1 if pattern is not None and code and pattern.search(str(code)) else -1


def branch_index(ctx: Ctx) -> int:
    """``$T_branch_idx``: the branch of a branch route or a reply, the failed branch in a
    failure route, else 0."""
    idx = ctx.extra.get("tm_branch")
    if isinstance(idx, int) and idx >= 0:
        return idx
    cell = cell_of(ctx)
    if cell is not None and ctx.route == "failure_route" and cell.failed_branch >= 0:
        return cell.failed_branch
    return 0
