"""The SIP message model, the datagram parser and the serializer (RFC 3261 §7, §18.3, §20).

Parsing is lazy, because a proxy reads a handful of headers of each message: ``parse``
reads the start line and matches the header section once (see :mod:`sip.section`), and
nothing more. Header lines are kept as written (their exact bytes, folding included) and
typed views (Via, CSeq, From/To, the Request-URI, ...) are parsed on first access and
cached. :meth:`Message.validate` parses everything a proxy depends on and checks RFC 3261's
rules (mandatory and single-valued headers, CSeq method, Content-Length), raising
:class:`RemoteProtocolError` with the status to answer.

Headers form an ordered, case-insensitive multimap that understands compact forms
(``v`` = Via, ``i`` = Call-ID, ...). Edits rewrite only the lines they touch, so
``bytes(msg)`` re-emits every untouched header byte for byte; setting ``body`` keeps
Content-Length right. Text is decoded as UTF-8 with ``surrogateescape`` so any bytes survive
a round trip; the body stays ``bytes``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ._text import METHODS, is_digits, is_token
from .digest import parse_auth
from .errors import LocalProtocolError, RemoteProtocolError
from .headers import (
    ContentType,
    CSeq,
    NameAddr,
    Via,
    check_via,
    parse_content_type,
    parse_cseq,
    parse_name_addr,
    parse_name_addrs,
    parse_via,
    parse_vias,
    split_commas,
)
from .section import (
    _PATTERNS,
    COMPACT,
    FOLD_RE,
    P_CALL_ID,
    P_CSEQ,
    P_FROM,
    P_TO,
    PLAIN_NAMES,
    SECTION_END,
    SLOW,
    HeaderSection,
    _check_header,
    _pattern,
)
from .status import reason_phrase
from .uri import URI, parse_uri

__all__ = [
    "Limits", "DEFAULT_LIMITS", "Message", "Request", "Response", "make_response",
]  # fmt: skip

#: headers that may appear once only (RFC 3261 §7.3.1: not comma-list headers)
_SINGLE = ("call-id", "from", "to", "cseq", "max-forwards", "content-length", "content-type")
_AUTH_HEADERS = ("authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate")
_MANDATORY = ("to", "from", "cseq", "call-id", "via")


@dataclass(frozen=True)
class Limits:
    """Bounds on what a peer may send (checked by ``parse`` and the stream framer)."""

    max_message: int = 65535
    max_header_bytes: int = 16384
    max_headers: int = 200
    max_body: int = 65535


DEFAULT_LIMITS = Limits()


class Message(HeaderSection):
    """Common part of requests and responses: the header section, typed views, the body."""

    __slots__ = ("_body", "transport_hint")

    _body: bytes

    def __init__(self, headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> None:
        self._set_text(SECTION_END, False)
        self._body = b""
        self.transport_hint: str | None = None
        for name, value in headers or ():
            self.add(name, value)
        if body:
            self.body = body

    # -- body ------------------------------------------------------------------------------
    @property
    def body(self) -> bytes:
        return self._body

    @body.setter
    def body(self, value: bytes) -> None:
        self._body = bytes(value)
        self.replace("Content-Length", str(len(self._body)))

    # -- typed views (parsed once, cached until an edit) --------------------------------------
    def _view(self, key: str, name: str, parser: Any) -> Any:
        cache = self._cache
        if key in cache:
            return cache[key]
        value = self._get(_PATTERNS.get(name) or _pattern(name))
        view = None if value is None else parser(value)
        cache[key] = view
        return view

    # The six fields every proxy reads of every message come from the groups of PLAIN_RE
    # (see sip.section), matched once per text of the header section; anything unusual
    # (a section that is not plain, odd values) is left to the general look-ups and views,
    # which are exact.
    def _core_fields(self) -> tuple[Any, ...]:
        """(branch, From tag, To tag, Call-ID, CSeq, Max-Forwards), each a value, None when
        the header is absent, or ``SLOW``; computed once per text of the header section."""
        m = self._plain or self._match_plain()
        if m is None:
            self._core = core = _ALL_SLOW
            return core
        via, frm, to, call_id, cseq, mf, _ = m.groups()
        call_id = call_id and call_id.strip()  # None (absent) stays None
        self._core = core = (_branch(via), _tag(frm), _tag(to), call_id, _cseq(cseq), _mf(mf))
        return core

    @property
    def call_id(self) -> str | None:
        value = (self._core or self._core_fields())[3]
        return self._get(P_CALL_ID) if value is SLOW else value

    @property
    def cseq(self) -> CSeq | None:
        value = (self._core or self._core_fields())[4]
        if value is not SLOW:
            return value  # type: ignore[no-any-return]
        return self._view("cseq", "cseq", parse_cseq)  # type: ignore[no-any-return]

    @property
    def from_(self) -> NameAddr | None:
        return self._view("from", "from", parse_name_addr)  # type: ignore[no-any-return]

    @property
    def to(self) -> NameAddr | None:
        return self._view("to", "to", parse_name_addr)  # type: ignore[no-any-return]

    @property
    def from_tag(self) -> str | None:
        """The From tag (found in one pass; the full view is :attr:`from_`)."""
        value = (self._core or self._core_fields())[1]
        if value is not SLOW:
            return value  # type: ignore[no-any-return]
        view = self.from_
        return None if view is None else view.tag

    @property
    def to_tag(self) -> str | None:
        """The To tag (found in one pass; the full view is :attr:`to`)."""
        value = (self._core or self._core_fields())[2]
        if value is not SLOW:
            return value  # type: ignore[no-any-return]
        view = self.to
        return None if view is None else view.tag

    @property
    def branch(self) -> str | None:
        """The top Via's branch (found in one pass; the full view is :attr:`via`)."""
        value = (self._core or self._core_fields())[0]
        if value is not SLOW:
            return value  # type: ignore[no-any-return]
        via = self.via
        return None if via is None else via.branch

    @property
    def via(self) -> Via | None:
        """The top Via value."""
        return self._view("via", "via", _top_via)  # type: ignore[no-any-return]

    @property
    def vias(self) -> list[Via]:
        if "vias" not in self._cache:
            self._cache["vias"] = [v for value in self.get_all("via") for v in parse_vias(value)]
        return self._cache["vias"]  # type: ignore[no-any-return]

    def _name_addrs(self, name: str) -> list[NameAddr]:
        if name not in self._cache:
            self._cache[name] = [a for v in self.get_all(name) for a in parse_name_addrs(v)]
        return self._cache[name]  # type: ignore[no-any-return]

    @property
    def contacts(self) -> list[NameAddr]:
        """Contact values; empty for ``Contact: *`` (see :attr:`contact_star`)."""
        return [] if self.contact_star else self._name_addrs("contact")

    @property
    def contact_star(self) -> bool:
        return self.get_all("contact") == ["*"]

    @property
    def routes(self) -> list[NameAddr]:
        return self._name_addrs("route")

    @property
    def record_routes(self) -> list[NameAddr]:
        return self._name_addrs("record-route")

    @property
    def max_forwards(self) -> int | None:
        value = (self._core or self._core_fields())[5]
        if value is not SLOW:
            return value  # type: ignore[no-any-return]
        return self._view("mf", "max-forwards", parse_uint)  # type: ignore[no-any-return]

    @property
    def content_length(self) -> int | None:
        return self._view("cl", "content-length", parse_uint)  # type: ignore[no-any-return]

    @property
    def content_type(self) -> ContentType | None:
        return self._view("ct", "content-type", parse_content_type)  # type: ignore[no-any-return]

    @property
    def expires(self) -> int | None:
        """Expires header in seconds; values above 2**32-1 are capped (RFC 3261 §20.19)."""
        return self._view("exp", "expires", lambda v: min(parse_uint(v), 2**32 - 1))  # type: ignore[no-any-return]

    # -- validation --------------------------------------------------------------------------
    def check(self) -> None:
        """The checks a proxy makes of every message before routing it (Kamailio parses the
        same headers before the script runs): Via, From, To, Call-ID and CSeq present and
        well formed, Max-Forwards a number; raises RemoteProtocolError (status set). The other
        headers are left to their views (and to :meth:`validate` or the sanity module)."""
        if not self.call_id or self.cseq is None:  # CSeq parsed: may raise
            raise RemoteProtocolError("missing Call-ID or CSeq header")
        via, frm, to = self.via, self.from_, self.to  # first values, parsed
        if via is None or frm is None or to is None:
            raise RemoteProtocolError("missing Via, From or To header")
        check_via(via)
        _ = self.max_forwards  # a number, when present
        if self._plain or self._match_plain():
            return  # a plain section has none of the single headers twice
        low = self._low or self._lowered()
        for pats in _UNIQUE:  # RFC 3261 §7.3.1: these may not repeat (RFC 4475 multi01)
            if (self._compact or self._folded) and len(self._spans_of(pats)) > 1:
                raise RemoteProtocolError(f"more than one {pats[0][2:]} header")
            if low.count(pats[0] + ":") + low.count(pats[0] + " ") > 1:
                raise RemoteProtocolError(f"more than one {pats[0][2:]} header")

    def validate(self) -> None:
        """Parse and check every header and RFC 3261's rules (mandatory and single-valued
        headers, header names); raises RemoteProtocolError (status set)."""
        counts: dict[str, int] = {}
        lines = self.raw_lines()
        written = [line.partition(":")[0].rstrip() for line in lines]
        if not all(written) or not is_token("".join(written)) or not all(":" in x for x in lines):
            raise RemoteProtocolError("bad header name or header line without a colon")
        for name in written:
            key = name.lower()
            key = COMPACT.get(key, key)
            counts[key] = counts.get(key, 0) + 1
        for name in _SINGLE:
            if counts.get(name, 0) > 1:
                raise RemoteProtocolError(f"more than one {name} header")
        for name in _MANDATORY:
            if name not in counts:
                raise RemoteProtocolError(f"missing {name} header")
        _ = (self.cseq, self.from_, self.to, self.vias, self.max_forwards, self.content_type)
        _ = (self.contacts, self.routes, self.record_routes, self.expires)
        for via in self.vias:
            check_via(via)
        for name in _AUTH_HEADERS:
            for value in self.get_all(name):
                parse_auth(value)

    # -- output ----------------------------------------------------------------------------
    def start_line(self) -> str:
        raise LocalProtocolError("a bare Message has no start line")

    def serialize(self) -> bytes:
        head = self.start_line() + self._hdr
        return head.encode("utf-8", "surrogateescape") + self._body

    def __bytes__(self) -> bytes:
        return self.serialize()

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        """Pickle (and copy.copy) as the message's bytes, parsed again when loaded
        (``transport_hint`` is not kept)."""
        return _unpickle, (self.serialize(),)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return (
            self.start_line() == other.start_line()
            and self._hdr == other._hdr
            and self._body == other._body
        )

    __hash__ = None  # type: ignore[assignment]

    def copy(self) -> Message:
        """An independent copy (the text and the derived views are immutable, so shared)."""
        new = self._bare_copy()
        new._hdr, new._unf, new._low, new._compact = (
            self._hdr,
            self._unf,
            self._low,
            self._compact,
        )
        new._folded, new._core, new._plain = self._folded, self._core, self._plain
        new._body, new.transport_hint = self._body, self.transport_hint
        new._cache = dict(self._cache)  # views are immutable: shared until an edit
        return new

    def _bare_copy(self) -> Message:
        """A message with this one's start line (a bare Message has none); :meth:`copy`
        installs the header section and body."""
        return Message()


class Request(Message):
    """A SIP request (RFC 3261 §7.1)."""

    __slots__ = ("method", "_uri_text", "version")

    def __init__(
        self,
        method: str,
        uri: URI | str,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        version: str = "SIP/2.0",
        *,
        _bare: bool = False,
    ) -> None:
        """``_bare``: set the start line only, unchecked; the caller (the parser, copy)
        installs the header section and body."""
        self.method = method
        self.version = version
        self._uri_text = str(uri)
        if _bare:
            return
        if not is_token(method):
            raise LocalProtocolError(f"bad method {method!r}")
        super().__init__(headers, body)
        if isinstance(uri, URI):
            self._cache["uri"] = uri

    @property
    def uri(self) -> URI:
        """The Request-URI, parsed on first access (settable with a URI or a string)."""
        cache = self._cache
        u = cache.get("uri")
        if u is None:
            u = cache["uri"] = parse_uri(self._uri_text)
        return u

    @uri.setter
    def uri(self, value: URI | str) -> None:
        self._uri_text = str(value)
        self._cache.pop("uri", None)
        if isinstance(value, URI):
            self._cache["uri"] = value

    @property
    def uri_text(self) -> str:
        return self._uri_text

    def start_line(self) -> str:
        return f"{self.method} {self._uri_text} {self.version}"

    def _bare_copy(self) -> Message:
        return Request(self.method, self._uri_text, version=self.version, _bare=True)

    def check(self) -> None:
        super().check()
        self._check_request()

    def validate(self) -> None:
        super().validate()
        self._check_request()

    def _check_request(self) -> None:
        uri = self.uri
        if uri.is_sip and uri.headers is not None:
            raise RemoteProtocolError("headers are not allowed in a Request-URI")
        cseq = self.cseq
        if cseq is not None and cseq.method != self.method:
            status = 400 if self.method in METHODS else 501
            raise RemoteProtocolError("CSeq method does not match the request method", status)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self._uri_text}>"


class Response(Message):
    """A SIP response (RFC 3261 §7.2)."""

    __slots__ = ("status", "reason", "version")

    def __init__(
        self,
        status: int,
        reason: str = "",
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        version: str = "SIP/2.0",
        *,
        _bare: bool = False,
    ) -> None:
        """``_bare``: as :class:`Request`'s."""
        self.status = status
        self.reason = reason
        self.version = version
        if _bare:
            return
        if not 100 <= status <= 699:
            raise LocalProtocolError(f"bad status {status}")
        super().__init__(headers, body)

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def _bare_copy(self) -> Message:
        return Response(self.status, self.reason, version=self.version, _bare=True)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


_UNIQUE = (P_CALL_ID, P_CSEQ, P_FROM, P_TO)
_ALL_SLOW = (SLOW,) * 6  # every core field to find the long way (see Message._core_fields)


def _branch(via: str | None) -> Any:
    """The branch of the first Via value, when it is plainly written."""
    if via is None:
        return None
    if "," in via:  # several values on the line (as sipp's [last_Via:] writes them)
        if '"' in via:
            return SLOW
        via = via[: via.find(",")]
    _, found, rest = via.partition(";branch=")  # partition: no argument tuple to parse
    if not found:
        return None if ";" not in via else SLOW
    return rest.partition(";")[0].strip() or SLOW


def _tag(value: str | None) -> Any:
    """The tag parameter of a From/To value, when it is plainly written."""
    if value is None:
        return None
    _, found, rest = value.rpartition(">")[2].partition(";tag=")  # after the last ">"
    if not found:
        return None if ";" not in value else SLOW
    return rest.partition(";")[0].strip() or SLOW


def _cseq(value: str | None) -> Any:
    if value is None:
        return None
    num, _, method = value.partition(" ")
    if method in METHODS and len(num) < 10 and num.isdigit() and num.isascii():
        return tuple.__new__(CSeq, (int(num), method))
    return SLOW


def _mf(value: str | None) -> Any:
    if value is None:
        return None
    return int(value) if len(value) < 10 and value.isdigit() and value.isascii() else SLOW


def _top_via(value: str) -> Via:
    """The first Via value of a line (the others are parsed by :attr:`Message.vias`)."""
    comma = value.find(",")
    if comma < 0:
        return parse_via(value)
    if '"' in value:  # a comma may be quoted: split exactly
        return parse_vias(value)[0]
    first = value[:comma].strip()
    if not first:
        raise RemoteProtocolError(f"empty Via element in {value!r}")
    return parse_via(first)


def _unpickle(data: bytes) -> Message:
    from .parser import parse  # sip.parser imports this module

    return parse(data, datagram=True)


def parse_uint(value: str) -> int:
    if not is_digits(value):
        raise RemoteProtocolError(f"expected a number, got {value!r}")
    return int(value)


#: the header lines a response copies: Via, From, To, Call-ID, CSeq (full or compact names,
#: folding kept)
_COPY_RE = re.compile(
    r"\r\n(?:[Vv](?>(?:[Ii][Aa])?)|[Ff](?>(?:[Rr][Oo][Mm])?)|[Tt][Oo]?+|[Cc][Aa][Ll][Ll]-[Ii][Dd]"
    r"|[Ii]|[Cc][Ss][Ee][Qq])[ \t]*+:[^\r]*+(?>(?:\r\n[ \t][^\r]*+)*)"
)
_TO_LINE_RE = re.compile(r"\r\n[Tt][Oo]?+[ \t]*+:")
_VIA_LINE_RE = re.compile(r"\r\n[Vv](?>(?:[Ii][Aa])?)[ \t]*+:")
_VIA_GROUP, _TO_GROUP = PLAIN_NAMES.index("via") + 1, PLAIN_NAMES.index("to") + 1


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    top_via: str | None = None,
) -> Response:
    """A response to ``request`` per RFC 3261 §8.2.6.2: Via (all values, in order), From,
    To, Call-ID and CSeq copied; ``to_tag`` added to To unless it already has one (never on
    100 Trying); Record-Route copied for 18x/2xx to dialog-creating requests is the caller's
    choice (pass it in ``headers``). Content-Length is always set (last). ``top_via``
    replaces the first Via value (``received``/``rport`` filled in, §18.2.1)."""
    copied = "".join(_COPY_RE.findall(request._hdr))
    plain = request._plain  # the parser's match, when the request's section is plain
    if to_tag and status > 100 and request.to_tag is None:
        copied = _tagged_to(copied, to_tag, _plain_line(request, plain, _TO_GROUP))
    if top_via is not None:
        _check_header("Via", top_via)
        copied = _with_top_via(copied, top_via, _plain_line(request, plain, _VIA_GROUP))
    extra = []
    for name, value in headers or ():
        _check_header(name, value)
        if name.lower() not in ("content-length", "l"):
            extra.append(f"\r\n{name}: {value}")
    body = bytes(body)
    resp = Response(status, reason or reason_phrase(status), _bare=True)
    resp._set_text(f"{copied}{''.join(extra)}\r\nContent-Length: {len(body)}{SECTION_END}")
    resp.transport_hint = None
    resp._body = body
    return resp


def _plain_line(request: Request, plain: Any, group: int) -> str | None:
    """The first line (CRLF, name, colon, value) of the header in :data:`PLAIN_RE`'s
    ``group`` when ``plain`` is the request's match, as written: ``copied`` holds it too."""
    if not plain or plain.start(group) < 0:
        return None
    hdr = request._hdr
    return hdr[hdr.rfind("\r\n", 0, plain.start(group)) : plain.end(group)]


def _with_top_via(copied: str, value: str, line: str | None = None) -> str:
    """``copied`` with its first Via value replaced by ``value`` (the line's other values
    stay on it, after ``value``); ``line`` is that line when known (:func:`_plain_line`)."""
    at = -1 if line is None or "," in line else copied.find(line)
    if line is not None and at >= 0:  # one value on the line: the whole line is replaced
        return f"{copied[:at]}\r\nVia: {value}{copied[at + len(line) :]}"
    found = _first_line(copied, _VIA_LINE_RE)
    if found is None:
        return copied
    start, colon, end = found
    rest = split_commas(FOLD_RE.sub(" ", copied[colon:end]))[1:]
    line = ", ".join([value, *rest])
    return f"{copied[:start]}\r\nVia: {line}{copied[end:]}"


def _tagged_to(copied: str, to_tag: str, line: str | None = None) -> str:
    """``copied`` with ``;tag=`` added to its To line (unfolded first); ``line`` is that
    line when known (:func:`_plain_line`)."""
    at = -1 if line is None else copied.find(line)
    if line is not None and at >= 0:
        return f"{copied[:at]}{line.rstrip()};tag={to_tag}{copied[at + len(line) :]}"
    found = _first_line(copied, _TO_LINE_RE)
    if found is None:
        return copied
    start, _, end = found
    line = FOLD_RE.sub(" ", copied[start + 2 : end]).rstrip()
    return f"{copied[:start]}\r\n{line};tag={to_tag}{copied[end:]}"


def _first_line(copied: str, name_re: re.Pattern[str]) -> tuple[int, int, int] | None:
    """(start, end of "Name:", end) of the first line that ``name_re`` finds in ``copied``,
    its folded continuation lines included; None when there is none."""
    found = name_re.search(copied)
    if found is None:
        return None
    end = copied.find("\r\n", found.end())
    while end != -1 and copied[end + 2 : end + 3] in (" ", "\t"):
        end = copied.find("\r\n", end + 2)
    return found.start(), found.end(), len(copied) if end == -1 else end
