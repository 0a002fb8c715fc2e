"""Every management command, called through the real management API of a running siprouter
(2 workers + the management process) with ``siprouter-ctl`` over the unix socket: the core's,
the statistics', and those of each module that declares some (sl, tm, usrloc, http_client,
http_async_client, evapi, pv), each answering in the shape Kamailio's jsonrpcs gives."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .proc import Siprouter, free_port, require_tool
from .test_management import SCRIPT, Setup, ctl, ctl_json, wait_management

CFG = """#!KAMAILIO
children=2
debug=2
log_stderror=yes
run_dir="DIR"
listen=udp:127.0.0.1:PORT
listen=tcp:127.0.0.1:PORT
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "pv.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "http_client.so"
loadmodule "http_async_client.so"
loadmodule "evapi.so"
loadmodule "jsonrpcs.so"
loadmodule "ctl.so"
loadmodule "app_python3.so"
modparam("pv", "shvset", "calls=i:0")
modparam("evapi", "bind_addr", "127.0.0.1:EVAPI")
modparam("jsonrpcs", "http_listen", "")
modparam("ctl", "binrpc", "unix:DIR/kamailio_ctl")
modparam("app_python3", "load", "script.py")
cfgengine "python"
"""

#: method, parameters, and the type of a good result
COMMANDS: list[tuple[str, tuple[str, ...], type]] = [
    ("system.listMethods", (), list),
    ("system.methodHelp", ("core.version",), str),
    ("core.version", (), str),
    ("core.uptime", (), dict),
    ("core.info", (), dict),
    ("core.ps", (), list),
    ("core.psx", (), list),
    ("core.shmmem", (), dict),
    ("stats.get_statistics", ("all",), list),
    ("stats.get_statistics", ("core:",), list),
    ("stats.fetch", ("all",), dict),
    ("app_python.api_list", (), dict),
    ("cfg.get", ("sl", "default_code"), int),
    ("tm.stats", (), dict),
    ("sl.stats", (), dict),
    ("ul.dump", (), dict),
    ("ul.flush", (), object),
    ("httpclient.stats", (), dict),
    ("httpclient.listcon", (), list),
    ("http_async_client.stats", (), dict),
    ("evapi.stats", (), dict),
    ("evapi.clients", (), list),
    ("pv.shvGet", ("calls",), list),
    ("stats.reset_statistics", ("all",), object),
    ("stats.clear_statistics", ("all",), object),
]


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    require_tool("sipp")
    base = Path(tempfile.mkdtemp(prefix="mgcmd", dir="/tmp"))  # short unix socket paths
    proxy = free_port()
    cfg = CFG.replace("DIR", str(base)).replace("PORT", str(proxy))
    (base / "kamailio.cfg").write_text(cfg.replace("EVAPI", str(free_port())))
    (base / "script.py").write_text(SCRIPT)
    args = ["-f", str(base / "kamailio.cfg"), "-A", "NEXT_HOP=sip:127.0.0.1:9"]
    router = Siprouter(args, base / "siprouter.log", workers=2)
    st = Setup(base, proxy, 0, 0, router)
    try:
        wait_management(st)
        yield st
    finally:
        rc = router.stop()
        log = (base / "siprouter.log").read_text(errors="replace")
        shutil.rmtree(base, ignore_errors=True)
        assert rc == 0 and "Traceback" not in log, log[-5000:]


@pytest.mark.parametrize(("method", "params", "kind"), COMMANDS, ids=lambda v: str(v))
def test_command(setup: Setup, method: str, params: tuple[str, ...], kind: type) -> None:
    result: Any = ctl_json(setup, method, *params)
    assert isinstance(result, kind), result


def test_every_module_command_is_listed(setup: Setup) -> None:
    listed = set(ctl_json(setup, "system.listMethods"))
    assert {m for m, _, _ in COMMANDS} <= listed


def test_shared_variable_set_then_read_from_any_worker(setup: Setup) -> None:
    assert ctl(setup, "pv.shvSet", "calls", "int", "7").returncode == 0
    (item,) = ctl_json(setup, "pv.shvGet", "calls")
    assert item["value"] == 7


def test_faults_are_clear(setup: Setup) -> None:
    done = ctl(setup, "ul.lookup", "location", "nobody")
    assert done.returncode != 0 and "not found" in (done.stdout + done.stderr).lower()
    done = ctl(setup, "no.such.command")
    assert done.returncode != 0
