"""Record-Route and Route processing of a proxy (RFC 3261 §16.4, §16.6 items 4, 6 and 7,
§16.12; RFC 5658 for double record-routing).

- :func:`record_route_uri` / :func:`add_record_route`: our Record-Route value(s) with ``lr``
  and the transport, two of them when the request leaves on another interface or transport
  (RFC 5658 §3), the one facing the next hop on top;
- :func:`preprocess_routes`: §16.4 — undo a strict router's Request-URI rewrite (the last
  Route value goes back into the Request-URI) and remove the Route values that are ours;
- :func:`postprocess_routes`: §16.6 items 6 and 7 — when the next hop is a strict router
  (no ``lr``), move the Request-URI to the end of Route and the first Route into the
  Request-URI (§16.12 example); returns the URI to send to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from .headers import split_commas
from .message import Message, Request
from .uri import URI

__all__ = [
    "record_route_uri", "record_route_values", "add_record_route", "RouteResult",
    "preprocess_routes", "postprocess_routes", "next_hop", "set_routes",
]  # fmt: skip

_ROUTE_NAMES = ("route",)


def record_route_uri(
    host: str, port: int | None = None, transport: str = "UDP", *, sips: bool = False
) -> URI:
    """``sip:host:port;transport=tcp;lr`` (UDP needs no transport parameter)."""
    params: tuple[tuple[str, str | None], ...] = ()
    if transport.upper() != "UDP":
        params += (("transport", transport.lower()),)
    params += (("lr", None),)
    return URI("sips" if sips else "sip", host=host, port=port, params=params)


def _same_interface(a: URI, b: URI) -> bool:
    return (a.host.lower(), a.port, a.transport or "udp", a.scheme) == (
        b.host.lower(), b.port, b.transport or "udp", b.scheme,
    )  # fmt: skip


def record_route_values(inbound: URI, outbound: URI | None = None) -> list[str]:
    """The Record-Route values to insert, top first: one, or two when ``outbound`` (the
    interface towards the next hop) differs from ``inbound`` (where the request came in)."""
    if outbound is None or _same_interface(inbound, outbound):
        return [f"<{inbound}>"]
    return [f"<{outbound}>", f"<{inbound}>"]


def add_record_route(request: Request, inbound: URI, outbound: URI | None = None) -> list[str]:
    """Insert our Record-Route value(s) above the existing ones (§16.6 item 4)."""
    values = record_route_values(inbound, outbound)
    for value in reversed(values):
        request.add_before("Record-Route", value, "Record-Route")
    return values


def _line_indexes(msg: Message, names: tuple[str, ...]) -> list[int]:
    lines = msg.raw_lines()
    return [i for i, line in enumerate(lines) if line.partition(":")[0].strip().lower() in names]


def set_routes(msg: Message, routes: list[str]) -> None:
    """Replace every Route value by ``routes`` (one line each), where Route was."""
    index = _line_indexes(msg, _ROUTE_NAMES)
    at = index[0] if index else None
    msg.remove("Route")
    for offset, value in enumerate(routes):
        msg.add("Route", value, None if at is None else at + offset)


def _route_values(msg: Message) -> list[str]:
    return [v for value in msg.get_all("route") for v in split_commas(value) if v]


class RouteResult(NamedTuple):
    """What :func:`preprocess_routes` did: ``strict`` — the previous hop was a strict router
    and the Request-URI was restored; ``removed`` — our own Route values taken off."""

    strict: bool
    removed: int


def preprocess_routes(request: Request, is_mine: Callable[[URI], bool]) -> RouteResult:
    """§16.4: if the Request-URI is one of our Record-Route URIs, a strict router put it
    there: the last Route value becomes the Request-URI again. Then every leading Route
    value that is ours goes (two of them after double record-routing)."""
    strict = False
    routes = request.routes
    if routes and is_mine(request.uri):
        values = _route_values(request)
        request.uri = routes[-1].uri
        set_routes(request, values[:-1])
        strict = True
    removed = 0
    for route in request.routes:
        if not is_mine(route.uri):
            break
        request.remove_first_value("Route")
        removed += 1
    return RouteResult(strict, removed)


def next_hop(request: Request) -> URI:
    """Where to send (§16.6 item 7 after item 6): the first Route URI, else the Request-URI."""
    routes = request.routes
    return routes[0].uri if routes else request.uri


def postprocess_routes(request: Request) -> URI:
    """§16.6 item 6: when the first Route is a strict router (no ``lr``), the Request-URI
    goes to the end of Route and the first Route URI becomes the Request-URI. Returns the
    URI to send to (the first Route, or the Request-URI)."""
    routes = request.routes
    if not routes:
        return request.uri
    if routes[0].uri.has_param("lr"):
        return routes[0].uri
    values = _route_values(request)
    target = routes[0].uri
    set_routes(request, values[1:] + [f"<{request.uri_text}>"])
    request.uri = target.replace(headers=None) if target.headers is not None else target
    return request.uri
