"""auth: digest challenges and checks (Kamailio's auth module; RFC 3261 §22, RFC 7616, RFC 8760).

KEMI: ``auth_challenge``/``www_challenge``/``proxy_challenge(realm, flags)`` (flags 1 qop=auth,
2 qop=auth-int, 16 stale=true), ``pv_www_authenticate``/``pv_proxy_authenticate``/
``pv_auth_check`` (a password from the script; flags 1: it is the HA1),
``consume_credentials``, ``has_credentials``, ``auth_get_www_authenticate``. Return codes of
kemi.md §2.3: 1 ok, -1 error or forged nonce, -2 bad password, -3 no such user, -4 nonce
expired (the next challenge says ``stale=true``), -5 no credentials for the realm,
-6 nonce reused, -8 auth user mismatch. Nonces: :mod:`modules._auth_nonce`. PVs ``$au``,
``$ad``, ``$aU``, ``$ar``, ``$adu``, ``$aa`` read the request's credentials.

Other modules (auth_db) call :func:`authenticate` through ``module.api``, giving a
callable that returns the user's HA1 (or None for an unknown user).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any

from app.context import Ctx
from app.module import Module
from app.store import Store, drop, shared_store
from modules import _auth_nonce as nonces
from sip import RemoteProtocolError, Request
from sip.digest import HASHES, AuthHeader, digest_response, parse_auth

log = logging.getLogger("siprouter.auth")
module = Module("auth", doc="digest authentication", requires=("sl",))
module.param("secret", str, "", doc="HMAC key of nonces (default: random per start)")
module.param("nonce_expire", int, 300, doc="nonce lifetime, seconds")
module.param("nonce_auth_max_drift", int, 3, doc="seconds of clock drift accepted")
module.param("nonce_count", int, 0, doc="1: refuse an nc not above the last one (replays)")
module.param("one_time_nonce", int, 0, doc="1: a nonce authenticates one request only")
module.param("qop", str, "", doc='qop offered by default ("auth", "auth-int")')
module.param("algorithm", str, "", doc="MD5 (default), SHA-256, SHA-512-256")
module.param("force_stateless_reply", int, 0, doc="accepted: replies use tm when it exists")
module.param("realm_prefix", str, "", doc="accepted")
module.param("use_domain", int, 0, doc="accepted")
for _name in ("auth_checks_register", "auth_checks_no_dlg", "auth_checks_in_dlg",
              "nid_pool_no", "nc_array_size", "nc_array_order", "otn_in_flight_no",
              "otn_in_flight_order", "add_authinfo_hdr"):  # fmt: skip
    module.param(_name, int, 0, doc="accepted")

Ha1Getter = Callable[[str, str, str], "str | None"]
_state: dict[str, Any] = {"store": None}
ANON_METHODS = ("INVITE", "BYE", "PRACK", "UPDATE", "MESSAGE")


def store() -> Store:
    """The replay window's store (shared by forked workers)."""
    if _state["store"] is None:
        _state["store"] = shared_store("auth")
    return _state["store"]  # type: ignore[no-any-return]


@module.on_stop
def _stop() -> None:
    if _state["store"] is not None:
        drop(_state["store"])
    _state["store"] = None


def _key() -> bytes:
    return nonces.secret_bytes(str(module.cfg["secret"]))


@module.export("default_realm")
def default_realm(ctx: Ctx, realm: str) -> str:
    """``realm``, or the To host (REGISTER) / From host (others) when empty."""
    if realm:
        return realm
    na = ctx.received.to if ctx.method == "REGISTER" else ctx.received.from_
    return na.uri.host if na is not None else ""


# -- credentials ---------------------------------------------------------------------------
def _header_name(www: bool) -> str:
    return "authorization" if www else "proxy-authorization"


@module.export("credentials")
def credentials(ctx: Ctx, realm: str | None, www: bool) -> AuthHeader | None:
    """The digest credentials of the request for ``realm`` (any realm if None)."""
    parsed: dict[str, AuthHeader | None] | None = ctx.extra.get("auth_parsed")
    if parsed is None:
        parsed = ctx.extra["auth_parsed"] = {}
    for value in ctx.received.get_all(_header_name(www)):
        if value in parsed:  # each header value is parsed once per message
            cred = parsed[value]
        else:
            try:
                cred = parse_auth(value)
            except RemoteProtocolError:
                cred = None
            parsed[value] = cred = cred if cred is not None and cred.is_digest else None
        if cred is not None and (realm is None or cred.params.get("realm") == realm):
            return cred
    return None


def _any_credentials(ctx: Ctx) -> AuthHeader | None:
    first = ctx.method != "REGISTER"
    return credentials(ctx, None, not first) or credentials(ctx, None, first)


# -- checking --------------------------------------------------------------------------------
@module.export("authenticate")
def authenticate(ctx: Ctx, realm: str, www: bool, ha1_of: Ha1Getter, method: str = "") -> int:
    """Check the request's credentials for ``realm``; a kemi.md §2.3 return code."""
    req = ctx.request
    cred = credentials(ctx, realm, www) if req is not None else None
    if cred is None or req is None:
        return -5
    p = cred.params
    user, nonce = p.get("username"), p.get("nonce")
    if not (user and nonce and p.get("uri") and p.get("response")):
        return -1
    alg = cred.algorithm
    if alg.removesuffix("-SESS") not in HASHES:
        return -1
    checked = nonces.check(_key(), realm, nonce, int(module.cfg["nonce_auth_max_drift"]))
    if checked.state != nonces.VALID:
        ctx.extra["auth_stale"] = checked.state == nonces.STALE
        return -4 if checked.state == nonces.STALE else -1
    ha1 = ha1_of(user, realm, alg)
    if ha1 is None:
        return -3
    if not _response_ok(cred, req, method or req.method, ha1):
        return -2
    return _claim(ctx, cred, checked, www)


def _response_ok(cred: AuthHeader, req: Request, method: str, ha1: str) -> bool:
    p = cred.params
    try:
        expected = digest_response(
            username=p.get("username", ""), realm=p.get("realm", ""), password="", method=method,
            uri=p.get("uri", ""), nonce=p.get("nonce", ""), algorithm=cred.algorithm,
            qop=p.get("qop"), nc=p.get("nc", ""), cnonce=p.get("cnonce", ""), body=req.body, ha1=ha1,
        )  # fmt: skip
    except RemoteProtocolError:
        return False
    return hmac.compare_digest(expected, p.get("response", "").lower())


def _claim(ctx: Ctx, cred: AuthHeader, checked: nonces.Checked, www: bool) -> int:
    nc_text = cred.get("nc")
    try:
        nc = int(nc_text, 16) if nc_text else None
    except ValueError:
        return -1
    one, count = bool(module.cfg["one_time_nonce"]), bool(module.cfg["nonce_count"])
    if (one or count) and not nonces.claim(store(), checked, nc, one, count):
        return -6
    ctx.extra["auth_used"] = _header_name(www)
    ctx.extra["auth_cred"] = cred
    return 1


@module.export("ha1")
def ha1(user: str, realm: str, password: str, alg: str) -> str:
    """H(user:realm:password) with the hash of ``alg`` (``-sess`` is applied later)."""
    return HASHES[alg.upper().removesuffix("-SESS")](f"{user}:{realm}:{password}".encode())


def ha1_of_password(password: str, is_ha1: bool) -> Ha1Getter:
    """An HA1 getter for a password (or HA1) given by the script."""

    def get(user: str, realm: str, alg: str) -> str:
        return password if is_ha1 else ha1(user, realm, password, alg)

    return get


@module.export("check_users")
def check_users(ctx: Ctx, flags: int) -> int:
    """auth_check's identity check (flags 1; 3 skips anonymous-capable methods): 1 or -8."""
    req, cred = ctx.request, ctx.extra.get("auth_used")
    if not flags & 1 or req is None or cred is None:
        return 1
    if flags & 2 and req.method in ANON_METHODS:
        return 1
    authorized = ctx.extra.get("auth_cred") or credentials(ctx, None, cred == "authorization")
    au = ((authorized or AuthHeader("")).get("username") or "").split("@")[0]
    uris = [ctx.received.from_]
    if req.method in ("REGISTER", "PUBLISH"):
        uris.append(ctx.received.to)
    users = [na.uri.user for na in uris if na is not None]
    if req.method == "PUBLISH":
        users.append(req.uri.user)
    return 1 if all(u == au for u in users) else -8


from modules import _auth_kemi  # noqa: E402,F401 - the KEMI functions and PVs
