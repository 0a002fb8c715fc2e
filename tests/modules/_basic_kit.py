"""Test kit of the basic-configuration modules (rr, maxfwd, sanity, siputils, textops, kex,
corex, xlog, nathelper): a real server on loopback running a real KEMI script.

The probe script evaluates the KSR expressions of the request's ``X-Op`` header (separated
by `` ;; ``), answers ``299 Res`` with their ``repr`` in ``X-Res`` -- or, when the request
has ``X-Fwd: <uri>``, forwards it there statelessly (``KSR.forward_uri``) so the peer sees
what the functions did to the message (``X-Fwd: du``: ``KSR.forward()``, to $du/R-URI).
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from app.module import Module
from app.server import Server
from sip import Message, Response
from tests.app.harness import CFG, Peer, port_of, start_server

PROBE = """
    import KSR

    def mod_init():
        return Handler()

    class Handler:
        def child_init(self, rank):
            return 0

        def ksr_request_route(self, msg):
            ops = (KSR.hdr.get("X-Op") or "").split(" ;; ")
            res = [repr(eval(op, {"KSR": KSR})) for op in ops if op.strip()]
            KSR.hdr.append_to_reply("X-Res: " + " ;; ".join(res) + "\\r\\n")
            if KSR.hdr.get("X-Stop"):
                return 1
            fwd = KSR.hdr.get("X-Fwd")
            if fwd:
                KSR.hdr.append("X-Res: " + " ;; ".join(res) + "\\r\\n")
                KSR.forward() if fwd == "du" else KSR.forward_uri(fwd)
                return 1
            KSR.sl.sl_send_reply(299, "Res")
            return 1
"""


_SEQ = itertools.count(1)


def cfg_for(modules: Iterable[Module]) -> str:
    """The harness cfg with a loadmodule line per module."""
    lines = "".join(f'loadmodule "{m.name}.so"\n' for m in modules)
    return CFG.replace('loadmodule "sl.so"\n', 'loadmodule "sl.so"\n' + lines)


async def serve(
    tmp: Path,
    modules: Iterable[Module],
    params: Mapping[str, Mapping[str, Any]] | None = None,
    script: str = PROBE,
) -> Server:
    """Start a server with ``modules`` (params reset, then ``params`` applied)."""
    mods = list(modules)
    for module in mods:
        module.reset_params()
        for name, value in (params or {}).get(module.name, {}).items():
            module.set_param(name, value)
    return await start_server(tmp, script, mods, cfg=cfg_for(mods))


def results(msg: Message) -> list[Any]:
    """The evaluated X-Res values of a probe reply or forwarded request."""
    text = msg.get("X-Res") or ""
    return [ast.literal_eval(x) for x in text.split(" ;; ")] if text else []


async def ask(server: Server, peer: Peer, data: bytes, proto: str = "udp") -> Response:
    """Send ``data`` to the server over UDP and return the reply."""
    peer.send(data, port_of(server, proto))
    msg = await peer.recv()
    assert isinstance(msg, Response), msg
    return msg


def sip(
    ops: str,
    method: str = "OPTIONS",
    uri: str = "sip:bob@127.0.0.1",
    *,
    via: str = "127.0.0.1:9",
    extra: str = "",
    frm: str = "<sip:alice@example.com>;tag=f1",
    to: str = "<sip:bob@example.com>",
    body: str = "",
    call_id: str = "k1",
    branch: str = "",
    rport: bool = True,
) -> bytes:
    """A request carrying the probe's ``X-Op`` (a fresh branch unless given)."""
    branch = branch or f"z9hG4bKkit{next(_SEQ)}"
    head = (
        f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch={branch}"
        f"{';rport' if rport else ''}\r\nFrom: {frm}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
        f"CSeq: 1 {method}\r\nMax-Forwards: 70\r\nX-Op: {ops}\r\n{extra}"
        f"Content-Length: {len(body.encode())}\r\n\r\n"
    )
    return (head + body).encode()


async def probe(server: Server, ops: str, **kw: Any) -> list[Any]:
    """Evaluate ``ops`` in the server's request route; the X-Res values."""
    peer = await Peer.open()
    try:
        return results(await ask(server, peer, sip(ops, **kw)))
    finally:
        peer.close()
