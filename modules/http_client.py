"""http_client: HTTP queries whose answer the route waits for (Kamailio's http_client, §5.1).

In Kamailio these calls block a whole SIP worker process; here only the message's route
greenlet is parked (:func:`app.greenpool.wait`) and the worker keeps serving other messages.

KEMI: ``query(url, dst)`` (GET), ``query_post(url, post, dst)`` (POST when ``post`` is not
empty), ``query_post_hdrs(url, post, hdrs, dst)``, ``get_hdrs(url, body, hdrs, dst)``,
``query_request(method, url, body, hdrs, dst)``, ``curl_connect(con, url, dst)`` and
``curl_connect_post(con, url, ctype, data, dst)`` on a named ``httpcon`` connection
(``"name=>http://user:pass@host/base;timeout=2;failover=other"``; ``url`` is appended to the
base). ``hdrs`` are header lines separated by CRLF/LF (``"Content-Type: text/plain"``).

Return value: the HTTP status when a response arrived; on a transport failure the libcurl
error code **negated** (``-28`` timeout, ``-7`` cannot connect, ``-6`` unknown host) so that
failure is always negative (Kamailio returns the positive cURL code, which a KEMI script
then reads as "true"); ``-1`` for bad arguments. The body goes into the PV ``dst`` for 2xx-4xx
answers: its first line when ``query_result=1`` (default, as Kamailio), all of it with 0;
bodies longer than ``maxdatasize`` are cut. ``$curlerror(code)`` is the libcurl text of a
code (either sign); ``$httprhdr(name)`` a header of the route's last response.

Timeouts: ``connection_timeout`` (default 4) bounds the whole request, in seconds with
``timeout_mode=1`` (default) or milliseconds with ``timeout_mode=2``. Connections are kept
alive per host when ``keep_connections=1`` (Kamailio's default 0 closes them).
"""

from __future__ import annotations

import logging
from typing import Any

from app.context import Ctx
from app.greenpool import in_route, wait
from app.module import Module
from modules._http_conn import Connection, parse_httpcon, split_headers
from modules._http_fetch import CURL_ERRORS, Pool, Query, Reply, Tls
from modules._pvutil import set_pv

module = Module("http_client", doc="HTTP queries that park the route, not the worker")
for _name, _type, _default in (
    ("connection_timeout", int, 4), ("timeout_mode", int, 1), ("keep_connections", int, 0),
    ("query_result", int, 1), ("maxdatasize", int, 0), ("query_maxdatasize", int, 0),
    ("useragent", str, "siprouter http_client"), ("verify_peer", int, 1), ("verify_host", int, 2),
    ("client_cert", str, ""), ("client_key", str, ""), ("cacert", str, ""),
    ("cipher_suites", str, ""), ("tlsversion", int, 0), ("authmethod", int, 3),
    ("httpredirect", int, 1), ("httpproxy", str, ""), ("httpproxyport", int, 0),
    ("config_file", str, ""), ("netinterface", str, ""), ("response_headers", int, 1),
    ("max_connections", int, 100), ("max_connections_per_host", int, 0),
):  # fmt: skip
    module.param(_name, _type, _default)
module.param("httpcon", str, multi=True, doc='"name=>url[;param=value]" (repeatable)')

log = logging.getLogger("siprouter.http_client")
state: dict[str, Any] = {"pool": None, "cons": {}}
stats = {"connections": 0, "connok": 0, "connfail": 0}


@module.on_start
def _start() -> None:
    state["cons"] = {c.name: c for c in map(parse_httpcon, module.cfg["httpcon"])}
    for key in stats:
        stats[key] = 0


def pool() -> Pool:
    """This worker's HTTP session pool."""
    if state["pool"] is None:
        cfg = module.cfg
        state["pool"] = Pool(
            cfg["max_connections"], cfg["max_connections_per_host"], bool(cfg["keep_connections"])
        )
    return state["pool"]  # type: ignore[no-any-return]


@module.on_stop
async def _stop() -> None:
    if state["pool"] is not None:
        await state["pool"].close()
        state["pool"] = None


def _seconds(value: int) -> float:
    return value / 1000 if module.cfg["timeout_mode"] == 2 else float(value)


def base_query(url: str, method: str = "GET") -> Query:
    """A query with the module's defaults."""
    cfg = module.cfg
    return Query(
        url, method, timeout=max(_seconds(cfg["connection_timeout"]), 0.001),
        authmethod=cfg["authmethod"], max_size=cfg["maxdatasize"], truncate=True,
        follow_redirect=bool(cfg["httpredirect"]), user_agent=cfg["useragent"],
        tls=Tls(bool(cfg["verify_peer"]), bool(cfg["verify_host"]), cfg["client_cert"],
                cfg["client_key"], cfg["cacert"]),
    )  # fmt: skip


def run(ctx: Ctx, q: Query) -> Reply:
    """Send ``q`` and park the route until the reply; counts connections."""
    stats["connections"] += 1
    reply = wait(pool().fetch(q))
    stats["connok" if reply.ok else "connfail"] += 1
    ctx.extra["http_client_reply"] = reply
    return reply


def _store(ctx: Ctx, reply: Reply, dst: str, oneline: bool) -> None:
    if not 200 <= reply.status < 500:
        return
    text = reply.text
    if oneline:
        text = text.split("\n", 1)[0].rstrip("\r")
    set_pv(ctx, dst, text)


def _code(reply: Reply) -> int:
    if reply.ok:
        return reply.status
    log.warning("http_client: %s", reply.error)
    return -reply.curl_code if reply.curl_code else -1


def request(ctx: Ctx, method: str, url: str, body: str, hdrs: str, dst: str) -> int:
    """One query with the module defaults; the status or a negative code."""
    if not in_route():
        log.error("http_client: called outside a route greenlet (in async routes, await)")
        return -1
    q = base_query(url, method.upper() or ("POST" if body else "GET"))
    q.body = body.encode() if body else None
    q.headers = split_headers(hdrs)
    reply = run(ctx, q)
    _store(ctx, reply, dst, bool(module.cfg["query_result"]))
    return _code(reply)


@module.function("query", "ss")
def query(ctx: Ctx, url: str, dst: str) -> int:
    """GET ``url``; first line (or whole body) into PV ``dst``; status or negative."""
    return request(ctx, "GET", url, "", "", dst)


@module.function("query_post", "sss")
def query_post(ctx: Ctx, url: str, post: str, dst: str) -> int:
    """POST ``post`` to ``url`` (GET when empty); result into PV ``dst``."""
    return request(ctx, "", url, post, "", dst)


@module.function("query_post_hdrs", "ssss")
def query_post_hdrs(ctx: Ctx, url: str, post: str, hdrs: str, dst: str) -> int:
    """As query_post, with extra header lines."""
    return request(ctx, "", url, post, hdrs, dst)


@module.function("get_hdrs", "ssss")
def get_hdrs(ctx: Ctx, url: str, body: str, hdrs: str, dst: str) -> int:
    """GET with a body and header lines (http_client_get)."""
    return request(ctx, "GET", url, body, hdrs, dst)


@module.function("query_request", "sssss")
def query_request(ctx: Ctx, method: str, url: str, body: str, hdrs: str, dst: str) -> int:
    """Any method (http_client_request)."""
    return request(ctx, method, url, body, hdrs, dst)


def _connect(ctx: Ctx, con: str, url: str, ctype: str, data: str, dst: str) -> int:
    if not in_route():
        log.error("http_client: called outside a route greenlet")
        return -1
    connection: Connection | None = state["cons"].get(con)
    tried: set[str] = set()
    code = -1
    while connection is not None and connection.name not in tried:
        tried.add(connection.name)
        q = connection.query(base_query(""), url, ctype, data, module.cfg)
        reply = run(ctx, q)
        code = _code(reply)
        if reply.ok and reply.status < 500:
            _store(ctx, reply, dst, connection.oneline(module.cfg))
            return code
        connection = state["cons"].get(connection.failover)
    if not tried:
        log.error("http_client: no connection named %r", con)
    return code


@module.function("curl_connect", "sss")
def curl_connect(ctx: Ctx, con: str, url: str, dst: str) -> int:
    """GET on the named connection (url appended to its base); status or negative."""
    return _connect(ctx, con, url, "", "", dst)


@module.function("curl_connect_post", "sssss")
def curl_connect_post(ctx: Ctx, con: str, url: str, ctype: str, data: str, dst: str) -> int:
    """POST ``data`` with Content-Type ``ctype`` on the named connection."""
    return _connect(ctx, con, url, ctype, data, dst)


@module.pv("curlerror")
def curlerror(ctx: Ctx, inner: str | None) -> Any:
    """$curlerror(code): libcurl's text for an error code (either sign)."""
    try:
        return CURL_ERRORS.get(abs(int(inner or "")), "Unknown error")
    except ValueError:
        return None


@module.pv("httprhdr")
def httprhdr(ctx: Ctx, inner: str | None) -> Any:
    """$httprhdr(name): a header of this route's last http_client response."""
    reply = ctx.extra.get("http_client_reply")
    return reply.headers.get(inner or "") if reply is not None and reply.ok else None


@module.rpc("httpclient.listcon")
def rpc_listcon() -> list[dict[str, Any]]:
    """The named connections."""
    return [c.describe() for c in state["cons"].values()]


@module.rpc("httpclient.stats")
def rpc_stats() -> dict[str, int]:
    """Counters connections / connok / connfail."""
    return dict(stats)
