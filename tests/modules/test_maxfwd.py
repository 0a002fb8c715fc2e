"""maxfwd through the engine on loopback: process_maxfwd return codes, the outgoing value
(decremented once, capped by max_limit, added when missing) and is_maxfwd_lt."""

from __future__ import annotations

from pathlib import Path

from modules import maxfwd
from sip import Request
from tests.app.harness import Peer, port_of

from ._basic_kit import probe, results, serve, sip


async def _relay(tmp: Path, mf: str | None, params: dict | None = None) -> Request:
    server = await serve(tmp, [maxfwd.module], {"maxfwd": params or {}})
    uac, uas = await Peer.open(), await Peer.open()
    try:
        data = sip("KSR.maxfwd.process_maxfwd(10)", "INVITE",
                   extra=f"X-Fwd: sip:127.0.0.1:{uas.port}\r\n")  # fmt: skip
        if mf is None:
            data = data.replace(b"Max-Forwards: 70\r\n", b"")
        else:
            data = data.replace(b"Max-Forwards: 70", f"Max-Forwards: {mf}".encode())
        uac.send(data, port_of(server, "udp"))
        got = await uas.recv()
        assert isinstance(got, Request)
        return got
    finally:
        uac.close()
        uas.close()
        await server.stop()


async def test_decremented_once_and_capped(tmp_path: Path) -> None:
    got = await _relay(tmp_path, "70")
    assert results(got) == [1] and got.max_forwards == 69  # not decremented again by forward
    got = await _relay(tmp_path, "70", {"max_limit": 16})
    assert results(got) == [1] and got.max_forwards == 16


async def test_added_when_missing(tmp_path: Path) -> None:
    got = await _relay(tmp_path, None)
    assert results(got) == [2] and got.max_forwards == 10


async def test_zero_and_malformed(tmp_path: Path) -> None:
    server = await serve(tmp_path, [maxfwd.module])
    try:
        zero = "KSR.maxfwd.process_maxfwd(10) ;; KSR.maxfwd.is_maxfwd_lt(1)"
        res = await probe(server, zero)
        assert res == [1, -1]  # 70: decremented; 70 is not below 1
        assert await probe(
            server, "KSR.maxfwd.is_maxfwd_lt(71) ;; KSR.maxfwd.is_maxfwd_lt(70)"
        ) == [1, -1]
        assert await probe(server, "KSR.maxfwd.process_maxfwd(-1)") == [-2]
        assert await probe(server, "KSR.maxfwd.process_maxfwd('x')") == [False]
    finally:
        await server.stop()


async def test_zero_over_the_wire_gets_483_from_the_script(tmp_path: Path) -> None:
    script = """
        import KSR

        def mod_init():
            return H()

        class H:
            def child_init(self, rank):
                return 0

            def ksr_request_route(self, msg):
                if KSR.maxfwd.process_maxfwd(10) < 0:
                    KSR.sl.sl_send_reply(483, "Too Many Hops")
                    return 1
                KSR.sl.sl_send_reply(200, "OK")
    """
    server = await serve(tmp_path, [maxfwd.module], script=script)
    peer = await Peer.open()
    try:
        for mf, code in (("0", 483), ("1", 200)):  # "abc": the core answers 400
            data = sip("", branch=f"z9hG4bKmf{mf}").replace(
                b"Max-Forwards: 70", f"Max-Forwards: {mf}".encode()
            )
            peer.send(data, port_of(server, "udp"))
            reply = await peer.recv()
            assert reply.status == code  # type: ignore[union-attr]
    finally:
        peer.close()
        await server.stop()
