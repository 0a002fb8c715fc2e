"""The KEMI engine through a real worker on loopback: callbacks, return conventions,
sys.exit(), script errors, reload, wrong argument types, parked routes."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from app.greenpool import wait
from app.module import Module
from sip import Response

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
    finally:
        peer.close()
        await server.stop()
