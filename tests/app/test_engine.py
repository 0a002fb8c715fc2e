"""The KEMI engine through a real worker on loopback: callbacks, return conventions,
sys.exit(), script errors, reload, wrong argument types, parked routes."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from app.greenpool import wait
from app.module import Module
from sip import Message, Response

from .harness import Peer, port_of, request, start_server

BASIC = """
    import sys
    import KSR

    def mod_init():
        return Handler()

    class Handler:
        def child_init(self, rank):
            return 0

        def ksr_request_route(self, msg):
            KSR.sl.sl_send_reply(200, "OK " + msg.Method)
"""


async def test_request_route_by_name_and_msg_object(tmp_path: Path) -> None:
    server = await start_server(tmp_path, BASIC)
    peer = await Peer.open()
    try:
        peer.send(request("INFO", call_id="a"), port_of(server, "udp"))
        resp = await peer.recv()
        assert isinstance(resp, Response) and resp.status == 200
        assert resp.reason == "OK INFO" and resp.call_id == "a"
        assert resp.to_tag and resp.get("Server") == "siprouter"
        # RFC 3581 §4: the request asked for rport; a local reply says where it came from
        assert resp.via is not None and resp.via.rport == str(peer.port)
        assert resp.via.received == "127.0.0.1"
    finally:
        peer.close()
        await server.stop()


SCRIPT = """
    import sys
    import KSR

    def mod_init():
        KSR.pv.sets("$var(init)", "done")
        return Handler()

    class Handler:
        def child_init(self, rank):
            self.rank = rank
            return 0

        def ksr_request_route(self, msg):
            ci = KSR.pv.get("$ci")
            if ci == "exit":
                KSR.sl.sl_send_reply(202, "before exit")
                sys.exit()
                KSR.sl.sl_send_reply(500, "not reached")
            if ci == "boom":
                raise ValueError("script bug")
            if ci == "conventions":
                results = [
                    KSR.is_method("OPTIONS|INFO"), KSR.is_method_in("BO"), KSR.is_OPTIONS(),
                    KSR.is_INVITE(), KSR.setflag(3), KSR.isflagset(3), KSR.isflagset(4),
                    KSR.setflag(40), KSR.hdr.is_present("Call-ID"), KSR.hdr.is_present("X-No"),
                    KSR.pv.get("$sp") == msg.src_address[1], KSR.pv.get("$rs"),
                    KSR.pv.gete("$rU"), KSR.pv.getw("$rU"), KSR.x.modf("nothing"),
                    KSR.pv.get("$var(init)"), KSR.is_UDP(), KSR.is_IPv4(), self.rank,
                ]
                KSR.sl.sl_send_reply(200, repr(results))
                return
            if ci == "wrongargs":
                results = [
                    KSR.sl.sl_send_reply("200", "OK"), KSR.pv.get(5), KSR.is_method(),
                    KSR.setflag("1"), KSR.hdr.append(b"X: y"), KSR.pv.seti("$var(x)", True),
                ]
                KSR.sl.sl_send_reply(200, repr(results))
                return
            KSR.sl.sl_send_reply(200, "v1")

        def named_event(self, msg, evname):
            KSR.pv.sets("$var(ev)", evname)
"""


async def test_return_conventions_and_flags(tmp_path: Path) -> None:
    server = await start_server(tmp_path, SCRIPT)
    peer = await Peer.open()
    try:
        peer.send(request("OPTIONS", call_id="conventions"), port_of(server, "udp"))
        resp = await peer.recv()
        assert isinstance(resp, Response) and resp.status == 200
        assert eval(resp.reason) == [  # noqa: S307 - our own repr
            True, True, True, False, True, True, False, False, 1, -1, True, None, "",
            "<null>", -1, "done", True, True, 1,
        ]  # fmt: skip
    finally:
        peer.close()
        await server.stop()


async def test_wrong_argument_types_return_false(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(tmp_path, SCRIPT)
    peer = await Peer.open()
    try:
        with caplog.at_level(logging.ERROR, logger="siprouter.kemi"):
            peer.send(request(call_id="wrongargs"), port_of(server, "udp"))
            resp = await peer.recv()
        assert isinstance(resp, Response)
        # bool is accepted for an int argument (kemi.md §1.5)
        assert eval(resp.reason) == [False, False, False, False, False, True]  # noqa: S307
        assert "KSR.sl.sl_send_reply: argument 1 must be int" in caplog.text
        assert "KSR.is_method: needs 1 argument" in caplog.text
    finally:
        peer.close()
        await server.stop()


async def test_sys_exit_ends_the_route_quietly(tmp_path: Path) -> None:
    server = await start_server(tmp_path, SCRIPT)
    peer = await Peer.open()
    try:
        peer.send(request(call_id="exit"), port_of(server, "udp"))
        resp = await peer.recv()
        assert isinstance(resp, Response) and resp.status == 202
        with pytest.raises(TimeoutError):
            await peer.recv(timeout=0.3)
        assert server.engine.errors == 0
    finally:
        peer.close()
        await server.stop()


async def test_script_exception_answers_500_and_next_is_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(tmp_path, SCRIPT)
    peer = await Peer.open()
    port = port_of(server, "udp")
    try:
        with caplog.at_level(logging.ERROR, logger="siprouter.kemi"):
            peer.send(request(call_id="boom"), port)
            first = await peer.recv()
        assert isinstance(first, Response) and first.status == 500
        assert "Call-ID boom" in caplog.text and "ValueError: script bug" in caplog.text
        peer.send(request(call_id="next", branch="z9hG4bKn"), port)
        second = await peer.recv()
        assert isinstance(second, Response) and (second.status, second.reason) == (200, "v1")
    finally:
        peer.close()
        await server.stop()


async def test_reload_swaps_the_handler(tmp_path: Path) -> None:
    server = await start_server(tmp_path, SCRIPT)
    peer = await Peer.open()
    port = port_of(server, "udp")
    try:
        script = tmp_path / "script.py"
        script.write_text(script.read_text().replace('"v1"', '"v2"'))
        assert server.reload() == {"old": 1, "new": 2}
        peer.send(request(call_id="after-reload"), port)
        resp = await peer.recv()
        assert isinstance(resp, Response) and resp.reason == "v2"
        script.write_text("def mod_init(:\n")  # a broken reload keeps the running script
        with pytest.raises(Exception, match=r"script.py:1"):
            server.reload()
        peer.send(request(call_id="after-bad-reload", branch="z9hG4bKb"), port)
        resp = await peer.recv()
        assert isinstance(resp, Response) and resp.reason == "v2"
    finally:
        peer.close()
        await server.stop()


async def test_event_callback_by_name(tmp_path: Path) -> None:
    server = await start_server(tmp_path, SCRIPT)
    try:
        assert server.engine.event_route("my:event", "named_event")
        assert server.engine.vars["ev"] == "my:event"
        assert not server.engine.event_route("my:event", "missing_method")
    finally:
        await server.stop()


parking = Module("parking", doc="a test module whose function parks its route")


@parking.function("sleep_ms", "i")
def sleep_ms(ctx: object, ms: int) -> int:
    """Park the route for ``ms`` milliseconds."""
    wait(asyncio.sleep(ms / 1000))
    return 1


PARK = """
    import KSR

    def mod_init():
        return Handler()

    class Handler:
        def child_init(self, rank):
            return 0

        def ksr_request_route(self, msg):
            if KSR.pv.get("$ci") == "slow":
                KSR.parking.sleep_ms(int(KSR.pv.get("$hdr(X-Park-Ms)") or 1500))
                KSR.sl.sl_send_reply(200, "slow")
            else:
                KSR.sl.sl_send_reply(200, "fast")

        async def ksr_reply_route(self, msg):
            pass
"""


async def test_parked_route_while_200_others_are_answered(tmp_path: Path) -> None:
    server = await start_server(tmp_path, PARK, modules=[parking])
    peer = await Peer.open()
    port = port_of(server, "udp")
    try:
        # parked long enough to outlast 200 answers on a loaded machine
        peer.send(request(call_id="slow", branch="z9hG4bKslow", extra="X-Park-Ms: 6000\r\n"), port)
        await asyncio.sleep(0.05)
        assert len(server.engine.pool.parked) == 1
        fast: list[Message] = []
        for batch in range(4):  # 50 at a time: within any socket buffer
            for i in range(batch * 50, batch * 50 + 50):
                peer.send(request(call_id=f"f{i}", branch=f"z9hG4bKf{i}"), port)
            fast += [await peer.recv(timeout=5) for _ in range(50)]
        assert {m.reason for m in fast if isinstance(m, Response)} == {"fast"}
        assert len(server.engine.pool.parked) == 1  # still parked
        slow = await peer.recv(timeout=10)
        assert isinstance(slow, Response) and (slow.reason, slow.call_id) == ("slow", "slow")
        assert server.engine.pool.created <= 3  # pooled: the fast routes reused a greenlet
    finally:
        peer.close()
        await server.stop()


ASYNC_ROUTE = """
    import asyncio
    import KSR

    def mod_init():
        return Handler()

    class Handler:
        def child_init(self, rank):
            return 0

        async def ksr_request_route(self, msg):
            await asyncio.sleep(0.05)
            KSR.sl.sl_send_reply(200, "async " + KSR.pv.get("$ci"))
"""


async def test_async_def_route_is_awaited(tmp_path: Path) -> None:
    server = await start_server(tmp_path, ASYNC_ROUTE)
    peer = await Peer.open()
    try:
        peer.send(request(call_id="a1"), port_of(server, "udp"))
        peer.send(request(call_id="a2", branch="z9hG4bK2"), port_of(server, "udp"))
        reasons = {(await peer.recv()).reason for _ in range(2)}  # type: ignore[attr-defined]
        assert reasons == {"async a1", "async a2"}
    finally:
        peer.close()
        await server.stop()


async def test_shutdown_answers_parked_requests(tmp_path: Path) -> None:
    server = await start_server(tmp_path, PARK, modules=[parking], grace=0.2)
    peer = await Peer.open()
    try:
        peer.send(request(call_id="slow"), port_of(server, "udp"))
        await asyncio.sleep(0.05)
        stop = asyncio.ensure_future(server.stop())
        resp = await peer.recv()
        assert isinstance(resp, Response) and resp.status == 500
        await stop
    finally:
        peer.close()
