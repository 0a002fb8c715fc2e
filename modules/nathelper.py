"""nathelper: NAT detection and traversal helpers (Kamailio's nathelper module).

``nat_uac_test(flags)`` returns 1 if any selected test detects a NAT, else -1: 1 Contact
host private (RFC 1918 / RFC 6598 / fc00::/7), 2 top Via address != source IP, 4 top Via
host private, 8 SDP ``c=`` private, 16 source port != Via port (5060 when absent), 32 source
IP private, 64 received over WebSocket, 128 Contact port != source port, 256 SDP ``c=`` !=
source IP, 512 request: R-URI and ``$du`` host/port differ (reply: 2nd Via vs its
received/rport).

Contact handling: ``fix_nated_contact()`` (Contact host:port := source), ``fix_nated_register()``
(``sip:ip:port;transport=x`` of the source into the ``received_avp`` PV, for registrar),
``add_rcv_param(flag)`` (``;received="..."`` on the Contact, flag 1: in the URI),
``set_contact_alias()`` / ``add_contact_alias()`` (``;alias=ip~port~proto`` with proto 1 udp,
2 tcp, 3 tls, 4 sctp, 5 ws, 6 wss; only when the source differs from the Contact),
``handle_ruri_alias()`` (1: alias removed from the R-URI and ``$du`` set; 2: no alias).
Keep-alive pings to registered NATed contacts: see :mod:`modules._natping`.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from app.module import Module
from modules import _natping
from modules._natnet import PROTO_IDS, alias_of, is_private, sdp_addresses, source_uri
from sip import Request, Response, parse_uri

module = Module("nathelper", doc="NAT traversal helpers")
module.param("received_avp", str, "", doc="PV receiving fix_nated_register()'s URI")
module.param("alias_name", str, "alias", doc="name of the Contact/R-URI alias parameter")
module.param("natping_interval", int, 0, doc="seconds between keep-alive pings (0: none)")
module.param("ping_nated_only", int, 0, doc="ping only contacts flagged as NATed")
module.param("natping_processes", int, 1, doc="accepted; one pinger per worker here")
module.param("sipping_bflag", int, -1, doc="branch flag: ping this contact with SIP")
module.param("sipping_from", str, "", doc="From URI of the SIP pings")
module.param("sipping_method", str, "OPTIONS", doc="method of the SIP pings")
module.param("nortpproxy_str", str, "a=nortpproxy:yes\r\n", doc="accepted; not used")
module.param("keepalive_timeout", int, 0, doc="accepted; not used")
module.param("udpping_from_path", int, 0, doc="accepted; not used")
module.param("append_sdp_oldmediaip", int, 0, doc="accepted; not used")
module.param("filter_server_id", int, 0, doc="accepted; not used")
module.param("nat_bflag", int, -1, doc="branch flag marking NATed contacts (usrloc's)")
_natping.install(module)


def _rc(ok: bool) -> int:
    return 1 if ok else -1


def _contact(ctx: Any) -> Any:
    contacts = ctx.msg.contacts
    return contacts[0] if contacts else None


def _via_port(via: Any) -> int:
    return via.port or 5060


def _ip(text: str) -> str:
    return text.strip("[]")


def _tests(ctx: Any) -> dict[int, Any]:
    msg, src = ctx.received, ctx.source
    return {
        1: lambda: (c := _contact(ctx)) is not None and is_private(c.uri.host_bare),
        2: lambda: msg.via is not None and _ip(msg.via.host) != src.ip,
        4: lambda: msg.via is not None and is_private(_ip(msg.via.host)),
        8: lambda: any(is_private(a) for a in sdp_addresses(msg)),
        16: lambda: msg.via is not None and _via_port(msg.via) != src.port,
        32: lambda: is_private(src.ip),
        64: lambda: src.proto in ("ws", "wss"),
        128: lambda: (c := _contact(ctx)) is not None and (c.uri.port or 5060) != src.port,
        256: lambda: any(a != src.ip for a in sdp_addresses(msg)),
        512: lambda: _targets_differ(ctx),
    }


def _targets_differ(ctx: Any) -> bool:
    msg = ctx.msg
    if ctx.source.proto in ("ws", "wss"):
        return True
    if isinstance(msg, Request):
        if not ctx.dst_uri:
            return False
        du, ru = parse_uri(ctx.dst_uri), msg.uri
        return (du.host_bare, du.port or 5060) != (ru.host_bare, ru.port or 5060)
    vias = msg.vias if isinstance(msg, Response) else []
    if len(vias) < 2:
        return False
    via = vias[1]
    rport = via.rport
    return bool(via.received and via.received != _ip(via.host)) or bool(
        rport and rport.isdigit() and int(rport) != _via_port(via)
    )


@module.function("nat_uac_test", "i")
def nat_uac_test(ctx: Any, flags: int) -> int:
    """1 if one of the tests selected by ``flags`` detects a NAT, else -1."""
    for bit, test in _tests(ctx).items():
        try:
            if flags & bit and test():
                return 1
        except Exception:  # noqa: BLE001,S112 - a header that does not parse detects nothing
            continue
    return -1


@module.function("is_rfc1918", "s")
def is_rfc1918(ctx: Any, ip: str) -> int:
    """1 if ``ip`` is a private (RFC 1918 / RFC 6598) address."""
    return _rc(is_private(ip.strip().strip("[]")))


def _set_contact(ctx: Any, new: Any) -> int:
    msg = ctx.editing()
    values = msg.values("contact")
    if not values:
        return -1
    msg.remove("Contact")
    msg.add("Contact", ", ".join([str(new), *values[1:]]))
    return 1


@module.function("fix_nated_contact")
def fix_nated_contact(ctx: Any) -> int:
    """Rewrite the Contact URI's host and port with the source address."""
    c = _contact(ctx)
    if c is None or not c.uri.is_sip:
        return -1
    host = f"[{ctx.source.ip}]" if ctx.source.is_ipv6 else ctx.source.ip
    return _set_contact(ctx, c.replace(uri=c.uri.replace(host=host, port=ctx.source.port)))


@module.function("fix_nated_register")
def fix_nated_register(ctx: Any) -> int:
    """Store the source URI in ``received_avp`` for registrar (REGISTER only)."""
    name = str(module.cfg["received_avp"])
    if not isinstance(ctx.msg, Request) or ctx.msg.method != "REGISTER":
        return -1
    if not name or ctx.engine is None:
        return 1  # Kamailio: nothing to do without received_avp
    try:
        ctx.engine.pvs.set(ctx, name, source_uri(ctx.source))
    except Exception:  # noqa: BLE001
        return -1
    return 1


@module.function("add_rcv_param", "i")
def add_rcv_param(ctx: Any, flag: int) -> int:
    """Add ``received="<source uri>"`` to the Contact (flag 1: as a URI parameter)."""
    c = _contact(ctx)
    if c is None:
        return -1
    value = f'"{source_uri(ctx.source)}"'
    if flag:
        return _set_contact(ctx, c.replace(uri=c.uri.with_param("received", value)))
    return _set_contact(ctx, c.with_param("received", value))


def _add_alias(ctx: Any, ip: str, port: int, proto: str) -> int:
    c = _contact(ctx)
    if c is None or not c.uri.is_sip:
        return -1
    name = str(module.cfg["alias_name"])
    same = (c.uri.host_bare, c.uri.port or 5060, c.uri.transport or "udp") == (ip, port, proto)
    if same or c.uri.has_param(name):
        return 1
    alias = f"{ip}~{port}~{PROTO_IDS.get(proto, 1)}"
    return _set_contact(ctx, c.replace(uri=c.uri.with_param(name, alias)))


@module.function("set_contact_alias")
def set_contact_alias(ctx: Any) -> int:
    """Add ``;alias=ip~port~proto`` of the source to the Contact URI when they differ."""
    src = ctx.source
    return _add_alias(ctx, src.ip, src.port, src.proto)


@module.function("add_contact_alias")
def add_contact_alias(ctx: Any) -> int:
    """As set_contact_alias()."""
    return set_contact_alias(ctx)


@module.function("add_contact_alias_addr", "sss")
def add_contact_alias_addr(ctx: Any, ip: str, port: str, proto: str) -> int:
    """Add an alias with the given address."""
    try:
        ipaddress.ip_address(ip.strip("[]"))
        return _add_alias(ctx, ip.strip("[]"), int(port), proto.lower())
    except ValueError:
        return -1


@module.function("handle_ruri_alias")
def handle_ruri_alias(ctx: Any) -> int:
    """Alias in the R-URI: remove it and set ``$du`` from it (1); 2 when there is none."""
    req = ctx.request
    name = str(module.cfg["alias_name"])
    if req is None or not req.uri.is_sip:
        return -1
    value = req.uri.param(name)
    if value is None:
        return 2
    dst = alias_of(value)
    if dst is None:
        return -1
    req.uri = req.uri.without_params([name])
    ctx.dst_uri = dst
    return 1


@module.function("handle_ruri_alias_mode", "i")
def handle_ruri_alias_mode(ctx: Any, mode: int) -> int:
    """handle_ruri_alias() (one alias parameter only)."""
    return handle_ruri_alias(ctx)
