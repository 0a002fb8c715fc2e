"""Dialog identifiers, route sets and in-dialog requests (RFC 3261 §12).

- :class:`DialogId` — Call-ID, local tag, remote tag (§12); :func:`uac_dialog_id` and
  :func:`uas_dialog_id` read them from a message seen by either side;
- route sets (§12.1.1, §12.1.2): the UAS keeps Record-Route in order, the UAC reversed;
- :func:`in_dialog_routing` — Request-URI and Route of a request inside a dialog, loose or
  strict first hop (§12.2.1.1);
- :class:`Dialog` — the state of §12.1 with :meth:`Dialog.make_request` (§12.2.1.1),
  :meth:`Dialog.accept_remote_cseq` (§12.2.2) and target refresh (§12.2.1.2, §12.2.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from .errors import RemoteProtocolError
from .headers import NameAddr, parse_name_addr
from .message import Message, Request, Response
from .uri import URI

__all__ = [
    "DialogId", "uac_dialog_id", "uas_dialog_id", "uac_route_set", "uas_route_set",
    "in_dialog_routing", "Dialog",
]  # fmt: skip


class DialogId(NamedTuple):
    """A dialog's identity from one side's point of view (§12)."""

    call_id: str
    local_tag: str
    remote_tag: str

    def reversed(self) -> DialogId:
        """The same dialog seen from the other side."""
        return DialogId(self.call_id, self.remote_tag, self.local_tag)


def uac_dialog_id(msg: Message) -> DialogId:
    """The UAC's id: local = From tag, remote = To tag (§12.1.2)."""
    return DialogId(msg.call_id or "", msg.from_tag or "", msg.to_tag or "")


def uas_dialog_id(msg: Message) -> DialogId:
    """The UAS's id: local = To tag, remote = From tag (§12.1.1)."""
    return DialogId(msg.call_id or "", msg.to_tag or "", msg.from_tag or "")


def uas_route_set(request: Request) -> list[str]:
    """Record-Route of the request, in order (§12.1.1)."""
    return [str(na) for na in request.record_routes]


def uac_route_set(response: Response) -> list[str]:
    """Record-Route of the response, reversed (§12.1.2)."""
    return [str(na) for na in reversed(response.record_routes)]


def _uri_of(value: str) -> URI:
    return parse_name_addr(value).uri


def in_dialog_routing(route_set: list[str], remote_target: URI) -> tuple[URI, list[str]]:
    """Request-URI and Route values of an in-dialog request (§12.2.1.1): empty route set →
    the remote target, no Route; loose first hop → the remote target and the whole route
    set; strict first hop → its URI (without headers and ``method``, not allowed there) as
    Request-URI,
    the rest of the route set then the remote target as Route."""
    if not route_set:
        return remote_target, []
    first = _uri_of(route_set[0])
    if first.has_param("lr"):
        return remote_target, list(route_set)
    uri = first.replace(headers=None).without_params(("method",))  # §19.1.1 Table 1
    return uri, list(route_set[1:]) + [f"<{remote_target}>"]


def _contact_uri(msg: Message) -> URI | None:
    contacts = msg.contacts
    return contacts[0].uri if contacts else None


@dataclass
class Dialog:
    """Dialog state (§12.1): identity, sequence numbers, URIs, remote target, route set."""

    id: DialogId
    local_uri: str
    remote_uri: str
    remote_target: URI
    route_set: list[str] = field(default_factory=list)
    local_seq: int | None = None
    remote_seq: int | None = None
    secure: bool = False

    @classmethod
    def from_uac(cls, request: Request, response: Response) -> Dialog:
        """The UAC's dialog, from its request and a 101-199 (with To tag) or 2xx (§12.1.2)."""
        target = _contact_uri(response)
        if (
            target is None
            or response.to_tag is None
            or response.to is None
            or request.from_ is None
        ):
            raise RemoteProtocolError("a dialog-creating response needs a To tag and a Contact")
        cseq = request.cseq
        secure = request.uri.scheme == "sips"
        return cls(uac_dialog_id(response), _bare(request.from_), _bare(response.to), target,
                   uac_route_set(response), cseq.seq if cseq else 0, None, secure)  # fmt: skip

    @classmethod
    def from_uas(cls, request: Request, local_tag: str) -> Dialog:
        """The UAS's dialog, from the dialog-creating request and our To tag (§12.1.1)."""
        target = _contact_uri(request)
        if target is None or request.to is None or request.from_ is None:
            raise RemoteProtocolError("a dialog-creating request needs a Contact")
        cseq = request.cseq
        did = DialogId(request.call_id or "", local_tag, request.from_tag or "")
        secure = request.uri.scheme == "sips"
        return cls(did, _bare(request.to), _bare(request.from_), target,
                   uas_route_set(request), None, cseq.seq if cseq else None, secure)  # fmt: skip

    def make_request(
        self, method: str, via: str, *, seq: int | None = None, max_forwards: int = 70
    ) -> Request:
        """A request inside the dialog (§12.2.1.1). The CSeq number is the next local one
        unless ``seq`` is given (ACK and CANCEL reuse the INVITE's)."""
        if seq is None:
            seq = self.local_seq = (self.local_seq or 0) + 1
        uri, routes = in_dialog_routing(self.route_set, self.remote_target)
        headers = [("Via", via), ("Max-Forwards", str(max_forwards))]
        headers += [("Route", r) for r in routes]
        headers += [("From", _tagged(self.local_uri, self.id.local_tag))]
        headers += [("To", _tagged(self.remote_uri, self.id.remote_tag))]
        headers += [("Call-ID", self.id.call_id), ("CSeq", f"{seq} {method}")]
        return Request(method, uri, headers)

    def accept_remote_cseq(self, request: Request) -> bool:
        """§12.2.2: a CSeq lower than the last one is out of order (answer 500); otherwise
        remember it. ACK and CANCEL reuse their INVITE's number and are always accepted."""
        cseq = request.cseq
        if cseq is None or request.method in ("ACK", "CANCEL"):
            return True
        if self.remote_seq is not None and cseq.seq < self.remote_seq:
            return False
        self.remote_seq = cseq.seq
        return True

    def refresh_target(self, msg: Message) -> None:
        """Target refresh (§12.2.1.2, §12.2.2): a Contact in a target refresh request or
        its 2xx replaces the remote target."""
        target = _contact_uri(msg)
        if target is not None:
            self.remote_target = target


def _bare(na: NameAddr) -> str:
    """The name-addr without its tag (kept apart in the dialog id)."""
    params = tuple(p for p in na.params if p[0].lower() != "tag")
    return str(na.replace(params=params, raw=None))


def _tagged(uri: str, tag: str) -> str:
    return f"{uri};tag={tag}" if tag else uri
