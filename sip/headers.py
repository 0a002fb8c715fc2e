"""Typed views of SIP header values (RFC 3261 §20, §25.1; RFC 3581 for ``rport``).

Each ``parse_*`` function takes one header *value* (already unfolded, as returned by
:meth:`sip.message.Message.get`) and returns an immutable view, or raises
:class:`~sip.errors.RemoteProtocolError` (400). Views keep their original text in ``raw``
and ``str()`` returns it until a changed copy is made with ``with_param``/``replace``.

- name-addr / addr-spec with parameters: From, To, Contact, Route, Record-Route, Path
- Via (sent-protocol, sent-by with IPv6 references, branch/received/rport/maddr/ttl)
- CSeq, Content-Type, comma-separated lists (quotes and ``<...>`` respected)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from ._text import METHODS, is_digits, is_token, unquote
from .errors import RemoteProtocolError
from .uri import URI, parse_uri

__all__ = [
    "Params",
    "NameAddr",
    "Via",
    "CSeq",
    "ContentType",
    "split_commas",
    "parse_params",
    "render_params",
    "parse_name_addr",
    "parse_name_addrs",
    "parse_via",
    "parse_vias",
    "check_via",
    "parse_cseq",
    "parse_content_type",
    "param_of",
    "MAX_CSEQ",
]

Params = tuple[tuple[str, str | None], ...]

MAX_CSEQ = 2**32 - 1

_PARAM_RE = re.compile(
    r'[ \t]*;[ \t]*([^\s;=,"<>]+)[ \t]*'
    r'(?:=[ \t]*("(?:[^"\\]|\\.)*"|\[[^\]\s]*\]|[^\s;,"<>]+))?[ \t]*',
    re.S,
)
_QUOTED_RE = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_VIA_RE = re.compile(
    r"[ \t]*([^\s/]+)[ \t]*/[ \t]*([^\s/]+)[ \t]*/[ \t]*([^\s/;]+)[ \t]+"
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_\-.]+)(?:[ \t]*:[ \t]*([0-9]{1,5}))?"
)
_SPLIT_RE = re.compile(r'"(?:[^"\\]|\\.)*"|<[^>]*>|,', re.S)


def split_commas(value: str) -> list[str]:
    """Split a comma-separated header value, ignoring commas in quotes and ``<...>``.

    Items are stripped; empty items are kept (callers decide whether they are errors).
    """
    if "," not in value:
        return [value.strip()]
    items: list[str] = []
    start = 0
    for m in _SPLIT_RE.finditer(value):
        if m.group(0) == ",":
            items.append(value[start : m.start()].strip())
            start = m.end()
    items.append(value[start:].strip())
    return items


def parse_params(text: str, pos: int = 0) -> Params:
    """Parse ``;name[=value]`` pairs from ``text[pos:]``; anything else is an error."""
    out: list[tuple[str, str | None]] = []
    end = len(text)
    while pos < end:
        m = _PARAM_RE.match(text, pos)
        if m is None:
            raise RemoteProtocolError(f"bad header parameters {text[pos:]!r}")
        out.append((m.group(1), m.group(2)))
        pos = m.end()
    return tuple(out)


def render_params(params: Params) -> str:
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)


def param_of(params: Params, name: str) -> str | None:
    """Value of a parameter (case-insensitive); ``""`` for a flag, None when absent."""
    for n, v in params:
        if n == name or n.lower() == name:
            return "" if v is None else v
    if not name.islower():
        key = name.lower()
        for n, v in params:
            if n.lower() == key:
                return "" if v is None else v
    return None


def _set_param(params: Params, name: str, value: str | None) -> Params:
    key = name.lower()
    if any(n.lower() == key for n, _ in params):
        return tuple((n, value) if n.lower() == key else (n, v) for n, v in params)
    return params + ((name, value),)


_TOK = r"A-Za-z0-9\-.!%*_+`'~"
# possessive throughout: no part can give back what the next one would take. A repeated
# group is possessive as an atomic group, (?>(?:...)*), not as (?:...)*+: Python before
# 3.11.5 (Debian 12 has 3.11.2) mis-matches the latter (CPython gh-106052).
_FAST_PARAMS = rf"((?>(?:;[{_TOK}]++(?>(?:=[{_TOK}:\[\]]++)?))*))"
_NA_FAST_RE = re.compile(
    rf'(?>(?:("(?>(?:[^"\\\r\n]++|\\.)*)")[ \t]*+|([{_TOK}]++(?>(?:[ \t]++[{_TOK}]++)*))[ \t]*+)?)'
    rf"<([^<>\s]++)>{_FAST_PARAMS}\Z"
)
_SPEC_FAST_RE = re.compile(rf'([^\s;<>",?]++){_FAST_PARAMS}\Z')
_PARAM_CACHE: dict[str, Params] = {}


def _fast_params(text: str) -> Params:
    """Split a parameter text already known to be well formed (no quotes, no spaces)."""
    params = _PARAM_CACHE.get(text)
    if params is None:
        parts = (p.partition("=") for p in text[1:].split(";"))
        params = tuple((n, v if eq else None) for n, eq, v in parts)
        if len(_PARAM_CACHE) < 4096:
            _PARAM_CACHE[text] = params
    return params


class _WithParams:
    """Header parameters parsed on first access from their text (``;a=b;c``)."""

    __slots__ = ("_params", "_ptext")

    _params: Params | None
    _ptext: str

    @property
    def params(self) -> Params:
        p = self._params
        if p is None:
            p = self._params = _fast_params(self._ptext)
        return p

    def param(self, name: str) -> str | None:
        """Value of a parameter (case-insensitive); ``""`` for a flag, None when absent."""
        return param_of(self.params, name)


class NameAddr(_WithParams):
    """``[display-name] <uri> *(;param)`` or ``addr-spec *(;param)`` (RFC 3261 §20.10, §25.1).

    The URI is parsed on first access. Treat as immutable (``with_param``/``replace``
    return copies)."""

    __slots__ = ("display", "raw", "_uri", "_uri_text")

    def __init__(
        self,
        uri: URI | str,
        display: str | None = None,
        params: Params = (),
        raw: str | None = None,
    ) -> None:
        self.display = display
        self.raw = raw
        self._uri = uri if isinstance(uri, URI) else None
        self._uri_text = str(uri)
        self._params: Params | None = params
        self._ptext: str = ""

    @classmethod
    def _lazy(cls, display: str | None, uri_text: str, ptext: str, raw: str) -> NameAddr:
        na = cls(uri_text, display, (), raw)
        if ptext:  # parameters split on first use
            na._params, na._ptext = None, ptext
        return na

    @property
    def uri(self) -> URI:
        u = self._uri
        if u is None:
            u = self._uri = parse_uri(self._uri_text)
        return u

    @property
    def tag(self) -> str | None:
        return param_of(self.params, "tag")

    @property
    def display_name(self) -> str | None:
        return None if self.display is None else unquote(self.display)

    def with_param(self, name: str, value: str | None = None) -> NameAddr:
        return NameAddr(self.uri, self.display, _set_param(self.params, name, value))

    def replace(self, **changes: Any) -> NameAddr:
        parts: dict[str, Any] = {"uri": self.uri, "display": self.display, "params": self.params}
        parts.update(changes)
        return NameAddr(**parts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NameAddr):
            return NotImplemented
        return (self.uri, self.display, self.params) == (other.uri, other.display, other.params)

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        if self.raw is not None:
            return self.raw
        head = f"{self.display} " if self.display else ""
        return f"{head}<{self._uri_text}>{render_params(self.params)}"

    def __repr__(self) -> str:
        return f"NameAddr({str(self)!r})"


def parse_name_addr(text: str) -> NameAddr:
    """Parse one name-addr or addr-spec with header parameters."""
    value = text.strip()
    m = _NA_FAST_RE.match(value) or _SPEC_FAST_RE.match(value)
    if m is not None:
        g = m.groups()
        if len(g) == 4:
            return NameAddr._lazy(g[0] or g[1], g[2], g[3], value)
        return NameAddr._lazy(None, g[0], g[1], value)
    return _parse_name_addr_slow(value)


def _parse_name_addr_slow(value: str) -> NameAddr:
    if value.startswith('"'):
        m = _QUOTED_RE.match(value)
        if m is None:
            raise RemoteProtocolError(f"unterminated quoted string in {value!r}")
        display: str | None = m.group(0)
        rest = value[m.end() :].lstrip()
        if not rest.startswith("<"):
            raise RemoteProtocolError(f"expected '<' after display name in {value!r}")
        return _bracketed(value, display, rest)
    lt = value.find("<")
    if lt >= 0:
        display = value[:lt].strip() or None
        if display is not None and not all(is_token(w) for w in display.split()):
            raise RemoteProtocolError(f"bad display name {display!r}")
        return _bracketed(value, display, value[lt:])
    uri_text, semi, _ = value.partition(";")
    if "?" in uri_text or "," in uri_text or not uri_text:
        raise RemoteProtocolError(f"URI with ',', '?' or ';' must be in <>: {value!r}")
    params = parse_params(value, len(uri_text)) if semi else ()
    return NameAddr(parse_uri(uri_text.rstrip()), None, params, value)


def _bracketed(value: str, display: str | None, rest: str) -> NameAddr:
    gt = rest.find(">")
    if gt < 0:
        raise RemoteProtocolError(f"missing '>' in {value!r}")
    uri_text = rest[1:gt]
    if uri_text != uri_text.strip() or not uri_text:
        raise RemoteProtocolError(f"spaces inside <> in {value!r}")
    return NameAddr(parse_uri(uri_text), display, parse_params(rest, gt + 1), value)


def parse_name_addrs(value: str) -> list[NameAddr]:
    """A comma-separated list of name-addrs (Contact, Route, Record-Route, Path)."""
    items = split_commas(value)
    if any(not item for item in items):
        raise RemoteProtocolError(f"empty element in list {value!r}")
    return [parse_name_addr(item) for item in items]


_VIA_FAST_RE = re.compile(
    rf"SIP/2\.0/([A-Za-z]++) ([A-Za-z0-9\-.]++|\[[0-9A-Fa-f:.]++\])(?>(?::([0-9]{{1,5}}+))?)"
    rf"{_FAST_PARAMS}\Z"
)


class Via(_WithParams):
    """One Via value (RFC 3261 §20.42, §18.2.1; RFC 3581 ``rport``). Treat as immutable."""

    __slots__ = ("transport", "host", "port", "protocol", "raw")

    def __init__(
        self,
        transport: str,
        host: str,
        port: int | None = None,
        params: Params = (),
        protocol: str = "SIP/2.0",
        raw: str | None = None,
    ) -> None:
        self.transport = transport
        self.host = host
        self.port = port
        self.protocol = protocol
        self.raw = raw
        self._params: Params | None = params
        self._ptext = ""

    @property
    def branch(self) -> str | None:
        return param_of(self.params, "branch")

    @property
    def received(self) -> str | None:
        return param_of(self.params, "received")

    @property
    def rport(self) -> str | None:
        """``""`` when ``rport`` is present without a value, None when absent."""
        return param_of(self.params, "rport")

    @property
    def maddr(self) -> str | None:
        return param_of(self.params, "maddr")

    @property
    def ttl(self) -> int | None:
        v = param_of(self.params, "ttl")
        return int(v) if v and is_digits(v) else None

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def with_param(self, name: str, value: str | None = None) -> Via:
        params = _set_param(self.params, name, value)
        return Via(self.transport, self.host, self.port, params, self.protocol)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Via):
            return NotImplemented
        return (self.transport, self.host.lower(), self.port, self.params) == (
            other.transport, other.host.lower(), other.port, other.params,
        )  # fmt: skip

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        if self.raw is not None:
            return self.raw
        return f"{self.protocol}/{self.transport} {self.sent_by}{render_params(self.params)}"

    def __repr__(self) -> str:
        return f"Via({str(self)!r})"


def parse_via(text: str) -> Via:
    """Parse one Via value."""
    m = _VIA_FAST_RE.match(text)
    if m is not None:
        transport, host, port, ptext = m.groups()
        number = int(port) if port else None
        if number is None or number <= 65535:
            via = Via(transport.upper(), host, number, (), "SIP/2.0", text)
            if ptext:  # parameters split on first use
                via._params, via._ptext = None, ptext
            return via
    return _parse_via_slow(text)


def _parse_via_slow(text: str) -> Via:
    m = _VIA_RE.match(text)
    if m is None:
        raise RemoteProtocolError(f"bad Via {text!r}")
    name, version, transport, host, port = m.groups()
    if name.upper() != "SIP" or version != "2.0":
        raise RemoteProtocolError(f"bad Via protocol in {text!r}")
    if port is not None and int(port) > 65535:
        raise RemoteProtocolError(f"bad Via port in {text!r}")
    params = parse_params(text, m.end()) if m.end() < len(text) else ()
    via = Via(transport.upper(), host, int(port) if port else None, params, "SIP/2.0", text.strip())
    check_via(via)
    return via


_FLAG_RE = re.compile(r";(?:branch|received|maddr|ttl)(?:;|\Z)", re.I | re.A)


def check_via(via: Via) -> None:
    """The rules a parse leaves to validation: these parameters need a value."""
    if via._params is None and _FLAG_RE.search(via._ptext) is None:
        return  # not split yet, and none of them is written without a value
    for n, v in via.params:
        if v is None and n.lower() in ("branch", "received", "maddr", "ttl"):
            raise RemoteProtocolError(f"Via parameter {n} needs a value")


def parse_vias(value: str) -> list[Via]:
    items = split_commas(value)
    if any(not item for item in items):
        raise RemoteProtocolError(f"empty Via element in {value!r}")
    return [parse_via(item) for item in items]


class CSeq(NamedTuple):
    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(value: str) -> CSeq:
    num, _, method = value.partition(" ")
    if method not in METHODS or not num.isdigit() or not num.isascii():
        parts = value.split()
        if len(parts) != 2 or not is_digits(parts[0]) or not is_token(parts[1]):
            raise RemoteProtocolError(f"bad CSeq {value!r}")
        num, method = parts
    seq = int(num)
    if seq > MAX_CSEQ:
        raise RemoteProtocolError(f"CSeq number too large: {num}")
    return tuple.__new__(CSeq, (seq, method))  # skips NamedTuple's Python-level __new__


@dataclass(frozen=True)
class ContentType:
    type: str
    subtype: str
    params: Params = ()

    @property
    def mime(self) -> str:
        return f"{self.type}/{self.subtype}"

    def param(self, name: str) -> str | None:
        return param_of(self.params, name)


def parse_content_type(value: str) -> ContentType:
    media, _, _ = value.partition(";")
    typ, slash, sub = media.strip().partition("/")
    if not slash or not is_token(typ.strip()) or not is_token(sub.strip()):
        raise RemoteProtocolError(f"bad Content-Type {value!r}")
    params = parse_params(value, len(media)) if ";" in value else ()
    return ContentType(typ.strip().lower(), sub.strip().lower(), params)
