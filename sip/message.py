"""The SIP message model, the datagram parser and the serializer (RFC 3261 §7, §18.3, §20).

Parsing is lazy, because a proxy reads a handful of headers of each message: ``parse``
splits the start line and the header lines and nothing more. Header lines are kept as
written (their exact bytes, folding included) and typed views (Via, CSeq, From/To, the
Request-URI, ...) are parsed on first access and cached. :meth:`Message.validate` parses
everything a proxy depends on and checks RFC 3261's rules (mandatory and single-valued
headers, CSeq method, Content-Length), raising :class:`RemoteProtocolError` with the status
to answer.

Headers form an ordered, case-insensitive multimap that understands compact forms
(``v`` = Via, ``i`` = Call-ID, ...). Edits rewrite only the lines they touch, so
``bytes(msg)`` re-emits every untouched header byte for byte; setting ``body`` keeps
Content-Length right. Text is decoded as UTF-8 with ``surrogateescape`` so any bytes survive
a round trip; the body stays ``bytes``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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
from .status import reason_phrase
from .uri import URI, parse_uri

__all__ = [
    "Limits",
    "DEFAULT_LIMITS",
    "Message",
    "Request",
    "Response",
    "parse",
    "make_response",
    "COMPACT",
]

#: compact form → full name (RFC 3261 §7.3.3 and the IANA registry)
COMPACT = {
    "a": "accept-contact", "b": "referred-by", "c": "content-type", "d": "request-disposition",
    "e": "content-encoding", "f": "from", "i": "call-id", "j": "reject-contact",
    "k": "supported", "l": "content-length", "m": "contact", "n": "identity-info",
    "o": "event", "r": "refer-to", "s": "subject", "t": "to", "u": "allow-events",
    "v": "via", "x": "session-expires", "y": "identity",
}  # fmt: skip
_SHORT = {full: short for short, full in COMPACT.items()}
#: headers that may appear once only (RFC 3261 §7.3.1: not comma-list headers)
_SINGLE = ("call-id", "from", "to", "cseq", "max-forwards", "content-length", "content-type")
_AUTH_HEADERS = ("authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate")
_MANDATORY = ("to", "from", "cseq", "call-id", "via")
_FOLD_RE = re.compile(r"\r?\n[ \t]+")
_NOT_TOKEN_RE = re.compile(r"[^A-Za-z0-9\-.!%*_+`'~]")
_COMPACT_RE = re.compile(r"\n[a-z][ \t:]")
_END = "\r\n\r\n"
_VERSION_RE = re.compile(r"SIP/\d+\.\d+\Z", re.I)
_ASCII_LOWER = {c: c + 32 for c in range(65, 91)}


@dataclass(frozen=True)
class Limits:
    """Bounds on what a peer may send (checked by ``parse`` and the stream framer)."""

    max_message: int = 65535
    max_header_bytes: int = 16384
    max_headers: int = 200
    max_body: int = 65535


DEFAULT_LIMITS = Limits()


_PATTERNS: dict[str, tuple[str, str | None]] = {}


def _pattern(name: str) -> tuple[str, str | None]:
    """Search patterns (CRLF + lower-case full name, and the compact form), memoised."""
    key = name.lower()
    key = COMPACT.get(key, key)
    short = _SHORT.get(key)
    pats = ("\r\n" + key, None if short is None else "\r\n" + short)
    if len(_PATTERNS) < 1024:
        _PATTERNS[name] = pats
    return pats


def _aliases(name: str) -> tuple[str, ...]:
    key = name.lower()
    key = COMPACT.get(key, key)
    short = _SHORT.get(key)
    return (key, short) if short else (key,)


class Message:
    """Common part of requests and responses: headers and body.

    The header section is held as text (``_hdr``: every header line preceded by CRLF, as
    received, then the CRLFCRLF that ends the section, which also stops every scan).
    received). Look-ups search a lower-cased, unfolded copy (``_low``/``_unf``), so parsing
    does no per-line work; edits split the text into lines, change them and join it again.
    """

    __slots__ = ("_hdr", "_unf", "_low", "_compact", "_folded", "_body", "_cache", "transport_hint")

    _hdr: str
    _unf: str
    _low: str
    _compact: bool
    _folded: bool
    _body: bytes
    _cache: dict[str, Any]

    def __init__(self, headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> None:
        self._set_text(_END)
        self._body = b""
        self.transport_hint: str | None = None
        for name, value in headers or ():
            self.add(name, value)
        if body:
            self.body = body

    def _set_text(self, hdr: str) -> None:
        """Install a new header section; look-up copies are derived lazily where costly."""
        self._hdr = unf = hdr
        low = unf.lower()
        if len(low) != len(unf):  # a few non-ASCII letters change length when lowered
            low = unf.translate(_ASCII_LOWER)
        self._unf = unf
        self._low = low
        self._compact = _COMPACT_RE.search(low) is not None
        self._folded = False
        self._cache = {}

    def _unfold(self) -> None:
        """Replace folded continuation lines by a space in the look-up copies (§7.3.1)."""
        unf = _FOLD_RE.sub(" ", self._hdr)
        self._unf = unf
        self._low = unf.lower() if len(unf.lower()) == len(unf) else unf.translate(_ASCII_LOWER)
        self._folded = True

    # -- the header multimap ---------------------------------------------------------------
    def _spans(self, name: str) -> list[tuple[int, int]]:
        """(start of value, end of line) in ``_unf`` for each ``name`` header, in order."""
        pat, short = _PATTERNS.get(name) or _pattern(name)
        found = self._scan(pat)
        if short is not None and self._compact:
            found += self._scan(short)
            found.sort()
        if not self._folded and any(self._low[e + 2] in " \t" for _, e in found):
            self._unfold()
            return self._spans(name)
        return found

    def _scan(self, pat: str) -> list[tuple[int, int]]:
        low = self._low
        n = len(pat)
        found: list[tuple[int, int]] = []
        pos = low.find(pat)
        while pos >= 0:
            j = pos + n
            while low[j] in " \t":
                j += 1
            if low[j] == ":":
                found.append((j + 1, low.find("\r\n", j)))
            pos = low.find(pat, j)
        return found

    def _span1(self, name: str) -> tuple[int, int] | None:
        """Span of the first ``name`` header's value (the hot path of every look-up)."""
        pat, short = _PATTERNS.get(name) or _pattern(name)
        if short is not None and self._compact:
            spans = self._spans(name)
            return spans[0] if spans else None
        low = self._low
        pos = low.find(pat)
        n = len(pat)
        while pos >= 0:
            j = pos + n
            c = low[j]
            while c == " " or c == "\t":
                j += 1
                c = low[j]
            if c == ":":
                e = low.find("\r\n", j)
                if low[e + 2] in " \t" and not self._folded:
                    self._unfold()
                    return self._span1(name)
                return j + 1, e
            pos = low.find(pat, j)
        return None

    def get(self, name: str, default: str | None = None) -> str | None:
        """Value of the first header called ``name`` (full or compact form), unfolded."""
        pat, short = _PATTERNS.get(name) or _pattern(name)
        if short is None or not self._compact:  # fast path: "Name:" not folded
            low = self._low
            pos = low.find(pat)
            while pos >= 0:
                j = pos + len(pat)
                c = low[j]
                if c == ":":
                    e = low.find("\r\n", j)
                    if low[e + 2] not in " \t":
                        return self._unf[j + 1 : e].strip()
                    break
                if c == " " or c == "\t":
                    break
                pos = low.find(pat, j)
            else:
                return default
        span = self._span1(name)
        if span is None:
            return default
        return self._unf[span[0] : span[1]].strip()

    def get_all(self, name: str) -> list[str]:
        """Values of every header line called ``name``, in order."""
        spans = self._spans(name)  # may unfold, replacing self._unf
        unf = self._unf
        return [unf[a:b].strip() for a, b in spans]

    def values(self, name: str) -> list[str]:
        """Every comma-separated element of every ``name`` header (for list headers)."""
        return [item for v in self.get_all(name) for item in split_commas(v) if item]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._span1(name) is not None

    def count(self, name: str) -> int:
        return len(self._spans(name))

    def raw_lines(self) -> list[str]:
        """The header lines exactly as they will be written (folding kept)."""
        return _lines_of(self._hdr[:-4])

    def items(self) -> Iterator[tuple[str, str]]:
        """``(name as written, unfolded value)`` for every header line, in order."""
        for line in self.raw_lines():
            name, _, value = line.partition(":")
            yield name.rstrip(), _FOLD_RE.sub(" ", value).strip()

    def _edit(self, lines: list[str]) -> None:
        self._set_text("".join("\r\n" + line for line in lines) + _END)

    def _line_index(self, name: str) -> tuple[list[str], list[int]]:
        lines = self.raw_lines()
        keys = _aliases(name)
        idx = [i for i, line in enumerate(lines) if _line_name(line) in keys]
        return lines, idx

    def add(self, name: str, value: str, index: int | None = None) -> None:
        """Append a header (or insert it before header line number ``index``)."""
        if not is_token(name) or "\r" in value or "\n" in value:
            raise LocalProtocolError(f"bad header {name!r}: {value!r}")
        line = f"{name}: {value}"
        if index is None:
            self._set_text(f"{self._hdr[:-4]}\r\n{line}{_END}")
            return
        lines = self.raw_lines()
        lines.insert(index, line)
        self._edit(lines)

    def insert(self, name: str, value: str) -> None:
        """Insert a header before all others (Kamailio's ``insert_hf``)."""
        self._set_text(f"\r\n{name}: {value}{self._hdr}") if is_token(name) else self.add(
            name, value, 0
        )

    def add_before(self, name: str, value: str, before: str) -> None:
        """Insert a header just before the first ``before`` header (or at the top)."""
        _, idx = self._line_index(before)
        self.add(name, value, idx[0] if idx else 0)

    def remove(self, name: str) -> int:
        """Remove every ``name`` header; returns how many lines went."""
        lines, idx = self._line_index(name)
        if idx:
            drop = set(idx)
            self._edit([line for i, line in enumerate(lines) if i not in drop])
        return len(idx)

    def replace(self, name: str, value: str) -> None:
        """Set ``name`` to one line with ``value``, in place of the first occurrence."""
        lines, idx = self._line_index(name)
        if not idx:
            self.add(name, value)
            return
        drop = set(idx[1:])
        lines[idx[0]] = f"{_line_written_name(lines[idx[0]])}: {value}"
        self._edit([line for i, line in enumerate(lines) if i not in drop])

    def remove_first_value(self, name: str) -> str | None:
        """Remove the first comma-separated element of ``name`` (e.g. the top Via)."""
        lines, idx = self._line_index(name)
        if not idx:
            return None
        line = lines[idx[0]]
        items = split_commas(_FOLD_RE.sub(" ", line[line.index(":") + 1 :]))
        if len(items) <= 1:
            del lines[idx[0]]
        else:
            lines[idx[0]] = f"{_line_written_name(line)}: {', '.join(items[1:])}"
        self._edit(lines)
        return items[0]

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
        span = self._span1(name)
        view = None if span is None else parser(self._unf[span[0] : span[1]].strip())
        cache[key] = view
        return view

    @property
    def call_id(self) -> str | None:
        return self.get("call-id")

    @property
    def cseq(self) -> CSeq | None:
        cache = self._cache
        if "cseq" in cache:
            return cache["cseq"]  # type: ignore[no-any-return]
        value = self.get("cseq")
        view = cache["cseq"] = None if value is None else parse_cseq(value)
        return view

    @property
    def from_(self) -> NameAddr | None:
        return self._view("from", "from", parse_name_addr)  # type: ignore[no-any-return]

    @property
    def to(self) -> NameAddr | None:
        return self._view("to", "to", parse_name_addr)  # type: ignore[no-any-return]

    @property
    def from_tag(self) -> str | None:
        """The From tag (fast path; the full view is :attr:`from_`)."""
        return self._tag("from")

    @property
    def to_tag(self) -> str | None:
        """The To tag (fast path; the full view is :attr:`to`)."""
        return self._tag("to")

    def _tag(self, name: str) -> str | None:
        value = self.get(name)
        if value is None:
            return None
        i = value.find(";tag=", value.rfind(">") + 1)
        if i >= 0:
            return value[i + 5 :].partition(";")[0].strip() or None
        if "tag" not in value.lower():
            return None
        view = self.from_ if name == "from" else self.to
        return None if view is None else view.tag

    @property
    def branch(self) -> str | None:
        """The top Via's branch (fast path; the full view is :attr:`via`)."""
        value = self.get("via")
        if value is None:
            return None
        i = value.find(";branch=")
        if i >= 0 and i < value.find(",") % (len(value) + 1):
            return value[i + 8 :].partition(";")[0].partition(",")[0].strip() or None
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
        value = self.get("max-forwards")
        if value is None:
            return None
        if value.isdigit() and value.isascii():
            return int(value)
        return _parse_uint(value)

    @property
    def content_length(self) -> int | None:
        return self._view("cl", "content-length", _parse_uint)  # type: ignore[no-any-return]

    @property
    def content_type(self) -> ContentType | None:
        return self._view("ct", "content-type", parse_content_type)  # type: ignore[no-any-return]

    @property
    def expires(self) -> int | None:
        """Expires header in seconds; values above 2**32-1 are capped (RFC 3261 §20.19)."""
        return self._view("exp", "expires", lambda v: min(_parse_uint(v), 2**32 - 1))  # type: ignore[no-any-return]

    # -- validation --------------------------------------------------------------------------
    def validate(self) -> None:
        """Parse and check what a proxy relies on; raises RemoteProtocolError (status set)."""
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

    __bytes__ = serialize

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
        new = object.__new__(type(self))
        for cls in type(self).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if hasattr(self, slot):
                    object.__setattr__(new, slot, getattr(self, slot))
        new._cache = {}
        return new


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
    ) -> None:
        if not is_token(method):
            raise LocalProtocolError(f"bad method {method!r}")
        self.method = method
        self.version = version
        self._uri_text = str(uri)
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

    def validate(self) -> None:
        uri = self.uri
        if uri.is_sip and uri.headers is not None:
            raise RemoteProtocolError("headers are not allowed in a Request-URI")
        super().validate()
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
    ) -> None:
        if not 100 <= status <= 699:
            raise LocalProtocolError(f"bad status {status}")
        self.status = status
        self.reason = reason
        self.version = version
        super().__init__(headers, body)

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


def _top_via(value: str) -> Via:
    return parse_via(value) if "," not in value else parse_vias(value)[0]


def _parse_uint(value: str) -> int:
    if not is_digits(value):
        raise RemoteProtocolError(f"expected a number, got {value!r}")
    return int(value)


# -- the parser ------------------------------------------------------------------------------
def parse(data: bytes, *, datagram: bool = True, limits: Limits = DEFAULT_LIMITS) -> Message:
    """Parse one message. For a datagram (RFC 3261 §18.3) the body is cut to Content-Length
    (trailing bytes are ignored) or, without Content-Length, is the rest of the datagram;
    for a framed stream message ``data`` must be exactly one message."""
    if len(data) > limits.max_message:
        raise RemoteProtocolError("message too large", 513)
    start = 0
    if data[:2] == b"\r\n":  # RFC 3261 §7.5: ignore CRLFs before the start line
        while data.startswith(b"\r\n", start):
            start += 2
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        return _parse_lf(data[start:], datagram, limits)
    head = data[start : end + 4].decode("utf-8", "surrogateescape")
    return _build(head, data[end + 4 :], datagram, limits)


def _parse_lf(data: bytes, datagram: bool, limits: Limits) -> Message:
    """Fallback for peers that end lines with a bare LF (normalised to CRLF)."""
    end = data.find(b"\n\n")
    if end < 0 or b"\r\n" in data[:end]:
        raise RemoteProtocolError("header section is not terminated by an empty line")
    head = data[: end + 2].decode("utf-8", "surrogateescape").replace("\n", "\r\n")
    return _build(head, data[end + 2 :], datagram, limits)


def _build(head: str, body: bytes, datagram: bool, limits: Limits) -> Message:
    """``head`` is the start line and the header section, with the closing CRLFCRLF."""
    eol = head.find("\r\n")
    first, hdr = head[:eol], head[eol:]
    if len(hdr) > limits.max_header_bytes:
        raise RemoteProtocolError("header section too large", 513)
    if len(hdr) > 4 * limits.max_headers and hdr.count("\r\n") > limits.max_headers:
        raise RemoteProtocolError("too many header lines", 513)
    parts = first.split(" ")
    if len(parts) == 3 and parts[2] == "SIP/2.0":  # the usual request line
        method = parts[0]
        if method not in METHODS and not is_token(method):
            raise RemoteProtocolError(f"bad method {method[:40]!r}")
        msg: Message = object.__new__(Request)
        msg.method, msg._uri_text, msg.version = method, parts[1], "SIP/2.0"  # type: ignore[attr-defined]
        if not parts[1]:
            raise RemoteProtocolError("empty Request-URI")
    else:
        msg = _start(first)
    msg._set_text(hdr)
    msg.transport_hint = None
    msg._body = _cut_body(msg, body, datagram, limits)
    return msg


def _lines_of(hdr: str) -> list[str]:
    """Split a header section into lines, keeping folded continuations with their header."""
    lines = hdr.split("\r\n")[1:]
    if not any(line[:1] in (" ", "\t") for line in lines):
        return lines
    out: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t") and out:
            out[-1] = out[-1] + "\r\n" + line
        else:
            out.append(line)
    return out


def _line_written_name(line: str) -> str:
    return line.partition(":")[0].rstrip()


def _line_name(line: str) -> str:
    name = line.partition(":")[0].rstrip().lower()
    return COMPACT.get(name, name)


def _cut_body(msg: Message, body: bytes, datagram: bool, limits: Limits) -> bytes:
    low = msg._low
    pos = low.rfind("\r\ncontent-length:")  # usually the last header: found at once
    if pos >= 0 and not msg._compact and low.find("\r\ncontent-length") == pos:
        e = low.find("\r\n", pos + 17)
        value = msg._unf[pos + 18 : e].strip()
        if value.isdigit() and value.isascii() and low[e + 2] not in " \t":
            length = int(value)
        else:
            length = _parse_uint(msg.get("content-length") or "")
    else:
        values = msg.get_all("content-length")
        if not values:
            if not datagram and body:
                raise RemoteProtocolError("Content-Length is required on a stream")
            return body
        if len(values) > 1:
            raise RemoteProtocolError("more than one Content-Length header")
        length = _parse_uint(values[0])
    if length > limits.max_body:
        raise RemoteProtocolError("body too large", 513)
    if length > len(body):
        raise RemoteProtocolError("Content-Length larger than the message body")
    return body[:length] if length < len(body) else body


def _start(line: str) -> Message:
    if line.startswith("SIP/") or line[:4].upper() == "SIP/":
        return _status_line(line)
    parts = line.split(" ")
    if len(parts) != 3 or not parts[1]:
        raise RemoteProtocolError(f"malformed request line {line[:80]!r}")
    method, uri, version = parts
    if version != "SIP/2.0":
        _check_version(version)
    if method not in METHODS and not is_token(method):
        raise RemoteProtocolError(f"bad method {method[:40]!r}")
    req = object.__new__(Request)
    req.method = method
    req._uri_text = uri
    req.version = version
    return req


def _status_line(line: str) -> Response:
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    _check_version(version)
    if len(code) != 3 or not is_digits(code) or not 100 <= int(code) <= 699:
        raise RemoteProtocolError(f"bad status code {code[:20]!r}")
    resp = object.__new__(Response)
    resp.status = int(code)
    resp.reason = reason
    resp.version = version
    return resp


def _check_version(version: str) -> None:
    if version.upper() != "SIP/2.0":
        if _VERSION_RE.match(version):
            raise RemoteProtocolError(f"unsupported version {version}", 505)
        raise RemoteProtocolError(f"malformed SIP version {version[:20]!r}")


_COPIED = ("via", "from", "to", "call-id", "cseq")


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> Response:
    """A response to ``request`` per RFC 3261 §8.2.6.2: Via (all values, in order), From,
    To, Call-ID and CSeq copied; ``to_tag`` added to To unless it already has one (never on
    100 Trying); Record-Route copied for 18x/2xx to dialog-creating requests is the caller's
    choice (pass it in ``headers``). Content-Length is always set."""
    lines = [line for line in request.raw_lines() if _line_name(line) in _COPIED]
    if to_tag and status > 100 and request.to_tag is None:
        for i, line in enumerate(lines):
            if _line_name(line) == "to":
                lines[i] = f"{_FOLD_RE.sub(' ', line).rstrip()};tag={to_tag}"
    resp = object.__new__(Response)
    resp.status, resp.reason, resp.version = status, reason or reason_phrase(status), "SIP/2.0"
    resp._set_text("".join("\r\n" + line for line in lines) + _END)
    resp.transport_hint = None
    resp._body = b""
    for name, value in headers or ():
        resp.add(name, value)
    resp.body = body
    return resp
