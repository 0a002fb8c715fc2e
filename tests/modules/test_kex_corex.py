"""kex and corex through the engine on loopback: debug level, branches, sockets, source
address, R-URI user / User-Agent tests, send_data, xflags, files."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

from modules import corex, kex
from tests.app.harness import port_of

from ._basic_kit import probe, serve


async def test_corex_functions(tmp_path: Path) -> None:
    server = await serve(tmp_path, [corex.module, kex.module])
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raw.bind(("127.0.0.1", 0))
    raw.setblocking(False)
    port = port_of(server, "udp")
    try:
        ops = " ;; ".join([
            "KSR.corex.has_ruri_user()", "KSR.corex.has_user_agent()", "KSR.corex.is_faked_msg()",
            "KSR.pv.sets('$du', 'sip:10.0.0.1')", "KSR.corex.append_branch()",
            "KSR.corex.append_branch_uri('sip:b2@example.com')",
            "KSR.corex.append_branch_uri_q('sip:b3@example.com', '0.5')",
            "KSR.corex.append_branch_uri('not a uri')",
            f"KSR.corex.set_send_socket('udp:127.0.0.1:{port}')",
            "KSR.corex.set_send_socket('udp:192.0.2.1:5060')", "KSR.corex.is_socket_name('x')",
            f"KSR.corex.send_data('sip:127.0.0.1:{raw.getsockname()[1]}', 'hello')",
            "KSR.corex.setxflag(40)", "KSR.corex.isxflagset(40)", "KSR.corex.resetxflag(40)",
            "KSR.corex.isxflagset(40)", "KSR.corex.setxflag(64)",
            f"KSR.corex.file_write('{tmp_path}/f.txt', 'data')",
            f"KSR.corex.file_read('{tmp_path}/f.txt')", "KSR.corex.file_read('/nonexistent/x')",
        ])  # fmt: skip
        res = await probe(server, ops, extra="User-Agent: t\r\n")
        assert res == [1, 1, -1, True, 1, 1, 1, -1, 1, -1, -1, 1, 1, 1, 1, -1, -1, 1, "data",
                       None]  # fmt: skip
        assert await probe(server, "KSR.corex.has_ruri_user() ;; KSR.corex.has_user_agent()",
                           uri="sip:127.0.0.1") == [-1, -1]  # fmt: skip
        assert await asyncio.wait_for(asyncio.get_running_loop().sock_recv(raw, 100), 3) == b"hello"
    finally:
        raw.close()
        await server.stop()


def test_corex_branches_on_a_context() -> None:
    from app.context import Ctx
    from sip import parse

    from ._basic_kit import sip as make

    ctx = Ctx(parse(make("")))
    ctx.dst_uri, ctx.q = "sip:10.0.0.1", 0.7
    ctx.bflags[0] = 4
    assert corex.append_branch(ctx) == 1 and corex.append_branch_uri_q(ctx, "sip:x@y", "0.1") == 1
    first, second = ctx.branches
    assert (first.uri, first.dst_uri, first.q, first.flags) == (
        "sip:bob@127.0.0.1",
        "sip:10.0.0.1",
        0.7,
        4,
    )
    assert (second.uri, second.q, second.dst_uri) == ("sip:x@y", 0.1, "sip:10.0.0.1")
    assert corex.set_source_address(ctx, "192.0.2.9:5099") == 1
    assert (ctx.source.ip, ctx.source.port) == ("192.0.2.9", 5099)


async def test_kex_setdebug(tmp_path: Path) -> None:
    server = await serve(tmp_path, [kex.module])
    root = logging.getLogger("siprouter")
    before = root.level
    try:
        assert await probe(
            server, "KSR.kex.setdebug(3) ;; KSR.setsflag(2) ;; KSR.issflagset(2)"
        ) == [1, True, True]
        assert root.level == logging.DEBUG
        assert await probe(server, "KSR.kex.resetdebug()") == [1]
        assert root.level == before
    finally:
        root.setLevel(before)
        await server.stop()
