"""KSR core functions, KSR.hdr, KSR.kx and the PVs on a parsed message (no I/O involved)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.config import parse_config_text
from app.context import CURRENT, Ctx, Source
from app.engine import Engine
from sip import parse

from .harness import CFG, request

MSG = request(
    "INVITE", uri="sip:bob@example.com:5080;transport=tcp", call_id="k1",
    extra="User-Agent: tester\r\nX-A: one\r\nX-A: two\r\nContact: <sip:a@10.0.0.1>\r\n",
)  # fmt: skip


@pytest.fixture
def ksr(tmp_path: Path) -> Iterator[tuple[Any, Ctx]]:
    (tmp_path / "script.py").write_text("def mod_init():\n    return object()\n")
    cfg = '#!define NEXT "sip:n"\n' + CFG
    config = parse_config_text(cfg, str(tmp_path / "kamailio.cfg"))
    engine = Engine(tmp_path / "script.py", config=config)
    engine.load()
    ctx = Ctx(parse(MSG), Source("udp", "192.0.2.7", 5099, "127.0.0.1", 5060), engine=engine)
    token = CURRENT.set(ctx)
    yield engine.ksr, ctx
    CURRENT.reset(token)


def test_message_pvs(ksr: tuple[Any, Ctx]) -> None:
    k, _ = ksr
    get = k.pv.get
    assert get("$ru") == "sip:bob@example.com:5080;transport=tcp"
    assert (get("$rU"), get("$rd"), get("$rp"), get("$rP")) == ("bob", "example.com", "5080", "tcp")
    assert (get("$fu"), get("$fU"), get("$fd"), get("$ft")) == (
        "sip:alice@example.com", "alice", "example.com", "f1",
    )  # fmt: skip
    assert (get("$tU"), get("$tt"), get("$ci"), get("$cs"), get("$rm")) == (
        "bob",
        None,
        "k1",
        "1",
        "INVITE",
    )
    assert (get("$si"), get("$sp"), get("$Ri"), get("$Rp"), get("$pr")) == (
        "192.0.2.7",
        5099,
        "127.0.0.1",
        5060,
        "udp",
    )
    assert (get("$ua"), get("$hdr(X-A)"), get("$(hdr(X-A)[1])"), get("$(hdr(X-A)[-1])")) == (
        "tester",
        "one",
        "two",
        "two",
    )
    assert (get("$hdrc(X-A)"), get("$rs"), get("$rr"), get("$ctu")) == (
        2,
        None,
        None,
        "sip:a@10.0.0.1",
    )
    assert get("$nosuch") is None and get("bad name") is None and k.pv.is_null("$nosuch")


def test_writable_pvs_and_variables(ksr: tuple[Any, Ctx]) -> None:
    k, ctx = ksr
    assert k.pv.sets("$rU", "carol") and k.pv.sets("$rd", "example.net") and k.pv.seti("$rp", 5070)
    assert k.pv.get("$ru") == "sip:carol@example.net:5070;transport=tcp"
    assert k.pv.get("$ou") == "sip:bob@example.com:5080;transport=tcp"
    assert (
        k.pv.sets("$du", "sip:10.0.0.9:5060") and k.isdsturiset() and k.pv.get("$dd") == "10.0.0.9"
    )
    assert k.pv.unset("$du") and not k.isdsturiset()
    assert not k.pv.sets("$ci", "read-only")
    assert k.pv.seti("$var(n)", 4) and k.pv.get("$var(n)") == 4 and k.pv.unset("$var(n)")
    assert k.pv.get("$var(n)") == 0 and k.pv.geti("$ci") == 0
    k.pv.sets("$avp(a)", "x")
    k.pv.seti("$avp(a)", 2)
    assert (k.pv.get("$avp(a)"), k.pv.get("$(avp(a)[1])")) == (2, "x")
    k.pv.unset("$avp(a)")
    assert k.pv.get("$avp(a)") == "x"
    k.pv.sets("$xavp(r=>f)", "v1")
    k.pv.sets("$xavp(r[0]=>g)", "v2")
    assert (k.pv.get("$xavp(r=>f)"), k.pv.get("$xavp(r[0]=>g)"), k.pv.get("$xavp(r[1]=>f)")) == (
        "v1",
        "v2",
        None,
    )
    assert k.pv.getvs("$xavp(z=>f)", "dflt") == "dflt" and k.pv.getvn("$avp(none)", 7) == 7
    assert ctx.avps and ctx.xavps


def test_methods_flags_uris(ksr: tuple[Any, Ctx]) -> None:
    k, ctx = ksr
    assert k.is_INVITE() and k.is_method("invite") and k.is_method("BYE|INVITE") and not k.is_BYE()
    assert k.is_method_in("OI") and not k.is_method_in("OB")
    assert (
        k.is_UDP() and k.is_IPv4() and not k.is_TCP() and k.is_proto("tu") and k.is_src_port(5099)
    )
    assert k.to_TCP() and not k.to_UDP()  # R-URI transport=tcp
    assert k.setflag(1) and k.isflagset(1) and k.resetflag(1) and not k.isflagset(1)
    assert k.setflag(32) is False and k.setbflag(2) and k.isbflagset(2) and k.setbiflag(3, 1)
    assert k.isbiflagset(3, 1) and not k.isbiflagset(3, 0)
    assert k.seturi("sip:x@y") and k.setuser("z") and k.pv.get("$ru") == "sip:z@y"
    assert k.sethost("h") and k.pv.get("$ru") == "sip:z@h"
    assert k.force_rport() and ctx.extra["force_rport"]
    assert k.set_drop() == 0 and ctx.drop
    assert not k.is_myself("sip:a@example.com")  # no core: nothing is local
    assert k.info("logged\n") == 0 and k.log("bogus", "err level") == 0


def test_hdr_functions(ksr: tuple[Any, Ctx]) -> None:
    k, ctx = ksr
    assert k.hdr.append("X-New: 1\r\n") == 1 and k.hdr.insert("X-Top: t\r\n") == 1
    assert k.hdr.append_after("X-After: a\r\n", "Call-ID") == 1
    assert k.hdr.insert_before("X-Before: b\r\n", "CSeq") == 1
    assert k.hdr.remove("X-A") == 1 and k.hdr.remove("X-None") == -1
    assert k.hdr.is_present("X-A") == 1  # reads see the received message (lumps)
    assert (
        k.hdr.append("no colon") == -1 and k.hdr.rmappend("User-Agent", "User-Agent: new\r\n") == 1
    )
    out = bytes(ctx.msg).decode()
    names = [line.split(":")[0] for line in out.split("\r\n")[1:] if ":" in line]
    assert names[0] == "X-Top" and names[-1] == "User-Agent" and "X-A" not in names
    assert names.index("X-After") == names.index("Call-ID") + 1
    assert names.index("X-Before") == names.index("CSeq") - 1
    assert (k.hdr.get("X-A"), k.hdr.gete("X-No"), k.hdr.getw("X-No"), k.hdr.get_idx("X-A", -1)) == (
        "one",
        "",
        "<null>",
        "two",
    )
    assert k.hdr.match_content("X-A", "eq", "ONE", "f") and k.hdr.match_content(
        "X-A", "in", "w", "o"
    )
    assert not k.hdr.match_content("X-A", "eq", "one", "a")
    assert k.hdr.append_to_reply("X-R: 1\r\n") == 1 and ctx.reply_headers == [("X-R", "1")]


def test_kx_getters(ksr: tuple[Any, Ctx]) -> None:
    k, _ = ksr
    assert (k.kx.get_def("NEXT"), k.kx.ifdef("NEXT"), k.kx.ifndef("NEXT"), k.kx.get_def("NO")) == (
        "sip:n",
        True,
        False,
        None,
    )
    assert (k.kx.get_srcip(), k.kx.get_srcport(), k.kx.get_method(), k.kx.gete_ua()) == (
        "192.0.2.7",
        5099,
        "INVITE",
        "tester",
    )
    assert k.kx.get_status() == -1 and k.kx.gets_status() is None and k.kx.get_bodylen() == 0


def test_outside_a_route_ksr_uses_a_faked_request(tmp_path: Path) -> None:
    (tmp_path / "s.py").write_text(
        "import KSR\nSEEN = KSR.pv.get('$rm')\ndef mod_init():\n    return 1\n"
    )
    engine = Engine(tmp_path / "s.py")
    engine.load()
    assert engine.script_module is not None and engine.script_module.SEEN == "OPTIONS"
    assert engine.api_list()["msize"] > 100
