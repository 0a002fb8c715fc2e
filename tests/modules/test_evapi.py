"""evapi through the engine with real sockets: a subscriber (an asyncio client) receives each
INVITE as a JSON event and answers with an rtjson document that the event callback hands to
``KSR.tmx.t_continue``; no subscriber -> 503 at once; a subscriber leaving with 100
transactions suspended -> each one's failure route at its timer, nothing left suspended;
tags, close, ``$evapi(...)``, max_clients.

The helpers (``start``, ``Subscriber``) serve the other test_evapi*.py files too."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

from app.config import Listen, load_modules, parse_config_text
from app.server import Server
from modules import evapi
from modules._netstring import Decoder, frame
from modules.tm import rpc_stats
from sip import Request
from tests.app.harness import Peer, port_of

from .test_tm import answer, expect, invite

CFG = """\
#!KAMAILIO
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "rtjson.so"
loadmodule "evapi.so"
loadmodule "app_python3.so"
modparam("app_python3", "load", "script.py")
modparam("evapi", "bind_addr", "127.0.0.1:0")
modparam("evapi", "event_callback", "ksr_evapi_event")
cfgengine "python"
"""

SCRIPT = """
import json
import KSR

EVENTS = []

def mod_init():
    return Handler()

class Handler:
    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        if KSR.is_CANCEL() or KSR.is_ACK():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return
        if KSR.tm.t_check_trans() == 0:
            return
        KSR.tm.t_on_failure("ksr_failure")
        KSR.tm.t_newtran()
        event = {"event": "invite", "tindex": KSR.pv.get("$T(id_index)"),
                 "tlabel": KSR.pv.get("$T(id_label)"), "ruri": KSR.pv.get("$ru"),
                 "callid": KSR.pv.get("$ci"), "pad": KSR.pv.gete("$hdr(X-Pad)")}
        tag = KSR.pv.gete("$hdr(X-Tag)")
        data = json.dumps(event)
        rc = KSR.evapi.async_unicast(data, tag) if tag else KSR.evapi.async_relay(data)
        if rc == -2:
            KSR.tm.t_reply(503, "No Router")

    def ksr_evapi_event(self, msg, evname):
        EVENTS.append((evname, KSR.pv.get("$evapi(conidx)"), KSR.pv.get("$evapi(srcaddr)"),
                       KSR.pv.get("$evapi(srcport)"), KSR.pv.get("$evapi(msg)")))
        if evname != "evapi:message-received":
            return 1
        text = KSR.pv.get("$evapi(msg)")
        if text.startswith("tag:"):
            KSR.evapi.set_tag(text[4:])
            return 1
        if text == "close":
            KSR.evapi.close()
            return 1
        doc = json.loads(text)
        KSR.pv.sets("$var(decision)", json.dumps(doc["route"]))
        KSR.tmx.t_continue(doc["tindex"], doc["tlabel"], "ksr_evapi_resume")
        return 1

    def ksr_evapi_resume(self, msg):
        if KSR.rtjson.init_routes(KSR.pv.get("$var(decision)")) < 0:
            KSR.tm.t_reply(500, "Bad Decision")
            return 1
        KSR.rtjson.push_routes()
        KSR.tm.t_relay()
        return 1

    def ksr_failure(self, msg):
        if KSR.tm.t_is_canceled() > 0 or KSR.pv.get("$T_reply_code") != 408:
            return 1
        KSR.tm.t_reply(503, "Router Timeout")
        return 1
"""


async def start(tmp: Path, params: str = "", script: str = SCRIPT) -> Server:
    """A worker on 127.0.0.1 (port 0) with tm, tmx, rtjson and evapi (ephemeral port)."""
    (tmp / "script.py").write_text(textwrap.dedent(script))
    cfg = CFG + params
    (tmp / "kamailio.cfg").write_text(cfg)
    config = parse_config_text(cfg, str(tmp / "kamailio.cfg"))
    listens = (Listen("udp", "127.0.0.1", 0),)
    server = Server(config, load_modules(config), listens, grace=0.5)
    await server.start()
    return server


def events(server: Server) -> list[tuple[object, ...]]:
    return server.engine.script_module.EVENTS  # type: ignore[no-any-return, union-attr]


class Subscriber:
    """An evapi subscriber: reads netstring events, answers with ``send``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = Decoder(1 << 22)
        self.frames: list[bytes] = []

    @classmethod
    async def connect(cls, netstring: bool = True) -> Subscriber:
        addr = evapi.address()
        assert addr is not None
        sub = cls(*await asyncio.open_connection(*addr))
        sub.decoder.netstring = netstring
        return sub

    async def event(self, timeout: float = 3.0) -> dict[str, object]:
        while not self.frames:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            assert data, "evapi closed the connection"
            self.frames += self.decoder.feed(data)
        return json.loads(self.frames.pop(0))  # type: ignore[no-any-return]

    def send(self, text: str, netstring: bool = True) -> None:
        self.writer.write(frame(text, netstring))

    def route(self, ev: dict[str, object], port: int) -> None:
        """Answer an INVITE event: one serial route to ``127.0.0.1:port``."""
        doc = {"routing": "serial", "routes": [{"uri": f"sip:bob@127.0.0.1:{port}"}]}
        self.send(json.dumps({"tindex": ev["tindex"], "tlabel": ev["tlabel"], "route": doc}))

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


async def wait_for(predicate: object, timeout: float = 3.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_subscriber_routes_the_call(tmp_path: Path) -> None:
    server = await start(tmp_path)
    uac, uas = await Peer.open(), await Peer.open()
    port = port_of(server, "udp")
    sub = await Subscriber.connect()
    try:
        await wait_for(lambda: events(server))
        assert events(server)[0][:3] == ("evapi:connection-new", 0, "127.0.0.1")
        uac.send(invite(None), port)
        await expect(uac, 100)
        ev = await sub.event()
        assert ev["event"] == "invite" and ev["callid"] == "i1"
        assert rpc_stats()["suspended"] == 1
        sub.route(ev, uas.port)
        fwd = await expect(uas, "INVITE")
        assert isinstance(fwd, Request) and fwd.uri_text == f"sip:bob@127.0.0.1:{uas.port}"
        answer(uas, fwd, 200, port)
        assert (await expect(uac, 200)).to_tag == "b1"
        assert rpc_stats()["suspended"] == 0
        received = [e for e in events(server) if e[0] == "evapi:message-received"]
        assert (
            received[0][1] == 0 and isinstance(received[0][3], int) and "tindex" in received[0][4]
        )
    finally:
        await sub.close()
        uac.close()
        uas.close()
        await server.stop()


async def test_no_subscriber_fails_at_once(tmp_path: Path) -> None:
    server = await start(tmp_path)
    uac = await Peer.open()
    try:
        uac.send(invite(None), port_of(server, "udp"))
        assert (await expect(uac, 503, timeout=1)).reason == "No Router"
        assert rpc_stats()["suspended"] == 0
        assert evapi.rpc_stats()["async_refused"] == 1
    finally:
        uac.close()
        await server.stop()


async def test_subscriber_leaves_with_100_suspended(tmp_path: Path) -> None:
    server = await start(tmp_path, 'modparam("tm", "fr_timer", 600)\n')
    uac, uas = await Peer.open(), await Peer.open()
    port = port_of(server, "udp")
    sub = await Subscriber.connect()
    try:
        await wait_for(lambda: events(server))
        for n in range(100):
            uac.send(invite(None, call_id=f"c{n}", branch=f"z9hG4bKc{n}"), port)
        await wait_for(lambda: rpc_stats()["suspended"] == 100)
        await sub.close()
        codes = [(await expect(uac, 503, timeout=2)).reason for _ in range(100)]
        assert set(codes) == {"Router Timeout"}
        await wait_for(lambda: rpc_stats()["suspended"] == 0)
        again = await Subscriber.connect()  # a new subscriber: calls route again
        uac.send(invite(None, call_id="after", branch="z9hG4bKafter"), port)
        again.route(await again.event(), uas.port)
        answer(uas, await expect(uas, "INVITE"), 486, port)  # type: ignore[arg-type]
        assert (await expect(uac, 486)).status == 486
        await again.close()
    finally:
        uac.close()
        uas.close()
        await server.stop()


async def test_tags_unicast_close_and_max_clients(tmp_path: Path) -> None:
    server = await start(tmp_path, 'modparam("evapi", "max_clients", 2)\n')
    uac = await Peer.open()
    port = port_of(server, "udp")
    first, second = await Subscriber.connect(), await Subscriber.connect()
    try:
        third = await Subscriber.connect()  # over max_clients: closed at once
        assert await asyncio.wait_for(third.reader.read(), 2) == b""
        second.send("tag:router")
        await wait_for(lambda: evapi.rpc_clients()[1]["tag"] == "router")
        uac.send(invite(None, extra="X-Tag: router\r\n"), port)
        ev = await second.event()
        assert ev["callid"] == "i1" and not first.frames
        uac.send(invite(None, call_id="i2", branch="z9hG4bKi2", extra="X-Tag: nobody\r\n"), port)
        assert (await expect(uac, 503)).reason == "No Router"
        first.send("close")
        assert await asyncio.wait_for(first.reader.read(), 2) == b""
        await wait_for(lambda: len(evapi.rpc_clients()) == 1)
        assert any(e[0] == "evapi:connection-closed" and e[1] == 0 for e in events(server))
    finally:
        await first.close()
        await second.close()
        uac.close()
        await server.stop()
