"""The individual checks of the sanity module: ``check(msg, *, uflags, supported)`` returns
None when the message passes, else a :class:`Failure` with the reply Kamailio sends."""

from __future__ import annotations

from typing import Any, NamedTuple

from sip import Message, Request, parse_name_addr, parse_uri
from sip.digest import parse_auth
from sip.headers import split_commas

SCHEMES = ("sip", "sips", "tel", "tels", "urn")
REQUIRED = ("to", "from", "cseq", "call-id", "via")
MAX_CSEQ = 2**32 - 1
MAX_URI = 1024


class Failure(NamedTuple):
    """A failed check: the reply to send."""

    code: int
    reason: str
    headers: list[tuple[str, str]] = []


def ruri_version(msg: Message, **_: Any) -> Failure | None:
    """1: the request line says SIP/2.0."""
    if isinstance(msg, Request) and msg.version.upper() != "SIP/2.0":
        return Failure(505, "Version Not Supported (R-URI)")
    return None


def ruri_scheme(msg: Message, **_: Any) -> Failure | None:
    """2: the Request-URI scheme is sip, sips, tel, tels or urn (else 416)."""
    if not isinstance(msg, Request):
        return None
    scheme = msg.uri_text.partition(":")[0].lower()
    if scheme not in SCHEMES:
        return Failure(416, "Unsupported URI Scheme in Request URI")
    return None


def required_headers(msg: Message, **_: Any) -> Failure | None:
    """4: To, From, CSeq, Call-ID and Via are present, the first four once only."""
    if not all(name in msg for name in REQUIRED):
        return Failure(400, "Missing Required Header in Request")
    if any(msg.count(name) > 1 for name in REQUIRED[:4]):
        return Failure(400, "Duplicate Required Header in Request")
    return None


def via_version(msg: Message, **_: Any) -> Failure | None:
    """8: the top Via says SIP/2.0."""
    text = (msg.get("via") or "SIP/2.0/").replace(" ", "").upper()
    if not text.startswith("SIP/2.0/"):
        return Failure(505, "Version Not Supported (Via)")
    return None


def via_protocol(msg: Message, **_: Any) -> Failure | None:
    """16: accepted as in Kamailio (an unknown transport in Via is not an error)."""
    return None


def cseq_method(msg: Message, **_: Any) -> Failure | None:
    """32: the CSeq method is the request method."""
    cseq = msg.cseq
    if cseq is None:
        return Failure(400, "Missing CSeq Header")
    if isinstance(msg, Request) and cseq.method != msg.method:
        return Failure(400, "CSeq method does not match request method")
    return None


def cseq_value(msg: Message, **_: Any) -> Failure | None:
    """64: the CSeq number is an unsigned 32-bit integer."""
    text = (msg.get("cseq") or "").split()
    if not text or not text[0].isdigit() or int(text[0]) > MAX_CSEQ:
        return Failure(400, "CSeq number is illegal")
    return None


def content_length(msg: Message, **_: Any) -> Failure | None:
    """128: Content-Length is the body's length."""
    values = msg.get_all("content-length")
    if not values:
        return None
    if len(values) > 1 or not values[0].isdigit() or int(values[0]) != len(msg.body):
        return Failure(400, "Content-Length mis-match")
    return None


def expires(msg: Message, **_: Any) -> Failure | None:
    """256: Expires is a number."""
    value = msg.get("expires")
    if value is not None and not value.strip().isdigit():
        return Failure(400, "Expires value is illegal")
    return None


def proxy_require(msg: Message, *, supported: set[str], **_: Any) -> Failure | None:
    """512: every Proxy-Require option is supported (else 420 with Unsupported)."""
    wanted = [v.strip() for v in msg.values("proxy-require") if v.strip()]
    missing = [v for v in wanted if v.lower() not in supported]
    if not missing:
        return None
    return Failure(420, "Bad Proxy Require Extension", [("Unsupported", ", ".join(missing))])


def uris(msg: Message, *, uflags: int, **_: Any) -> Failure | None:
    """1024: the R-URI (1), From (2), To (4) and Contact (8) URIs parse."""
    if uflags & 1 and isinstance(msg, Request) and not _uri_ok(msg.uri_text):
        return Failure(400, "Bad Request URI")
    for bit, name, reason in ((2, "from", "Invalid From Header"), (4, "to", "Invalid To Header")):
        value = msg.get(name)
        if uflags & bit and value is not None and not _name_addr_ok(value):
            return Failure(400, reason)
    contacts = [] if msg.contact_star or not uflags & 8 else msg.values("contact")
    if not all(_name_addr_ok(v) for v in contacts):
        return Failure(400, "Bad Contact URI")
    return None


def _uri_ok(text: str) -> bool:
    try:
        uri = parse_uri(text)
    except Exception:  # noqa: BLE001 - RemoteProtocolError and friends
        return False
    return not uri.is_sip or bool(uri.host)


def _name_addr_ok(text: str) -> bool:
    try:
        return _uri_ok(str(parse_name_addr(text).uri))
    except Exception:  # noqa: BLE001
        return False


def digest(msg: Message, **_: Any) -> Failure | None:
    """2048: Authorization/Proxy-Authorization credentials parse."""
    for name in ("authorization", "proxy-authorization"):
        for value in msg.get_all(name):
            try:
                auth = parse_auth(value)
            except Exception:  # noqa: BLE001
                return Failure(400, "Bad Auth Credentials")
            if auth.scheme.lower() == "digest" and not {"username", "realm"} <= set(auth.params):
                return Failure(400, "Bad Auth Credentials")
    return None


def duplicate_tags(msg: Message, **_: Any) -> Failure | None:
    """4096: From and To have at most one tag."""
    for name, label in (("from", "From"), ("to", "To")):
        value = msg.get(name)
        if value is None:
            continue
        params = value[value.rfind(">") + 1 :].lower().replace(" ", "").split(";")
        if sum(1 for p in params if p.startswith("tag=")) > 1:
            return Failure(400, f"Many {label} Tag Params")
    return None


def authorization(msg: Message, **_: Any) -> Failure | None:
    """8192: credentials carry a username."""
    for name in ("authorization", "proxy-authorization"):
        for value in msg.get_all(name):
            try:
                ok = bool(parse_auth(value).params.get("username"))
            except Exception:  # noqa: BLE001
                ok = False
            if not ok:
                return Failure(400, "Bad Authorization Header")
    return None


def via1(msg: Message, **_: Any) -> Failure | None:
    """16384: the top Via is there and parses with a host."""
    try:
        via = msg.via
    except Exception:  # noqa: BLE001
        via = None
    if via is None or not via.host:
        return Failure(400, "Invalid Via Header")
    return None


def rfc3261(msg: Message, **_: Any) -> Failure | None:
    """32768: a request has a parsable Max-Forwards and a top Via branch (RFC 3261 §8.1.1)."""
    if not isinstance(msg, Request):
        return None
    value = msg.get("max-forwards")
    if value is not None and not value.strip().isdigit():
        return Failure(400, "Invalid Max-Forwards")
    if msg.method != "ACK" and not msg.branch:
        return Failure(400, "Missing Via Branch")
    return None


def sizes(msg: Message, **_: Any) -> Failure | None:
    """65536: URIs and Call-ID of sane sizes."""
    texts = [msg.uri_text] if isinstance(msg, Request) else []
    texts += [msg.get(n) or "" for n in ("from", "to", "call-id")]
    texts += split_commas(msg.get("contact") or "")
    if any(len(t) > MAX_URI for t in texts):
        return Failure(400, "Header Too Large")
    return None
