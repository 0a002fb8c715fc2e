"""Command tables for the management layer (Kamailio's RPC exports, without a global registry).

A :class:`Commands` object is a plain local table: the core and each module add their commands
to the table the application hands them::

    commands = Commands()

    @commands.add("core.version", doc="Returns the version string of the server.")
    def version() -> str:
        return "siprouter 0.1.0"

Parameters follow Kamailio's positional semantics: they are bound by order (a JSON object's
values are taken in order, names ignored), nested structures are refused, and scalars are
converted to the annotated type the way Kamailio's ``rpc->scan`` does (``"5"`` for an ``int``
parameter becomes 5, 5 for a ``str`` parameter becomes ``"5"``). A command may be a plain or an
``async`` function. Raising :class:`RpcFault` gives a Kamailio-style fault ``{code, message}``.

``ret_array=True`` marks Kamailio's ``RET_ARRAY`` commands: the function returns a list whose
items are the command's values (JSON ``result`` is that list; binrpc sends them as consecutive
top-level values, the way ``core.psx`` does).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["Command", "Commands", "InvalidParams", "MethodNotFound", "RpcFault"]

F = TypeVar("F", bound=Callable[..., Any])
Scalar = str | int | float | bool | None


class RpcFault(Exception):
    """A command fault: Kamailio's ``rpc->fault(ctx, code, message)``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code} - {self.message}"


class MethodNotFound(RpcFault):
    """The method is not in the table (JSON-RPC -32601, binrpc 500 "command X not found")."""

    def __init__(self, name: str) -> None:
        super().__init__(-32601, "Method Not Found")
        self.name = name


class InvalidParams(RpcFault):
    """The parameters do not fit the command's signature (JSON-RPC -32602)."""

    def __init__(self, detail: str) -> None:
        super().__init__(-32602, "Invalid Parameters")
        self.detail = detail


@dataclass(frozen=True)
class Param:
    """One declared parameter, for ``system.methodHelp`` and binding."""

    name: str
    type: Any
    required: bool
    variadic: bool = False

    def describe(self) -> str:
        tname = getattr(self.type, "__name__", "any") if self.type is not Any else "any"
        text = f"{self.name}: {tname}" + ("..." if self.variadic else "")
        return text if self.required else f"[{text}]"


@dataclass(frozen=True)
class Command:
    """A registered command: name, callable, help text and parameter description."""

    name: str
    func: Callable[..., Any]
    doc: str
    params: tuple[Param, ...] = field(default=())
    ret_array: bool = False

    def help(self) -> str:
        """The ``system.methodHelp`` text: the doc line plus the parameter list."""
        if not self.params:
            return self.doc
        return f"{self.doc} Params: {' '.join(p.describe() for p in self.params)}".strip()

    async def call(self, params: list[Any] | Mapping[str, Any] | None = None) -> Any:
        """Bind ``params`` Kamailio-style, run the command (sync or async), return its value."""
        args = self.bind(params)
        result = self.func(*args)
        if inspect.isawaitable(result):
            result = await result
        return result

    def bind(self, params: list[Any] | Mapping[str, Any] | None) -> list[Any]:
        """Positional binding with conversion to the annotated types."""
        values = _positional(params)
        fixed = [p for p in self.params if not p.variadic]
        extra = [p for p in self.params if p.variadic]
        if len(values) > len(fixed) and not extra:
            raise InvalidParams(f"too many parameters (at most {len(fixed)})")
        missing = [p.name for p in fixed[len(values) :] if p.required]
        if missing:
            raise InvalidParams(f"missing parameter(s): {', '.join(missing)}")
        spec = fixed + extra * max(0, len(values) - len(fixed))
        return [_convert(v, p) for v, p in zip(values, spec, strict=False)]


def _positional(params: list[Any] | Mapping[str, Any] | None) -> list[Any]:
    if params is None:
        return []
    values = list(params.values()) if isinstance(params, Mapping) else list(params)
    if any(isinstance(v, list | dict) for v in values):
        raise InvalidParams("nested structures are not accepted as parameters")
    return values


def _convert(value: Any, param: Param) -> Any:
    wanted = param.type
    try:
        if wanted is int and not isinstance(value, int | bool):
            return int(str(value), 0) if isinstance(value, str) else _int_of_float(value)
        if wanted is float and isinstance(value, str | int):
            return float(value)
        if wanted is str and isinstance(value, int | float):
            return str(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParams(f"{param.name}: {value!r} is not {wanted.__name__}") from exc
    if wanted in (int, float, str) and not isinstance(value, wanted):
        raise InvalidParams(f"{param.name}: {value!r} is not {wanted.__name__}")
    return value


def _int_of_float(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(value)


def _params_of(func: Callable[..., Any]) -> tuple[Param, ...]:
    hints = typing.get_type_hints(func)
    out: list[Param] = []
    for p in inspect.signature(func).parameters.values():
        if p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD):
            continue
        variadic = p.kind is p.VAR_POSITIONAL
        required = p.default is p.empty and not variadic
        out.append(Param(p.name, hints.get(p.name, Any), required, variadic))
    return tuple(out)


class Commands:
    """A table of RPC commands. Local to whoever creates it; several can be merged."""

    def __init__(self) -> None:
        self._table: dict[str, Command] = {}

    def add(
        self, name: str, *, doc: str | None = None, ret_array: bool = False
    ) -> Callable[[F], F]:
        """Decorator form of :meth:`register`; returns the function unchanged."""

        def deco(func: F) -> F:
            self.register(name, func, doc=doc, ret_array=ret_array)
            return func

        return deco

    def register(
        self,
        name: str,
        func: Callable[..., Any],
        *,
        doc: str | None = None,
        ret_array: bool = False,
    ) -> Command:
        """Add ``func`` as command ``name``; a duplicate name is a programming error."""
        if name in self._table:
            raise ValueError(f"RPC command {name!r} already registered")
        text = doc if doc is not None else inspect.cleandoc(func.__doc__ or "").split("\n")[0]
        cmd = Command(name, func, text, _params_of(func), ret_array)
        self._table[name] = cmd
        return cmd

    def update(self, other: Commands) -> None:
        """Merge another table into this one (names must not clash)."""
        for cmd in other:
            self.register(cmd.name, cmd.func, doc=cmd.doc, ret_array=cmd.ret_array)

    def get(self, name: str) -> Command | None:
        return self._table.get(name)

    def lookup(self, name: str) -> Command:
        """The command called ``name``, or :class:`MethodNotFound`."""
        cmd = self._table.get(name)
        if cmd is None:
            raise MethodNotFound(name)
        return cmd

    async def call(self, name: str, params: list[Any] | Mapping[str, Any] | None = None) -> Any:
        """Look up and run a command: the transports' single entry point."""
        return await self.lookup(name).call(params)

    def names(self) -> list[str]:
        return sorted(self._table)

    def __contains__(self, name: object) -> bool:
        return name in self._table

    def __iter__(self) -> Iterator[Command]:
        return iter(list(self._table.values()))

    def __len__(self) -> int:
        return len(self._table)
