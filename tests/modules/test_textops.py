"""textops and textopsx through the engine on loopback: searches, sed-like subst on the
headers / R-URI / user / body, replace, header removal, body functions, string helpers;
the forwarded request shows the edits."""

from __future__ import annotations

from pathlib import Path

from modules import textops, textopsx
from sip import Request
from tests.app.harness import Peer, port_of

from ._basic_kit import probe, results, serve, sip

SDP = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nc=IN IP4 10.0.0.1\r\n"


async def _forward(tmp: Path, ops: str, **kw: object) -> Request:
    server = await serve(tmp, [textops.module, textopsx.module])
    uac, uas = await Peer.open(), await Peer.open()
    try:
        extra = f"X-Fwd: sip:127.0.0.1:{uas.port}\r\n" + str(kw.pop("extra", ""))
        uac.send(sip(ops, "INVITE", extra=extra, **kw), port_of(server, "udp"))  # type: ignore[arg-type]
        got = await uas.recv()
        assert isinstance(got, Request)
        return got
    finally:
        uac.close()
        uas.close()
        await server.stop()


async def test_searches_and_presence(tmp_path: Path) -> None:
    server = await serve(tmp_path, [textops.module, textopsx.module])
    try:
        ops = " ;; ".join([
            "KSR.textops.search('^from:.*ALICE')", "KSR.textops.search('z[z]z')",
            "KSR.textops.search_body('c=IN IP4 10')", "KSR.textops.search_hf('From', 'alice', 'f')",
            "KSR.textops.is_present_hf('From')", "KSR.textops.is_present_hf('X-No')",
            "KSR.textops.is_present_hf_re('^X-O')", "KSR.textops.has_body()",
            "KSR.textops.has_body_type('application/sdp')", "KSR.textops.is_privacy('id')",
            "KSR.textops.is_method('INVITE|BYE')", "KSR.textops.in_list('b', 'a,b,c', ',')",
            "KSR.textops.cmp_istr('A', 'a')", "KSR.textops.starts_with('abc', 'ab')",
            "KSR.textops.search('[')", "KSR.textopsx.fnmatch('abc', 'a*')",
            "KSR.textopsx.fnmatch_ex('ABC', 'a*', 'i')", "KSR.textopsx.hf_value_exists('Supported', 'path')",
        ])  # fmt: skip
        extra = "Content-Type: application/sdp\r\nPrivacy: id;header\r\nSupported: timer, path\r\n"
        res = await probe(server, ops, method="INVITE", extra=extra, body=SDP)
        assert res == [1, -1, 1, 1, 1, -1, 1, 1, 1, 1, 1, 1, 1, 1, -1, 1, 1, 1]
        assert await probe(server, "KSR.textops.has_body() ;; KSR.textops.is_privacy('id')") == [
            -1,
            -1,
        ]
    finally:
        await server.stop()


async def test_subst_family_changes_the_forwarded_request(tmp_path: Path) -> None:
    ops = " ;; ".join([
        "KSR.textops.subst('/^From: (.*)alice(.*)$/From: \\\\1carol\\\\2/')",
        "KSR.textops.subst('/no[m]atch/x/')", "KSR.textops.subst_uri('/127.0.0.1/example.net/')",
        "KSR.textops.subst_user('/^bob$/robert/')", "KSR.textops.subst_body('/10.0.0.1/192.0.2.1/g')",
        "KSR.textops.subst_hf('Subject', '/hi/hello/', 'a')", "KSR.textops.replace('^X-Old', 'X-New')",
        "KSR.textops.remove_hf('Remove-Me')", "KSR.textops.remove_hf_re('^X-Drop')",
        "KSR.textops.append_hf('X-Added: $rm\\r\\n')", "KSR.textops.insert_hf('X-Top: 1\\r\\n')",
        "KSR.textopsx.append_hf_value('Supported', 'gruu')", "KSR.textopsx.remove_hf_value('Supported')",
        "KSR.textops.search('^From:.*car[o]l')",
    ])  # fmt: skip
    extra = ("Content-Type: application/sdp\r\nSubject: hi\r\nX-Old: 1\r\nRemove-Me: 1\r\n"
             "X-Drop-A: 1\r\nX-Drop-B: 2\r\nSupported: timer, path\r\n")  # fmt: skip
    got = await _forward(tmp_path, ops, extra=extra, body=SDP)
    assert results(got) == [1, -1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, -1]  # reads see the received
    assert got.get("From") == "<sip:carol@example.com>;tag=f1"
    assert got.uri_text == "sip:robert@example.net" and got.get("Subject") == "hello"
    assert got.get("X-New") == "1" and "X-Old" not in got and "Remove-Me" not in got
    assert "X-Drop-A" not in got and got.get("X-Added") == "INVITE"
    names = [n for n, _ in got.items()]
    assert names.index("X-Top") < names.index("From") and got.get("Supported") == "path, gruu"
    assert got.body == SDP.replace("10.0.0.1", "192.0.2.1").encode()
    assert got.content_length == len(got.body)


async def test_body_functions(tmp_path: Path) -> None:
    got = await _forward(tmp_path, "KSR.textops.set_body('hello $fU', 'text/plain')")
    assert got.body == b"hello alice" and got.get("Content-Type") == "text/plain"
    got = await _forward(tmp_path, "KSR.textops.append_body_part('<x/>', 'application/xml')",
                         extra="Content-Type: application/sdp\r\n", body=SDP)  # fmt: skip
    assert got.get("Content-Type", "").startswith("multipart/mixed;boundary=")
    assert b"application/sdp" in got.body and b"<x/>" in got.body
    got = await _forward(tmp_path, "KSR.textopsx.remove_body() ;; KSR.textopsx.keep_hf()",
                         extra="Content-Type: application/sdp\r\nX-Gone: 1\r\n", body=SDP)  # fmt: skip
    assert got.body == b"" and "Content-Type" not in got and "X-Gone" not in got


async def test_msg_apply_changes_and_reply_status(tmp_path: Path) -> None:
    server = await serve(tmp_path, [textops.module, textopsx.module])
    try:
        ops = ("KSR.textops.remove_hf('Subject') ;; KSR.textops.is_present_hf('Subject') ;; "
               "KSR.textopsx.msg_apply_changes() ;; KSR.textops.is_present_hf('Subject') ;; "
               "KSR.textopsx.change_reply_status(404, 'x')")  # fmt: skip
        assert await probe(server, ops, extra="Subject: s\r\n") == [1, 1, 1, -1, -1]
    finally:
        await server.stop()
