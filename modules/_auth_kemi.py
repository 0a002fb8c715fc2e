"""The KEMI functions and pseudo-variables of the auth module (see :mod:`modules.auth`)."""

from __future__ import annotations

from typing import Any

from app.context import Ctx
from modules import _auth_nonce as nonces
from modules import auth
from sip.digest import AuthHeader

module = auth.module
STALE_FLAG = 16


def challenge_value(ctx: Ctx, realm: str, flags: int) -> str:
    """The ``Digest realm=..., nonce=...`` value of a challenge (Kamailio's order)."""
    cfg = module.cfg
    nonce = nonces.make(auth._key(), realm, int(cfg["nonce_expire"]))  # noqa: SLF001
    text = f'Digest realm="{realm}", nonce="{nonce}"'
    if flags & STALE_FLAG or ctx.extra.get("auth_stale"):
        text += ", stale=true"
    alg = str(cfg["algorithm"]).upper()
    if alg and alg != "MD5":
        text += f", algorithm={alg}"
    qop = "auth" if flags & 1 else "auth-int" if flags & 2 else str(cfg["qop"])
    if qop:
        text += f', qop="{qop}"'
    return text


def _challenge(ctx: Ctx, realm: str, flags: int, www: bool) -> int:
    if ctx.request is None or ctx.core is None:
        return -1
    realm = auth.default_realm(ctx, realm)
    name = "WWW-Authenticate" if www else "Proxy-Authenticate"
    code, reason = (401, "Unauthorized") if www else (407, "Proxy Authentication Required")
    header = (name, challenge_value(ctx, realm, flags))
    tm_reply = ctx.extra.get("tm_reply")
    if tm_reply is not None:
        ctx.reply_headers.append(header)
        return 1 if tm_reply(code, reason) else -1
    return 1 if ctx.core.reply(ctx, code, reason, headers=[header]) else -1


@module.function("auth_challenge", "si")
def auth_challenge(ctx: Ctx, realm: str, flags: int) -> int:
    """401 with WWW-Authenticate for REGISTER, else 407 with Proxy-Authenticate."""
    return _challenge(ctx, realm, flags, ctx.method == "REGISTER")


@module.function("www_challenge", "si")
def www_challenge(ctx: Ctx, realm: str, flags: int) -> int:
    """401 with a WWW-Authenticate challenge."""
    return _challenge(ctx, realm, flags, True)


@module.function("proxy_challenge", "si")
def proxy_challenge(ctx: Ctx, realm: str, flags: int) -> int:
    """407 with a Proxy-Authenticate challenge."""
    return _challenge(ctx, realm, flags, False)


@module.function("auth_get_www_authenticate", "sis")
def auth_get_www_authenticate(ctx: Ctx, realm: str, flags: int, pvdest: str) -> int:
    """Store a WWW-Authenticate header line in the PV ``pvdest``."""
    line = f"WWW-Authenticate: {challenge_value(ctx, auth.default_realm(ctx, realm), flags)}\r\n"
    if ctx.engine is None:
        return -1
    ctx.engine.pvs.set(ctx, pvdest, line)
    return 1


def _pv_auth(ctx: Ctx, realm: str, passwd: str, flags: int, www: bool, method: str = "") -> int:
    realm = auth.default_realm(ctx, realm)
    return auth.authenticate(ctx, realm, www, auth.ha1_of_password(passwd, bool(flags & 1)), method)


@module.function("pv_www_authenticate", "ssi")
def pv_www_authenticate(ctx: Ctx, realm: str, passwd: str, flags: int) -> int:
    """Check Authorization against ``passwd`` (flags 1: it is the HA1)."""
    return _pv_auth(ctx, realm, passwd, flags, True)


@module.function("pv_www_authenticate_method", "ssis")
def pv_www_authenticate_method(ctx: Ctx, realm: str, passwd: str, flags: int, method: str) -> int:
    """pv_www_authenticate with another method in the digest."""
    return _pv_auth(ctx, realm, passwd, flags, True, method)


@module.function("pv_proxy_authenticate", "ssi")
def pv_proxy_authenticate(ctx: Ctx, realm: str, passwd: str, flags: int) -> int:
    """Check Proxy-Authorization against ``passwd``."""
    return _pv_auth(ctx, realm, passwd, flags, False)


@module.function("pv_auth_check", "ssii")
def pv_auth_check(ctx: Ctx, realm: str, passwd: str, flags: int, checks: int) -> int:
    """www (REGISTER) or proxy authentication, then the From/To user check (checks 1)."""
    rc = _pv_auth(ctx, realm, passwd, flags, ctx.method == "REGISTER")
    return auth.check_users(ctx, checks) if rc > 0 else rc


@module.function("consume_credentials")
def consume_credentials(ctx: Ctx) -> int:
    """Remove the credentials that authenticated the request; 1, or -1 if none did."""
    name = ctx.extra.get("auth_used")
    if name is None or ctx.request is None:
        return -1
    ctx.editing().remove(name)
    return 1


@module.function("has_credentials", "s")
def has_credentials(ctx: Ctx, realm: str) -> int:
    """1 if the request has (Proxy-)Authorization for ``realm``, else -1."""
    found = auth.credentials(ctx, realm, True) or auth.credentials(ctx, realm, False)
    return 1 if found is not None else -1


def _cred(ctx: Ctx) -> AuthHeader | None:
    return auth._any_credentials(ctx) if ctx.request is not None else None  # noqa: SLF001


def _pv(name: str, get: Any, doc: str) -> None:
    def getter(ctx: Ctx, inner: str | None) -> Any:
        cred = _cred(ctx)
        return None if cred is None else get(cred)

    module.pv(name, doc)(getter)


_pv("au", lambda c: (c.get("username") or "").split("@")[0], "auth user (user part)")
_pv("ad", lambda c: (c.get("username") or "").partition("@")[2] or c.get("realm"), "auth domain")
_pv("aU", lambda c: c.get("username"), "whole auth username")
_pv("ar", lambda c: c.get("realm"), "auth realm")
_pv("adu", lambda c: c.get("uri"), "digest URI")
_pv("aa", lambda c: c.get("algorithm") or "", "digest algorithm")
