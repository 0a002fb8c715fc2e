"""``cfg.*`` RPC commands (Kamailio's cfg_rpc) over the modules' runtime parameters.

A module declares which of its parameters may change while running::

    module.param("fr_timer", int, 30000, runtime=True)

    @module.on_change
    def _changed(name: str, value: int | str) -> None: ...   # re-read module.cfg

``cfg.set <group> <var> <value>`` (and ``cfg.seti`` / ``cfg.sets``, committed at once as
Kamailio's ``cfg.set_now_*``) sets it in every worker; ``cfg.get <group> <var>`` reads it
(any declared parameter can be read); ``cfg.list`` lists the runtime ones as
``"group: var"``. The group is the module name; the group ``core`` has ``debug`` (the log
level of the ``siprouter`` loggers, Kamailio's -3..3 scale).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from app.module import Module, ParamError
from rpc.registry import Commands, RpcFault

__all__ = ["CORE_VARS", "level_of", "register_cfg_commands"]

LEVELS = {-3: logging.CRITICAL, -2: logging.CRITICAL, -1: logging.ERROR, 0: logging.WARNING,
          1: logging.INFO, 2: logging.INFO, 3: logging.DEBUG}  # fmt: skip
CORE_VARS: dict[str, int] = {"debug": 0}
"""Runtime variables of the group ``core`` (``debug`` is set from the config at start)."""


def level_of(debug: int) -> int:
    """The Python logging level of a Kamailio debug value."""
    return LEVELS[max(-3, min(3, debug))]


def set_debug(value: int) -> None:
    """Kamailio's ``cfg.set core debug N``: the log level of this process."""
    CORE_VARS["debug"] = value
    logging.getLogger().setLevel(level_of(value))
    logging.getLogger("siprouter").setLevel(level_of(value))


def _module(modules: Mapping[str, Module], group: str) -> Module:
    module = modules.get(group)
    if module is None:
        raise RpcFault(400, f"group not found: {group}")
    return module


def cfg_get(modules: Mapping[str, Module], group: str, var: str) -> int | str:
    """The value of ``group.var``."""
    if group == "core":
        if var not in CORE_VARS:
            raise RpcFault(400, "Failed to get the variable")
        return CORE_VARS[var]
    module = _module(modules, group)
    if var not in module.params or module.params[var].multi:
        raise RpcFault(400, "Failed to get the variable")
    value = module.cfg[var]
    return "" if value is None else value


def cfg_set(modules: Mapping[str, Module], group: str, var: str, value: int | str) -> int:
    """Set ``group.var`` in this process; 0 (Kamailio's cfg.set returns nothing/0)."""
    if group == "core" and var == "debug":
        set_debug(_as_int(value))
        return 0
    module = _module(modules, group)
    spec = module.params.get(var)
    if spec is not None and spec.type is int:
        value = _as_int(value)
    elif spec is not None:
        value = str(value)
    try:
        module.set_runtime(var, value)
    except ParamError as exc:
        raise RpcFault(400, f"Failed to set the variable: {exc}") from None
    return 0


def _as_int(value: int | str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RpcFault(400, f"Failed to set the variable: {value!r} is not an integer") from None


def cfg_list(modules: Mapping[str, Module]) -> list[str]:
    """``"group: var"`` of every runtime variable."""
    out = [f"core: {var}" for var in CORE_VARS]
    for module in modules.values():
        out += [f"{module.name}: {p.name}" for p in module.params.values() if p.runtime]
    return out


def register_cfg_commands(
    commands: Commands, modules: Mapping[str, Module], scopes: dict[str, str]
) -> None:
    """``cfg.get/set/seti/sets/list`` on ``modules``; ``scopes`` receives their scopes."""

    @commands.add("cfg.get", doc="Get the value of a configuration variable.")
    def get(group: str, var: str) -> int | str:
        return cfg_get(modules, group, var)

    @commands.add("cfg.set", doc="Set the value of a configuration variable (now).")
    def set_(group: str, var: str, value: int | str) -> int:
        return cfg_set(modules, group, var, value)

    @commands.add("cfg.seti", doc="Set an integer configuration variable (now).")
    def seti(group: str, var: str, value: int) -> int:
        return cfg_set(modules, group, var, value)

    @commands.add("cfg.sets", doc="Set a string configuration variable (now).")
    def sets(group: str, var: str, value: str) -> int:
        return cfg_set(modules, group, var, value)

    @commands.add("cfg.list", ret_array=True, doc="List the runtime configuration variables.")
    def list_() -> list[str]:
        return cfg_list(modules)

    scopes.update({"cfg.set": "all", "cfg.seti": "all", "cfg.sets": "all"})
    scopes.update({"cfg.get": "any", "cfg.list": "any"})
