"""jansson through the engine: paths, value mapping, set/append, xdecode/xencode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.config import parse_config_text
from app.context import CURRENT, Ctx, Source
from app.engine import Engine
from modules import jansson
from modules._jsonpath import PathError, parse_path
from sip import parse
from tests.app.harness import CFG, request

DOC = '{"a": {"b": [{"c": "x"}, [10, 20]]}, "r": 1.5, "t": true, "n": null, "big": 9999999999}'


def make_ksr(tmp_path: Path, *modules: Any) -> Iterator[tuple[Any, Ctx]]:
    """An engine with ``modules`` loaded and a context on an INVITE (shared by module tests)."""
    (tmp_path / "script.py").write_text("def mod_init():\n    return object()\n")
    config = parse_config_text(CFG, str(tmp_path / "kamailio.cfg"))
    engine = Engine(tmp_path / "script.py", modules, config=config)
    engine.load()
    ctx = Ctx(parse(request("INVITE")), Source("udp", "127.0.0.1", 5099), engine=engine)
    token = CURRENT.set(ctx)
    yield engine.ksr, ctx
    CURRENT.reset(token)


@pytest.fixture
def ksr(tmp_path: Path) -> Iterator[tuple[Any, Ctx]]:
    yield from make_ksr(tmp_path, jansson.module)


def test_parse_path() -> None:
    assert parse_path("a.b[0][1].c") == ["a", "b", 0, 1, "c"]
    assert parse_path("[2].x") == [2, "x"] and parse_path("") == [] and parse_path("k") == ["k"]
    assert parse_path("a[0x1]") == ["a", 1]
    for bad in ("a[1", "a[x]", "a..b", "a[0]b"):
        with pytest.raises(PathError):
            parse_path(bad)


def test_get_paths_and_types(ksr: tuple[Any, Ctx]) -> None:
    k, _ = ksr
    get = k.jansson.get
    assert get("a.b[0].c", DOC, "$var(v)") == 1 and k.pv.get("$var(v)") == "x"
    assert get("a.b[1][1]", DOC, "$var(v)") == 1 and k.pv.get("$var(v)") == 20
    assert get("a.b[1]", DOC, "$var(v)") == 1 and k.pv.get("$var(v)") == "[10,20]"
    assert get("a.b[0]", DOC, "$var(v)") == 1 and k.pv.get("$var(v)") == '{"c":"x"}'
    assert get("r", DOC, "$var(v)") == 1 and k.pv.get("$var(v)") == "1.5"
    assert get("t", DOC, "$avp(t)") == 1 and k.pv.get("$avp(t)") == 1
    assert get("big", DOC, "$var(v)") == 1 and k.pv.get("$var(v)") == "9999999999"
    assert get("n", DOC, "$avp(n)") == 1 and k.pv.get("$avp(n)") is None


def test_get_failures_leave_destination(ksr: tuple[Any, Ctx]) -> None:
    k, _ = ksr
    k.pv.sets("$var(v)", "keep")
    assert k.jansson.get("a.nope", DOC, "$var(v)") == -1
    assert k.jansson.get("a.b[5]", DOC, "$var(v)") == -1
    assert k.jansson.get("a.b[-1]", DOC, "$var(v)") == -1
    assert k.jansson.get("a", "{not json", "$var(v)") == -1
    assert k.pv.get("$var(v)") == "keep"
    assert k.jansson.get("a", DOC, "bad pv") == -1
    assert k.jansson.get("a", DOC) is False  # too few arguments: Kamailio's False


def test_pv_get_and_field(ksr: tuple[Any, Ctx]) -> None:
    k, _ = ksr
    k.pv.sets("$var(doc)", '{"a.b": 1, "a": {"b": 2}}')
    assert k.jansson.pv_get("a.b", "$var(doc)", "$var(v)") == 1 and k.pv.get("$var(v)") == 2
    text = k.pv.get("$var(doc)")
    assert k.jansson.get_field("a.b", text, "$var(v)") == 1 and k.pv.get("$var(v)") == 1
    assert k.jansson.get_field("zz", text, "$var(v)") == -1


def test_set_and_append(ksr: tuple[Any, Ctx]) -> None:
    k, _ = ksr
    s = k.jansson.set
    assert s("string", "caller.name", "alice", "$var(j)") == 1  # {} when the PV holds no string
    assert k.pv.get("$var(j)") == '{"caller":{"name":"alice"}}'
    assert s("int", "caller.n", "7", "$var(j)") == 1 and s("real", "r", "0.5", "$var(j)") == 1
    assert s("array", "list", "[1]", "$var(j)") == 1 and s("true", "ok", "", "$var(j)") == 1
    assert s("null", "z", "", "$var(j)") == 1 and s("obj", "o", '{"k": 1}', "$var(j)") == 1
    assert k.jansson.append("int", "list", "2", "$var(j)") == 1
    assert k.jansson.append("object", "o", '{"m": 2}', "$var(j)") == 1
    assert s("int", "list[0]", "9", "$var(j)") == 1
    assert k.pv.get("$var(j)") == (
        '{"caller":{"name":"alice","n":7},"r":0.5,"list":[9,2],"ok":true,"z":null,'
        '"o":{"k":1,"m":2}}'
    )
    before = k.pv.get("$var(j)")
    assert s("int", "x", "seven", "$var(j)") == -1 and s("weird", "x", "1", "$var(j)") == -1
    assert s("int", "list[7]", "1", "$var(j)") == -1 and s("int", "q[0]", "1", "$var(j)") == -1
    assert s("array", "x", "{}", "$var(j)") == -1 and s("int", "", "1", "$var(j)") == -1
    assert k.jansson.append("int", "caller.name", "1", "$var(j)") == -1
    assert k.pv.get("$var(j)") == before


def test_array_size(ksr: tuple[Any, Ctx]) -> None:
    k, _ = ksr
    assert k.jansson.array_size("a.b", DOC, "$var(n)") == 1 and k.pv.get("$var(n)") == 2
    assert k.jansson.array_size("a", DOC, "$var(n)") == -1


def test_xdecode_xencode(ksr: tuple[Any, Ctx]) -> None:
    k, _ = ksr
    assert k.jansson.xdecode('{"foo": "bar", "num": 123, "sub": {"x": 1}}', "data") == 1
    get = k.pv.get
    assert (get("$xavp(data=>foo)"), get("$xavp(data=>num)"), get("$xavp(data=>sub)")) == (
        "bar", 123, '{"x":1}',
    )  # fmt: skip
    assert k.jansson.xdecode('[{"i": 1}, {"i": 2}]', "rows") == 1
    assert (get("$xavp(rows[0]=>i)"), get("$xavp(rows[1]=>i)")) == (2, 1)  # pushed at [0]
    assert k.jansson.xdecode("[1, 2]", "bad") == -1 and k.jansson.xdecode("{", "bad") == -1
    k.jansson.xdecode('{"a": "é", "b": 2}', "enc")
    assert k.jansson.xencode("enc", "$var(out)") == 1
    assert get("$var(out)") == '{"a": "é", "b": 2}'
    assert k.jansson.xencode("none", "$var(out)") == -1
