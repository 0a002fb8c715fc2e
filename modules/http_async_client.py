"""http_async_client: HTTP queries that suspend the transaction (Kamailio's module, §5.2).

``KSR.http_async_client.query(url, cbname)``:

* the request has a transaction (``KSR.tm.t_newtran()`` first) and ``$http_req(suspend)``
  is not 0: the transaction is suspended through tm's API, the query is sent, ``query``
  returns **0** (the script must stop). When the answer (or an error, or the timeout) comes,
  ``cbname(msg)`` runs as tm's continuation route -- ``$var``, ``$avp``, ``$xavp``, flags and
  branches as they were -- and must relay or reply; a CANCEL or the transaction timer ending
  the transaction first drops the answer. Unlike Kamailio (a failure route, where e.g.
  ``registrar.save`` is refused), the callback runs as a **request route**: everything a
  request route can do works there (``registrar.save``, ``sl`` replies -- sent statefully --,
  ``t_relay``, another ``query``), on the script version that suspended the transaction. The query's timeout is clamped below the
  transaction's timer, so the route always runs before the timer fires.
* no transaction, or ``suspend=0``: the query is sent, ``query`` returns 1 and the script
  goes on; when the answer comes ``cbname(msg, "http_async_client:callback")`` runs on a
  faked request, as Kamailio does.
* ``send(url, cbname)`` / ``send_xdata(url, cbname, xdata)``: never suspend (``$http_xdata``).

Timeouts: ``$http_req(timeout)`` (ms) or ``connection_timeout`` (ms, default 500). One
aiohttp session per worker, opened at child_init and closed at stop; connections are kept
alive per host, bounded by the extensions ``max_connections`` (default 256) and
``max_connections_per_host`` (0 = no per-host bound). ``workers``, ``hash_size``,
``memory_manager``, ``curl_verbose``, ``tcp_*`` are accepted (libcurl details).
Statistics (RPC ``http_async_client.stats``): requests, replies, errors, timeouts, and
``pending`` / ``suspended`` (queries outstanding / of them holding a suspended transaction).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.context import Ctx, faked_ctx
from app.module import Module
from modules import _http_async_pv as pvs
from modules._http_conn import split_headers
from modules._http_fetch import Pool, Query, Reply, Tls

module = Module("http_async_client", doc="asynchronous HTTP queries (transaction suspend)")
for _name, _type, _default in (
    ("workers", int, 1), ("connection_timeout", int, 500), ("hash_size", int, 2048),
    ("tls_version", int, 0), ("tls_verify_host", int, 2), ("tls_verify_peer", int, 1),
    ("curl_verbose", int, 0), ("curl_follow_redirect", int, 0), ("memory_manager", str, "shm"),
    ("tls_client_cert", str, ""), ("tls_client_key", str, ""), ("tls_ca_path", str, ""),
    ("authmethod", int, 3), ("tcp_keepalive", int, 0), ("tcp_ka_idle", int, 0),
    ("tcp_ka_interval", int, 0), ("max_connections", int, 256),
    ("max_connections_per_host", int, 0),
):  # fmt: skip
    module.param(_name, _type, _default)
pvs.register(module)

log = logging.getLogger("siprouter.http_async_client")
EVENT = "http_async_client:callback"
SUSPEND_MARGIN = 0.1  # seconds kept between a query's timeout and the transaction timer
stats = {"requests": 0, "replies": 0, "errors": 0, "timeouts": 0}
state: dict[str, Any] = {"pool": None, "tasks": set(), "suspended": 0, "tls": None, "tm": None}
_ids = itertools.count(1)
_pid = [os.getpid()]  # for $http_req_id, "<pid>-<counter>" (set again in forked workers)
os.register_at_fork(after_in_child=lambda: _pid.__setitem__(0, os.getpid()))


@dataclass(frozen=True, slots=True)
class Result:
    """What the callback route sees: the reply, the query id, the xdata."""

    reply: Reply
    req_id: str
    xdata: str | None = None


def pool() -> Pool:
    """This worker's session pool (opened lazily in the running loop)."""
    if state["pool"] is None:
        cfg = module.cfg
        state["pool"] = Pool(cfg["max_connections"], cfg["max_connections_per_host"], True)
    return state["pool"]  # type: ignore[no-any-return]


@module.on_start
def _start() -> None:
    for key in stats:
        stats[key] = 0
    state["tls"] = state["tm"] = None  # modparams may have changed


@module.on_child_init
def _child_init(rank: int) -> None:
    pool().open()


@module.on_stop
async def _stop() -> None:
    tasks = list(state["tasks"])
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if state["pool"] is not None:
        await state["pool"].close()
        state["pool"] = None


TLS_KEYS = ("tls_verify_peer", "tls_verify_host", "tls_client_cert", "tls_client_key",
            "tls_ca_path")  # fmt: skip


def _tls(req: dict[str, Any], cfg: Mapping[str, Any]) -> Tls:
    """The TLS settings of a query: the module's (built once) unless ``$http_req`` sets some."""
    if any(key in req for key in TLS_KEYS):
        return _tls_of(req, cfg)
    found = state["tls"]
    if found is None:
        found = state["tls"] = _tls_of({}, cfg)
    return found  # type: ignore[no-any-return]


def _tls_of(req: dict[str, Any], cfg: Mapping[str, Any]) -> Tls:
    return Tls(
        bool(req.get("tls_verify_peer", cfg["tls_verify_peer"])),
        bool(req.get("tls_verify_host", cfg["tls_verify_host"])),
        req.get("tls_client_cert", cfg["tls_client_cert"]),
        req.get("tls_client_key", cfg["tls_client_key"]),
        req.get("tls_ca_path", cfg["tls_ca_path"]),
    )


def build_query(url: str, req: dict[str, Any], limit: float | None) -> Query:
    """The query of ``url`` with the ``$http_req`` settings and the module defaults."""
    cfg = module.cfg
    body = req.get("body")
    timeout = (req.get("timeout") or cfg["connection_timeout"]) / 1000
    if limit is not None:
        timeout = min(timeout, limit)
    return Query(
        url, req.get("method") or ("POST" if body else "GET"),
        body=body.encode() if body else None,
        headers=_headers(req["hdr"]),
        timeout=max(timeout, 0.001), username=req.get("username", ""),
        password=req.get("password", ""), authmethod=req.get("authmethod", cfg["authmethod"]),
        tls=_tls(req, cfg),
        follow_redirect=bool(req.get("follow_redirect", cfg["curl_follow_redirect"])),
    )  # fmt: skip


def _count(reply: Reply) -> None:
    if reply.ok:
        stats["replies"] += 1
    elif reply.curl_code == 28:
        stats["timeouts"] += 1
    else:
        stats["errors"] += 1


def _launch(q: Query, done: Callable[[Reply], None]) -> None:
    """Send ``q`` in a task; ``done(reply)`` runs in the loop when it ends."""
    stats["requests"] += 1
    task = asyncio.get_running_loop().create_task(_job(q, done))
    state["tasks"].add(task)
    task.add_done_callback(_finished)


async def _job(q: Query, done: Callable[[Reply], None]) -> None:
    reply = await pool().fetch(q)
    _count(reply)
    done(reply)


def _finished(task: asyncio.Task[None]) -> None:
    state["tasks"].discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("http_async_client: callback failed: %r", task.exception())


def _new_id(ctx: Ctx) -> str:
    req_id = f"{_pid[0]}-{next(_ids)}"
    ctx.extra["http_req_id"] = req_id
    return req_id


def _headers(lines: list[str]) -> list[tuple[str, str]]:
    """The ``$http_req(hdr)`` lines as (name, value) pairs."""
    return [h for line in lines for h in _split(line)]


@functools.lru_cache(maxsize=256)
def _split(line: str) -> tuple[tuple[str, str], ...]:
    """One ``$http_req(hdr)`` line split (each distinct line once)."""
    return tuple(split_headers(line))


def _event(ctx: Ctx, cbname: str, result: Result) -> None:
    """Run ``cbname(msg, evname)`` on a faked request with the result set."""
    engine = ctx.engine
    if engine is None:
        return
    fake = faked_ctx(engine, ctx.core)
    fake.extra[pvs.REPLY] = result
    fake.extra["http_req_id"] = result.req_id
    if not engine.event_route(EVENT, cbname, ctx=fake):
        log.error("http_async_client: the script has no callback %r", cbname)


def _detached(ctx: Ctx, url: str, cbname: str, xdata: str | None) -> int:
    q = build_query(url, pvs.take_settings(ctx), None)
    req_id = _new_id(ctx)
    _launch(q, lambda reply: _event(ctx, cbname, Result(reply, req_id, xdata)))
    return 1


def _tm_api(ctx: Ctx) -> dict[str, Any] | None:
    """tm's declared API when tm is loaded (looked up once per engine)."""
    engine = ctx.engine
    cached = state["tm"]
    if cached is not None and cached[0] is engine:
        return cached[1]  # type: ignore[no-any-return]
    api = next((m.api for m in engine.modules if m.name == "tm"), None) if engine else None
    state["tm"] = (engine, api)
    return api


@module.function("query", "ss")
def query(ctx: Ctx, url: str, cbname: str) -> int:
    """Send a query; 0 = transaction suspended (stop the script), 1 = not suspended."""
    if not url or not cbname:
        log.error("http_async_client: query needs a URL and a callback name")
        return -1
    req = ctx.extra.get("http_req") or {}
    api = _tm_api(ctx)
    cell = _cell(ctx, api) if req.get("suspend", 1) else None
    if cell is not None:
        return _suspended(ctx, api, cell, url, cbname)  # type: ignore[arg-type]
    return _detached(ctx, url, cbname, None)


@module.function("send", "ss")
def send(ctx: Ctx, url: str, cbname: str) -> int:
    """Send a query, never suspend; the callback runs on a faked request. 1."""
    return _detached(ctx, url, cbname, None)


@module.function("send_xdata", "sss")
def send_xdata(ctx: Ctx, url: str, cbname: str, xdata: str) -> int:
    """As send; ``xdata`` is ``$http_xdata`` in the callback. 1."""
    return _detached(ctx, url, cbname, xdata)


def _cell(ctx: Ctx, api: dict[str, Any] | None) -> Any:
    """The request's transaction (tm's cell), None without one or without tm."""
    if api is None or ctx.faked or "cell" not in api:
        return None
    return api["cell"](ctx)


def _timer_limit(cell: Any) -> float | None:
    """Seconds a query may take so that it ends before the transaction timer (blind branch)."""
    fr = getattr(cell, "fr", None)
    return None if fr is None else max(float(fr) - SUSPEND_MARGIN, 0.001)


def _suspended(ctx: Ctx, api: dict[str, Any], cell: Any, url: str, cbname: str) -> int:
    """Suspend through tm, send, resume ``cbname`` with the result; 0, or -1 if refused."""
    q = build_query(url, pvs.take_settings(ctx), _timer_limit(cell))
    ids = api["suspend"](ctx)
    if ids is None:
        log.error("http_async_client: tm refused to suspend the transaction")
        return -1
    req_id = _new_id(ctx)
    state["suspended"] += 1

    def done(reply: Reply) -> None:
        state["suspended"] -= 1
        result = Result(reply, req_id)

        def setup(resumed: Ctx) -> None:
            resumed.extra[pvs.REPLY] = result
            resumed.extra["http_req_id"] = req_id

        api["resume"](ids[0], ids[1], cbname, setup=setup, as_request=True)

    _launch(q, done)
    return 0


@module.rpc("http_async_client.stats")
def rpc_stats() -> dict[str, int]:
    """Counters and the number of outstanding / suspended queries."""
    return {**stats, "pending": len(state["tasks"]), "suspended": state["suspended"]}
