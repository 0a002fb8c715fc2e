"""jsonrpcc: a JSON-RPC 2.0 client over TCP with netstrings (Kamailio's jsonrpcc, kemi.md
§5.3; docs/evapi.md, "jsonrpcc").

Kamailio's jsonrpcc exports no KEMI function (``jsonrpc_request``/``jsonrpc_notification``
are cfg-only). siprouter exports two, **as an extension**:

* ``KSR.jsonrpcc.request(method, params, route)`` -- ``params`` is JSON text; suspends the
  transaction (created if needed), sends the request and returns 0 (stop the script). When
  the answer comes, ``route(msg)`` runs as tm's continuation (a failure route) with
  ``$jsonrpcc(ok)`` 1 and ``$jsonrpcc(result)`` the JSON text of ``result``, or ``ok`` 0 and
  ``$jsonrpcc(error)`` the JSON text of the ``error`` object, or ``"timeout"`` / ``"failure"``
  (no server connected, connection lost) as Kamailio's error route gets. -1 if ``params`` is
  not JSON or the transaction cannot be suspended.
* ``KSR.jsonrpcc.notice(method, params)`` -- a notification (no ``id``, no answer); 1, or -1
  when no server is connected.

Timeout per request: ``$jsonrpcc(timeout)`` (ms, for the next request of this message), else
the modparam ``timeout`` (ms, default 500 -- Kamailio's hard-coded value), always clamped
below the transaction's ``fr_timer`` so the route runs before the timer fires. Modparams:
``servers`` (``"host:port,priority[,weight] ..."``), ``max_conn_attempts`` (-1 forever),
and the extensions ``timeout``, ``reconnect_min``/``reconnect_max`` (ms), ``max_frame``.
Each worker keeps its own connections (the answer comes back to the worker that owns the
transaction). RPC ``jsonrpcc.stats`` (summed over workers), ``jsonrpcc.servers``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from app.context import Ctx
from app.module import Module, ParamError
from modules._jsonrpcc_client import Answer, Backoff, Group, RpcFailure, parse_servers


class _Jsonrpcc(Module):
    """A bad ``servers`` modparam is a start-up error naming its file and line."""

    def set_param(self, name: str, value: object) -> None:
        super().set_param(name, value)
        if name == "servers":
            try:
                parse_servers(str(value))
            except ValueError as exc:
                raise ParamError(f'modparam "jsonrpcc" "servers": {exc}') from None


module = _Jsonrpcc("jsonrpcc", doc="JSON-RPC 2.0 client over TCP netstrings")
module.param("servers", str, "", doc="host:port,priority[,weight] ...")
module.param("max_conn_attempts", int, -1, doc="reconnections per outage (-1 forever)")
module.param("timeout", int, 500, doc="extension: default request timeout (ms)")
module.param("reconnect_min", int, 100, doc="extension: first reconnection delay (ms)")
module.param("reconnect_max", int, 5000, doc="extension: longest reconnection delay (ms)")
module.param("max_frame", int, 1 << 20, doc="extension: largest answer (bytes)")
log = logging.getLogger("siprouter.jsonrpcc")
RESULT, TIMEOUT = "jsonrpcc", "jsonrpcc_timeout"  # ctx.extra keys
MARGIN = 0.1  # seconds kept between a request's timeout and the transaction timer
state: dict[str, Group | None] = {"group": None}


@module.on_child_init
def _child_init(rank: int) -> None:
    cfg = module.cfg
    backoff = Backoff(cfg["reconnect_min"] / 1000, cfg["reconnect_max"] / 1000,
                      cfg["max_conn_attempts"])  # fmt: skip
    group = Group(parse_servers(cfg["servers"]), backoff, cfg["max_frame"])
    group.start()
    state["group"] = group


@module.on_stop
async def _stop() -> None:
    group, state["group"] = state["group"], None
    if group is not None:
        await group.stop()


def _tm_api(ctx: Ctx) -> dict[str, Any] | None:
    engine = ctx.engine
    for mod in engine.modules if engine is not None else ():
        if mod.name == "tm":
            return mod.api
    return None


def _params(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text) if text.strip() else None
    except ValueError:
        log.error("jsonrpcc: params are not JSON: %.100r", text)
        return False, None


def _timeout(ctx: Ctx, api: dict[str, Any]) -> float:
    ms = int(ctx.extra.pop(TIMEOUT, None) or module.cfg["timeout"])
    cell = api["newtran"](ctx)
    limit = float(cell.fr) - MARGIN if cell is not None else ms / 1000
    return max(min(ms / 1000, limit), 0.001)


def _store(ctx: Ctx, result: Any, error: BaseException | None) -> None:
    if isinstance(error, RpcFailure):
        ctx.extra[RESULT] = (0, None, str(error))
    elif error is not None:
        ctx.extra[RESULT] = (0, None, "failure")
    else:
        assert isinstance(result, Answer)
        ok = result.error is None
        ctx.extra[RESULT] = (int(ok), json.dumps(result.result) if ok else None,
                             None if ok else json.dumps(result.error))  # fmt: skip


@module.function("request", "sss")
def request(ctx: Ctx, method: str, params: str, route: str) -> int:
    """Suspend and send a request; 0 (stop the script), -1 on error. Extension."""
    group, api = state["group"], _tm_api(ctx)
    good, value = _params(params)
    if not good or not method or not route or group is None or api is None or ctx.faked:
        return -1
    call = group.call(method, value, _timeout(ctx, api))
    ids = api["suspend_until"](ctx, call, route, _store)
    return -1 if ids is None else 0


@module.function("notice", "ss")
def notice(ctx: Ctx, method: str, params: str) -> int:
    """Send a notification; 1, -1 when no server is connected. Extension."""
    group = state["group"]
    good, value = _params(params)
    if not good or not method or group is None:
        return -1
    return 1 if group.notify(method, value) else -1


@module.pv("jsonrpcc")
def pv_jsonrpcc(ctx: Ctx, inner: str | None) -> Any:
    """$jsonrpcc(ok|result|error) in the request's route; $jsonrpcc(timeout) (ms)."""
    if inner == "timeout":
        return ctx.extra.get(TIMEOUT) or module.cfg["timeout"]
    got = ctx.extra.get(RESULT)
    keys = ("ok", "result", "error")
    if inner not in keys:
        log.error("$jsonrpcc(%s): unknown key", inner)
        return None
    return None if got is None else got[keys.index(inner)]


@module.pv_setter("jsonrpcc")
def pv_jsonrpcc_set(ctx: Ctx, inner: str | None, value: Any) -> None:
    """Only $jsonrpcc(timeout) (ms) can be assigned."""
    if inner != "timeout" or not (value is None or isinstance(value, int) and value > 0):
        raise ValueError("only $jsonrpcc(timeout) = <ms> can be assigned")
    ctx.extra[TIMEOUT] = value


@module.rpc("jsonrpcc.stats", scope="sum")
def rpc_stats() -> dict[str, int]:
    """Requests, results, errors, timeouts, failures, notifications, connects, bad replies."""
    group = state["group"]
    keys = ("requests", "results", "errors", "timeouts", "failures", "notifications",
            "connects", "bad_replies", "bad_frames")  # fmt: skip
    return {k: group.stats[k] if group else 0 for k in keys}


@module.rpc("jsonrpcc.servers")
def rpc_servers() -> list[dict[str, Any]]:
    """The servers of this worker: address, priority, weight, connected, pending."""
    group = state["group"]
    return [{"host": c.spec.host, "port": c.spec.port, "priority": c.spec.priority,
             "weight": c.spec.weight, "connected": c.up, "pending": len(c.pending)}
            for c in (group.conns if group else [])]  # fmt: skip
