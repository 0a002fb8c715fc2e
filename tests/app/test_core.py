"""The core on loopback: stateless forwarding (Via, received/rport, Max-Forwards, reply
relay by Via, retransmissions forwarded again), the transaction layer absorbing
retransmissions of requests we answered, and TCP connection reuse."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sip import Request, Response
from sip.message import make_response

from .harness import Peer, port_of, request, start_server

FORWARD = """
    import KSR

    def mod_init():
        return Handler()

    class Handler:
        def child_init(self, rank):
            return 0

        def ksr_request_route(self, msg):
            KSR.pv.seti("$var(runs)", KSR.pv.get("$var(runs)") + 1)
            if KSR.is_method("REGISTER|INVITE"):
                KSR.hdr.append_to_reply("X-Answered: locally\\r\\n")
                KSR.sl.send_reply(404, "Not Here")
                return
            KSR.hdr.append("X-Proxied: yes\\r\\n")
            KSR.hdr.remove("Subject")
            KSR.setdsturi(KSR.pv.get("$hdr(X-Next)"))
            if KSR.forward() < 0:
                KSR.sl.sl_send_reply(500, "no")

        def ksr_reply_route(self, msg):
            if KSR.pv.get("$rs") == 299:
                KSR.set_drop()
"""


async def test_stateless_forward_and_reply_relay(tmp_path: Path) -> None:
    server = await start_server(tmp_path, FORWARD)
    uac, uas = await Peer.open(), await Peer.open()
    port = port_of(server, "udp")
    try:
        extra = f"X-Next: sip:127.0.0.1:{uas.port}\r\nSubject: hi\r\n"
        data = request("INFO", via="10.0.0.1:5062", extra=extra)
        uac.send(data, port)
        fwd = await uas.recv()
        assert isinstance(fwd, Request) and fwd.method == "INFO"
        assert fwd.max_forwards == 69 and fwd.get("X-Proxied") == "yes" and "Subject" not in fwd
        ours, theirs = fwd.vias[0], fwd.vias[1]
        assert (ours.host, ours.port, ours.transport) == ("127.0.0.1", port, "UDP")
        assert theirs.received == "127.0.0.1" and theirs.rport == str(uac.port)
        uac.send(data, port)  # a retransmission is forwarded again, with the same branch
        again = await uas.recv()
        assert isinstance(again, Request) and again.branch == fwd.branch
        uas.send(bytes(make_response(fwd, 200, to_tag="t")), port)
        resp = await uac.recv()  # relayed by the rport/received of the UAC's Via
        assert isinstance(resp, Response) and resp.status == 200 and len(resp.vias) == 1
        uas.send(bytes(make_response(fwd, 299, to_tag="t")), port)  # dropped by the script
        await asyncio.sleep(0.2)
        assert uac.queue.empty()
    finally:
        uac.close()
        uas.close()
        await server.stop()


async def test_local_replies_are_stateless_like_kamailio_sl(tmp_path: Path) -> None:
    """sl keeps no state: a retransmitted request runs the script again and gets the same
    reply (same To-tag); a negative reply to an INVITE is not retransmitted by the proxy and
    its ACK is filtered (never reaches the script)."""
    server = await start_server(tmp_path, FORWARD)
    uac = await Peer.open()
    port = port_of(server, "udp")
    try:
        data = request("REGISTER", call_id="r1")
        tags = set()
        for _ in range(3):
            uac.send(data, port)
            resp = await uac.recv()
            assert isinstance(resp, Response) and resp.status == 404
            assert resp.get("X-Answered") == "locally"
            tags.add(resp.to_tag)
        assert server.engine.vars["runs"] == 3 and len(tags) == 1
        assert len(server.core.tx) == 0  # no server transaction kept
        uac.send(request("INVITE", call_id="i1", branch="z9hG4bKinv"), port)
        first = await uac.recv()
        assert isinstance(first, Response) and first.status == 404
        await asyncio.sleep(0.8)  # past Timer G: nothing retransmitted by the proxy
        assert uac.queue.empty()
        ack = request("ACK", call_id="i1", branch="z9hG4bKinv").replace(
            b"To: <sip:bob@example.com>", f"To: <sip:bob@example.com>;tag={first.to_tag}".encode()
        )
        uac.send(ack, port)
        await asyncio.sleep(0.3)
        assert uac.queue.empty() and server.engine.vars["runs"] == 4
        assert server.core.stats["filtered_acks"] == 1
    finally:
        uac.close()
        await server.stop()


async def test_tcp_forward_reuses_connections(tmp_path: Path) -> None:
    server = await start_server(tmp_path, FORWARD)
    got: asyncio.Queue[bytes] = asyncio.Queue()
    accepted = []

    async def uas(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        while chunk := await reader.read(65536):
            got.put_nowait(chunk)

    uas_server = await asyncio.start_server(uas, "127.0.0.1", 0)
    uas_port = uas_server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server, "tcp"))
        extra = f"X-Next: sip:127.0.0.1:{uas_port};transport=tcp\r\n"
        for i in range(3):
            writer.write(request("MESSAGE", transport="TCP", branch=f"z9hG4bKm{i}", extra=extra))
            chunk = await asyncio.wait_for(got.get(), 3)
            assert chunk.startswith(b"MESSAGE ") and b"SIP/2.0/TCP 127.0.0.1:" in chunk
        assert len(accepted) == 1  # one connection to the next hop for all three
        writer.close()
    finally:
        uas_server.close()
        await server.stop()


def test_transaction_labels_are_unique_across_workers() -> None:
    """$T(id_index)/$T(id_label) name one transaction among all workers (evapi, jsonrpcc
    and HTTP subscribers echo them to t_continue; the evapi hub routes by them)."""
    from types import SimpleNamespace

    from app.core import Core

    seen: dict[int, int] = {}
    for rank in (1, 2, 3):
        core = Core()
        core.workers = SimpleNamespace(count=3, rank=rank)  # type: ignore[assignment]
        for _ in range(50):
            label = core.stateful._next_label()
            assert label not in seen, (label, seen.get(label), rank)
            seen[label] = rank
    single = Core()
    assert [single.stateful._next_label() for _ in range(3)] == [1, 2, 3]
