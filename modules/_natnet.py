"""Address helpers of nathelper: private ranges, SDP connection addresses, aliases."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from sip import Message

PRIVATE = [
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "192.0.0.0/29",
              "fc00::/7")
]  # fmt: skip
PROTO_IDS = {"udp": 1, "tcp": 2, "tls": 3, "sctp": 4, "ws": 5, "wss": 6}
PROTO_NAMES = {str(v): k for k, v in PROTO_IDS.items()}
_C_LINE = re.compile(rb"^c=IN IP[46] ([^\s/]+)", re.M)


def is_private(host: str) -> bool:
    """True for an RFC 1918 / RFC 6598 / RFC 4193 address (a name is not private)."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(addr in net for net in PRIVATE if net.version == addr.version)


def sdp_addresses(msg: Message) -> list[str]:
    """The ``c=`` addresses of an SDP body."""
    ctype = (msg.get("content-type") or "").lower()
    if "sdp" not in ctype and "multipart" not in ctype:
        return []
    return [m.decode("ascii", "replace") for m in _C_LINE.findall(msg.body)]


def source_uri(src: Any) -> str:
    """``sip:ip:port[;transport=x]`` of where a message came from."""
    host = f"[{src.ip}]" if src.is_ipv6 else src.ip
    tail = f";transport={src.proto}" if src.proto != "udp" else ""
    return f"sip:{host}:{src.port}{tail}"


def alias_of(value: str) -> str | None:
    """``ip~port~proto`` -> ``sip:ip:port;transport=x``; None if malformed."""
    parts = value.split("~")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    ip, port, proto = parts
    name = PROTO_NAMES.get(proto, "udp")
    host = f"[{ip}]" if ":" in ip and not ip.startswith("[") else ip
    return f"sip:{host}:{port}" + (f";transport={name}" if name != "udp" else "")
