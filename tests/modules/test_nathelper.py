"""nathelper through the engine on loopback: nat_uac_test bits with NATed-looking Contact /
Via / SDP against the real source address, Contact fixing, aliases, fix_nated_register into
received_avp, and the keep-alive pinger (against a tiny in-test contact provider with
usrloc's get_all_ucontacts interface -- usrloc has not landed yet)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.context import Dest
from modules import nathelper
from sip import Request
from tests.app.harness import Peer, port_of

from ._basic_kit import probe, results, serve, sip

SDP = "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\nc=IN IP4 10.0.0.5\r\n"
NATED = "Contact: <sip:alice@192.168.1.20:5070>\r\nContent-Type: application/sdp\r\n"


def _ops(*bits: int) -> str:
    return " ;; ".join(f"KSR.nathelper.nat_uac_test({b})" for b in bits)


async def test_nat_uac_test_bits(tmp_path: Path) -> None:
    server = await serve(tmp_path, [nathelper.module])
    bits = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 19)
    try:
        nated = await probe(server, _ops(*bits), via="192.168.1.20:5070", extra=NATED, body=SDP)
        assert nated == [1, 1, 1, 1, 1, -1, -1, 1, 1, -1, 1]  # source 127.0.0.1 is not private
        peer = await Peer.open()
        clean = (f"Contact: <sip:alice@127.0.0.1:{peer.port}>\r\n"
                 "Content-Type: application/sdp\r\n")  # fmt: skip
        body = SDP.replace("10.0.0.5", "127.0.0.1")
        data = sip(_ops(*bits), via=f"127.0.0.1:{peer.port}", extra=clean, body=body)
        peer.send(data, port_of(server, "udp"))
        assert results(await peer.recv()) == [-1] * 11
        peer.close()
        ops = ("KSR.pv.sets('$du', 'sip:10.1.1.1:5080') ;; " + _ops(512)
               + " ;; KSR.nathelper.is_rfc1918('10.1.1.1') ;; KSR.nathelper.is_rfc1918('100.64.0.1')"
               " ;; KSR.nathelper.is_rfc1918('8.8.8.8') ;; KSR.nathelper.is_rfc1918('fd00::1')")  # fmt: skip
        assert await probe(server, ops) == [True, 1, 1, 1, -1, 1]
    finally:
        await server.stop()


async def _forward(tmp: Path, ops: str, **kw: Any) -> Request:
    server = await serve(tmp, [nathelper.module], {"nathelper": kw.pop("params", {})})
    uac, uas = await Peer.open(), await Peer.open()
    try:
        extra = f"X-Fwd: sip:127.0.0.1:{uas.port}\r\n" + kw.pop("extra", NATED)
        uac.send(
            sip(ops, "INVITE", via="192.168.1.20:5070", extra=extra, **kw), port_of(server, "udp")
        )
        got = await uas.recv()
        assert isinstance(got, Request)
        got.transport_hint = str(uac.port)
        return got
    finally:
        uac.close()
        uas.close()
        await server.stop()


async def test_contact_fixing_and_aliases(tmp_path: Path) -> None:
    got = await _forward(tmp_path, "KSR.nathelper.fix_nated_contact()")
    assert results(got) == [1]
    assert str(got.contacts[0].uri) == f"sip:alice@127.0.0.1:{got.transport_hint}"
    got = await _forward(tmp_path, "KSR.nathelper.set_contact_alias()")
    assert (
        str(got.contacts[0].uri)
        == f"sip:alice@192.168.1.20:5070;alias=127.0.0.1~{got.transport_hint}~1"
    )
    got = await _forward(tmp_path, "KSR.nathelper.add_rcv_param(0)")
    assert got.contacts[0].param("received") == f'"sip:127.0.0.1:{got.transport_hint}"'
    got = await _forward(tmp_path, "KSR.nathelper.add_contact_alias_addr('1.2.3.4', '5080', 'tcp')")
    assert got.contacts[0].uri.param("alias") == "1.2.3.4~5080~2"


async def test_handle_ruri_alias_and_fix_nated_register(tmp_path: Path) -> None:
    server = await serve(
        tmp_path, [nathelper.module], {"nathelper": {"received_avp": "$avp(RECEIVED)"}}
    )
    try:
        ops = "KSR.nathelper.handle_ruri_alias() ;; KSR.pv.get('$du') ;; KSR.pv.get('$ru')"
        res = await probe(server, ops, uri="sip:bob@192.168.1.20:5070;alias=127.0.0.1~5999~2")
        assert res == [1, "sip:127.0.0.1:5999;transport=tcp", "sip:bob@192.168.1.20:5070"]
        assert (await probe(server, ops))[0] == 2
        ops = "KSR.nathelper.fix_nated_register() ;; KSR.pv.get('$avp(RECEIVED)')"
        res = await probe(server, ops, method="REGISTER")
        assert res[0] == 1 and res[1].startswith("sip:127.0.0.1:")
        assert (await probe(server, ops))[0] == -1  # not a REGISTER
    finally:
        await server.stop()


class Contacts:
    """A tiny in-test provider with usrloc's declared get_all_ucontacts() interface."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    def get_all_ucontacts(self) -> list[dict[str, Any]]:
        return self.records


async def test_pinger_sends_options_to_nated_contacts(tmp_path: Path) -> None:
    server = await serve(tmp_path, [nathelper.module], {"nathelper": {
        "ping_nated_only": 1, "nat_bflag": 6, "sipping_from": "sip:pinger@example.org",
    }})  # fmt: skip
    nated, other = await Peer.open(), await Peer.open()
    try:
        provider = Contacts([
            {"c": "sip:alice@192.168.1.20:5070", "received": f"sip:127.0.0.1:{nated.port}",
             "cflags": 1 << 6},
            {"c": f"sip:bob@127.0.0.1:{other.port}", "received": None, "cflags": 0},
        ])  # fmt: skip
        core = server.core
        make = nathelper.module.api["pinger"]
        pinger = make(provider.get_all_ucontacts, core.send,
                      lambda proto: core.via_address(Dest(proto, "127.0.0.1", 5060)))  # fmt: skip
        assert pinger.ping_once() == 1
        ping = await nated.recv()
        assert isinstance(ping, Request) and ping.method == "OPTIONS"
        assert ping.uri_text == "sip:alice@192.168.1.20:5070"
        assert str(ping.from_.uri) == "sip:pinger@example.org"  # type: ignore[union-attr]
        assert ping.via.port == port_of(server, "udp")  # type: ignore[union-attr]
        nathelper.module.set_param("ping_nated_only", 0)
        assert pinger.ping_once() == 2
    finally:
        nated.close()
        other.close()
        await server.stop()
