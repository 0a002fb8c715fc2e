"""evapi: the event socket (Kamailio's evapi module, kemi.md §5.4; docs/evapi.md).

Subscribers connect over TCP to ``bind_addr`` (default ``127.0.0.1:8448``) and receive the
events the script relays -- netstrings (``netstring_format=1``) or one JSON text per line
(``0``). ``KSR.evapi.relay/relay_multicast/relay_unicast`` send an event; the ``async_*``
variants first suspend the transaction (tm's API), so the subscriber can answer later with a
message that the ``event_callback`` hands to ``KSR.tmx.t_continue(index, label, route)``.
``async_*`` with no matching subscriber returns -2 at once, without suspending. Events:
``evapi:connection-new``, ``evapi:connection-closed``, ``evapi:message-received`` with
``$evapi(srcaddr|srcport|msg|conidx)``; ``close()`` and ``set_tag(name)`` act on the
connection of the event.

Processes: one worker (``children=1``) serves the socket itself. With forked workers, worker
1 serves it and the other workers reach it through a private unix socket
(:mod:`modules._evapi_hub`): every subscriber sees the events of every worker, and a message
from a subscriber runs the event callback in the worker that suspended the transaction it
names (``tindex``/``tlabel`` or ``index``/``label`` keys of a JSON object), else in worker 1.
Extensions: ``max_queue`` (bytes queued per subscriber, default 1 MiB; a frame that does not
fit is dropped for that subscriber), ``max_frame`` (largest incoming frame, default 64 KiB),
RPC ``evapi.stats`` and ``evapi.clients``.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from app import server as app_server
from app.context import Ctx, faked_ctx
from app.module import Module
from app.store import forked_worker
from modules import _evapi_hub as hub
from modules._evapi_server import Dispatcher, Limits

module = Module("evapi", doc="event API over TCP (subscribers, async relay)")
for _name, _type, _default in (
    ("workers", int, 1), ("bind_addr", str, "127.0.0.1:8448"), ("netstring_format", int, 1),
    ("event_callback", str, ""), ("max_clients", int, 8), ("wait_idle", int, 500000),
    ("wait_increase", int, 3), ("send_task_timeout", int, 0), ("send_data_timeout", int, 0),
    ("context_mlimit", int, 0), ("max_queue", int, 1 << 20), ("max_frame", int, 65536),
):  # fmt: skip
    module.param(_name, _type, _default)
EVENTS = ("evapi:connection-new", "evapi:connection-closed", "evapi:message-received")
for _ev in EVENTS:
    module.event(_ev)

log = logging.getLogger("siprouter.evapi")
INFO = "evapi"  # ctx.extra key of the event's connection
state: dict[str, Any] = {"link": None, "address": None}
stats: Counter[str] = Counter()


def limits() -> Limits:
    cfg = module.cfg
    return Limits(cfg["max_clients"], bool(cfg["netstring_format"]), cfg["max_queue"],
                  cfg["max_frame"])  # fmt: skip


def split_addr(text: str) -> tuple[str, int]:
    """``[tcp:]host:port`` -> (host, port)."""
    text = text.removeprefix("tcp:")
    host, _, port = text.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


# -- lifecycle ---------------------------------------------------------------------------------
@module.on_child_init
async def _child_init(rank: int) -> None:
    host, port = split_addr(module.cfg["bind_addr"])
    if forked_worker() and rank != 1:
        state["link"] = await hub.connect(rank, deliver)
        return
    disp = Dispatcher(limits())
    disp.on_new = lambda c: deliver("evapi:connection-new", hub.info_of(c))
    disp.on_closed = lambda c: deliver("evapi:connection-closed", hub.info_of(c))
    disp.on_message = lambda c, m: deliver("evapi:message-received", hub.info_of(c, m))
    state["address"] = await disp.start(host, port)
    log.info("evapi: listening on %s:%d", *state["address"])
    state["link"] = await hub.serve(disp, rank, deliver) if forked_worker() else hub.Local(disp)


@module.on_stop
async def _stop() -> None:
    link, state["link"] = state["link"], None
    if link is not None:
        await link.stop()


def address() -> tuple[str, int] | None:
    """The bound address of the event socket in this process (tests, logs)."""
    return state["address"]  # type: ignore[no-any-return]


# -- events ------------------------------------------------------------------------------------
def deliver(evname: str, info: hub.Info) -> None:
    """Run the event callback ``(msg, evname)`` with ``$evapi(...)`` set."""
    stats[evname.rpartition("-")[2]] += 1
    server = app_server.current()
    name = module.cfg["event_callback"]
    if server is None or not name:
        return
    engine = server.engine
    fake = faked_ctx(engine, engine.core)
    fake.extra[INFO] = info
    if not engine.event_route(evname, name, ctx=fake):
        log.error("evapi: the script has no %s() method", name)


@module.pv("evapi")
def pv_evapi(ctx: Ctx, inner: str | None) -> Any:
    """$evapi(srcaddr|srcport|msg|conidx) in an evapi event ($null elsewhere)."""
    info = ctx.extra.get(INFO)
    if info is None:
        return None
    if inner not in ("srcaddr", "srcport", "msg", "conidx"):
        log.error("$evapi(%s): unknown key", inner)
        return None
    return getattr(info, inner)


# -- relaying ------------------------------------------------------------------------------------
def _link() -> hub.Link | None:
    return state["link"]  # type: ignore[no-any-return]


def _relay(data: str, mode: str, tag: str = "", ids: tuple[int, int] | None = None) -> int:
    link = _link()
    sent = link.relay(data, mode, tag, ids) if link is not None else 0
    stats["relayed" if sent else "unrelayed"] += 1
    return 1 if sent else -1


@module.function("relay", "s")
def relay(ctx: Ctx, data: str) -> int:
    """Send ``data`` to every subscriber; 1, or -1 when none is connected."""
    return _relay(data, "all")


@module.function("relay_multicast", "ss")
def relay_multicast(ctx: Ctx, data: str, tag: str) -> int:
    """Send ``data`` to the subscribers tagged ``tag``."""
    return _relay(data, "multicast", tag)


@module.function("relay_unicast", "ss")
def relay_unicast(ctx: Ctx, data: str, tag: str) -> int:
    """Send ``data`` to the first subscriber tagged ``tag``."""
    return _relay(data, "unicast", tag)


def _tm_api(ctx: Ctx) -> dict[str, Any] | None:
    engine = ctx.engine
    for mod in engine.modules if engine is not None else ():
        if mod.name == "tm":
            return mod.api
    return None


def _async(ctx: Ctx, data: str, mode: str, tag: str = "") -> int:
    """Suspend, then relay: 1; -1 suspension refused; -2 no subscriber (not suspended)."""
    link, api = _link(), _tm_api(ctx)
    if link is None or not link.count(mode, tag):
        stats["async_refused"] += 1
        log.error("evapi: async relay: no subscriber connected%s", f" tagged {tag!r}" * bool(tag))
        return -2
    ids = api["suspend"](ctx) if api is not None and not ctx.faked else None
    if ids is None:
        log.error("evapi: async relay: cannot suspend the transaction (tm loaded?)")
        return -1
    if _relay(data, mode, tag, ids) < 0:
        return -2  # the blind branch's timer ends the transaction
    stats["suspended"] += 1
    return 1


@module.function("async_relay", "s")
def async_relay(ctx: Ctx, data: str) -> int:
    """Suspend the transaction and send ``data`` to every subscriber; the script stops."""
    return _async(ctx, data, "all")


@module.function("async_multicast", "ss")
def async_multicast(ctx: Ctx, data: str, tag: str) -> int:
    """Suspend and send to the subscribers tagged ``tag``."""
    return _async(ctx, data, "multicast", tag)


@module.function("async_unicast", "ss")
def async_unicast(ctx: Ctx, data: str, tag: str) -> int:
    """Suspend and send to the first subscriber tagged ``tag``."""
    return _async(ctx, data, "unicast", tag)


# -- the event's connection --------------------------------------------------------------------
def _conidx(ctx: Ctx) -> int | None:
    info = ctx.extra.get(INFO)
    return None if info is None else int(info.conidx)


@module.function("close")
def close(ctx: Ctx) -> int:
    """Close the connection of the current evapi event; 1 or -1."""
    conidx, link = _conidx(ctx), _link()
    if conidx is None or link is None:
        return -1
    return 1 if link.close(conidx) else -1


@module.function("set_tag", "s")
def set_tag(ctx: Ctx, name: str) -> int:
    """Tag the connection of the current evapi event (at most 64 characters)."""
    conidx, link = _conidx(ctx), _link()
    if conidx is None or link is None or not name or len(name) > 64:
        return -1
    return 1 if link.set_tag(conidx, name) else -1


# -- RPC -------------------------------------------------------------------------------------------
@module.rpc("evapi.stats", scope="sum")
def rpc_stats() -> dict[str, int]:
    """Events relayed/unrelayed, suspended, refused, received, dropped, bad frames."""
    link = _link()
    own = link.stats() if link is not None else {}
    keys = ("relayed", "unrelayed", "suspended", "async_refused", "new", "closed", "received")
    return {**{k: stats[k] for k in keys}, **own}


@module.rpc("evapi.clients")
def rpc_clients() -> list[dict[str, Any]]:
    """The connected subscribers: conidx, address, port, tag."""
    link = _link()
    return [] if link is None else link.clients()
