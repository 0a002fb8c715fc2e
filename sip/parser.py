"""Parsing one SIP message from bytes (RFC 3261 §7, §7.5, §18.3).

``parse`` is lazy: it finds the end of the header section, decodes it (UTF-8 with
``surrogateescape``, so any bytes survive a round trip), reads the start line, matches the
section once against :data:`~sip.section.PLAIN_RE` (which also yields Content-Length and the
values a proxy reads) and cuts the body, and nothing more; the typed views of
:class:`~sip.message.Message` parse the rest on first access. Remote errors carry the status
to answer (400, 505, 513).
"""

from __future__ import annotations

import re

from ._text import METHODS, is_digits, is_token
from .errors import RemoteProtocolError
from .message import DEFAULT_LIMITS, Limits, Message, Request, Response, parse_uint
from .section import PLAIN_RE

__all__ = ["parse"]

_VERSION_RE = re.compile(r"SIP/\d+\.\d+\Z", re.I)


def parse(data: bytes, *, datagram: bool = True, limits: Limits = DEFAULT_LIMITS) -> Message:
    """Parse one message. For a datagram (RFC 3261 §18.3) the body is cut to Content-Length
    (trailing bytes are ignored) or, without Content-Length, is the rest of the datagram;
    for a framed stream message ``data`` must be exactly one message."""
    end = data.find(b"\r\n\r\n")
    if end > 0 and len(data) <= limits.max_message:  # the usual case, in fewer steps
        head = data[: end + 4].decode("utf-8", "surrogateescape")
        eol = head.find("\r\n")
        if eol > 0:
            return _build(head, eol, data[end + 4 :], datagram, limits)
    return _parse(data, datagram, limits)


def _parse(data: bytes, datagram: bool, limits: Limits) -> Message:
    """:func:`parse` the long way: size, leading CRLFs, bare LFs."""
    if len(data) > limits.max_message:
        raise RemoteProtocolError("message too large", 513)
    start = 0
    while data.startswith(b"\r\n", start):  # RFC 3261 §7.5: ignore CRLFs before the start line
        start += 2
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        return _parse_lf(data[start:], datagram, limits)
    head = data[start : end + 4].decode("utf-8", "surrogateescape")
    return _build(head, head.find("\r\n"), data[end + 4 :], datagram, limits)


def _parse_lf(data: bytes, datagram: bool, limits: Limits) -> Message:
    """Fallback for peers that end lines with a bare LF (normalised to CRLF)."""
    end = data.find(b"\n\n")
    if end < 0 or b"\r\n" in data[:end]:
        raise RemoteProtocolError("header section is not terminated by an empty line")
    head = data[: end + 2].decode("utf-8", "surrogateescape").replace("\n", "\r\n")
    return _build(head, head.find("\r\n"), data[end + 2 :], datagram, limits)


def _build(head: str, eol: int, body: bytes, datagram: bool, limits: Limits) -> Message:
    """``head`` is the start line (ending at ``eol``) and the header section, with the
    closing CRLFCRLF."""
    first, hdr = head[:eol], head[eol:]
    n = len(hdr)
    if n > limits.max_header_bytes:
        raise RemoteProtocolError("header section too large", 513)
    if n > 4 * limits.max_headers and hdr.count("\r\n") > limits.max_headers:
        raise RemoteProtocolError("too many header lines", 513)
    parts = first.split(" ")
    if len(parts) == 3 and parts[2] == "SIP/2.0" and parts[1]:  # the usual request line
        method = parts[0]
        if method not in METHODS and not is_token(method):
            raise RemoteProtocolError(f"bad method {method[:40]!r}")
        msg: Message = Request(method, parts[1], _bare=True)
    else:
        msg = _start(first)
    plain = PLAIN_RE.match(hdr)
    msg._set_text(hdr, False if plain else None, plain or False)
    msg.transport_hint = None
    length = plain[7] if plain else None  # Content-Length's digits when plain
    msg._body = (
        _cut(body, int(length), limits) if length else _cut_body(msg, body, datagram, limits)
    )
    return msg


def _cut_body(msg: Message, body: bytes, datagram: bool, limits: Limits) -> bytes:
    """The body cut to Content-Length, found the general way."""
    values = msg.get_all("content-length")
    if not values:
        if not datagram and body:
            raise RemoteProtocolError("Content-Length is required on a stream")
        return body
    if len(values) > 1:
        raise RemoteProtocolError("more than one Content-Length header")
    return _cut(body, parse_uint(values[0]), limits)


def _cut(body: bytes, length: int, limits: Limits) -> bytes:
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
    return Request(method, uri, version=version, _bare=True)


def _status_line(line: str) -> Response:
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    _check_version(version)
    if len(code) != 3 or not is_digits(code) or not 100 <= int(code) <= 699:
        raise RemoteProtocolError(f"bad status code {code[:20]!r}")
    return Response(int(code), reason, version=version, _bare=True)


def _check_version(version: str) -> None:
    if version.upper() != "SIP/2.0":
        if _VERSION_RE.match(version):
            raise RemoteProtocolError(f"unsupported version {version}", 505)
        raise RemoteProtocolError(f"malformed SIP version {version[:20]!r}")
