"""The command line: -A defines, -l listens, -n, -c (file:line errors), and parse_listen."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cfgpre import ConfigError
from app.cli import load, main, parser
from app.config import parse_listen

CFG = """\
#!KAMAILIO
#!trydef PORT 5060
port=PORT
children=3
listen=udp:127.0.0.1:PORT
#!ifdef WITH_TCP
listen=tcp:127.0.0.1:PORT
#!endif
loadmodule "sl.so"
loadmodule "app_python3.so"
modparam("app_python3", "load", "script.py")
cfgengine "python"
"""


def test_parse_listen() -> None:
    assert parse_listen("udp:127.0.0.1:5070").hostport == "127.0.0.1:5070"
    listen = parse_listen("[::1]", port=5090)
    assert (listen.proto, listen.host, listen.port) == (None, "::1", 5090)
    with pytest.raises(ConfigError, match="<command line>"):
        parse_listen("bogus:1.2.3.4:0")


def test_defines_and_listens(tmp_path: Path) -> None:
    cfg = tmp_path / "kamailio.cfg"
    cfg.write_text(CFG)
    args = parser().parse_args(
        ["-f", str(cfg), "-A", "PORT=5999", "-A", "WITH_TCP", "-l", "[::1]:6000"]
    )
    config, modules, listens = load(args)
    assert config.children == 3 and set(modules) == {"sl"}
    assert [(x.proto, x.host, x.port) for x in listens] == [
        ("udp", "127.0.0.1", 5999), ("tcp", "127.0.0.1", 5999), (None, "::1", 6000),
    ]  # fmt: skip
    assert config.script == tmp_path / "script.py"


def test_check_mode_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "kamailio.cfg"
    cfg.write_text(CFG)
    assert main(["-c", "-f", str(cfg)]) == 1  # the script does not exist
    assert "script.py" in capsys.readouterr().err
    (tmp_path / "script.py").write_text("def mod_init():\n    return object()\n")
    assert main(["-c", "-f", str(cfg)]) == 0
    cfg.write_text(CFG.replace("children=3", "children=three"))
    assert main(["-c", "-f", str(cfg)]) == 1
    assert f"{cfg}:4:" in capsys.readouterr().err
    assert main(["-c", "-f", str(tmp_path / "missing.cfg")]) == 1
