"""json (json-c compatible) through the engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.context import Ctx
from modules import json as json_module

from .test_jansson import make_ksr

DOC = '{"foo": "bar", "n": 5, "o": {"a": [1, 2]}, "z": null, "x.y": "dotted"}'


@pytest.fixture
def ksr(tmp_path: Path) -> Iterator[tuple[Any, Ctx]]:
    yield from make_ksr(tmp_path, json_module.module)


def test_get_field_is_json_text(ksr: tuple[Any, Ctx]) -> None:
    k, _ = ksr
    f = k.json.json_get_field
    assert f(DOC, "foo", "$var(v)") == 1 and k.pv.get("$var(v)") == '"bar"'
    assert f(DOC, "n", "$var(v)") == 1 and k.pv.get("$var(v)") == "5"
    assert f(DOC, "o", "$var(v)") == 1 and k.pv.get("$var(v)") == '{ "a": [ 1, 2 ] }'
    assert f(DOC, "x.y", "$var(v)") == 1 and k.pv.get("$var(v)") == '"dotted"'
    assert f(DOC, "o.a[1]", "$var(v)") == 1 and k.pv.get("$var(v)") == "2"
    assert f(DOC, "missing", "$var(v)") == -1 and f("nope", "foo", "$var(v)") == -1


def test_get_string_and_single_quotes(ksr: tuple[Any, Ctx]) -> None:
    k, _ = ksr
    s = k.json.json_get_string
    assert s(DOC, "foo", "$var(v)") == 1 and k.pv.get("$var(v)") == "bar"
    assert s(DOC, "n", "$var(v)") == 1 and k.pv.get("$var(v)") == "5"
    assert s(DOC, "z", "$avp(z)") == 1 and k.pv.get("$avp(z)") is None
    assert s("{'foo':'bar'}", "foo", "$var(v)") == 1 and k.pv.get("$var(v)") == "bar"
