"""Transaction matching (RFC 3261 §17.1.3, §17.2.3, §9.2).

- Responses match a client transaction by the top Via ``branch`` and the CSeq method
  (§17.1.3): the key is ``TxKey("c", branch, "", method)``.
- Requests whose top Via branch starts with the magic cookie ``z9hG4bK`` match a server
  transaction by branch, top Via sent-by and method, ACK counting as INVITE (§17.2.3).
- Other requests (RFC 2543 peers) fall back to the last paragraphs of §17.2.3: Request-URI,
  From tag, Call-ID, CSeq number and the top Via; the To tag is compared apart
  (:func:`to_tag_matches`) because an ACK carries the To tag of our response, not the
  INVITE's.
- A CANCEL is its own transaction; the INVITE it cancels has the same key with the method
  INVITE (:func:`cancelled_key`, §9.2).
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from .message import Message, Request, Response

__all__ = ["MAGIC_COOKIE", "TxKey", "client_key", "server_key", "cancelled_key", "response_key"]

MAGIC_COOKIE = "z9hG4bK"


class TxKey(NamedTuple):
    """Identifies one transaction. ``side`` is ``"c"`` (client) or ``"s"`` (server);
    ``branch`` is the Via branch, or ``"2543:<hash>"`` for a pre-RFC 3261 peer."""

    side: str
    branch: str
    sent_by: str
    method: str

    def __str__(self) -> str:
        return f"{self.side}:{self.branch}:{self.sent_by}:{self.method}"


def _key(side: str, branch: str, sent_by: str, method: str) -> TxKey:
    """``TxKey(...)`` without NamedTuple's Python-level ``__new__`` (a key per message)."""
    return tuple.__new__(TxKey, (side, branch, sent_by, method))


def client_key(request: Request) -> TxKey:
    """Key of the client transaction created by sending ``request`` (branch must be set)."""
    return _key("c", request.branch or "", "", request.method)


def response_key(response: Response) -> TxKey:
    """Key of the client transaction a received response belongs to (§17.1.3)."""
    cseq = response.cseq
    return _key("c", response.branch or "", "", cseq.method if cseq else "")


def server_key(request: Message, method: str | None = None) -> TxKey:
    """Key of the server transaction a received request (or a response we send) matches.

    ``method`` overrides the method (ACK → INVITE is done here already). The key is kept
    with the message's derived views (dropped on any edit): a proxy asks for it several
    times per request (retransmission check, t_check_trans, t_newtran, the layer).
    """
    if method is not None:
        return _server_key(request, method)
    cache = request._cache
    key: TxKey | None = cache.get("server_key")
    if key is None:
        key = cache["server_key"] = _server_key(request, _method(request))
    return key


def _server_key(request: Message, method: str) -> TxKey:
    if method == "ACK":
        method = "INVITE"
    via = request.via
    branch = via.branch if via is not None else None
    if branch and branch.startswith(MAGIC_COOKIE):
        return _key("s", branch, via.sent_by.lower() if via else "", method)
    return _key("s", "2543:" + _fallback_hash(request), "", method)


def cancelled_key(cancel: Request) -> TxKey:
    """Key of the INVITE server transaction a CANCEL refers to (§9.2)."""
    return server_key(cancel, "INVITE")


def to_tag_matches(
    request: Request, invite_to_tag: str | None, response_to_tag: str | None
) -> bool:
    """The To tag rule of the RFC 2543 fallback (§17.2.3): an ACK carries the tag of our
    response, other requests the tag of the INVITE."""
    tag = request.to_tag
    if request.method == "ACK":
        return tag in (response_to_tag, invite_to_tag)
    return tag == invite_to_tag


def _method(msg: Message) -> str:
    if isinstance(msg, Request):
        return msg.method
    cseq = msg.cseq
    return cseq.method if cseq else ""


def _fallback_hash(msg: Message) -> str:
    """Request-URI, From tag, Call-ID, CSeq number and top Via (the To tag is apart)."""
    uri = msg.uri_text if isinstance(msg, Request) else ""
    cseq = msg.cseq
    top = msg.get("via") or ""
    top = top.split(",")[0].strip()
    parts = (uri, msg.from_tag or "", msg.call_id or "", str(cseq.seq if cseq else ""), top)
    return hashlib.blake2b(
        "\x00".join(parts).encode("utf-8", "surrogateescape"), digest_size=12
    ).hexdigest()
