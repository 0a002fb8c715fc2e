"""Helpers of the app tests: an in-process server on 127.0.0.1 port 0, and a UDP/TCP peer."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterable
from pathlib import Path

from app.config import Listen, parse_config_text
from app.module import Module
from app.server import Server
from modules import sl
from sip import Message, parse

CFG = """\
#!KAMAILIO
loadmodule "sl.so"
loadmodule "app_python3.so"
modparam("app_python3", "load", "script.py")
cfgengine "python"
"""


async def start_server(
    tmp: Path,
    script: str,
    modules: Iterable[Module] = (),
    cfg: str = CFG,
    listens: tuple[Listen, ...] = (Listen("udp", "127.0.0.1", 0), Listen("tcp", "127.0.0.1", 0)),
    grace: float = 1.0,
) -> Server:
    """Write the script, parse the cfg, start a worker; stop it with ``await s.stop()``."""
    (tmp / "script.py").write_text(textwrap.dedent(script))
    (tmp / "kamailio.cfg").write_text(cfg)
    config = parse_config_text(cfg, str(tmp / "kamailio.cfg"))
    mods = {"sl": sl.module, **{m.name: m for m in modules}}
    server = Server(config, mods, listens, grace=grace)
    await server.start()
    return server


def port_of(server: Server, proto: str) -> int:
    """The bound port of the server's ``proto`` listener."""
    return next(p for kind, _, p in server.bound() if kind == proto)


def request(
    method: str = "OPTIONS",
    uri: str = "sip:127.0.0.1",
    call_id: str = "c1",
    branch: str = "z9hG4bKt1",
    via: str = "127.0.0.1:9",
    transport: str = "UDP",
    extra: str = "",
    cseq: int = 1,
) -> bytes:
    """A small request."""
    return (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {via};branch={branch};rport\r\n"
        f"From: <sip:alice@example.com>;tag=f1\r\nTo: <sip:bob@example.com>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n{extra}"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


class Peer(asyncio.DatagramProtocol):
    """A UDP peer on 127.0.0.1 that collects parsed messages."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Message] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    @classmethod
    async def open(cls, host: str = "127.0.0.1") -> Peer:
        peer = cls()
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: peer, local_addr=(host, 0))
        return peer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.queue.put_nowait(parse(data))

    def send(self, data: bytes, port: int, host: str = "127.0.0.1") -> None:
        assert self.transport is not None
        self.transport.sendto(data, (host, port))

    async def recv(self, timeout: float = 3.0) -> Message:
        return await asyncio.wait_for(self.queue.get(), timeout)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
