"""End to end: the stateless proxy of examples/stateless (OPTIONS to the proxy answered, every
other request forwarded to NEXT_HOP) started as a real process, sipp as UAC and UAS on
loopback, over UDP and TCP; plus ``siprouter -c`` on bad configurations. (The registrar and
stateful proxy of examples/basic are tested in test_basic_calls.py.)"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .proc import (
    SCENARIOS,
    Siprouter,
    finish,
    free_port,
    require_tool,
    sipp,
    siprouter_command,
)

CALLS = 5

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "stateless"
FORWARD_CFG = (EXAMPLE / "kamailio.cfg").read_text()
FORWARD_SCRIPT = (EXAMPLE / "forward.py").read_text()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_options_and_stateless_forwarding(tmp_path: Path, transport: str) -> None:
    require_tool("sipp")
    proxy, uas_port, uac_port = free_port(), free_port(), free_port()
    mode = "u1" if transport == "udp" else "t1"
    next_hop = f"sip:127.0.0.1:{uas_port}" + (";transport=tcp" if transport == "tcp" else "")
    uas = sipp(
        ["-sf", str(SCENARIOS / "uas.xml"), "-i", "127.0.0.1", "-p", str(uas_port), "-t", mode,
         "-m", str(CALLS)],
        tmp_path / "uas.log",
    )  # fmt: skip
    (tmp_path / "forward.py").write_text(FORWARD_SCRIPT)
    (tmp_path / "kamailio.cfg").write_text(FORWARD_CFG)
    router = Siprouter(
        [
            "-f",
            str(tmp_path / "kamailio.cfg"),
            "-A",
            f"SIP_PORT={proxy}",
            "-A",
            f"NEXT_HOP={next_hop}",
            "-n",
            "2",
        ],
        tmp_path / "siprouter.log",
        workers=2,
    )
    try:
        uac = sipp(
            ["-sf", str(SCENARIOS / "uac.xml"), f"127.0.0.1:{proxy}", "-i", "127.0.0.1",
             "-p", str(uac_port), "-t", mode, "-m", str(CALLS), "-r", "10", "-s", "bob"],
            tmp_path / "uac.log",
        )  # fmt: skip
        uac_rc = finish(uac)
        uas_rc = finish(uas, timeout=10)
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait(5)
        router_rc = router.stop()
    logs = "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in tmp_path.glob("*.log")
    )
    assert uac_rc == 0, logs
    assert uas_rc == 0, logs
    assert router_rc == 0, logs
    assert "Traceback" not in (tmp_path / "siprouter.log").read_text(), logs


def _check(tmp_path: Path, cfg: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "script.py").write_text("def mod_init():\n    return object()\n")
    path = tmp_path / "kamailio.cfg"
    path.write_text(cfg)
    cmd = [*siprouter_command(), "-c", "-f", str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


HEAD = '#!KAMAILIO\nloadmodule "sl.so"\nloadmodule "app_python3.so"\n'
TAIL = 'modparam("app_python3", "load", "script.py")\ncfgengine "python"\n'


def test_check_unknown_module(tmp_path: Path) -> None:
    done = _check(tmp_path, HEAD + 'loadmodule "nosuchmod.so"\n' + TAIL)
    assert done.returncode != 0
    assert f"{tmp_path / 'kamailio.cfg'}:4:" in done.stderr and "nosuchmod" in done.stderr


def test_check_unknown_parameter(tmp_path: Path) -> None:
    done = _check(tmp_path, HEAD + TAIL + 'modparam("sl", "no_such_param", 1)\n')
    assert done.returncode != 0
    assert f"{tmp_path / 'kamailio.cfg'}:6:" in done.stderr and "no_such_param" in done.stderr
    done = _check(tmp_path, HEAD + "no_such_core_param = 3\n" + TAIL)
    assert done.returncode != 0 and "kamailio.cfg:4:" in done.stderr


def test_check_script_error(tmp_path: Path) -> None:
    path = tmp_path / "kamailio.cfg"
    path.write_text(HEAD + TAIL)
    (tmp_path / "script.py").write_text("import KSR\n\ndef mod_init():\n    return KSR.nope()\n")
    done = subprocess.run(
        [*siprouter_command(), "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode != 0 and "script.py:4:" in done.stderr


def test_check_ok_and_version(tmp_path: Path) -> None:
    done = _check(tmp_path, HEAD + TAIL)
    assert done.returncode == 0, done.stderr
    version = subprocess.run(
        [*siprouter_command(), "--version"], capture_output=True, text=True, timeout=30
    )
    assert version.returncode == 0 and version.stdout.startswith("siprouter ")
