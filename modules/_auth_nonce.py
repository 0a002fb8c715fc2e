"""Nonces of the auth module: self-checking, expiring, and (optionally) usable once.

A nonce is ``base64url(expires:u32 | index:u64 | MAC(secret, expires|index|realm))``, 32
characters, where MAC is keyed BLAKE2b (RFC 7693 §2.5, 12 bytes; one C call, ~3x cheaper
than HMAC-SHA256 through OpenSSL): the proxy needs no state to tell a forged or foreign
nonce (bad MAC) from an expired one (``stale=true``). The secret is made once in the master
process (inherited by every forked worker) unless the ``secret`` modparam sets it.
``index`` is random (the ``random`` module, which reseeds in forked workers): it tells
nonces apart in the replay window and needs no secrecy, the MAC protects the nonce.

Replays are refused through the store shared by the workers (:func:`app.store.shared_store`):
``one_time_nonce`` claims the index on first use (``kv_add``); ``nonce_count`` records the
highest ``nc`` seen for the index (``kv_raise``): an ``nc`` not above it is a replay. Entries
expire with their nonce. With neither (Kamailio's default), a nonce is valid until it expires.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import hmac
import os
import random
import struct
import time
from dataclasses import dataclass

from app.store import Store, call

_SECRET = os.urandom(32)  # made at import, in the master: every worker shares it
_FMT = struct.Struct(">IQ")
MAC_LEN = 12
NONCE_LEN = 32  # base64 characters of the 24 bytes, no padding
_TO_URLSAFE, _FROM_URLSAFE = bytes.maketrans(b"+/", b"-_"), bytes.maketrans(b"-_", b"+/")
VALID, STALE, INVALID = "valid", "stale", "invalid"


@dataclass(slots=True)
class Checked:
    """The verdict on a nonce: ``state`` and, when well-formed, its expiry and index."""

    state: str
    expires: int = 0
    index: int = 0


_INVALID = Checked(INVALID)


def secret_bytes(configured: str) -> bytes:
    """The MAC key: the ``secret`` modparam, else this server's random one."""
    return _secret(configured) if configured else _SECRET


@functools.lru_cache(maxsize=8)
def _secret(configured: str) -> bytes:
    """A configured secret as a BLAKE2b key (at most 64 bytes: a longer one is hashed)."""
    raw = configured.encode()
    return raw if len(raw) <= 64 else hashlib.blake2b(raw).digest()


def _mac(key: bytes, payload: bytes, realm: str) -> bytes:
    return hashlib.blake2b(payload + realm.encode(), key=key, digest_size=MAC_LEN).digest()


def make(key: bytes, realm: str, lifetime: int, now: float | None = None) -> str:
    """A fresh nonce for ``realm`` valid ``lifetime`` seconds."""
    expires = int(now if now is not None else time.time()) + lifetime
    payload = _FMT.pack(expires & 0xFFFFFFFF, random.getrandbits(64))  # noqa: S311 - see above
    raw = binascii.b2a_base64(payload + _mac(key, payload, realm), newline=False)
    return raw.translate(_TO_URLSAFE).decode()


def check(key: bytes, realm: str, nonce: str, drift: int = 3, now: float | None = None) -> Checked:
    """Is ``nonce`` one of ours for ``realm``, and still valid?"""
    if len(nonce) != NONCE_LEN or not nonce.isascii():
        return _INVALID
    try:
        raw = binascii.a2b_base64(nonce.encode().translate(_FROM_URLSAFE), strict_mode=True)
    except binascii.Error:
        return _INVALID
    payload = raw[: _FMT.size]
    if not hmac.compare_digest(raw[_FMT.size :], _mac(key, payload, realm)):
        return _INVALID
    expires, index = _FMT.unpack(payload)
    current = now if now is not None else time.time()
    return Checked(STALE if expires + drift < current else VALID, expires, index)


def claim(store: Store, nonce: Checked, nc: int | None, one_time: bool, count: bool) -> bool:
    """Record a successful use of ``nonce``; False if that use is a replay."""
    now, keep = time.time(), float(nonce.expires + 60)
    key = format(nonce.index, "x")
    if one_time and not call(store, store.kv_add, "auth_otn", key, 1, keep, now):
        return False
    if count and nc is not None:
        return call(store, store.kv_raise, "auth_nc", key, nc, keep, now)
    return True
