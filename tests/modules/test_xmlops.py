"""xmlops: $xml(name=>doc) and XPath reads/writes, with xml_ns namespaces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.context import Ctx
from modules import xmlops

from .test_jansson import make_ksr

PIDF = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@example.com">'
    '<tuple id="t1"><status><basic>open</basic></status></tuple>'
    '<tuple id="t2"><status><basic>closed</basic></status></tuple></presence>'
)
PLAIN = '<a><b x="1">hello</b><b x="2">world</b></a>'


@pytest.fixture
def ksr(tmp_path: Path) -> Iterator[tuple[Any, Ctx]]:
    xmlops.module.set_param("xml_ns", "pidf=urn:ietf:params:xml:ns:pidf")
    xmlops.handles.clear()
    yield from make_ksr(tmp_path, xmlops.module)
    xmlops.module.reset_params()
    xmlops.handles.clear()


def test_read_plain(ksr: tuple[Any, Ctx]) -> None:
    k, _ = ksr
    assert k.pv.sets("$xml(d=>doc)", PLAIN)
    get = k.pv.get
    assert get("$xml(d=>doc)") == PLAIN
    assert get("$xml(d=>xpath:/a/b/text())") == "hello,world"
    assert get("$xml(d=>xpath:/a/b[2]/@x)") == "2"
    assert get('$xml(d=>xpath:/a/b[@x="1"])') == '<b x="1">hello</b>'
    assert get("$xml(d=>xpath:/a/c)") == "" and get("$xml(d=>xpath:count(/a/b))") == "2"
    assert get("$xml(none=>doc)") is None and get("$xml(d=>xpath:/a/[)") is None


def test_namespaces(ksr: tuple[Any, Ctx]) -> None:
    k, _ = ksr
    assert k.pv.sets("$xml(p=>doc)", PIDF)
    get = k.pv.get
    assert get("$xml(p=>xpath:/pidf:presence/pidf:tuple/pidf:status/pidf:basic/text())") == (
        "open,closed"
    )
    assert get("$xml(p=>xpath:/pidf:presence/@entity)") == "sip:alice@example.com"
    assert get("$xml(p=>xpath:/presence/tuple)") == ""  # default namespace needs the prefix


def test_write(ksr: tuple[Any, Ctx]) -> None:
    k, _ = ksr
    k.pv.sets("$xml(p=>doc)", PIDF)
    basic = "$xml(p=>xpath:/pidf:presence/pidf:tuple[@id='t1']/pidf:status/pidf:basic/text())"
    assert k.pv.sets(basic, "closed") and k.pv.get(basic) == "closed"
    assert k.pv.sets("$xml(p=>xpath://pidf:tuple[@id='t2']/@id)", "t9")
    assert k.pv.sets("$xml(p=>xpath://pidf:tuple[@id='t9']/pidf:status)", "gone")
    doc = k.pv.get("$xml(p=>doc)")
    assert doc.startswith('<?xml version="1.0"?>\n<presence')
    assert '<tuple id="t9"><status>gone</status></tuple>' in doc
    assert "<basic>closed</basic></status></tuple><tuple" in doc
    assert not k.pv.sets("$xml(p=>xpath:count(//pidf:tuple))", "1")
    assert not k.pv.sets("$xml(q=>xpath:/a)", "1")  # no such document


def test_limits_and_safety(ksr: tuple[Any, Ctx]) -> None:
    k, _ = ksr
    assert not k.pv.sets("$xml(big=>doc)", "<a>" + "x" * 5000 + "</a>")
    xxe = '<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>'
    assert k.pv.sets("$xml(x=>doc)", xxe)
    assert "root:" not in (k.pv.get("$xml(x=>xpath:/a)") or "")
    assert k.pv.unset("$xml(x=>doc)") and k.pv.get("$xml(x=>doc)") is None
    assert not k.pv.sets("$xml(x)", "<a/>") and not k.pv.sets("$xml(x=>what)", "<a/>")
