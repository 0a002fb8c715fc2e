"""The module contract: one declaration per module lists everything it exports.

A feature module (``modules/tm.py``, ``modules/sl.py``, ...) builds one :class:`Module`
object and decorates its functions with it, the way aiohttp's ``RouteTableDef`` collects
routes -- there is no global registry; the catalogue in ``modules/__init__.py`` finds the
object as the attribute ``module`` of the Python module::

    module = Module("sl", doc="stateless replies")
    module.param("default_code", int, 200)

    @module.function("sl_send_reply", "is")
    def sl_send_reply(ctx: Ctx, code: int, reason: str) -> int: ...

What a module declares:

* **parameters** (``param``): typed (``int`` or ``str``, as Kamailio's modparam values),
  with a default; ``modparam`` lines of kamailio.cfg set them at start-up
  (``app.config.apply_modparams``) and the module reads them from ``module.cfg[name]``;
* **KEMI functions** (``function``): name, argument type letters (``s`` str, ``i`` int,
  ``x`` str or int) and return convention (``int``: >0 true, <0 false, 0 stop; ``bool``;
  ``xval``/``str``: a value or ``None``; ``none``). The engine exposes the checked wrappers of
  :meth:`Module.kemi_exports` as ``KSR.<kemi_name>.<function>``; the wrapper is called as
  ``wrapper(ctx, *script_args)`` where ``ctx`` is the engine's per-message context;
* **pseudo-variables** (``pv`` / ``pv_setter``): ``getter(ctx, inner_name) -> value`` and
  ``setter(ctx, inner_name, value)``;
* **RPC commands** (``rpc``): ``callable(*params) -> jsonable``;
* **events** (``event``): the event-route names the module may run (``"tm:local-request"``);
* **hooks** (``on_start``, ``on_child_init``, ``on_stop``): plain or ``async`` callables;
* **an API for other modules** (``export``): modules never import each other's internals;
  registrar reaches usrloc through ``usrloc_module.api["lookup"]``;
* **dependencies**: ``Module("registrar", requires=("usrloc",))`` -- the config loader checks
  that the required modules are loaded.

Argument checks follow Kamailio (app_python3): ``int`` arguments accept ``int`` or ``bool``;
``str`` arguments only ``str``; extra arguments are ignored; too few arguments or a wrong type
do not call the function: the wrapper logs an error and returns ``False`` whatever the
function's return convention (:data:`FAILURE`; kemi.md §1.5, ``sr_apy_kemi_exec_func_ex``).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, TypeVar

Ctx: TypeAlias = Any
"""The engine's per-message context object (opaque here)."""

ParamValue: TypeAlias = int | str
Ret: TypeAlias = Literal["int", "bool", "xval", "str", "none"]
F = TypeVar("F", bound=Callable[..., Any])

FAILURE: Mapping[str, Any] = MappingProxyType(
    {"int": False, "none": False, "bool": False, "xval": False, "str": False}
)
"""What a KEMI wrapper returns when the script passed wrong arguments."""

ARG_TYPES: Mapping[str, str] = MappingProxyType({"s": "str", "i": "int", "x": "str or int"})
MAX_ARGS = 6

log = logging.getLogger("siprouter.kemi")


class ModuleError(Exception):
    """A module declaration is inconsistent (a bug in the module, not in the config)."""


class ParamError(ModuleError):
    """A modparam names an unknown parameter or has the wrong type."""


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """A module parameter: its type, default and whether it may be set many times."""

    name: str
    type: type[int] | type[str]
    default: ParamValue | None
    multi: bool = False
    doc: str = ""
    runtime: bool = False  # may be changed while running (RPC ``cfg.set``)

    def check(self, module: str, value: object) -> ParamValue:
        """Return ``value`` converted to the declared type or raise :class:`ParamError`."""
        if self.type is int and isinstance(value, int):
            return int(value)
        if self.type is str and isinstance(value, str):
            return value
        want = "an integer" if self.type is int else "a string"
        raise ParamError(f'modparam "{module}" "{self.name}" expects {want}, got {value!r}')


def _arg_ok(letter: str, value: object) -> bool:
    if letter == "s":
        return isinstance(value, str)
    if letter == "i":
        return isinstance(value, int)
    return isinstance(value, str | int)


@dataclass(frozen=True, slots=True)
class KemiFunction:
    """A KEMI function with its argument letters and return convention."""

    module: str
    name: str
    args: str
    ret: Ret
    func: Callable[..., Any]
    doc: str = ""

    def call(self, ctx: Ctx, *args: Any) -> Any:
        """Check the script's arguments the Kamailio way, then call the function."""
        if len(args) < len(self.args):
            return self._fail(f"needs {len(self.args)} argument(s), got {len(args)}")
        checked = []
        for pos, (letter, value) in enumerate(zip(self.args, args, strict=False), 1):
            if not _arg_ok(letter, value):
                what = f"argument {pos} must be {ARG_TYPES[letter]}, got {type(value).__name__}"
                return self._fail(what)
            checked.append(int(value) if letter == "i" else value)
        result = self.func(ctx, *checked)
        return bool(result) if self.ret == "bool" else result

    def _fail(self, why: str) -> Any:
        where = self.name if self.module == "core" else f"{self.module}.{self.name}"
        log.error("KSR.%s: %s", where, why)
        return FAILURE[self.ret]


@dataclass(frozen=True, slots=True)
class PVSpec:
    """A pseudo-variable ``$name`` or ``$name(inner)``."""

    name: str
    getter: Callable[[Ctx, str | None], Any]
    setter: Callable[[Ctx, str | None, Any], None] | None = None
    doc: str = ""


@dataclass(frozen=True, slots=True)
class Named:
    """An RPC command, event name or API entry: a name, maybe a callable, a doc line."""

    name: str
    func: Callable[..., Any] | None = None
    doc: str = ""
    scope: str = "any"  # RPC: which workers run it (app.management: any, all, sum)


@dataclass
class Module:
    """Everything one module exports; see the module docstring for the contract."""

    name: str
    doc: str = ""
    requires: tuple[str, ...] = ()
    kemi_name: str = ""
    params: dict[str, ParamSpec] = field(default_factory=dict, init=False)
    functions: dict[str, KemiFunction] = field(default_factory=dict, init=False)
    pvs: dict[str, PVSpec] = field(default_factory=dict, init=False)
    rpcs: dict[str, Named] = field(default_factory=dict, init=False)
    events: dict[str, Named] = field(default_factory=dict, init=False)
    api: dict[str, Callable[..., Any]] = field(default_factory=dict, init=False)
    hooks: dict[str, list[Callable[..., Any]]] = field(
        default_factory=lambda: {"start": [], "child_init": [], "stop": [], "change": []},
        init=False,
    )
    _values: dict[str, Any] = field(default_factory=dict, repr=False, init=False)
    _view: Mapping[str, Any] = field(repr=False, init=False)  # set by __post_init__

    def __post_init__(self) -> None:
        self.kemi_name = self.kemi_name or self.name
        self.requires = tuple(self.requires)
        self._view = MappingProxyType(self._values)  # a live read-only view: made once

    # -- parameters -------------------------------------------------------------------
    def param(
        self,
        name: str,
        type_: type[int] | type[str],
        default: ParamValue | None = None,
        *,
        multi: bool = False,
        doc: str = "",
        runtime: bool = False,
    ) -> None:
        """Declare a modparam; ``multi`` params collect every value set, in order;
        ``runtime`` ones may also be changed while running (``cfg.set``, see set_runtime)."""
        if type_ not in (int, str):
            raise ModuleError(f"{self.name}.{name}: a modparam is int or str")
        spec = ParamSpec(name, type_, default, multi, doc, runtime)
        if default is not None:
            spec.check(self.name, default)
        self._declare(self.params, name, spec)
        self._values[name] = [] if multi else default

    def set_param(self, name: str, value: object) -> None:
        """Set a parameter from a modparam; raise :class:`ParamError` if it is wrong."""
        spec = self.params.get(name)
        if spec is None:
            raise ParamError(f'module "{self.name}" has no parameter "{name}"')
        checked = spec.check(self.name, value)
        if spec.multi:
            self._values[name].append(checked)
        else:
            self._values[name] = checked

    def set_runtime(self, name: str, value: object) -> None:
        """Change a ``runtime`` parameter while running, then run the ``on_change`` hooks."""
        spec = self.params.get(name)
        if spec is None or not spec.runtime or spec.multi:
            raise ParamError(f'parameter "{self.name}" "{name}" cannot be changed at runtime')
        self._values[name] = spec.check(self.name, value)
        for hook in self.hooks["change"]:
            hook(name, self._values[name])

    def reset_params(self) -> None:
        """Forget every modparam (tests, reloads)."""
        for spec in self.params.values():
            self._values[spec.name] = [] if spec.multi else spec.default

    @property
    def cfg(self) -> Mapping[str, Any]:
        """Current parameter values (read-only view)."""
        return self._view

    # -- exports ----------------------------------------------------------------------
    def function(
        self, name: str, args: str = "", *, ret: Ret = "int", doc: str = ""
    ) -> Callable[[F], F]:
        """Declare a KEMI function ``func(ctx, *args)``; ``args`` are type letters."""
        _check_letters(self.name, name, args, ret)

        def deco(func: F) -> F:
            _check_arity(self.name, name, func, len(args))
            spec = KemiFunction(self.kemi_name, name, args, ret, func, doc or _doc(func))
            self._declare(self.functions, name, spec)
            return func

        return deco

    def pv(self, name: str, doc: str = "") -> Callable[[F], F]:
        """Declare the getter of pseudo-variable ``$name``."""

        def deco(func: F) -> F:
            self._declare(self.pvs, name, PVSpec(name, func, None, doc or _doc(func)))
            return func

        return deco

    def pv_setter(self, name: str) -> Callable[[F], F]:
        """Declare the setter of an already declared pseudo-variable."""

        def deco(func: F) -> F:
            spec = self.pvs.get(name)
            if spec is None:
                raise ModuleError(f"{self.name}: setter for undeclared pv ${name}")
            self.pvs[name] = PVSpec(name, spec.getter, func, spec.doc)
            return func

        return deco

    def rpc(self, name: str, doc: str = "", *, scope: str = "any") -> Callable[[F], F]:
        """Declare an RPC command (``"sl.stats"``). With forked workers, ``scope`` says who
        runs it (app.management): ``any`` one worker (shared state), ``all`` every worker
        (first result), ``sum`` every worker, numbers summed."""
        return self._named(self.rpcs, name, doc, scope)

    def event(self, name: str, doc: str = "") -> Callable[[F], F]:
        """Declare an event-route name; usable as a call or as a (no-op) decorator."""
        self._declare(self.events, name, Named(name, None, doc))
        return _identity

    def export(self, name: str, doc: str = "") -> Callable[[F], F]:
        """Offer ``func`` to other modules as ``module.api[name]``."""

        def deco(func: F) -> F:
            self._declare(self.api, name, func)
            return func

        return deco

    def kemi_exports(self) -> dict[str, Callable[..., Any]]:
        """Checked wrappers ``wrapper(ctx, *args)`` by KEMI function name."""
        return {name: spec.call for name, spec in self.functions.items()}

    # -- hooks ------------------------------------------------------------------------
    def on_start(self, func: F) -> F:
        """Run ``func()`` at start-up, after the modparams are set."""
        self.hooks["start"].append(func)
        return func

    def on_child_init(self, func: F) -> F:
        """Run ``func(rank)`` in every worker process."""
        self.hooks["child_init"].append(func)
        return func

    def on_stop(self, func: F) -> F:
        """Run ``func()`` at shutdown."""
        self.hooks["stop"].append(func)
        return func

    def on_change(self, func: F) -> F:
        """Run ``func(name, value)`` after a runtime parameter changed (``set_runtime``)."""
        self.hooks["change"].append(func)
        return func

    async def start(self) -> None:
        """Run the start hooks in declaration order."""
        await self._run("start")

    async def child_init(self, rank: int) -> None:
        """Run the child-init hooks with the worker's rank."""
        await self._run("child_init", rank)

    async def stop(self) -> None:
        """Run the stop hooks in reverse declaration order."""
        await self._run("stop")

    async def _run(self, kind: str, *args: Any) -> None:
        hooks = self.hooks[kind]
        for hook in reversed(hooks) if kind == "stop" else hooks:
            result = hook(*args)
            if inspect.isawaitable(result):
                await result

    # -- helpers ----------------------------------------------------------------------
    def _declare(self, table: dict[str, Any], name: str, value: Any) -> None:
        if name in table:
            raise ModuleError(f"{self.name}: {name!r} declared twice")
        table[name] = value

    def _named(
        self, table: dict[str, Named], name: str, doc: str, scope: str = "any"
    ) -> Callable[[F], F]:
        def deco(func: F) -> F:
            self._declare(table, name, Named(name, func, doc or _doc(func), scope))
            return func

        return deco


def _identity(func: F) -> F:
    return func


def _doc(func: Callable[..., Any]) -> str:
    return (inspect.getdoc(func) or "").split("\n", 1)[0]


def _check_letters(module: str, name: str, args: str, ret: str) -> None:
    bad = set(args) - set(ARG_TYPES)
    if bad or len(args) > MAX_ARGS:
        raise ModuleError(f"{module}.{name}: argument letters {args!r} (s, i, x; at most 6)")
    if ret not in FAILURE:
        raise ModuleError(f"{module}.{name}: unknown return convention {ret!r}")


def _check_arity(module: str, name: str, func: Callable[..., Any], nargs: int) -> None:
    try:
        inspect.signature(func).bind(None, *([None] * nargs))
    except TypeError as exc:
        raise ModuleError(f"{module}.{name}: takes (ctx, {nargs} args): {exc}") from None
    except ValueError:  # builtins without a signature
        pass
