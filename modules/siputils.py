"""siputils: SIP utility tests (Kamailio's siputils module, KEMI names and 1/-1 returns).

Message tests: ``has_totag``, ``is_request``, ``is_reply``, ``is_first_hop`` (one Via on a
request, two on a reply), ``is_user`` (username of the credentials). R-URI parameters:
``uri_param``, ``uri_param_value``, ``uri_param_any``, ``uri_param_rm``, ``add_uri_param``.
String tests: ``is_uri``, ``is_tel_number``, ``is_numeric``, ``is_alphanum``,
``is_alphanumex``, ``cmp_uri`` (RFC 3261 §19.1.4), ``cmp_aor`` (user and host),
``cmp_hdr_name``. ``options_reply()`` answers an OPTIONS for the proxy itself (no R-URI
user) with 200 and the Accept* headers of the modparams. Extension (cfg-only in Kamailio):
``is_uri_user_e164(uri)``.
"""

from __future__ import annotations

import re
from typing import Any

from app.module import Module
from sip import URI, Request, parse_uri
from sip.digest import parse_auth

module = Module("siputils", doc="SIP utilities")
module.param("options_accept", str, "*/*", doc="Accept of options_reply()")
module.param("options_accept_encoding", str, "", doc="Accept-Encoding of options_reply()")
module.param("options_accept_language", str, "en", doc="Accept-Language of options_reply()")
module.param("options_support", str, "", doc="Support of options_reply()")
module.param("e164_max_len", int, 15, doc="longest E.164 number")

_TEL = re.compile(r"\+?[0-9]+\Z")


def _rc(ok: bool) -> int:
    return 1 if ok else -1


def _uri(text: str) -> URI | None:
    try:
        uri = parse_uri(text.strip().strip("<>"))
    except Exception:  # noqa: BLE001 - any parse error means "not a URI"
        return None
    return uri if uri.scheme in ("sip", "sips", "tel", "tels") else None


@module.function("has_totag")
def has_totag(ctx: Any) -> int:
    """1 if To has a tag."""
    return _rc(bool(ctx.received.to_tag))


@module.function("is_request")
def is_request(ctx: Any) -> int:
    """1 for a request."""
    return _rc(ctx.request is not None)


@module.function("is_reply")
def is_reply(ctx: Any) -> int:
    """1 for a reply."""
    return _rc(ctx.request is None)


@module.function("is_first_hop")
def is_first_hop(ctx: Any) -> int:
    """1 if the request has one Via (a reply: two) -- it comes straight from the UA."""
    return _rc(len(ctx.received.vias) == (1 if ctx.request is not None else 2))


@module.function("is_first_hop_mode", "i")
def is_first_hop_mode(ctx: Any, mode: int) -> int:
    """is_first_hop() (mode 1, Path/outbound awareness, is not distinguished)."""
    return is_first_hop(ctx)


@module.function("is_uri", "s")
def is_uri(ctx: Any, text: str) -> int:
    """1 if ``text`` is a sip/sips/tel URI."""
    return _rc(_uri(text) is not None)


@module.function("is_uri_user_e164", "s")
def is_uri_user_e164(ctx: Any, text: str) -> int:
    """Extension: 1 if the user part of the URI is ``+`` and 2..e164_max_len digits."""
    uri = _uri(text)
    user = (uri.user if uri is not None and uri.is_sip else (uri.opaque if uri else "")) or ""
    user = user.split(";", 1)[0]
    digits = user[1:]
    ok = user.startswith("+") and digits.isdigit()
    return _rc(ok and 2 <= len(digits) <= int(module.cfg["e164_max_len"]))


@module.function("is_user", "s")
def is_user(ctx: Any, user: str) -> int:
    """1 if the username of the (Proxy-)Authorization credentials is ``user``."""
    for name in ("authorization", "proxy-authorization"):
        for value in ctx.received.get_all(name):
            try:
                if parse_auth(value).params.get("username") == user:
                    return 1
            except Exception:  # noqa: BLE001
                continue
    return -1


def _ruri(ctx: Any) -> URI | None:
    req = ctx.request
    return req.uri if isinstance(req, Request) else None


@module.function("uri_param", "s")
def uri_param(ctx: Any, name: str) -> int:
    """1 if the R-URI has parameter ``name``."""
    uri = _ruri(ctx)
    return _rc(uri is not None and uri.has_param(name))


@module.function("uri_param_value", "ss")
def uri_param_value(ctx: Any, name: str, value: str) -> int:
    """1 if the R-URI has ``name=value``."""
    uri = _ruri(ctx)
    return _rc(uri is not None and uri.param(name) == value)


@module.function("uri_param_any", "s")
def uri_param_any(ctx: Any, name: str) -> int:
    """1 if the R-URI has parameter ``name`` (with or without a value)."""
    return uri_param(ctx, name)


@module.function("uri_param_rm", "s")
def uri_param_rm(ctx: Any, name: str) -> int:
    """Remove parameter ``name`` from the R-URI; 1, or -1 if it had none."""
    uri = _ruri(ctx)
    if uri is None or not uri.has_param(name):
        return -1
    ctx.request.uri = uri.without_params([name])
    return 1


@module.function("add_uri_param", "s")
def add_uri_param(ctx: Any, param: str) -> int:
    """Add ``name[=value]`` to the R-URI parameters; 1 or -1."""
    uri = _ruri(ctx)
    name, eq, value = param.strip().lstrip(";").partition("=")
    if uri is None or not uri.is_sip or not name:
        return -1
    ctx.request.uri = uri.with_param(name, value if eq else None)
    return 1


@module.function("is_tel_number", "s")
def is_tel_number(ctx: Any, text: str) -> int:
    """1 if ``text`` is digits with an optional leading ``+``."""
    return _rc(bool(_TEL.match(text)))


@module.function("is_numeric", "s")
def is_numeric(ctx: Any, text: str) -> int:
    """1 if ``text`` is only digits."""
    return _rc(text.isascii() and text.isdigit())


@module.function("is_alphanum", "s")
def is_alphanum(ctx: Any, text: str) -> int:
    """1 if ``text`` is only ASCII letters and digits."""
    return _rc(text.isascii() and text.isalnum())


@module.function("is_alphanumex", "ss")
def is_alphanumex(ctx: Any, text: str, extra: str) -> int:
    """1 if ``text`` is only ASCII letters, digits and characters of ``extra``."""
    return _rc(bool(text) and all((c.isascii() and c.isalnum()) or c in extra for c in text))


@module.function("cmp_uri", "ss")
def cmp_uri(ctx: Any, a: str, b: str) -> int:
    """1 if the URIs are equal (RFC 3261 §19.1.4), -1 if not, -2 if one does not parse."""
    ua, ub = _uri(a), _uri(b)
    if ua is None or ub is None:
        return -2
    return _rc(ua == ub)


@module.function("cmp_aor", "ss")
def cmp_aor(ctx: Any, a: str, b: str) -> int:
    """1 if the addresses of record (user, host, port) are equal; -2 on a bad URI."""
    ua, ub = _uri(a), _uri(b)
    if ua is None or ub is None:
        return -2
    return _rc((ua.user_unescaped, ua.host.lower(), ua.port) == (
        ub.user_unescaped, ub.host.lower(), ub.port,
    ))  # fmt: skip


@module.function("cmp_hdr_name", "ss")
def cmp_hdr_name(ctx: Any, a: str, b: str) -> int:
    """1 if the header names are the same (case-insensitive, compact forms understood)."""
    from sip.message import COMPACT  # noqa: PLC0415

    def full(name: str) -> str:
        low = name.strip().lower()
        return COMPACT.get(low, low)

    return _rc(full(a) == full(b))


@module.function("options_reply")
def options_reply(ctx: Any) -> int:
    """Answer an OPTIONS without R-URI user with 200 and the Accept* headers; 1 or -1."""
    req = ctx.request
    if req is None or req.method != "OPTIONS" or ctx.core is None:
        return -1
    if req.uri.is_sip and req.uri.user:
        return -1
    headers = [
        (name, str(module.cfg[param]))
        for name, param in (
            ("Accept", "options_accept"),
            ("Accept-Encoding", "options_accept_encoding"),
            ("Accept-Language", "options_accept_language"),
            ("Support", "options_support"),
        )
        if module.cfg[param]
    ]
    return _rc(ctx.core.reply(ctx, 200, "OK", headers=headers))
