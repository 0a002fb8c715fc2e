"""tm through the engine on loopback UDP/TCP: stateful relay, 100 Trying, retransmissions,
CANCEL (200 + CANCEL downstream + 487 upstream), failure routes (serial forking), fr timers,
parallel forking, branch/onreply routes, $T_* variables and tm.stats.

The helpers here (``start``, ``UAS``) serve the other test_tm*.py files too."""

from __future__ import annotations

import textwrap
from pathlib import Path

from app.config import Listen, load_modules, parse_config_text
from app.server import Server
from modules.tm import rpc_stats
from sip import Request, Response
from sip.message import make_response
from tests.app.harness import Peer, port_of

CFG = """\
#!KAMAILIO
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "app_python3.so"
modparam("app_python3", "load", "script.py")
cfgengine "python"
"""

SCRIPT = """
import KSR

IDS = []

def mod_init():
    return Handler()

class Handler:
    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        if KSR.is_CANCEL():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return
        if KSR.tmx.t_precheck_trans() > 0:
            KSR.tm.t_check_trans()
            return
        if KSR.tm.t_check_trans() == 0:
            return
        KSR.setdsturi(KSR.pv.get("$hdr(X-Next)"))
        if KSR.is_ACK():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return
        KSR.hdr.remove("Route")
        KSR.pv.sets("$avp(kept)", "yes")
        KSR.setflag(3)
        mode = KSR.pv.gete("$hdr(X-Mode)")
        for extra in (KSR.pv.gete("$hdr(X-Branch)") or "").split():
            KSR.pv.sets("$var(b)", extra)
            self.append(extra)
        if "failure" in mode:
            KSR.tm.t_on_failure("ksr_failure")
        if "onreply" in mode:
            KSR.tm.t_on_reply("ksr_onreply")
            KSR.tm.t_on_branch("ksr_branch")
        if "fr" in mode:
            KSR.tm.t_set_fr(1000, 500)
        if "suspend" in mode:
            KSR.tm.t_on_failure("ksr_failure")
            if KSR.tmx.t_suspend() > 0:
                IDS.append((KSR.pv.get("$T(id_index)"), KSR.pv.get("$T(id_label)")))
            return
        if KSR.tm.t_relay() < 0:
            KSR.sl.send_reply(500, "Relay Failed")

    def append(self, uri):
        from app.context import CURRENT, Branch
        CURRENT.get().branches.append(Branch(uri))

    def ksr_branch(self, msg):
        KSR.hdr.append("X-Branch-Idx: %d\\r\\n" % KSR.pv.get("$T_branch_idx"))

    def ksr_onreply(self, msg):
        KSR.hdr.append("X-Onreply: %s\\r\\n" % KSR.pv.get("$T_reply_code"))

    def ksr_failure(self, msg):
        KSR.info("failure %s %s canceled=%d timeout=%d\\n" % (KSR.pv.get("$T_reply_code"),
                 KSR.pv.get("$T(reply_reason)"), KSR.tm.t_is_canceled(),
                 KSR.tm.t_branch_timeout()))
        if KSR.tm.t_is_canceled() > 0:
            return
        alt = KSR.pv.get("$T_req($hdr(X-Alt))")
        if KSR.tm.t_check_status("486|408") > 0 and alt and not KSR.isflagset(5):
            KSR.setflag(5)
            KSR.setdsturi(alt)
            KSR.tm.t_on_failure("ksr_failure")
            KSR.tm.t_relay()
            return
        if KSR.tm.t_check_status("404") > 0:
            KSR.hdr.append_to_reply("X-Flag3: %s\\r\\n" % KSR.isflagset(3))
            KSR.tm.t_reply(404, "Gone " + KSR.pv.get("$avp(kept)"))

    def ksr_resumed(self, msg):
        KSR.hdr.append("X-Resumed: %s\\r\\n" % KSR.pv.get("$avp(kept)"))
        if KSR.pv.gete("$hdr(X-Mode)") == "suspend-chain" and len(IDS) < 2:
            if KSR.tmx.t_suspend() > 0:
                IDS.append((KSR.pv.get("$T(id_index)"), KSR.pv.get("$T(id_label)")))
            return
        if KSR.pv.gete("$avp(mode)") == "suspend-reply":
            KSR.tm.t_reply(202, "Resumed flag3=%s" % KSR.isflagset(3))
            return
        KSR.tm.t_relay()
"""


async def start(tmp: Path, script: str = SCRIPT, params: str = "") -> Server:
    """A worker on 127.0.0.1 (UDP and TCP, port 0) with sl, tm and tmx loaded."""
    (tmp / "script.py").write_text(textwrap.dedent(script))
    cfg = CFG + params
    (tmp / "kamailio.cfg").write_text(cfg)
    config = parse_config_text(cfg, str(tmp / "kamailio.cfg"))
    listens = (Listen("udp", "127.0.0.1", 0), Listen("tcp", "127.0.0.1", 0))
    server = Server(config, load_modules(config), listens, grace=0.5)
    await server.start()
    return server


def invite(uas: int | None, call_id: str = "i1", method: str = "INVITE", extra: str = "",
           branch: str = "z9hG4bKuac1", cseq: int = 1) -> bytes:  # fmt: skip
    """A request from the UAC peer; X-Next says where the script relays it."""
    nxt = f"X-Next: sip:127.0.0.1:{uas}\r\n" if uas else ""
    return (
        f"{method} sip:bob@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:9;branch={branch};rport\r\n"
        "From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n"
        f"Contact: <sip:alice@127.0.0.1:9>\r\n{nxt}{extra}Content-Length: 0\r\n\r\n"
    ).encode()


async def expect(peer: Peer, status: int | str, timeout: float = 3.0) -> Request | Response:
    """The next message of ``peer`` that is ``status`` (int) or a ``method`` (str)."""
    while True:
        msg = await peer.recv(timeout)
        if isinstance(msg, Response) and msg.status == status:
            return msg
        if isinstance(msg, Request) and msg.method == status:
            return msg


def answer(peer: Peer, req: Request, status: int, port: int, tag: str = "b1") -> None:
    peer.send(bytes(make_response(req, status, to_tag=tag)), port)


async def test_invite_200_ack_bye_and_retransmissions(tmp_path: Path) -> None:
    server = await start(tmp_path)
    uac, uas = await Peer.open(), await Peer.open()
    port = port_of(server, "udp")
    try:
        uac.send(invite(uas.port), port)
        trying = await expect(uac, 100)
        assert trying.reason == "trying -- your call is important to us"
        fwd = await expect(uas, "INVITE")
        assert isinstance(fwd, Request) and len(fwd.vias) == 2 and fwd.max_forwards == 70
        assert fwd.vias[1].received == "127.0.0.1" and fwd.vias[1].rport == str(uac.port)
        uac.send(invite(uas.port), port)  # retransmission: absorbed, 100 again
        assert (await expect(uac, 100)).status == 100
        answer(uas, fwd, 180, port)
        ringing = await expect(uac, 180)
        assert len(ringing.vias) == 1
        answer(uas, fwd, 200, port)
        ok = await expect(uac, 200)
        assert ok.to_tag == "b1"
        answer(uas, fwd, 200, port)  # a 2xx retransmission is relayed too
        await expect(uac, 200)
        ack = invite(uas.port, method="ACK", branch="z9hG4bKack1")
        uac.send(
            ack.replace(b"To: <sip:bob@example.com>", b"To: <sip:bob@example.com>;tag=b1"), port
        )
        assert (await expect(uas, "ACK")).method == "ACK"
        bye = invite(uas.port, method="BYE", branch="z9hG4bKbye1", cseq=2)
        uac.send(bye, port)
        fbye = await expect(uas, "BYE")
        assert isinstance(fbye, Request)
        answer(uas, fbye, 200, port)
        assert (await expect(uac, 200)).cseq.method == "BYE"  # type: ignore[union-attr]
        stats = rpc_stats()
        assert stats["created"] >= 2 and stats["2xx"] >= 2 and stats["rpl_received"] >= 3
    finally:
        uac.close()
        uas.close()
        await server.stop()


async def test_cancel_before_answer(tmp_path: Path) -> None:
    server = await start(tmp_path)
    uac, uas = await Peer.open(), await Peer.open()
    port = port_of(server, "udp")
    try:
        uac.send(invite(uas.port, extra="X-Mode: failure\r\n"), port)
        fwd = await expect(uas, "INVITE")
        assert isinstance(fwd, Request)
        answer(uas, fwd, 180, port)
        await expect(uac, 180)
        uac.send(invite(uas.port, method="CANCEL"), port)
        assert (await expect(uac, 200)).cseq.method == "CANCEL"  # type: ignore[union-attr]
        cancel = await expect(uas, "CANCEL")
        assert isinstance(cancel, Request) and cancel.branch == fwd.branch
        answer(uas, cancel, 200, port)
        answer(uas, fwd, 487, port)
        assert (await expect(uas, "ACK")).branch == fwd.branch  # local ACK for the 487
        final = await expect(uac, 487)
        assert final.cseq.method == "INVITE"  # type: ignore[union-attr]
    finally:
        uac.close()
        uas.close()
        await server.stop()
