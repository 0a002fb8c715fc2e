"""Real processes for the end-to-end tests: siprouter and sipp on loopback, bounded in time,
each stopped by its own process handle."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
EXAMPLE = ROOT / "examples" / "basic" / "kamailio.cfg"


def require_tool(name: str) -> str:
    """Path of ``name``; missing: fail under CI=true, else skip."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{name} is required (CI=true)")
        pytest.skip(f"{name} is not installed")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``host`` (ephemeral range)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = udp.getsockname()[1]
            with socket.socket(family, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return int(port)
    raise RuntimeError("no free port")


def siprouter_command() -> list[str]:
    """The installed console script, else ``python -m app.cli``."""
    script = Path(sys.executable).parent / "siprouter"
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


class Siprouter:
    """A siprouter process; ``stop()`` sends SIGTERM and waits (then kills)."""

    def __init__(self, args: list[str], log: Path, workers: int = 1) -> None:
        self.log = log
        self.out = log.open("wb")
        self.proc = subprocess.Popen(
            [*siprouter_command(), *args], stdout=self.out, stderr=subprocess.STDOUT, cwd=ROOT
        )
        self._wait_ready(workers)

    def _wait_ready(self, workers: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log.read_text(errors="replace").count(" ready on ") >= workers:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"siprouter did not start:\n{self.log.read_text(errors='replace')}")

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.out.close()
        return int(self.proc.returncode)


def sipp(args: list[str], log: Path, timeout: float = 30.0) -> subprocess.Popen[bytes]:
    """Start sipp (non-interactive, bounded by ``-timeout``)."""
    cmd = [
        require_tool("sipp"),
        *args,
        "-nostdin",
        "-timeout",
        f"{int(timeout)}s",
        "-timeout_error",
    ]
    return subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=log.parent)


def scenario_file(tmp: Path, name: str) -> str:
    """A scenario of SCENARIOS; ``tm_uac_fail.xml@486`` is written to ``tmp`` with the
    expected status in place of ``@CODE@``."""
    name, _, code = name.partition("@")
    if not code:
        return str(SCENARIOS / name)
    path = tmp / f"{code}-{name}"
    path.write_text((SCENARIOS / name).read_text().replace("@CODE@", code))
    return str(path)


def finish(proc: subprocess.Popen[bytes], timeout: float = 40.0) -> int:
    """Wait for sipp; kill it if it overruns."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        return -1
