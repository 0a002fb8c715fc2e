"""rtjson From/To for the whole dialog (uac restore_mode "auto"): the Record-Route parameter
encoding, the reply fixup, the branch's Record-Route parameters, and in-dialog requests
translated both ways by the rr callback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from app.context import Ctx, Source
from modules import _fromto as ft
from modules import rr, rtjson
from sip import Request, parse
from sip.headers import parse_name_addr
from sip.message import make_response

from .test_jansson import make_ksr

ME = "127.0.0.1:5060"
A_FROM = '"Caller" <sip:alice@a.example>'
A_TO = "<sip:1001@proxy.example>"
NEW_FROM = '"Bob\'s Co" <sip:+15550001@b.example>'
NEW_TO = "<sip:+15551234@b.example;user=phone>"
HEADERS = {"from": {"display": "Bob's Co", "uri": "sip:+15550001@b.example"},
           "to": {"display": "", "uri": "sip:+15551234@b.example;user=phone"}}  # fmt: skip


@pytest.fixture(autouse=True)
def _params() -> Iterator[None]:
    rtjson.module.reset_params()
    yield
    rtjson.module.reset_params()


def _core() -> Any:
    def is_myself(host: str, port: int | None, proto: str | None) -> bool:
        return f"{host}:{port or 5060}" == ME

    return SimpleNamespace(is_myself=is_myself, advertise={})


def _req(method: str, frm: str, to: str, extra: str = "") -> Request:
    text = (f"{method} sip:x@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.7;branch=z9hG4bK1\r\n"
            f"From: {frm}\r\nTo: {to}\r\nCall-ID: c1\r\nCSeq: 2 {method}\r\n{extra}"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")  # fmt: skip
    msg = parse(text.encode())
    assert isinstance(msg, Request)
    return msg


# -- encoding ------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["", "s3cret"])
def test_encode_decode_roundtrip(key: str) -> None:
    value = ft.encode(A_FROM, NEW_FROM, key)
    assert value is not None and value.replace("-", "").replace("_", "").isalnum()
    assert ft.decode(value, key) == (A_FROM, NEW_FROM)
    assert A_FROM.encode().hex() not in value and "alice" not in value


def test_sealed_values_are_unreadable_and_unforgeable() -> None:
    sealed = ft.encode(A_FROM, NEW_FROM, "k1")
    assert sealed is not None and sealed != ft.encode(A_FROM, NEW_FROM, "k1")  # fresh nonce
    assert ft.decode(sealed, "") is None and ft.decode(sealed, "k2") is None
    flipped = sealed[:12] + ("A" if sealed[12] != "A" else "B") + sealed[13:]
    assert ft.decode(flipped, "k1") is None
    plain = ft.encode(A_FROM, NEW_FROM)
    assert plain is not None and ft.decode(plain, "k1") == (A_FROM, NEW_FROM)  # key added later


@pytest.mark.parametrize("bad", ["", "!!!", "AAAA", "x" * 2000, "AQ", "AWFiYwBkZWY"])
def test_decode_rejects_garbage(bad: str) -> None:
    assert ft.decode(bad) is None


def test_decode_rejects_damage_and_bad_values() -> None:
    good = ft.encode(A_FROM, NEW_FROM)
    assert good is not None
    assert ft.decode(good[:-2] + ("AA" if good[-2:] != "AA" else "BB")) is None  # CRC
    not_uri = ft.encode("<nonsense>", NEW_FROM)
    assert not_uri is not None and ft.decode(not_uri) is None


def test_encode_refuses_long_values() -> None:
    long = f"<sip:{'a' * ft.MAX_VALUE}@x>"
    assert ft.encode(long, NEW_FROM) is None and ft.encode(A_FROM, long) is None
    assert ft.encode("a\0b", NEW_FROM) is None


def test_restore_replies_keeps_the_tags() -> None:
    req = _req("INVITE", NEW_FROM + ";tag=a1", NEW_TO)
    resp = make_response(req, 200, to_tag="b2")
    fixup = ft.RestoreReplies({"From": A_FROM, "To": A_TO})
    out = fixup(resp)
    assert out is not resp and resp.get("From") == NEW_FROM + ";tag=a1"  # a copy is changed
    assert out.get("From") == A_FROM + ";tag=a1" and out.get("To") == A_TO + ";tag=b2"
    assert fixup(out) is out  # nothing to do


# -- the initial request: update_branch ------------------------------------------------------
@pytest.fixture
def ksr(tmp_path: Path) -> Iterator[tuple[Any, Ctx]]:
    yield from make_ksr(tmp_path, rtjson.module)


def _branch(k: Any, ctx: Ctx, rr_values: str, headers: dict[str, Any] = HEADERS) -> Ctx:
    doc = {"routing": "serial", "routes": [{"uri": "sip:b@10.0.0.2", "headers": headers}]}
    assert k.rtjson.init_routes(json.dumps(doc)) == 1 and k.rtjson.push_routes() == 1
    received = _req("INVITE", A_FROM + ";tag=a1", A_TO, f"Record-Route: {rr_values}\r\n")
    branch = Ctx(received.copy(), Source("udp", "10.0.0.7", 5060), _core(), ctx.engine,
                 route="branch_route", original=received, xavps=ctx.xavps)  # fmt: skip
    branch.extra["tm_cell"] = SimpleNamespace(upstream_fixups=[])
    from app.context import CURRENT  # noqa: PLC0415 - the KSR calls act on the current ctx

    token = CURRENT.set(branch)
    try:
        assert k.rtjson.update_branch() == 1
    finally:
        CURRENT.reset(token)
    return branch


def test_update_branch_keeps_the_dialog_data(ksr: tuple[Any, Ctx]) -> None:
    k, ctx = ksr
    branch = _branch(k, ctx, f"<sip:{ME};lr;ftag=a1>, <sip:other.example;lr>")
    msg = branch.msg
    assert msg.get("From") == '"Bob\'s Co" <sip:+15550001@b.example>;tag=a1'
    assert msg.get("To") == NEW_TO
    ours, other = msg.values("Record-Route")
    assert other == "<sip:other.example;lr>"
    params = dict(parse_name_addr(ours).uri.params)
    assert params["ftag"] == "a1" and "lr" in params
    assert ft.decode(params["rjf"]) == (A_FROM, NEW_FROM)
    assert ft.decode(params["rjt"]) == (A_TO, NEW_TO)
    [fixup] = branch.extra["tm_cell"].upstream_fixups
    assert isinstance(fixup, ft.RestoreReplies) and fixup.values == {"From": A_FROM, "To": A_TO}


def test_update_branch_double_rr_gets_params_on_both(ksr: tuple[Any, Ctx]) -> None:
    k, ctx = ksr
    branch = _branch(k, ctx, f"<sip:{ME};r2=on;lr;ftag=a1>, <sip:{ME};transport=tcp;r2=on;lr>",
                     {"from": HEADERS["from"]})  # fmt: skip
    values = branch.msg.values("Record-Route")
    assert len(values) == 2 and all(";rjf=" in v and ";rjt=" not in v for v in values)
    assert branch.msg.get("To") == A_TO


def test_update_branch_without_record_route_or_restore(ksr: tuple[Any, Ctx]) -> None:
    k, ctx = ksr
    branch = _branch(k, ctx, "<sip:other.example;lr>")  # not record-routed: rewrite only
    assert branch.msg.values("Record-Route") == ["<sip:other.example;lr>"]
    assert branch.msg.get("From", "").startswith('"Bob')
    rtjson.module.set_param("restore_mode", "none")
    branch = _branch(k, ctx, f"<sip:{ME};lr;ftag=a1>")
    assert branch.msg.values("Record-Route") == [f"<sip:{ME};lr;ftag=a1>"]
    assert branch.extra["tm_cell"].upstream_fixups == []


# -- in-dialog requests: the rr callback ----------------------------------------------------
def _route_params(key: str = "", ftag: str | None = "a1") -> str:
    rjf, rjt = ft.encode(A_FROM, NEW_FROM, key), ft.encode(A_TO, NEW_TO, key)
    return "lr" + (f";ftag={ftag}" if ftag else "") + f";rjf={rjf};rjt={rjt}"


def _in_dialog(method: str, frm: str, to: str, params: str) -> Ctx:
    ctx = Ctx(_req(method, frm, to), Source("udp", "10.0.0.7", 5060), _core())
    rtjson.on_route(ctx, params)
    return ctx


@pytest.mark.parametrize("key", ["", "k"])
def test_in_dialog_from_the_caller(key: str) -> None:
    rtjson.module.set_param("restore_key", key)
    ctx = _in_dialog("BYE", A_FROM + ";tag=a1", A_TO + ";tag=b2", _route_params(key))
    assert ctx.msg.get("From") == NEW_FROM + ";tag=a1" and ctx.msg.get("To") == NEW_TO + ";tag=b2"
    assert ctx.received.get("From") == A_FROM + ";tag=a1"  # the received message is kept
    [fixup] = ctx.extra["tm_upstream_fixups"]  # the 200 to the BYE: back to what was sent
    assert fixup.values == {"From": A_FROM, "To": A_TO}


def test_in_dialog_from_the_callee_and_its_reply() -> None:
    ctx = _in_dialog("BYE", NEW_TO + ";tag=b2", NEW_FROM + ";tag=a1", _route_params())
    assert ctx.msg.get("From") == A_TO + ";tag=b2" and ctx.msg.get("To") == A_FROM + ";tag=a1"
    [fixup] = ctx.extra["tm_upstream_fixups"]
    reply = make_response(ctx.msg, 200)  # as the caller answers it
    out = fixup(reply)
    assert out.get("From") == NEW_TO + ";tag=b2" and out.get("To") == NEW_FROM + ";tag=a1"


def test_in_dialog_direction_without_ftag() -> None:
    down = _in_dialog("INVITE", A_FROM + ";tag=a1", A_TO + ";tag=b2", _route_params(ftag=None))
    assert down.msg.get("From") == NEW_FROM + ";tag=a1"
    up = _in_dialog("BYE", NEW_TO + ";tag=b2", NEW_FROM + ";tag=a1", _route_params(ftag=None))
    assert up.msg.get("To") == A_FROM + ";tag=a1"
    unknown = _in_dialog("BYE", "<sip:x@y>;tag=q", "<sip:z@w>;tag=r", _route_params(ftag=None))
    assert unknown.original is None  # untouched


def test_in_dialog_ack_and_what_is_left_alone(caplog: pytest.LogCaptureFixture) -> None:
    ack = _in_dialog("ACK", A_FROM + ";tag=a1", A_TO + ";tag=b2", _route_params())
    assert ack.msg.get("To") == NEW_TO + ";tag=b2" and "tm_upstream_fixups" not in ack.extra
    initial = _in_dialog("INVITE", A_FROM + ";tag=a1", A_TO, _route_params())
    assert initial.original is None  # no To tag: not in a dialog
    other = _in_dialog("BYE", A_FROM + ";tag=a1", A_TO + ";tag=b2", "lr;ftag=a1;nat=yes")
    assert other.original is None
    bad = _in_dialog("BYE", A_FROM + ";tag=a1", A_TO + ";tag=b2", "lr;ftag=a1;rjf=AAAAAAAAAA")
    assert bad.original is None and "does not decode" in caplog.text
    rtjson.module.set_param("restore_key", "k")  # plain values are still read ...
    plain = _in_dialog("BYE", A_FROM + ";tag=a1", A_TO + ";tag=b2", _route_params())
    assert plain.msg.get("To") == NEW_TO + ";tag=b2"
    sealed = _route_params("other key")  # ... sealed ones only with the right key
    ctx = _in_dialog("BYE", A_FROM + ";tag=a1", A_TO + ";tag=b2", sealed)
    assert ctx.original is None


def test_registered_with_rr() -> None:
    rtjson._register()
    rtjson._register()
    assert rr.RR_CALLBACKS.count(rtjson.on_route) == 1


def test_add_rr_param_in_a_branch_route_edits_that_branch() -> None:
    received = _req("INVITE", A_FROM + ";tag=a1", A_TO, f"Record-Route: <sip:{ME};lr;ftag=a1>\r\n")
    branch = Ctx(received.copy(), Source("udp", "10.0.0.7", 5060), _core(),
                 route="branch_route", original=received)  # fmt: skip
    assert rr.add_rr_param(branch, ";b=2") == 1
    assert branch.msg.get("Record-Route") == f"<sip:{ME};lr;ftag=a1;b=2>"
    assert received.get("Record-Route") == f"<sip:{ME};lr;ftag=a1>"
    other = Ctx(_req("INVITE", A_FROM, A_TO, "Record-Route: <sip:p.example;lr>\r\n"),
                core=_core(), route="branch_route")  # fmt: skip
    assert rr.add_rr_param(other, "b=2") == -1  # not record-routed by us
