"""Tests of the module contract (app.module) and the module catalogue (modules)."""

from __future__ import annotations

import logging
import sys
import types
from typing import Any

import pytest

import modules as catalogue
from app.module import FAILURE, Module, ModuleError, ParamError


def make_module() -> Module:
    """A dummy module declaring one of everything."""
    mod = Module("dummy", doc="a test module", requires=("usrloc",))
    mod.param("default_code", int, 200)
    mod.param("reason", str, "OK")
    mod.param("peer", str, multi=True)
    calls: list[tuple[Any, ...]] = []

    @mod.function("send", "is")
    def send(ctx: Any, code: int, reason: str) -> int:
        calls.append((ctx, code, reason))
        return 1

    @mod.function("is_ok", "x", ret="bool")
    def is_ok(ctx: Any, value: int | str) -> int:
        return 1 if value else 0

    @mod.function("get", "s", ret="xval")
    def get(ctx: Any, name: str) -> str | None:
        return name.upper()

    @mod.function("nothing")
    def nothing(ctx: Any) -> int:
        """Do nothing and say so."""
        return 1

    mod.calls = calls  # type: ignore[attr-defined]
    return mod


def test_declaration_tables() -> None:
    mod = make_module()
    assert mod.name == mod.kemi_name == "dummy"
    assert mod.requires == ("usrloc",)
    assert set(mod.params) == {"default_code", "reason", "peer"}
    assert set(mod.functions) == {"send", "is_ok", "get", "nothing"}
    assert mod.functions["send"].args == "is"
    assert mod.functions["nothing"].doc == "Do nothing and say so."
    assert Module("kx_impl", kemi_name="kx").kemi_name == "kx"


def test_param_defaults_and_set() -> None:
    mod = make_module()
    assert mod.cfg["default_code"] == 200 and mod.cfg["reason"] == "OK"
    assert mod.cfg["peer"] == []
    mod.set_param("default_code", 404)
    mod.set_param("peer", "a")
    mod.set_param("peer", "b")
    assert mod.cfg["default_code"] == 404 and mod.cfg["peer"] == ["a", "b"]
    mod.reset_params()
    assert mod.cfg["default_code"] == 200 and mod.cfg["peer"] == []


def test_cfg_is_read_only() -> None:
    with pytest.raises(TypeError):
        make_module().cfg["reason"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("default_code", "abc", "expects an integer"),
        ("reason", 3, "expects a string"),
        ("nope", 1, "has no parameter"),
    ],
)
def test_param_errors(name: str, value: object, message: str) -> None:
    with pytest.raises(ParamError, match=message):
        make_module().set_param(name, value)


def test_param_bool_is_int() -> None:
    mod = make_module()
    mod.set_param("default_code", True)
    assert mod.cfg["default_code"] == 1 and type(mod.cfg["default_code"]) is int


def test_param_declaration_errors() -> None:
    mod = Module("m")
    with pytest.raises(ModuleError):
        mod.param("f", float, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ParamError):
        mod.param("i", int, "x")
    mod.param("ok", int, 1)
    with pytest.raises(ModuleError, match="twice"):
        mod.param("ok", int, 2)


def test_kemi_call_ok() -> None:
    mod = make_module()
    ex = mod.kemi_exports()
    assert ex["send"]("ctx", 200, "OK") == 1
    assert mod.calls == [("ctx", 200, "OK")]  # type: ignore[attr-defined]
    assert ex["is_ok"](None, "x") is True
    assert ex["is_ok"](None, 0) is False
    assert ex["get"](None, "a") == "A"
    assert ex["nothing"](None) == 1


def test_kemi_extra_args_ignored_and_bool_is_int() -> None:
    mod = make_module()
    assert mod.kemi_exports()["send"]("c", True, "OK", "extra") == 1
    assert mod.calls == [("c", 1, "OK")]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("send", ("200", "OK"), False),  # str for int
        ("send", (200, 5), False),  # int for str
        ("send", (200,), False),  # too few
        ("send", (), False),
        ("is_ok", (1.5,), False),  # x takes str or int only
        ("is_ok", (), False),
        ("get", (b"bytes",), False),  # bytes are not str
    ],
)
def test_kemi_wrong_args(
    name: str, args: tuple[Any, ...], expected: object, caplog: pytest.LogCaptureFixture
) -> None:
    mod = make_module()
    with caplog.at_level(logging.ERROR, logger="siprouter.kemi"):
        result = mod.kemi_exports()[name]("ctx", *args)
    assert result is expected or result == expected
    assert type(result) is type(expected)
    assert mod.calls == []  # type: ignore[attr-defined]
    assert f"KSR.dummy.{name}" in caplog.text


def test_failure_table() -> None:
    # kemi.md §1.5: a wrong type or too few arguments -> False, whatever the convention
    assert all(value is False for value in FAILURE.values())
    assert set(FAILURE) == {"int", "none", "bool", "xval", "str"}


def test_function_declaration_errors() -> None:
    mod = Module("m")
    with pytest.raises(ModuleError, match="letters"):
        mod.function("f", "q")
    with pytest.raises(ModuleError, match="letters"):
        mod.function("f", "sssssss")
    with pytest.raises(ModuleError, match="return"):
        mod.function("f", "s", ret="float")  # type: ignore[arg-type]
    with pytest.raises(ModuleError, match="takes"):
        mod.function("f", "ss")(lambda ctx, a: 1)

    @mod.function("g", "s")
    def g(ctx: Any, a: str) -> int:
        return 1

    with pytest.raises(ModuleError, match="twice"):
        mod.function("g", "s")(g)


def test_function_with_varargs_is_accepted() -> None:
    mod = Module("m")
    mod.function("v", "sss")(lambda ctx, *args: len(args))
    assert mod.kemi_exports()["v"](None, "a", "b", "c") == 3


def test_pv_getter_and_setter() -> None:
    mod = Module("m")
    store: dict[str, Any] = {}

    @mod.pv("T_reply_code")
    def get_code(ctx: Any, inner: str | None) -> int:
        return 200

    @mod.pv("var")
    def get_var(ctx: Any, inner: str | None) -> Any:
        return store.get(inner or "")

    @mod.pv_setter("var")
    def set_var(ctx: Any, inner: str | None, value: Any) -> None:
        store[inner or ""] = value

    assert mod.pvs["T_reply_code"].getter(None, None) == 200
    assert mod.pvs["T_reply_code"].setter is None
    spec = mod.pvs["var"]
    assert spec.setter is not None
    spec.setter(None, "x", 5)
    assert spec.getter(None, "x") == 5
    with pytest.raises(ModuleError):
        mod.pv_setter("undeclared")(set_var)


def test_rpc_event_export() -> None:
    mod = Module("m")

    @mod.rpc("m.stats")
    def stats() -> dict[str, int]:
        """Statistics."""
        return {"n": 1}

    mod.event("m:event-one")

    @mod.event("m:event-two", doc="second")
    def fire() -> None:
        return None

    @mod.export("lookup")
    def lookup(aor: str) -> list[str]:
        return [aor]

    assert mod.rpcs["m.stats"].func is stats and mod.rpcs["m.stats"].doc == "Statistics."
    assert set(mod.events) == {"m:event-one", "m:event-two"}
    assert fire() is None  # the decorator returns the function unchanged
    assert mod.api["lookup"]("a") == ["a"]


async def test_hooks_sync_and_async() -> None:
    mod = Module("m")
    seen: list[str] = []

    @mod.on_start
    def start1() -> None:
        seen.append("start1")

    @mod.on_start
    async def start2() -> None:
        seen.append("start2")

    @mod.on_child_init
    async def child(rank: int) -> None:
        seen.append(f"child{rank}")

    mod.on_stop(lambda: seen.append("stop1"))
    mod.on_stop(lambda: seen.append("stop2"))
    await mod.start()
    await mod.child_init(3)
    await mod.stop()
    assert seen == ["start1", "start2", "child3", "stop2", "stop1"]


def test_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("fake_dummy_impl")
    fake.module = Module("dummy")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_dummy_impl", fake)
    monkeypatch.setitem(catalogue.MODULES, "dummy", "fake_dummy_impl")
    assert catalogue.known_module("dummy")
    assert catalogue.load_module("dummy") is fake.module  # type: ignore[attr-defined]
    assert not catalogue.known_module("nope")
    with pytest.raises(LookupError):
        catalogue.load_module("nope")


def test_catalogue_checks_the_declaration(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("fake_bad_impl")
    monkeypatch.setitem(sys.modules, "fake_bad_impl", fake)
    monkeypatch.setitem(catalogue.MODULES, "bad", "fake_bad_impl")
    with pytest.raises(TypeError, match="not an app.module.Module"):
        catalogue.load_module("bad")
    fake.module = Module("other")  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="named"):
        catalogue.load_module("bad")


def test_catalogue_entries_import() -> None:
    for name in catalogue.MODULES:
        assert catalogue.load_module(name).name == name
