"""sanity through the engine: the RFC 4475 torture messages over loopback (416, 420 with
Unsupported, 400 ...), each check bit on crafted messages, noreply + sanity_reply."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.config import parse_config_text
from app.context import CURRENT, Ctx, Source
from app.engine import Engine
from modules import sanity
from sip import Response, parse
from tests.app.harness import Peer, port_of
from tests.sip.conformance import RFC4475, read

from ._basic_kit import cfg_for, probe, serve, sip

SCRIPT = """
    import KSR

    def mod_init():
        return H()

    class H:
        def child_init(self, rank):
            return 0

        def ksr_request_route(self, msg):
            KSR.force_rport()
            if KSR.sanity.sanity_check(17895 | 512 | 4096, 7) < 0:
                return 1
            KSR.sl.sl_send_reply(200, "Sane")
"""


async def _torture(tmp: Path, names: list[str]) -> dict[str, Response]:
    server = await serve(tmp, [sanity.module], script=SCRIPT)
    peer = await Peer.open()
    out: dict[str, Response] = {}
    try:
        for name in names:
            data = re.sub(rb"(Via: SIP/2.0/UDP )[^;\r\n]+", b"\\g<1>127.0.0.1:%d" % peer.port,
                          read(RFC4475, name), count=1)  # fmt: skip
            peer.send(data, port_of(server, "udp"))
            reply = await peer.recv()
            assert isinstance(reply, Response)
            out[name] = reply
    finally:
        peer.close()
        await server.stop()
    return out


async def test_rfc4475_messages_over_loopback(tmp_path: Path) -> None:
    got = await _torture(
        tmp_path, ["unkscm.dat", "novelsc.dat", "bext01.dat", "lwsdisp.dat", "semiuri.dat"]
    )
    assert got["unkscm.dat"].status == 416 and got["novelsc.dat"].status == 416
    assert got["bext01.dat"].status == 420
    assert got["bext01.dat"].get("Unsupported") == (
        "noProxiesSupportThis, norDoAnyProxiesSupportThis"
    )
    assert got["lwsdisp.dat"].status == got["semiuri.dat"].status == 200  # valid: pass


@pytest.fixture
def ksr(tmp_path: Path) -> Iterator[Any]:
    """KSR on a message without the transport (the core rejects insuf/multi01 first)."""
    (tmp_path / "script.py").write_text("def mod_init():\n    return object()\n")
    config = parse_config_text(cfg_for([sanity.module]), str(tmp_path / "kamailio.cfg"))
    sanity.module.reset_params()
    sanity.module.set_param("noreply", 1)
    engine = Engine(tmp_path / "script.py", [sanity.module], config=config)
    engine.load()

    def run(data: bytes, mflags: int, uflags: int = 7) -> tuple[int, Any]:
        ctx = Ctx(parse(data), Source("udp", "192.0.2.7", 5099), engine=engine)
        token = CURRENT.set(ctx)
        try:
            rc = engine.ksr.sanity.sanity_check(mflags, uflags)
        finally:
            CURRENT.reset(token)
        failure = ctx.extra.get(sanity.REPLY_KEY)
        return rc, None if failure is None else (failure.code, failure.reason)

    yield run
    sanity.module.reset_params()


def test_rfc4475_insuf_and_multi01(ksr: Any) -> None:
    assert ksr(read(RFC4475, "insuf.dat"), 4) == (-1, (400, "Missing Required Header in Request"))
    assert ksr(read(RFC4475, "multi01.dat"), 4)[1] == (400, "Duplicate Required Header in Request")
    assert ksr(read(RFC4475, "mismatch01.dat"), 32)[1] == (
        400, "CSeq method does not match request method",
    )  # fmt: skip
    assert ksr(read(RFC4475, "scalar02.dat"), 64)[1] == (400, "CSeq number is illegal")
    assert ksr(read(RFC4475, "esc01.dat"), 0x1FFFF, 15) == (1, None)


CASES = [
    (1, "", "", None),
    (8, "Via: SIP/2.0/UDP", "Via: SIP/2.1/UDP", (505, "Version Not Supported (Via)")),
    (16, "Via: SIP/2.0/UDP", "Via: SIP/2.0/FOO", None),
    (64, "CSeq: 1 ", "CSeq: 99999999999 ", (400, "CSeq number is illegal")),
    (128, "Content-Length: 0", "Content-Length: 0", None),
    (256, "Max-Forwards", "Expires: soon\r\nMax-Forwards", (400, "Expires value is illegal")),
    (512, "Max-Forwards", "Proxy-Require: foo\r\nMax-Forwards", (420, "Bad Proxy Require Extension")),
    (1024, "From: <sip:alice@example.com>", "From: <sip:@>", (400, "Invalid From Header")),
    (2048, "Max-Forwards", 'Authorization: Digest username="a"\r\nMax-Forwards',
     (400, "Bad Auth Credentials")),
    (4096, ";tag=f1", ";tag=f1;tag=f2", (400, "Many From Tag Params")),
    (8192, "Max-Forwards", 'Authorization: Digest realm="r"\r\nMax-Forwards',
     (400, "Bad Authorization Header")),
    (16384, "Via: SIP/2.0/UDP 127.0.0.1:9", "Via: SIP/2.0/UDP 127.0.0.1:9", None),
    (32768, ";branch=", ";xbranch=", (400, "Missing Via Branch")),
    (65536, "Call-ID: k1", "Call-ID: " + "x" * 2000, (400, "Header Too Large")),
]  # fmt: skip


@pytest.mark.parametrize(("bit", "old", "new", "expect"), CASES)
def test_each_check(ksr: Any, bit: int, old: str, new: str, expect: Any) -> None:
    data = sip("").replace(old.encode(), new.encode(), 1)
    rc, failure = ksr(data, bit, 7)
    assert (rc, failure) == ((-1, expect) if expect else (1, None))


def test_contact_uri_check_only_with_uflag_8(ksr: Any) -> None:
    data = sip("", extra="Contact: <sip:@@>\r\n")
    assert ksr(data, 1024, 7) == (1, None)
    assert ksr(data, 1024, 8) == (-1, (400, "Bad Contact URI"))


async def test_noreply_and_sanity_reply_over_loopback(tmp_path: Path) -> None:
    server = await serve(
        tmp_path, [sanity.module], {"sanity": {"noreply": 1, "default_checks": 512}}
    )
    try:
        ops = "KSR.sanity.sanity_check_defaults() ;; KSR.sanity.sanity_check(2, 0) ;; KSR.sanity.sanity_reply()"
        assert await probe(server, ops) == [1, 1, -1]
        peer = await Peer.open()
        data = sip("KSR.sanity.sanity_check_defaults() ;; KSR.sanity.sanity_reply()",
                   extra="Proxy-Require: x\r\nX-Stop: 1\r\n")  # fmt: skip
        peer.send(data, port_of(server, "udp"))
        reply = await peer.recv()
        assert reply.status == 420 and reply.get("Unsupported") == "x"  # type: ignore[union-attr]
        peer.close()
    finally:
        await server.stop()
