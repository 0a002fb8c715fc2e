"""HTTP Digest authentication for SIP (RFC 3261 §22.4, RFC 2617, RFC 7616, RFC 8760).

- :func:`parse_auth` reads ``WWW-Authenticate``, ``Proxy-Authenticate``, ``Authorization``
  and ``Proxy-Authorization`` values into an :class:`AuthHeader` (scheme + parameters);
  unknown schemes parse too (RFC 4475 ``regaut01``), their parameters kept as written.
- :func:`render_auth` writes one back (quoting what RFC 7616 says is quoted).
- :func:`digest_response` computes the ``response`` value for MD5, SHA-256 and SHA-512-256,
  with or without ``-sess``, ``qop=auth`` / ``auth-int`` or the RFC 2069 form without qop.

Pure functions: no clock and no randomness (nonces are the caller's job).
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._text import quote, unescape_quoted
from .errors import RemoteProtocolError

__all__ = ["AuthHeader", "parse_auth", "render_auth", "digest_response", "HASHES"]

#: one ``name=value`` pair and its comma: a quoted value's inside (group 2, escapes kept) or
#: a token (group 3); atomic loops, so a long quoted value costs one pass, no backtracking
_PAIR_RE = re.compile(
    r"[ \t]*+([A-Za-z0-9\-_.!%*+`\'~]++)[ \t]*+=[ \t]*+"
    r'(?:"([^"\\]*+(?>(?:\\.[^"\\]*+)*))"|([^\s,"]++))[ \t]*+(?:,|\Z)',
    re.S,
)
_SCHEME_RE = re.compile(r"[ \t]*([A-Za-z0-9\-_.!%*+`'~]+)(?:[ \t]+|\Z)")
#: parameters RFC 7616 §3.3/§3.4 sends without quotes
_UNQUOTED = frozenset({"algorithm", "qop", "nc", "stale", "userhash"})


def _sha512_256(data: bytes) -> str:
    return hashlib.new("sha512_256", data).hexdigest()


def _hexdigest(name: str, fallback: Any) -> Callable[[bytes], str]:
    """The hex digest function of a hash, CPython's own implementation when it has one
    (``_md5``, ``_sha256``): for the short inputs of digest authentication it is 2-3x
    faster than OpenSSL's, which looks the algorithm up again at every call."""
    make = fallback
    for module in (f"_{name}", "_sha2"):  # Python 3.12 keeps SHA-224/256/384/512 in _sha2
        try:
            make = importlib.import_module(module).__dict__[name]
            break
        except (ImportError, KeyError):
            continue
    return lambda data: str(make(data).hexdigest())


HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": _hexdigest("md5", hashlib.md5),
    "SHA-256": _hexdigest("sha256", hashlib.sha256),
    "SHA-512-256": _sha512_256,
}


@dataclass(frozen=True)
class AuthHeader:
    """A challenge or credentials: ``scheme`` and ``params`` (names lower-cased, values
    unquoted). ``qop`` in a challenge may list several options (``"auth,auth-int"``)."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    raw: str | None = field(default=None, compare=False)

    @property
    def is_digest(self) -> bool:
        return self.scheme.lower() == "digest"

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name.lower(), default)

    @property
    def algorithm(self) -> str:
        return (self.params.get("algorithm") or "MD5").upper()


def parse_auth(value: str) -> AuthHeader:
    """Parse one authentication header value; raises RemoteProtocolError (400)."""
    m = _SCHEME_RE.match(value)
    if m is None:
        raise RemoteProtocolError(f"bad authentication header {value[:60]!r}")
    params: dict[str, str] = {}
    pos = m.end()
    for p in _PAIR_RE.finditer(value, pos):
        if p.start() != pos:
            break
        name, quoted, token = p.groups()
        if token is None:
            token = unescape_quoted(quoted)
        params[name.lower()] = token
        pos = p.end()
    if pos < len(value.rstrip()):
        raise RemoteProtocolError(f"bad authentication parameters {value[pos : pos + 60]!r}")
    return AuthHeader(m.group(1), params, value)


def render_auth(header: AuthHeader) -> str:
    """``Digest realm="x", nonce="y", algorithm=MD5, qop="auth"`` (RFC 7616 quoting: ``qop``
    is quoted in a challenge and bare in credentials)."""
    credentials = "response" in header.params
    parts = []
    for name, value in header.params.items():
        bare = name in _UNQUOTED and not (name == "qop" and not credentials)
        parts.append(f"{name}={value}" if bare else f"{name}={quote(value)}")
    return f"{header.scheme} {', '.join(parts)}"


def digest_response(
    *,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    algorithm: str = "MD5",
    qop: str | None = None,
    nc: str = "00000001",
    cnonce: str = "",
    body: bytes = b"",
    ha1: str | None = None,
) -> str:
    """The ``response`` parameter (RFC 7616 §3.4.1; RFC 2617 §3.2.2). Pass ``ha1`` to use a
    stored H(user:realm:password) instead of the password (Kamailio's ``calculate_ha1=no``)."""
    alg = algorithm.upper()
    sess = alg.endswith("-SESS")
    h = HASHES.get(alg[:-5] if sess else alg)
    if h is None:
        raise RemoteProtocolError(f"unsupported digest algorithm {algorithm!r}")
    a1 = ha1 or h(f"{username}:{realm}:{password}".encode())
    if sess:
        a1 = h(f"{a1}:{nonce}:{cnonce}".encode())
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += ":" + h(body)
    ha2 = h(a2.encode())
    if qop:
        return h(f"{a1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}".encode())
    return h(f"{a1}:{nonce}:{ha2}".encode())
