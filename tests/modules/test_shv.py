"""``$shv`` (pv module): script reads and writes, ``shvset``/``varset`` modparams, the RPC
commands ``pv.shvSet``/``pv.shvGet``, and values shared by forked worker processes."""

from __future__ import annotations

import asyncio
import os
import textwrap
from pathlib import Path

import pytest

from app.cfgpre import ConfigError
from app.config import Listen, load_modules, parse_config_text
from app.context import faked_ctx
from app.server import Server
from modules import pv
from rpc.registry import RpcFault
from tests.app.harness import Peer, port_of, request

CFG = """\
#!KAMAILIO
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "app_python3.so"
modparam("app_python3", "load", "script.py")
modparam("pv", "shvset", "calls=i:5")
modparam("pv", "shvset", "mode=s:open")
modparam("pv", "varset", "local=i:7")
cfgengine "python"
"""

SCRIPT = """
import KSR

def mod_init():
    return Handler()

class Handler:
    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        KSR.pv.seti("$shv(calls)", KSR.pv.get("$shv(calls)") + 1)
        KSR.pv.sets("$shv(last)", KSR.pv.get("$ci"))
        if KSR.pv.get("$shv(mode)") == "open":
            KSR.pv.unset("$shv(mode)")
        KSR.hdr.append_to_reply("X-Calls: %d\\r\\n" % KSR.pv.get("$shv(calls)"))
        KSR.hdr.append_to_reply("X-Var: %s\\r\\n" % KSR.pv.get("$var(local)"))
        KSR.sl.send_reply(200, "OK")
"""


async def start(tmp: Path) -> Server:
    (tmp / "script.py").write_text(textwrap.dedent(SCRIPT))
    (tmp / "kamailio.cfg").write_text(CFG)
    config = parse_config_text(CFG, str(tmp / "kamailio.cfg"))
    server = Server(config, load_modules(config), (Listen("udp", "127.0.0.1", 0),), grace=0.2)
    await server.start()
    return server


async def test_script_modparams_and_rpc(tmp_path: Path) -> None:
    server = await start(tmp_path)
    uac = await Peer.open()
    try:
        await asyncio.sleep(0)  # varset is applied once the worker runs
        assert pv.rpc_shv_get("calls") == [{"name": "calls", "type": "int", "value": 5}]
        uac.send(request(call_id="x1"), port_of(server, "udp"))
        reply = await uac.recv()
        assert reply.get("X-Calls") == "6" and reply.get("X-Var") == "7"
        assert pv.rpc_shv_get() == [
            {"name": "calls", "type": "int", "value": 6},
            {"name": "last", "type": "str", "value": "x1"},
        ]  # "mode" was removed with $null
        assert pv.rpc_shv_set("calls", "int", "40") == 0
        uac.send(request(call_id="x2", branch="z9hG4bKx2"), port_of(server, "udp"))
        assert (await uac.recv()).get("X-Calls") == "41"
        with pytest.raises(RpcFault):
            pv.rpc_shv_set("calls", "float", "1")
        with pytest.raises(RpcFault):
            pv.rpc_shv_get("nothing")
        ctx = faked_ctx(server.engine, server.core)
        with pytest.raises(ValueError):
            pv.pv_shv_set(ctx, "x", 1.5)
    finally:
        uac.close()
        await server.stop()


def test_bad_shvset_names_the_line() -> None:
    cfg = CFG.replace("calls=i:5", "calls=q:5")
    with pytest.raises(ConfigError, match="kamailio.cfg:6"):
        load_modules(parse_config_text(cfg, "kamailio.cfg"))
    assert pv.parse_init("a=s:x=y") == ("a", "x=y")


def _child(write: int, action: str) -> None:
    try:
        ctx = faked_ctx()
        if action == "set":
            pv.pv_shv_set(ctx, "shared", 42)
            os.write(write, b"done")
        else:
            os.write(write, str(pv.pv_shv(ctx, "shared")).encode())
    finally:
        os._exit(0)


def _run(action: str) -> bytes:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        pv.state["store"] = None
        _child(write, action)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        out = pipe.read()
    os.waitpid(pid, 0)
    return out


def test_forked_workers_share_values() -> None:
    assert _run("set") == b"done"
    assert _run("get") == b"42"  # another process reads what the first one wrote
