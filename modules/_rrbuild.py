"""Helpers of the rr module: building our Record-Route values and keeping per-message state.

A Record-Route value is rendered as Kamailio writes it::

    <sip:host[:port][;transport=x][;r2=on];lr[=on][;ftag=tag][;params]>

(the port is left out when it is the default 5060 of UDP/TCP). Preset and advertised values
put ``ftag`` before ``lr`` as Kamailio's ``record_route_preset`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sip import Message

STATE_KEY = "rr"
DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "sctp": 5060, "tls": 5061}


@dataclass(frozen=True, slots=True)
class Iface:
    """One side of the proxy as a Record-Route address: transport, host, port."""

    proto: str
    host: str
    port: int

    def hostport(self) -> str:
        """``host[:port]`` with brackets for IPv6 and no port when it is the default."""
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        if DEFAULT_PORTS.get(self.proto) == self.port:
            return host
        return f"{host}:{self.port}"


@dataclass
class RRState:
    """What rr did to one message: our Record-Route values and the local Route."""

    params: str = ""  # add_rr_param() accumulations, ";a=b;c=d"
    inbound: Iface | None = None  # record_route(): the side the request came in
    preset: list[str] = field(default_factory=list)  # preset/advertised values, top first
    count: int = 0  # how many Record-Route values of ours ctx.msg holds (on top)
    hooked: bool = False  # the relay hook is registered in ctx.extra["relay_hooks"]
    route_params: str | None = None  # params of the local Route removed by loose_route
    routed: bool = False  # loose_route() ran and routed by Route


def state(ctx: Any) -> RRState:
    """The rr state of a message (created on first use)."""
    found = ctx.extra.get(STATE_KEY)
    if found is None:
        found = ctx.extra[STATE_KEY] = RRState()
    return found  # type: ignore[no-any-return]


def lr_param(full_lr: int) -> str:
    """``;lr`` or ``;lr=on`` (enable_full_lr)."""
    return ";lr=on" if full_lr else ";lr"


def auto_value(iface: Iface, tail: str, *, r2: bool, transport: bool, lr: str) -> str:
    """A Record-Route value for ``record_route()`` on interface ``iface``."""
    text = f"sip:{iface.hostport()}"
    if transport and iface.proto != "udp":
        text += f";transport={iface.proto}"
    if r2:
        text += ";r2=on"
    return f"<{text}{lr}{tail}>"


def preset_value(addr: str, tail: str, lr: str) -> str:
    """A Record-Route value from a preset ``host:port;params`` string."""
    addr = addr.strip()
    if addr.startswith("<") and addr.endswith(">"):
        addr = addr[1:-1]
    if not addr.lower().startswith(("sip:", "sips:")):
        addr = "sip:" + addr
    return f"<{addr}{tail}{lr}>"


def replace_ours(msg: Message, old_count: int, values: list[str]) -> None:
    """Remove our ``old_count`` top Record-Route values from ``msg`` and insert ``values``."""
    for _ in range(old_count):
        msg.remove_first_value("Record-Route")
    for value in reversed(values):
        msg.add_before("Record-Route", value, "Record-Route")


def tail_params(ftag: str | None, params: str) -> str:
    """``;ftag=x`` (when given) followed by the add_rr_param() parameters."""
    return (f";ftag={ftag}" if ftag else "") + params
