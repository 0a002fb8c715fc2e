"""From/To rewriting that lasts the whole dialog (rtjson's ``headers.from``/``headers.to``),
the way Kamailio's uac module does it with ``restore_mode`` "auto".

The initial request leaves with new From/To values (display name and URI; the parameters,
tags included, are the sender's). So that both user agents keep seeing their own view of the
dialog:

* replies relayed upstream get back the From/To the caller sent (display name and URI), the
  reply's parameters (the callee's To tag) kept -- a fixup on the transaction
  (``Cell.upstream_fixups``);
* later in-dialog requests are translated from the parameters this proxy put in its
  Record-Route (rr's callback, run by ``loose_route()``): a request from the caller side
  (``From`` tag = the ``ftag`` of our Route) gets the new From/To, one from the callee side
  gets the original values back in its To (the caller's identity) and From (the callee's as
  the caller addressed it); the replies to those requests get back what their sender sent.

One Record-Route parameter per rewritten header (``rjf`` for From, ``rjt`` for To, rtjson's
``rr_from_param``/``rr_to_param``) carries both values, ``"display" <uri>`` without
parameters, encoded as base64url (no padding) of::

    0x01 | original | 0x00 | new | CRC-32 (4 bytes, big endian)

or, when rtjson's ``restore_key`` is set (the values are then neither readable nor forgeable
by the user agents, which see our Record-Route)::

    0x02 | nonce (8) | original 0x00 new, XOR a SHA-256 counter keystream | HMAC-SHA-256 (10)

A value longer than :data:`MAX_VALUE` characters is not stored (the initial request is still
rewritten; the rest of the dialog is not translated, and a warning is logged). A parameter
that does not decode (damaged, forged, another key) is ignored with a warning: the request
goes on untranslated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import zlib

from sip import RemoteProtocolError
from sip.headers import NameAddr, parse_name_addr

#: the longest ``"display" <uri>`` value kept in a Record-Route parameter (characters)
MAX_VALUE = 256
_PLAIN, _SEALED = 1, 2
_NONCE, _MAC = 8, 10


def bare(na: NameAddr) -> str:
    """``display <uri>`` of a header value, without its parameters."""
    return str(NameAddr(str(na.uri), na.display))


def combine(value: str, params_of: NameAddr) -> str:
    """The display name and URI of ``value`` with the parameters of ``params_of``."""
    new = parse_name_addr(value)
    return str(NameAddr(str(new.uri), new.display, params_of.params))


def _keys(key: str) -> tuple[bytes, bytes]:
    raw = key.encode()
    enc, mac = (hashlib.sha256(label + raw).digest() for label in (b"rtjson-enc", b"rtjson-mac"))
    return enc, mac


def _stream(enc: bytes, nonce: bytes, size: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(enc + nonce + counter.to_bytes(4, "big")).digest()
        counter += 1
    return bytes(out[:size])


def encode(original: str, new: str, key: str = "") -> str | None:
    """The Record-Route parameter value for one header; None when a value is too long or
    holds a NUL."""
    if len(original) > MAX_VALUE or len(new) > MAX_VALUE or "\0" in original + new:
        return None
    body = original.encode() + b"\0" + new.encode()
    if not key:
        data = bytes([_PLAIN]) + body + zlib.crc32(body).to_bytes(4, "big")
    else:
        enc, mac = _keys(key)
        nonce = os.urandom(_NONCE)
        sealed = bytes(a ^ b for a, b in zip(body, _stream(enc, nonce, len(body)), strict=True))
        head = bytes([_SEALED]) + nonce + sealed
        data = head + hmac.new(mac, head, hashlib.sha256).digest()[:_MAC]
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode(value: str, key: str = "") -> tuple[str, str] | None:
    """``(original, new)`` from a Record-Route parameter value; None when it does not decode
    (damaged, forged, sealed with another key, or sealed while no key is set)."""
    if not value or len(value) > 4 * MAX_VALUE:
        return None
    try:
        data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(data) < 6:
        return None
    if data[0] == _PLAIN:
        body, crc = data[1:-4], data[-4:]
        if zlib.crc32(body).to_bytes(4, "big") != crc:
            return None
    elif data[0] == _SEALED and key and len(data) > 1 + _NONCE + _MAC:
        enc, mac = _keys(key)
        head, tag = data[:-_MAC], data[-_MAC:]
        if not hmac.compare_digest(hmac.new(mac, head, hashlib.sha256).digest()[:_MAC], tag):
            return None
        nonce, sealed = head[1 : 1 + _NONCE], head[1 + _NONCE :]
        body = bytes(a ^ b for a, b in zip(sealed, _stream(enc, nonce, len(sealed)), strict=True))
    else:
        return None
    original, sep, new = body.partition(b"\0")
    if not sep:
        return None
    try:
        pair = original.decode(), new.decode()
        for text in pair:  # both must be usable header values
            parse_name_addr(text).uri  # noqa: B018 - parses the URI
    except (UnicodeDecodeError, ValueError, RemoteProtocolError):
        return None
    return pair


def rewrite_header(msg: object, name: str, value: str) -> bool:
    """Give header ``name`` of ``msg`` the display name and URI of ``value``, its own
    parameters kept; False when the header is missing or unparsable."""
    current = msg.get(name)  # type: ignore[attr-defined]
    if current is None:
        return False
    try:
        new = combine(value, parse_name_addr(current))
    except (ValueError, RemoteProtocolError):
        return False
    msg.replace(name, new)  # type: ignore[attr-defined]
    return True


class RestoreReplies:
    """A ``Cell.upstream_fixups`` entry: the From/To of each reply get back the display name
    and URI the request's sender used (``values``: header name -> ``display <uri>``); the
    reply's parameters (tags) are kept. Replies not touched are returned as they are."""

    __slots__ = ("values",)

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def __call__(self, resp: object) -> object:
        out = None
        for name, value in self.values.items():
            current = resp.get(name)  # type: ignore[attr-defined]
            if current is None:
                continue
            try:
                na = parse_name_addr(current)
                if bare(na) == value:
                    continue
                fixed = combine(value, na)
            except (ValueError, RemoteProtocolError):
                continue
            if out is None:
                out = resp.copy()  # type: ignore[attr-defined]
            out.replace(name, fixed)
        return resp if out is None else out
