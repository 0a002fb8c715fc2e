"""siputils through the engine on loopback: message tests, R-URI parameters, string tests,
URI comparisons, options_reply (return codes compared with Kamailio 5.6.3)."""

from __future__ import annotations

from pathlib import Path

from modules import siputils
from tests.app.harness import Peer, port_of

from ._basic_kit import ask, probe, results, serve, sip


async def test_message_and_string_tests(tmp_path: Path) -> None:
    server = await serve(tmp_path, [siputils.module])
    try:
        ops = " ;; ".join([
            "KSR.siputils.has_totag()", "KSR.siputils.is_request()", "KSR.siputils.is_reply()",
            "KSR.siputils.is_first_hop()", "KSR.siputils.is_uri('sip:a@b')",
            "KSR.siputils.is_uri('x')", "KSR.siputils.is_tel_number('+1234')",
            "KSR.siputils.is_tel_number('12a')", "KSR.siputils.is_numeric('12')",
            "KSR.siputils.is_numeric('1x')", "KSR.siputils.is_alphanum('a1')",
            "KSR.siputils.is_alphanum('a-1')", "KSR.siputils.is_alphanumex('a-1', '-')",
            "KSR.siputils.cmp_uri('sip:a@b', 'sip:a@B')", "KSR.siputils.cmp_uri('sip:a@b', 'sip:c@b')",
            "KSR.siputils.cmp_aor('sip:a@b;x=1', 'sip:a@b')", "KSR.siputils.cmp_aor('sip:a@b', 'sip:a@c')",
            "KSR.siputils.is_uri_user_e164('sip:+4930123@x')", "KSR.siputils.is_uri_user_e164('sip:4930@x')",
            "KSR.siputils.cmp_hdr_name('v', 'Via')", "KSR.siputils.is_user('bob')",
        ])  # fmt: skip
        res = await probe(server, ops)
        assert res == [-1, 1, -1, 1, 1, -1, 1, -1, 1, -1, 1, -1, 1, 1, -1, 1, -1, 1, -1, 1, -1]
        two_vias = "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\n"
        res = await probe(server, "KSR.siputils.has_totag() ;; KSR.siputils.is_first_hop() ;; "
                          "KSR.siputils.is_user('bob')", to="<sip:b@x>;tag=9",
                          extra=two_vias + 'Authorization: Digest username="bob", realm="x"\r\n')  # fmt: skip
        assert res == [1, -1, 1]
    finally:
        await server.stop()


async def test_ruri_parameters(tmp_path: Path) -> None:
    server = await serve(tmp_path, [siputils.module])
    try:
        ops = (
            "KSR.siputils.uri_param('lr') ;; KSR.siputils.uri_param_value('user', 'phone') ;; "
            "KSR.siputils.uri_param_any('x') ;; KSR.siputils.add_uri_param('nat=yes') ;; "
            "KSR.siputils.uri_param_rm('lr') ;; KSR.siputils.uri_param_rm('lr') ;; KSR.pv.get('$ru')"
        )
        res = await probe(server, ops, uri="sip:bob@127.0.0.1;lr;user=phone")
        assert res == [1, 1, -1, 1, 1, -1, "sip:bob@127.0.0.1;user=phone;nat=yes"]
    finally:
        await server.stop()


async def test_options_reply(tmp_path: Path) -> None:
    server = await serve(tmp_path, [siputils.module], {"siputils": {"options_support": "path"}})
    peer = await Peer.open()
    try:
        data = sip("KSR.siputils.options_reply()", uri="sip:127.0.0.1", extra="X-Stop: 1\r\n")
        reply = await ask(server, peer, data)
        assert (
            reply.status == 200 and reply.get("Accept") == "*/*" and reply.get("Support") == "path"
        )
        peer.send(sip("KSR.siputils.options_reply()"), port_of(server, "udp"))  # a user part
        assert results(await peer.recv()) == [-1]
    finally:
        peer.close()
        await server.stop()
