"""SIP, SIPS and TEL URIs, and absolute URIs of other schemes (RFC 3261 §19.1, §25.1; RFC 3966).

A :class:`URI` is immutable: :meth:`URI.replace` returns a changed copy. Components are
kept as they were written (escaped); :func:`unescape` and the ``*_unescaped`` properties
give the decoded text. Equality follows RFC 3261 §19.1.4 (scheme and host case-insensitive,
user and password compared after unescaping, transport/user/ttl/method/maddr parameters
must match when either side has them, other parameters only when both have them, and
URI headers must all match). ``str(uri)`` gives back the exact text that was parsed
until something is replaced.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ._text import is_digits
from .errors import RemoteProtocolError

__all__ = ["URI", "parse_uri", "unescape", "escape_user"]

_HEX = "0123456789abcdefABCDEF"
_ESCAPE_RE = re.compile(r"%([0-9a-fA-F]{2})")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*\Z")
_SIP_RE = re.compile(
    r"(?:(?P<user>[^@]*?)(?::(?P<pw>[^@:]*))?@)?"
    r"(?P<host>\[[^\]]*\]|[^;?:\[\]]*)"
    r"(?::(?P<port>[^;?]*))?"
    r"(?P<params>;[^?]*)?"
    r"(?:\?(?P<headers>.*))?\Z",
    re.S,
)
# possessive: no part can give back characters the next one would take (no backtracking);
# groups inside atomic groups, not possessive repeats (sip/headers.py: gh-106052)
_FAST_RE = re.compile(
    r"(sips?):(?>(?:([A-Za-z0-9\-_.!~*'()&=+$,]++)@)?)([A-Za-z0-9\-.]++)"
    r"(?>(?::([0-9]{1,5}+))?)"
    r"((?>(?:;[A-Za-z0-9\-_.!~*'()&+$\[\]/:]++(?>(?:=[A-Za-z0-9\-_.!~*'()&+$\[\]/:]++)?))*))\Z"
)
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_\-.]*[A-Za-z0-9_.])?\Z")
_IPV6_RE = re.compile(r"\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\]\Z")
_BAD_CHARS_RE = re.compile(r"[\x00-\x20<>\"\x7f]")
# parameters whose presence on one side only makes two SIP URIs differ (§19.1.4)
_STRICT_PARAMS = ("user", "ttl", "method", "maddr", "transport")


def unescape(text: str) -> str:
    """Decode ``%HH`` escapes (UTF-8); a ``%`` not followed by two hex digits stays as is."""
    if "%" not in text:
        return text
    raw = _ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), text)
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


_USER_SAFE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()&=+$,;?/"
)


def escape_user(text: str) -> str:
    """Escape a user part for use in a SIP URI (RFC 3261 §25.1 ``user``)."""
    return "".join(c if c in _USER_SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in text)


def _split_params(text: str) -> tuple[tuple[str, str | None], ...]:
    """``;a=b;c`` → ``(("a", "b"), ("c", None))``; empty names are an error."""
    out: list[tuple[str, str | None]] = []
    for part in text[1:].split(";"):
        name, eq, value = part.partition("=")
        if not name or _BAD_CHARS_RE.search(part):
            raise RemoteProtocolError(f"bad URI parameter {part!r}")
        out.append((name, value if eq else None))
    return tuple(out)


#: URI's fields, in the order of ``URI.__init__``'s parameters
_FIELDS = ("scheme", "user", "password", "host", "port", "params", "headers", "opaque", "raw")


class URI:
    """A parsed URI. For ``sip``/``sips``/``tel`` the parts are filled in; for any other
    scheme only ``scheme`` and ``opaque`` (the text after the colon) are.

    Treat it as immutable: :meth:`replace` returns a changed copy."""

    __slots__ = _FIELDS

    def __init__(
        self,
        scheme: str,
        user: str = "",
        password: str | None = None,
        host: str = "",
        port: int | None = None,
        params: tuple[tuple[str, str | None], ...] = (),
        headers: str | None = None,
        opaque: str = "",
        raw: str | None = None,
    ) -> None:
        self.scheme = scheme
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.params = params
        self.headers = headers
        self.opaque = opaque
        self.raw = raw

    # -- derived views -------------------------------------------------------------------
    @property
    def is_sip(self) -> bool:
        """True for ``sip:`` and ``sips:`` URIs."""
        return self.scheme in ("sip", "sips")

    @property
    def user_unescaped(self) -> str:
        return unescape(self.user)

    @property
    def host_bare(self) -> str:
        """The host without IPv6 brackets."""
        h = self.host
        return h[1:-1] if h.startswith("[") else h

    @property
    def transport(self) -> str | None:
        t = self.param("transport")
        return t.lower() if t else None

    def param(self, name: str, default: str | None = None) -> str | None:
        """Value of a URI parameter (case-insensitive name); ``""`` for a flag parameter."""
        key = name.lower()
        for n, v in self.params:
            if n.lower() == key:
                return "" if v is None else v
        return default

    def has_param(self, name: str) -> bool:
        return self.param(name) is not None

    def hostport(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    # -- edits ----------------------------------------------------------------------------
    def replace(self, **changes: Any) -> URI:
        """A copy with some parts changed (``str()`` of the copy is rebuilt)."""
        parts = {k: getattr(self, k) for k in _FIELDS}
        parts.update(changes, raw=None)
        return URI(**parts)

    def with_param(self, name: str, value: str | None = None) -> URI:
        kept = tuple(p for p in self.params if p[0].lower() != name.lower())
        return self.replace(params=kept + ((name, value),))

    def without_params(self, names: Iterable[str]) -> URI:
        drop = {n.lower() for n in names}
        return self.replace(params=tuple(p for p in self.params if p[0].lower() not in drop))

    # -- text -----------------------------------------------------------------------------
    def __str__(self) -> str:
        if self.raw is not None:
            return self.raw
        if not self.is_sip and self.scheme != "tel":
            return f"{self.scheme}:{self.opaque}"
        out = [self.scheme, ":"]
        if self.scheme == "tel":
            out.append(self.user)
        else:
            if self.user:
                out.append(self.user)
                if self.password is not None:
                    out += [":", self.password]
                out.append("@")
            out.append(self.hostport())
        out += [f";{n}" if v is None else f";{n}={v}" for n, v in self.params]
        if self.headers is not None:
            out += ["?", self.headers]
        return "".join(out)

    def __repr__(self) -> str:
        return f"URI({str(self)!r})"

    # -- RFC 3261 §19.1.4 comparison --------------------------------------------------------
    def _key(self) -> tuple[object, ...]:
        if not self.is_sip and self.scheme != "tel":
            return (self.scheme, unescape(self.opaque))
        pw = None if self.password is None else unescape(self.password)
        return (self.scheme, unescape(self.user), pw, self.host.lower(), self.port)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, URI):
            return NotImplemented
        if self._key() != other._key():
            return False
        mine = {n.lower(): unescape(v or "").lower() for n, v in self.params}
        theirs = {n.lower(): unescape(v or "").lower() for n, v in other.params}
        for name in mine.keys() | theirs.keys():
            if name in mine and name in theirs:
                if mine[name] != theirs[name]:
                    return False
            elif name in _STRICT_PARAMS:
                return False
        return _headers_key(self.headers) == _headers_key(other.headers)

    def __hash__(self) -> int:
        return hash(self._key())


def _headers_key(headers: str | None) -> frozenset[tuple[str, str]]:
    if not headers:
        return frozenset()
    pairs = (h.partition("=") for h in headers.split("&"))
    return frozenset((unescape(n).lower(), unescape(v)) for n, _, v in pairs)


_PARSED: dict[str, URI] = {}
_PARSED_MAX = 2048


def parse_uri(text: str) -> URI:
    """Parse a URI; raises :class:`RemoteProtocolError` (400) when it is malformed.

    URIs are immutable, so one parse of a text serves every later request for it (a proxy
    sees the same Record-Route, gateway and registrar URIs over and over); the table is
    emptied when it reaches ``_PARSED_MAX`` entries."""
    uri = _PARSED.get(text)
    if uri is None:
        uri = _parse_uri(text)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[text] = uri
    return uri


def _parse_uri(text: str) -> URI:
    m = _FAST_RE.match(text)
    if m is not None:  # the common, plainly valid shape: no escapes to check, no IPv6
        scheme, user, host, port, params = m.groups()
        p = int(port) if port else None
        if p is None or p <= 65535:
            split = _split_params(params) if params else ()
            return URI(scheme, user or "", None, host, p, split, None, "", text)
    scheme, colon, rest = text.partition(":")
    if not colon or not _SCHEME_RE.match(scheme) or not rest:
        raise RemoteProtocolError(f"bad URI {text!r}")
    lscheme = scheme.lower()
    if lscheme in ("sip", "sips"):
        return _parse_sip(text, lscheme, rest)
    if _BAD_CHARS_RE.search(rest):
        raise RemoteProtocolError(f"bad characters in URI {text!r}")
    if lscheme == "tel":
        number, _, params = rest.partition(";")
        return URI(
            "tel", user=number, params=_split_params(";" + params) if params else (), raw=text
        )
    return URI(lscheme, opaque=rest, raw=text)


def _parse_sip(text: str, scheme: str, rest: str) -> URI:
    m = _SIP_RE.match(rest)
    if m is None or _BAD_CHARS_RE.search(rest):
        raise RemoteProtocolError(f"bad SIP URI {text!r}")
    user, pw, host, port, params, headers = m.group(
        "user", "pw", "host", "port", "params", "headers"
    )
    if not (_HOSTNAME_RE.match(host) or _IPV6_RE.match(host)):
        raise RemoteProtocolError(f"bad host in URI {text!r}")
    if user is not None and not user:
        raise RemoteProtocolError(f"empty user in URI {text!r}")
    return URI(
        scheme,
        user=user or "",
        password=pw,
        host=host,
        port=_port(port, text),
        params=_split_params(params) if params else (),
        headers=headers,
        raw=text,
    )


def _port(port: str | None, text: str) -> int | None:
    if port is None:
        return None
    if not is_digits(port) or len(port) > 5 or int(port) > 65535:
        raise RemoteProtocolError(f"bad port in URI {text!r}")
    return int(port)
