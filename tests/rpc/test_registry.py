"""The command table: binding, conversion, help, sync and async commands."""

from __future__ import annotations

import pytest

from rpc import Commands, InvalidParams, MethodNotFound, RpcFault


def table() -> Commands:
    commands = Commands()

    @commands.add("t.sum")
    def total(first: int, *rest: int) -> int:
        """Sum of ints.

        Longer text that is not part of the help line."""
        return first + sum(rest)

    @commands.add("t.opt", doc="Optional float.")
    async def opt(x: float = 0.5, name: str = "n") -> str:
        return f"{name}={x}"

    @commands.add("t.any")
    def anything(value, other=None):  # type: ignore[no-untyped-def]
        return [value, other]

    return commands


async def test_variadic_and_conversion() -> None:
    commands = table()
    assert await commands.call("t.sum", [1, "2", "0x10"]) == 19
    assert await commands.call("t.opt", [3]) == "n=3.0"
    assert await commands.call("t.opt", {"b": "1.25", "a": 7}) == "7=1.25"
    assert await commands.call("t.any", ["x"]) == ["x", None]


@pytest.mark.parametrize("params", [[], ["1.5"], [True, "y"], [{"a": 1}], [[1]]])
async def test_invalid_params(params: list[object]) -> None:
    with pytest.raises(InvalidParams):
        await table().call("t.sum", params)


async def test_unknown_method_and_fault_types() -> None:
    commands = table()
    with pytest.raises(MethodNotFound) as exc:
        await commands.call("x.y")
    assert exc.value.name == "x.y" and exc.value.code == -32601
    assert str(RpcFault(500, "boom")) == "500 - boom"


def test_help_and_names() -> None:
    commands = table()
    assert commands.names() == ["t.any", "t.opt", "t.sum"]
    assert commands.lookup("t.sum").help() == "Sum of ints. Params: first: int [rest: int...]"
    assert commands.lookup("t.opt").help() == "Optional float. Params: [x: float] [name: str]"
    assert "t.sum" in commands and len(commands) == 3


def test_duplicates_and_merge() -> None:
    commands, other = table(), Commands()
    other.register("o.one", lambda: 1, doc="one")
    commands.update(other)
    assert commands.get("o.one") is not None
    with pytest.raises(ValueError):
        commands.update(other)
