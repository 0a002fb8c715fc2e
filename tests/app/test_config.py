"""Tests of the kamailio.cfg parser: core parameters, modules, engine (app.config); the
lexical level, preprocessor and includes are in test_cfgpre.py."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

import modules as catalogue
from app import known
from app.config import (
    ConfigError,
    Listen,
    apply_modparams,
    load_modules,
    parse_config,
    parse_config_text,
)
from app.module import Module

from .cfg_kit import cfg, error, write

IMPL = {"tm", "sl", "rr", "usrloc", "registrar", "maxfwd", "textops", "siputils"}


# -- core parameters -----------------------------------------------------------------------
def test_listen_forms(tmp_path: Path) -> None:
    c = cfg(
        tmp_path,
        """
        listen=udp:127.0.0.1:5060
        listen=tcp:[::1]:5070 advertise 1.2.3.4:5080
        listen = 127.0.0.1
        listen=tls:10.0.0.1 advertise pub.example.com name "tls1"
        listen=[::1]
        listen=udp:eth0:5062 virtual
        port=5090
        """,
    )
    assert c.listens == (
        Listen("udp", "127.0.0.1", 5060),
        Listen("tcp", "::1", 5070, "1.2.3.4", 5080),
        Listen(None, "127.0.0.1", 5090),
        Listen("tls", "10.0.0.1", 5090, "pub.example.com", 5090, "tls1"),
        Listen(None, "::1", 5090),
        Listen("udp", "eth0", 5062, virtual=True),
    )
    assert c.listens[1].hostport == "[::1]:5070" and c.listens[0].hostport == "127.0.0.1:5060"


def test_listen_default_ports(tmp_path: Path) -> None:
    c = cfg(tmp_path, "listen=udp:1.2.3.4\nlisten=tls:1.2.3.4\n")
    assert [x.port for x in c.listens] == [5060, 5061]


@pytest.mark.parametrize(
    "line",
    [
        "listen=ws:1.2.3.4:80",
        "listen=udp:1.2.3.4:99999",
        "listen=udp:1.2.3.4 bogus",
        "listen=udp:1.2.3.4:x",
    ],
)
def test_listen_errors(tmp_path: Path, line: str) -> None:
    assert error(tmp_path, f"debug=1\n{line}\n").line == 2


def test_scalar_params(tmp_path: Path) -> None:
    c = cfg(
        tmp_path,
        """
        children=4
        debug=-2
        log_stderror=yes
        log_prefix="{$mt $hdr(CSeq) $ci} "
        server_header="Server: siprouter"
        user_agent_header="User-Agent: siprouter"
        alias="sip.example.com"
        alias=other.example.com:5060
        mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
        """,
    )
    assert (c.children, c.debug, c.log_stderror) == (4, -2, True)
    assert c.aliases == ("sip.example.com", "other.example.com:5060")
    assert c.server_header == "Server: siprouter"
    assert c.ignored[0].name == "mpath"


@pytest.mark.parametrize(
    ("text", "value"), [("no", False), ("1", True), ("off", False), ("on", True)]
)
def test_bool_values(tmp_path: Path, text: str, value: bool) -> None:
    assert cfg(tmp_path, f"log_stderror={text}\n").log_stderror is value


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('children="abc"', "children expects an integer"),
        ("children=abc", "children expects an integer"),
        ("children=yes", "children expects an integer"),
        ("log_stderror=maybe", "log_stderror expects yes or no"),
        ("log_prefix=abc", "log_prefix expects a quoted string"),
        ("children=1 2", "children takes one value"),
        ("children=", "missing value"),
        ("no_such_param=1", "unknown core parameter 'no_such_param'"),
        ('kemi.no_such_callback="x"', "unknown core parameter"),
        ("frobnicate", "unknown statement 'frobnicate'"),
        ('"str"', "unexpected"),
    ],
)
def test_param_errors(tmp_path: Path, line: str, message: str) -> None:
    err = error(tmp_path, f"debug=1\n{line}\n")
    assert err.line == 2 and message in err.message
    assert str(err) == f"{tmp_path / 'kamailio.cfg'}:2: {err.message}"


def test_numbers(tmp_path: Path) -> None:
    assert cfg(tmp_path, "children=0x10\ndebug=010\n").children == 16
    assert cfg(tmp_path, "debug=010\n").debug == 8
    assert cfg(tmp_path, "debug=101b\n").debug == 5


def test_ignored_and_custom_params(tmp_path: Path) -> None:
    c = cfg(
        tmp_path,
        """
        memdbg=5
        log_facility=LOG_LOCAL0
        tcp_connection_lifetime=3605
        enable_tls=yes
        fork=yes
        dns_try_ipv6=no
        pstn.gw_ip = "" desc "PSTN GW Address"
        voicemail.srv_port = "5060" descr "port"
        my.level = 3
        """,
    )
    assert [(s.name, s.value) for s in c.ignored] == [
        ("memdbg", 5),
        ("log_facility", "LOG_LOCAL0"),
        ("tcp_connection_lifetime", 3605),
        ("enable_tls", True),
        ("fork", True),
        ("dns_try_ipv6", False),
    ]
    assert [(s.name, s.value) for s in c.custom] == [
        ("pstn.gw_ip", ""),
        ("voicemail.srv_port", "5060"),
        ("my.level", 3),
    ]


def test_kemi_callbacks(tmp_path: Path) -> None:
    c = cfg(
        tmp_path,
        """
        kemi.onsend_route_callback="ksr_onsend"
        kemi.reply_route_callback="none"
        kemi.event_route_callback="ksr_event"
        kemi.received_route_callback="ksr_received"
        kemi.pre_routing_callback="ksr_pre"
        """,
    )
    assert c.kemi == {
        "request_route_callback": "ksr_request_route",
        "onsend_route_callback": "ksr_onsend",
        "reply_route_callback": "",
        "event_route_callback": "ksr_event",
        "received_route_callback": "ksr_received",
        "pre_routing_callback": "ksr_pre",
    }


def test_semicolons_are_accepted(tmp_path: Path) -> None:
    assert cfg(tmp_path, "children=2;\ndebug=1;;\n").children == 2


# -- modules -------------------------------------------------------------------------------
def test_loadmodule_forms(tmp_path: Path) -> None:
    c = cfg(
        tmp_path,
        """
        loadmodule "tm.so"
        loadmodule "/usr/lib/x86_64-linux-gnu/kamailio/modules/sl.so"
        loadmodule "rr"
        loadmodule "kex.so"
        loadmodule "tm.so"
        """,
        implemented=IMPL,
    )
    assert [(m.name, m.implemented) for m in c.modules] == [
        ("tm", True),
        ("sl", True),
        ("rr", True),
        ("kex", False),
    ]
    assert c.module("sl") is not None and c.module("sl").line == 2  # type: ignore[union-attr]
    assert c.module("nope") is None


def test_loadmodule_errors(tmp_path: Path) -> None:
    err = error(tmp_path, 'debug=1\nloadmodule "db_mysql.so"\n')
    assert err.line == 2
    assert err.message == 'module "db_mysql" is a Kamailio module siprouter does not implement yet'
    assert error(tmp_path, 'loadmodule "tm.so"\n', implemented=set()).message.startswith(
        'module "tm" is a Kamailio module'
    )
    assert error(tmp_path, 'loadmodule "frob.so"\n').message == 'unknown module "frob"'
    assert "quoted module name" in error(tmp_path, "loadmodule tm\n").message


def test_core_modules_are_kamailio_modules() -> None:
    assert set(known.CORE_MODULES) <= known.KAMAILIO_MODULES
    assert known.INTERPRETED_CORE_PARAMS <= known.KAMAILIO_CORE_PARAMS


def test_modparam(tmp_path: Path) -> None:
    c = cfg(
        tmp_path,
        """
        #!define FLT_ACC 1
        loadmodule "tm.so"
        loadmodule "usrloc.so"
        loadmodule "registrar.so"
        loadmodule "kex.so"
        modparam("tm", "fr_timer", 30000)
        modparam("tm", "fr_inv_timer", -1)
        modparam("tm", "flag", FLT_ACC)
        modparam("tm", "on", yes)
        modparam("usrloc", "preload", "location")
        modparam("usrloc|registrar", "received_avp", "$avp(RECEIVED)")
        modparam("usr.*", "nat_bflag", 6)
        modparam("kex", "anything", "goes")
        modparam("tm", "log_extra",
            "src_user=$fU;"
            "dst_user=$rU")
        """,
        implemented=IMPL,
    )
    got = [(m.module, m.param, m.value, m.line) for m in c.modparams]
    assert got == [
        ("tm", "fr_timer", 30000, 6),
        ("tm", "fr_inv_timer", -1, 7),
        ("tm", "flag", 1, 8),
        ("tm", "on", 1, 9),
        ("usrloc", "preload", "location", 10),
        ("usrloc", "received_avp", "$avp(RECEIVED)", 11),
        ("registrar", "received_avp", "$avp(RECEIVED)", 11),
        ("usrloc", "nat_bflag", 6, 12),
        ("kex", "anything", "goes", 13),
        ("tm", "log_extra", "src_user=$fU;dst_user=$rU", 14),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('modparam("sl", "x", 1)', 'modparam for module "sl", which is not loaded'),
        ('modparam("nope|other", "x", 1)', "which is not loaded"),
        ('modparam("tm" "x", 1)', "expected ,"),
        ('modparam("tm", "x", bare)', "a modparam value is a number or a quoted string"),
        ('modparam("tm", "x", 1', "expected )"),
        ('modparam("(", "x", 1)', "bad module regex"),
    ],
)
def test_modparam_errors(tmp_path: Path, line: str, message: str) -> None:
    err = error(tmp_path, f'loadmodule "tm.so"\n{line}\n', implemented=IMPL)
    assert err.line == 2 and message in err.message


def dummy_tm() -> Module:
    mod = Module("tm")
    mod.param("fr_timer", int, 30000)
    mod.param("tag", str, "")
    return mod


def test_apply_modparams(tmp_path: Path) -> None:
    c = cfg(
        tmp_path,
        """
        loadmodule "tm.so"
        loadmodule "sl.so"
        modparam("tm", "fr_timer", 1000)
        modparam("tm", "tag", "x")
        modparam("sl", "whatever", 1)
        """,
        implemented=IMPL,
    )
    tm = dummy_tm()
    apply_modparams(c, {"tm": tm})
    assert tm.cfg["fr_timer"] == 1000 and tm.cfg["tag"] == "x"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('modparam("tm", "fr_timer", "abc")', 'modparam "tm" "fr_timer" expects an integer'),
        ('modparam("tm", "tag", 5)', "expects a string"),
        ('modparam("tm", "nope", 5)', 'module "tm" has no parameter "nope"'),
    ],
)
def test_apply_modparams_errors(tmp_path: Path, line: str, message: str) -> None:
    c = cfg(tmp_path, f'loadmodule "tm.so"\n\n{line}\n', implemented=IMPL)
    with pytest.raises(ConfigError) as info:
        apply_modparams(c, {"tm": dummy_tm()})
    assert info.value.line == 3 and message in info.value.message


def test_load_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tm, reg = dummy_tm(), Module("registrar", requires=("usrloc",))
    for mod in (tm, reg):
        fake = types.ModuleType(f"fake_{mod.name}")
        fake.module = mod  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, fake.__name__, fake)
        monkeypatch.setitem(catalogue.MODULES, mod.name, fake.__name__)
    c = cfg(
        tmp_path, 'loadmodule "cfgutils.so"\nloadmodule "tm.so"\nmodparam("tm", "fr_timer", 5)\n'
    )
    assert load_modules(c) == {"tm": tm} and tm.cfg["fr_timer"] == 5
    tm.set_param("tag", "stale")
    c = cfg(tmp_path, 'loadmodule "tm.so"\n')
    assert load_modules(c) == {"tm": tm} and dict(tm.cfg) == {"fr_timer": 30000, "tag": ""}
    c = cfg(tmp_path, 'debug=1\nloadmodule "registrar.so"\n')
    with pytest.raises(ConfigError) as info:
        load_modules(c)
    assert info.value.line == 2 and 'requires "usrloc"' in info.value.message


# -- engine ---------------------------------------------------------------------------------
def test_cfgengine_and_script(tmp_path: Path) -> None:
    c = cfg(
        tmp_path,
        """
        loadmodule "app_python3.so"
        modparam("app_python3", "load", "kamailio-basic-kemi-python.py")
        cfgengine "python"
        """,
    )
    assert (c.cfgengine, c.engine_module) == ("python", "app_python3")
    assert c.script == tmp_path / "kamailio-basic-kemi-python.py"
    c = cfg(
        tmp_path,
        'loadmodule "app_python"\nmodparam("app_python", "script_name", "/abs/s.py")\ncfgengine = "python3"\n',
    )
    assert c.script == Path("/abs/s.py") and c.engine_module == "app_python"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('cfgengine "lua"', 'cfgengine "lua" is not supported yet; use cfgengine "python"'),
        ('cfgengine "native"', 'native routing is not supported yet; use cfgengine "python"'),
        ('cfgengine "python"', 'cfgengine "python" needs loadmodule "app_python3.so" before it'),
        ('modparam("app_python3", "load", 1)', "expects a file name"),
    ],
)
def test_cfgengine_errors(tmp_path: Path, line: str, message: str) -> None:
    loads = 'loadmodule "app_python3.so"' if "modparam" in line else "debug=1"
    err = error(tmp_path, f"{loads}\n{line}\n")
    assert err.line == 2 and err.message.endswith(message)


@pytest.mark.parametrize(
    "block", ["request_route {", "route[RELAY] {", "event_route[xhttp:request] {", "reply_route {"]
)
def test_native_routes_rejected(tmp_path: Path, block: str) -> None:
    err = error(tmp_path, f"debug=1\n\n{block}\n  exit;\n}}\n")
    assert err.line == 3
    assert err.message == 'native routing blocks are not supported yet; use cfgengine "python"'


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        parse_config(tmp_path / "nope.cfg")


def test_parse_config_text(tmp_path: Path) -> None:
    write(tmp_path, "inc.cfg", "children=2\n")
    c = parse_config_text('include_file "inc.cfg"\n', file=str(tmp_path / "main.cfg"))
    assert c.children == 2 and c.path == str(tmp_path / "main.cfg")
