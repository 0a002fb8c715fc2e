"""rtjson: document validation, branch 0 and the destination set, next_route, update_branch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.context import Ctx
from modules import rtjson

from .test_jansson import make_ksr

SERIAL = {
    "version": "1.0",
    "routing": "serial",
    "routes": [
        {"uri": "sip:b@10.0.0.2", "dst_uri": "sip:10.0.0.9:5070", "path": "<sip:p1>, <sip:p2>",
         "branch_flags": 8, "fr_timer": 5000, "headers": {"extra": "X-Route: one\r\n"}},
        {"uri": "sip:c@10.0.0.3", "socket": "udp:127.0.0.1:5060", "branch_flags": 2,
         "headers": {"extra": "X-Route: two"}},
        {"dst_uri": "sip:10.0.0.4"},
    ],
}  # fmt: skip
PARALLEL = {"version": "1.0", "routing": "parallel", "routes": SERIAL["routes"]}


@pytest.fixture
def ksr(tmp_path: Path) -> Iterator[tuple[Any, Ctx]]:
    yield from make_ksr(tmp_path, rtjson.module)


@pytest.mark.parametrize(
    "doc",
    [
        "[]", "{", '{"routing": "round-robin", "routes": [{}]}', '{"routing": "serial"}',
        '{"routing": "serial", "routes": []}', '{"routing": "serial", "routes": [1]}',
        '{"routing": "serial", "routes": [{"uri": "not a uri"}]}',
        '{"routing": "serial", "routes": [{"fr_timer": "5"}]}',
    ],
)  # fmt: skip
def test_invalid_documents(ksr: tuple[Any, Ctx], doc: str) -> None:
    k, ctx = ksr
    assert k.rtjson.init_routes(doc) == -1 and "rtjson" not in ctx.xavps
    assert k.rtjson.push_routes() == -1 and k.rtjson.next_route() == -1


def test_serial_push_and_next(ksr: tuple[Any, Ctx]) -> None:
    k, ctx = ksr
    ctx.branches.append(rtjson.Branch("sip:old@x"))
    assert k.rtjson.init_routes(json.dumps(SERIAL)) == 1
    assert k.pv.get("$xavp(rtjson=>idx)") == 0 and k.pv.get("$xavp(rtjson=>json)")
    assert k.rtjson.push_routes() == 1
    assert (k.pv.get("$ru"), k.pv.get("$du")) == ("sip:b@10.0.0.2", "sip:10.0.0.9:5070")
    assert ctx.path == ["<sip:p1>", "<sip:p2>"] and ctx.bflags[0] == 8 and not ctx.branches
    assert k.pv.get("$xavp(rtjson=>idx)") == 1
    assert k.rtjson.next_route() == 1
    b = ctx.branches[-1]
    assert (b.uri, b.dst_uri, b.socket, b.flags) == (
        "sip:c@10.0.0.3",
        None,
        "udp:127.0.0.1:5060",
        2,
    )
    assert k.rtjson.next_route() == 1
    assert (ctx.branches[-1].uri, ctx.branches[-1].dst_uri) == ("sip:b@10.0.0.2", "sip:10.0.0.4")
    assert k.rtjson.next_route() == -1 and k.pv.get("$xavp(rtjson=>idx)") == 3


def test_parallel_push(ksr: tuple[Any, Ctx]) -> None:
    k, ctx = ksr
    assert k.rtjson.init_routes(json.dumps(PARALLEL)) == 1 and k.rtjson.push_routes() == 1
    assert k.pv.get("$ru") == "sip:b@10.0.0.2"
    assert [b.uri for b in ctx.branches] == ["sip:c@10.0.0.3", "sip:b@10.0.0.2"]
    assert ctx.branches[1].dst_uri == "sip:10.0.0.4" and ctx.branches[0].flags == 2
    assert k.rtjson.next_route() == -1  # serial only


def test_update_branch_serial(ksr: tuple[Any, Ctx]) -> None:
    k, ctx = ksr
    k.rtjson.init_routes(json.dumps(SERIAL))
    assert k.rtjson.update_branch() == -1  # nothing pushed yet
    k.rtjson.push_routes()
    assert k.rtjson.update_branch() == 1 and ctx.msg.get("X-Route") == "one"
    k.rtjson.next_route()
    assert k.rtjson.update_branch() == 1 and ctx.msg.get_all("X-Route") == ["one", "two"]


def test_document_survives_in_xavp(ksr: tuple[Any, Ctx]) -> None:
    k, ctx = ksr
    k.rtjson.init_routes(json.dumps(SERIAL))
    k.rtjson.push_routes()
    ctx.extra.clear()  # a resumed or failure route: only the xavp travels
    assert k.rtjson.next_route() == 1 and ctx.branches[-1].uri == "sip:c@10.0.0.3"


def test_documents_of_interleaved_calls(ksr: tuple[Any, Ctx]) -> None:
    """The kept document is the last one parsed: a call whose document was replaced in the
    cache by another call's (or a stored xavp edited) still gets its own."""
    k, ctx = ksr
    k.rtjson.init_routes(json.dumps(SERIAL))
    mine = ctx.xavps["rtjson"]
    assert k.rtjson.init_routes(json.dumps(PARALLEL)) == 1  # another call's document
    ctx.xavps["rtjson"] = mine
    assert k.rtjson.push_routes() == 1 and not ctx.branches  # serial: branch 0 only
    assert k.rtjson.next_route() == 1 and ctx.branches[-1].uri == "sip:c@10.0.0.3"
    assert k.rtjson.init_routes("{") == -1  # a broken document after a good one
    ctx.xavps["rtjson"][0]["json"] = ["{"]
    assert k.rtjson.next_route() == -1
