"""Test kit for usrloc/registrar/auth: a worker started from a kamailio.cfg with modparams
applied (as ``siprouter`` does), and a UDP user agent that registers with digest auth."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from app.config import load_modules as load_cfg_modules
from app.config import parse_config_text
from app.server import Server
from sip import Message, Response
from sip.digest import digest_response, parse_auth
from tests.app.harness import Peer, port_of

HEAD = """#!KAMAILIO
loadmodule "sl.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "app_python3.so"
modparam("app_python3", "load", "script.py")
cfgengine "python"
"""

SCRIPT = """
import KSR
from app.context import CURRENT

class H:
    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        m = KSR.pv.get("$rm")
        if m == "REGISTER":
            if KSR.pv.get("$hdr(X-Auth)"):
                rc = KSR.auth_db.auth_check(KSR.pv.get("$fd"), "subscriber", 1)
                KSR.hdr.append_to_reply("X-Auth-Rc: %d\\r\\n" % rc)
                if rc < 0:
                    KSR.auth.auth_challenge(KSR.pv.get("$fd"), 0)
                    return 1
            flags = int(KSR.pv.get("$hdr(X-Flags)") or "0")
            rc = KSR.registrar.save("location", flags)
            KSR.hdr.append_to_reply("X-Save-Rc: %d\\r\\n" % rc)
            if flags & 2:
                KSR.registrar.reg_send_reply()
                return 1
            if rc < 0 and not CURRENT.get().replied:
                KSR.sl.sl_reply_error()
            return 1
        if m == "MESSAGE":
            rc = KSR.registrar.unregister("location", KSR.pv.get("$ru"))
            KSR.sl.sl_send_reply(200, "unregister %d" % rc)
            return 1
        if m == "SUBSCRIBE":
            rc = KSR.registrar.reg_fetch_contacts("location", KSR.pv.get("$ru"), "p")
            vals = [KSR.pv.get("$ulc(p=>%s)" % a) for a in ("count", "aor", "addr", "q", "expires")]
            vals.append(KSR.pv.get("$(ulc(p=>addr)[1])"))
            KSR.sl.sl_send_reply(200, "fetch %d %s" % (rc, vals))
            return 1
        rc = KSR.registrar.lookup("location")
        ctx = CURRENT.get()
        br = ";".join("%s|%s|%s" % (b.uri, b.q, b.dst_uri) for b in ctx.branches)
        KSR.hdr.append_to_reply("X-Lookup: %d %s %s %s\\r\\n" % (rc, KSR.pv.get("$ru"), KSR.pv.get("$du"), br))
        KSR.sl.sl_send_reply(200 if rc > 0 else 404, "lookup %d" % rc)
        return 1

def mod_init():
    return H()
"""


async def start(tmp: Path, modparams: str = "", script: str = SCRIPT, head: str = HEAD) -> Server:
    """A worker on 127.0.0.1 (UDP) with ``modparams`` lines added to the cfg."""
    (tmp / "script.py").write_text(textwrap.dedent(script))
    cfg = head + modparams
    (tmp / "kamailio.cfg").write_text(cfg)
    config = parse_config_text(cfg, str(tmp / "kamailio.cfg"))
    from app.config import Listen

    server = Server(config, load_cfg_modules(config), (Listen("udp", "127.0.0.1", 0),), grace=0.5)
    await server.start()
    return server


class UA:
    """A UDP user agent: REGISTER (with digest), other requests; replies as Responses."""

    def __init__(self, peer: Peer, port: int, user: str = "alice", domain: str = "example.com"):
        self.peer, self.port, self.user, self.domain = peer, port, user, domain
        self.cseq, self.n = 0, 0

    @classmethod
    async def open(cls, server: Server, user: str = "alice") -> UA:
        return cls(await Peer.open(), port_of(server, "udp"), user)

    async def send(self, method: str, uri: str, extra: str = "", call_id: str = "reg-1",
                   cseq: int | None = None, user: str | None = None) -> Response:  # fmt: skip
        self.n += 1
        self.cseq = cseq if cseq is not None else self.cseq + 1
        who = user or self.user
        msg = (
            f"{method} {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.peer.port};branch=z9hG4bK{self.n}x{id(self)};rport\r\n"
            f"From: <sip:{who}@{self.domain}>;tag=ft{self.n}\r\nTo: <sip:{who}@{self.domain}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {self.cseq} {method}\r\nMax-Forwards: 70\r\n{extra}"
            f"Content-Length: 0\r\n\r\n"
        )
        self.peer.send(msg.encode(), self.port)
        reply = await self.peer.recv()
        assert isinstance(reply, Response)
        return reply

    async def register(self, contacts: str = "", extra: str = "", **kw: object) -> Response:
        """REGISTER; save() gets flag 0x02 (the script replies, with X-Save-Rc) unless
        ``extra`` has an X-Flags header (``X-Flags: 0``: save() replies itself)."""
        head = f"Contact: {contacts}\r\n" if contacts else ""
        if "X-Flags" not in extra:
            head += "X-Flags: 2\r\n"
        return await self.send("REGISTER", f"sip:{self.domain}", head + extra, **kw)  # type: ignore[arg-type]

    def authorization(self, challenge: Message, password: str, user: str | None = None,
                      qop: bool = True, nc: int = 1, header: str = "WWW-Authenticate") -> str:  # fmt: skip
        ch = parse_auth(challenge.get(header) or "")
        nonce, alg = ch.get("nonce") or "", ch.algorithm
        use_qop = "auth" if qop and ch.get("qop") else None
        ncs, uri = f"{nc:08x}", f"sip:{self.domain}"
        resp = digest_response(username=user or self.user, realm=ch.get("realm") or "",
                               password=password, method="REGISTER", uri=uri, nonce=nonce,
                               algorithm=alg, qop=use_qop, nc=ncs, cnonce="c0ffee")  # fmt: skip
        text = (f'Digest username="{user or self.user}", realm="{ch.get("realm")}", '
                f'nonce="{nonce}", uri="{uri}", response="{resp}", algorithm={alg}')  # fmt: skip
        if use_qop:
            text += f', qop=auth, nc={ncs}, cnonce="c0ffee"'
        name = "Authorization" if header == "WWW-Authenticate" else "Proxy-Authorization"
        return f"{name}: {text}\r\n"

    def close(self) -> None:
        self.peer.close()


def contacts_of(reply: Message) -> list[str]:
    """The Contact values of a 200 OK, split."""
    value = reply.get("contact") or ""
    return [c.strip() for c in re.split(r",\s*(?=<)", value) if c.strip()]
