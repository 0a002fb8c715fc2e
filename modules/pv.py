"""pv: shared variables ``$shv(name)`` (Kamailio's pv module, kemi.md §4).

The other pseudo-variables and ``KSR.pv`` are built into the core (:mod:`app.pv_core`);
``loadmodule "pv.so"`` adds what needs the module: ``$shv(name)``, read and written from any
worker (``KSR.pv.get("$shv(n)")``, ``KSR.pv.seti/sets``; ``$null`` removes it), the
modparam ``shvset`` (``"name=i:1"`` or ``"name=s:text"``, repeatable) and the RPC commands
``pv.shvSet name int|str value`` and ``pv.shvGet [name]``.

Sharing: the values live in the store layer's shared key/value space
(:func:`app.store.shared_store`, namespace ``shv``): process memory with one worker, an
SQLite file on tmpfs (``/dev/shm``) shared by forked workers -- the role of Kamailio's shared
memory. Every worker sets the ``shvset`` values only if missing, so a worker starting late
does not undo a change. ``varset`` (``"name=i:1"``) gives ``$var(name)`` its first value in
every worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from app import server as app_server
from app.context import Ctx
from app.module import Module, ParamError
from app.store import Store, call, drop, shared_store
from rpc.registry import RpcFault

NS = "shv"
log = logging.getLogger("siprouter.kemi")


def parse_init(text: str) -> tuple[str, int | str]:
    """``"name=i:1"`` / ``"name=s:text"`` -> (name, value); raise ValueError."""
    name, sep, typed = text.partition("=")
    kind, colon, raw = typed.partition(":")
    if not sep or not colon or not name.strip() or kind not in ("i", "s"):
        raise ValueError(f"{text!r} is not name=i:<int> or name=s:<text>")
    return name.strip(), int(raw) if kind == "i" else raw


class _Pv(Module):
    """A bad ``shvset``/``varset`` value is a start-up error naming its line."""

    def set_param(self, name: str, value: object) -> None:
        super().set_param(name, value)
        try:
            parse_init(str(value))
        except ValueError as exc:
            raise ParamError(f'modparam "pv" "{name}": {exc}') from None


module = _Pv("pv", doc="shared variables ($shv)")
module.param("shvset", str, multi=True, doc="initial $shv value: name=i:1 or name=s:text")
module.param("varset", str, multi=True, doc="initial $var value in every worker")
module.param("avp_aliases", str, multi=True, doc="accepted (AVP aliases are not used)")
state: dict[str, Store | None] = {"store": None}


def store() -> Store:
    if state["store"] is None:
        state["store"] = shared_store(NS)
    return state["store"]  # type: ignore[return-value]


@module.on_child_init
def _child_init(rank: int) -> None:
    state["store"] = None  # this process's own handle (a forked worker: the shared file)
    st = store()
    for text in module.cfg["shvset"]:
        name, value = parse_init(text)
        st.kv_add(NS, name, value, 0.0, time.time())
    if module.cfg["varset"]:
        asyncio.get_running_loop().call_soon(_varset, 20)


@module.on_stop
def _stop() -> None:
    st, state["store"] = state["store"], None
    if st is not None:
        drop(st)


def _varset(tries: int) -> None:
    """``varset`` into this worker's engine (once the server is registered)."""
    server = app_server.current()
    if server is None:
        if tries > 0:
            asyncio.get_running_loop().call_soon(_varset, tries - 1)
        return
    for text in module.cfg["varset"]:
        name, value = parse_init(text)
        server.engine.vars.setdefault(name, value)


def _check(inner: str | None) -> str:
    if not inner:
        raise ValueError("$shv needs a name")
    return inner


@module.pv("shv")
def pv_shv(ctx: Ctx, inner: str | None) -> Any:
    """$shv(name): a variable shared by all workers (int or str; None if unset)."""
    st = store()
    return call(st, st.kv_get, NS, _check(inner), time.time())


@module.pv_setter("shv")
def pv_shv_set(ctx: Ctx, inner: str | None, value: Any) -> None:
    """$shv(name) = int | str; $null removes it."""
    st, name = store(), _check(inner)
    if value is None:
        call(st, st.kv_delete, NS, name)
    elif isinstance(value, int | str):
        call(st, st.kv_set, NS, name, value if isinstance(value, str) else int(value))
    else:
        raise ValueError("$shv takes an int or a string")


@module.rpc("pv.shvSet")
def rpc_shv_set(name: str, kind: str, value: Any) -> int:
    """Set $shv(name): ``pv.shvSet name int|str value``."""
    if kind not in ("int", "str"):
        raise RpcFault(500, "type must be int or str")
    try:
        typed = int(value) if kind == "int" else str(value)
    except ValueError:
        raise RpcFault(500, f"{value!r} is not an integer") from None
    store().kv_set(NS, name, typed)
    return 0


@module.rpc("pv.shvGet")
def rpc_shv_get(name: str | None = None) -> list[dict[str, Any]]:
    """``[{name, type, value}]`` of $shv(name), or of all shared variables."""
    items = store().kv_items(NS, time.time())
    if name is not None:
        if name not in items:
            raise RpcFault(404, f"no shared variable {name!r}")
        items = {name: items[name]}
    return [{"name": k, "type": "int" if isinstance(v, int) else "str", "value": v}
            for k, v in sorted(items.items())]  # fmt: skip
