"""auth_db: digest authentication against the subscriber table (Kamailio's auth_db).

``auth_check(realm, table, flags)``, ``www_authenticate``/``www_authorize(realm, table)``,
``proxy_authenticate``/``proxy_authorize(realm, table)``; return codes as auth's
(kemi.md §2.3). The table is Kamailio's ``subscriber`` (username, domain, password, ha1,
ha1b) in the ``db_url`` store (``sqlite:///path``; default: an in-memory table, filled by
tests or by ``siprouter-db``). ``calculate_ha1=1`` computes HA1 from the ``password_column``
(needed for SHA-256); otherwise the ``ha1`` column (``ha1b`` when the username has a
domain) is used. ``load_credentials`` copies columns into AVPs (``"$avp(email)=email"`` or
a bare column name), ``use_domain`` matches the realm against the ``domain`` column.
"""

from __future__ import annotations

import functools
from typing import Any

from app.context import Ctx
from app.module import ParamError
from app.store import Store, StoreError, StoreModule, Subscriber, call, drop, open_store
from modules import load_module

module = StoreModule("auth_db", doc="digest authentication against a subscriber table",
                requires=("auth",))  # fmt: skip
module.param("db_url", str, "", doc="sqlite:///path/to.db (default: memory)")
module.param("calculate_ha1", int, 0, doc="1: HA1 from the password column")
module.param("password_column", str, "ha1", doc="column holding the password or HA1")
module.param("password_column_2", str, "ha1b", doc="HA1 for user@domain usernames")
module.param("use_domain", int, 0, doc="1: the subscriber's domain must be the realm")
module.param("load_credentials", str, "", doc="columns to copy into AVPs")
module.param("user_column", str, "username", doc="accepted (fixed name)")
module.param("domain_column", str, "domain", doc="accepted (fixed name)")
module.param("version_table", int, 1, doc="accepted")

_stores: dict[str, Store] = {}


@functools.cache  # a module is a singleton: its API is looked up once (auth_db requires auth)
def auth_api() -> dict[str, Any]:
    """The auth module's exported API (``authenticate``, ``ha1``, ``check_users``, ...)."""
    return load_module("auth").api


def store() -> Store:
    """The subscriber store (``db_url``; memory by default)."""
    url = str(module.cfg["db_url"]) or "memory://auth_db"
    if url not in _stores:
        try:
            _stores[url] = open_store(url)
        except StoreError as exc:
            raise ParamError(f'modparam "auth_db" "db_url": {exc}') from None
    return _stores[url]


@module.on_stop
def _stop() -> None:
    for st in _stores.values():
        drop(st)
    _stores.clear()


def _subscriber(table: str, user: str, realm: str) -> Subscriber | None:
    name, _, domain = user.partition("@")
    st = store()
    want = (domain or realm) if module.cfg["use_domain"] else ""
    return call(st, st.get_subscriber, table, name, want)


def _ha1_getter(ctx: Ctx, table: str) -> object:
    def get(user: str, realm: str, alg: str) -> str | None:
        sub = _subscriber(table, user, realm)
        if sub is None:
            return None
        cfg = module.cfg
        if cfg["load_credentials"]:
            _load_credentials(ctx, sub)
        column = str(cfg["password_column"])
        if cfg["calculate_ha1"]:
            password = getattr(sub, column, "") or sub.password
            return str(auth_api()["ha1"](user, realm, password, alg))
        return sub.ha1b if "@" in user and sub.ha1b else getattr(sub, column, "") or sub.ha1

    return get


def _load_credentials(ctx: Ctx, sub: Subscriber) -> None:
    for item in filter(None, (s.strip() for s in str(module.cfg["load_credentials"]).split(";"))):
        avp, _, column = item.partition("=")
        name = avp.strip().removeprefix("$avp(").rstrip(")").removeprefix("s:") if column else avp
        value = getattr(sub, (column or avp).strip(), None)
        if value is not None:
            ctx.avps.setdefault(name, []).insert(0, value)


def _authenticate(ctx: Ctx, realm: str, table: str, www: bool) -> int:
    api = auth_api()
    realm = api["default_realm"](ctx, realm)
    return int(api["authenticate"](ctx, realm, www, _ha1_getter(ctx, table)))


@module.function("auth_check", "ssi")
def auth_check(ctx: Ctx, realm: str, table: str, flags: int) -> int:
    """www (REGISTER) or proxy authentication, then the identity check of ``flags``."""
    rc = _authenticate(ctx, realm, table, ctx.method == "REGISTER")
    return int(auth_api()["check_users"](ctx, flags)) if rc > 0 else rc


@module.function("www_authenticate", "ss")
def www_authenticate(ctx: Ctx, realm: str, table: str) -> int:
    """Check the Authorization header against ``table``."""
    return _authenticate(ctx, realm, table, True)


@module.function("www_authorize", "ss")
def www_authorize(ctx: Ctx, realm: str, table: str) -> int:
    """Alias of www_authenticate."""
    return _authenticate(ctx, realm, table, True)


@module.function("proxy_authenticate", "ss")
def proxy_authenticate(ctx: Ctx, realm: str, table: str) -> int:
    """Check the Proxy-Authorization header against ``table``."""
    return _authenticate(ctx, realm, table, False)


@module.function("proxy_authorize", "ss")
def proxy_authorize(ctx: Ctx, realm: str, table: str) -> int:
    """Alias of proxy_authenticate."""
    return _authenticate(ctx, realm, table, False)
