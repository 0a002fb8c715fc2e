"""Nonces of the auth module: self-checking, expiring, and (optionally) usable once.

A nonce is ``base64url(expires:u32 | index:u64 | HMAC-SHA256(secret, expires|index|realm)[:12])``:
the proxy needs no state to tell a forged or foreign nonce (bad MAC) from an expired one
(``stale=true``). The secret is made once in the master process (inherited by every forked
worker) unless the ``secret`` modparam sets it. ``index`` is random.

Replays are refused through the store shared by the workers (:func:`app.store.shared_store`):
``one_time_nonce`` claims the index on first use (``kv_add``); ``nonce_count`` records the
highest ``nc`` seen for the index (``kv_raise``): an ``nc`` not above it is a replay. Entries
expire with their nonce. With neither (Kamailio's default), a nonce is valid until it expires.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
import struct
import time
from dataclasses import dataclass

from app.store import Store, call

_SECRET = os.urandom(32)  # made at import, in the master: every worker shares it
_FMT = struct.Struct(">IQ")
MAC_LEN = 12
VALID, STALE, INVALID = "valid", "stale", "invalid"


@dataclass(frozen=True)
class Checked:
    """The verdict on a nonce: ``state`` and, when well-formed, its expiry and index."""

    state: str
    expires: int = 0
    index: int = 0


def secret_bytes(configured: str) -> bytes:
    """The HMAC key: the ``secret`` modparam, else this server's random one."""
    return configured.encode() if configured else _SECRET


def _mac(key: bytes, payload: bytes, realm: str) -> bytes:
    return hmac.digest(key, payload + realm.encode(), "sha256")[:MAC_LEN]  # OpenSSL one-shot


def make(key: bytes, realm: str, lifetime: int, now: float | None = None) -> str:
    """A fresh nonce for ``realm`` valid ``lifetime`` seconds."""
    expires = int(now if now is not None else time.time()) + lifetime
    payload = _FMT.pack(expires & 0xFFFFFFFF, secrets.randbits(64))
    return base64.urlsafe_b64encode(payload + _mac(key, payload, realm)).decode().rstrip("=")


def check(key: bytes, realm: str, nonce: str, drift: int = 3, now: float | None = None) -> Checked:
    """Is ``nonce`` one of ours for ``realm``, and still valid?"""
    try:
        raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
    except (binascii.Error, ValueError):
        return Checked(INVALID)
    if len(raw) != _FMT.size + MAC_LEN:
        return Checked(INVALID)
    payload, mac = raw[: _FMT.size], raw[_FMT.size :]
    if not hmac.compare_digest(mac, _mac(key, payload, realm)):
        return Checked(INVALID)
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
