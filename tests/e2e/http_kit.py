"""The HTTP-routing rig of tests/e2e/test_http_routing*.py and bench/http_routing.py: the
example service (examples/http-routing/service.py) as a subprocess, siprouter with the example
cfg (or a test cfg), sipp callers and callees, small UDP peers; every process stopped by its
own handle."""

from __future__ import annotations

import json
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from .proc import ROOT, SCENARIOS, Siprouter, finish, free_port, require_tool, sipp

EXAMPLE = ROOT / "examples" / "http-routing"


def start_service(
    tmp: Path, table: dict[str, Any], latency_ms: float = 0
) -> tuple[subprocess.Popen[bytes], int]:
    """The example service on a free port: (process, port)."""
    path = tmp / "routes.json"
    path.write_text(json.dumps(table))
    log = tmp / "service.log"
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE / "service.py"), "--table", str(path), "--port", "0",
         "--latency-ms", str(latency_ms)],
        stdout=log.open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        match = re.search(r"listening on [\d.]+:(\d+)", log.read_text())
        if match:
            return proc, int(match.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait(5)
    raise AssertionError(f"service did not start:\n{log.read_text()}")


def fail_scenario(tmp: Path, code: int) -> str:
    """tm_uac_fail.xml expecting ``code``."""
    path = tmp / f"uac_fail_{code}.xml"
    path.write_text((SCENARIOS / "tm_uac_fail.xml").read_text().replace("@CODE@", str(code)))
    return str(path)


class Blackhole:
    """A UDP socket that receives and never answers (a dead callee); counts INVITEs."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.messages: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.messages.append(self.sock.recv(65535))
            except OSError:
                continue

    def invites(self) -> list[bytes]:
        return [m for m in self.messages if m.startswith(b"INVITE ")]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class MiniUas(Blackhole):
    """A callee that answers every INVITE 200 (Contact: itself) and every BYE 200; keeps
    what it received (``messages``), for tests that look at the relayed requests."""

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except OSError:
                continue
            self.messages.append(data)
            method = data.split(b" ", 1)[0]
            if method in (b"INVITE", b"BYE"):
                self.sock.sendto(self._answer(data), addr)

    def _answer(self, data: bytes) -> bytes:
        head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")
        keep = [h for h in head[1:] if h.split(":", 1)[0].strip().lower()
                in ("via", "from", "to", "call-id", "cseq", "record-route")]  # fmt: skip
        out = []
        for h in keep:
            if h.lower().startswith("to:") and ";tag=" not in h:
                h += ";tag=uas" + uuid.uuid4().hex[:8]
            out.append(h)
        contact = f"Contact: <sip:uas@127.0.0.1:{self.port}>"
        return ("SIP/2.0 200 OK\r\n" + "\r\n".join([*out, contact, "Content-Length: 0"])
                + "\r\n\r\n").encode()  # fmt: skip

    def invite_headers(self) -> list[dict[str, str]]:
        """The headers of each INVITE received (lower-case names, first occurrence)."""
        found = []
        for data in self.invites():
            head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")
            headers: dict[str, str] = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers.setdefault(name.strip().lower(), value.strip())
            found.append(headers)
        return found


def options_rtt(port: int, sock: socket.socket | None = None) -> float:
    """Send one OPTIONS to the proxy; seconds until its reply (inf if none within 2 s)."""
    own = sock is None
    s = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if own:
            s.bind(("127.0.0.1", 0))
        s.settimeout(2)
        me = s.getsockname()[1]
        tag = uuid.uuid4().hex
        msg = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{tag};rport\r\n"
               f"From: <sip:probe@127.0.0.1>;tag={tag[:8]}\r\nTo: <sip:127.0.0.1:{port}>\r\n"
               f"Call-ID: {tag}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
               "Content-Length: 0\r\n\r\n")  # fmt: skip
        start = time.perf_counter()
        s.sendto(msg.encode(), ("127.0.0.1", port))
        while True:
            try:
                data = s.recv(65535)
            except TimeoutError:
                return float("inf")
            if tag.encode() in data:
                return time.perf_counter() - start
    finally:
        if own:
            s.close()


class Prober:
    """OPTIONS to the proxy every ``every`` seconds from a thread; ``rtts`` in seconds."""

    def __init__(self, port: int, every: float = 0.05) -> None:
        self.port, self.every, self.rtts = port, every, []  # type: ignore[var-annotated]
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.rtts.append(options_rtt(self.port, self._sock))

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()
        rtts = sorted(self.rtts) or [float("inf")]
        fast = sum(1 for r in rtts if r < 0.020)
        return {"probes": len(rtts), "within_20ms": fast / len(rtts),
                "p50_ms": 1000 * statistics.median(rtts),
                "p99_ms": 1000 * rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))],
                "max_ms": 1000 * rtts[-1]}  # fmt: skip


def most_calls_at_once(folder: Path, scenario: str) -> int:
    """The highest ``CurrentCall`` of sipp's ``-trace_stat`` files of ``scenario`` (sampled
    every ``-fd`` seconds) in ``folder``."""
    best = 0
    for path in folder.glob(f"{Path(scenario).stem}_*_.csv"):
        rows = [line.split(";") for line in path.read_text().splitlines()]
        if not rows or "CurrentCall" not in rows[0]:
            continue
        col = rows[0].index("CurrentCall")
        best = max([best, *(int(r[col]) for r in rows[1:] if len(r) > col and r[col].isdigit())])
    return best


class Rig:
    """Service + siprouter (example cfg unless ``cfg``) + sipp peers on loopback."""

    def __init__(self, tmp: Path, table: dict[str, Any] | None = None, *, latency_ms: float = 0,
                 router_url: str | None = None, defines: tuple[str, ...] = (),
                 cfg: Path | None = None, workers: int = 1) -> None:  # fmt: skip
        require_tool("sipp")
        self.tmp, self.port = tmp, free_port()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.service: subprocess.Popen[bytes] | None = None
        self.http_port = 0
        if router_url is None:
            self.service, self.http_port = start_service(tmp, table or {}, latency_ms)
            router_url = f"http://127.0.0.1:{self.http_port}"
        self.url = router_url
        args = ["-f", str(cfg or EXAMPLE / "kamailio.cfg"), "-n", str(workers),
                "-A", f"SIP_PORT={self.port}", "-A", f'ROUTER_URL="{router_url}"']  # fmt: skip
        for define in defines:
            args += ["-A", define]
        try:
            self.proxy = Siprouter(args, tmp / "siprouter.log", workers=workers)
        except BaseException:
            self._stop_service()
            raise

    def uas(
        self, port: int, calls: int, scenario: str = "tm_uas.xml", name: str = ""
    ) -> subprocess.Popen[bytes]:
        """A sipp callee on ``port`` for ``calls`` calls."""
        proc = sipp(["-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1", "-p", str(port),
                     "-m", str(calls)], self.tmp / f"{name or 'uas'}-{port}.log", timeout=120)  # fmt: skip
        self.procs.append(proc)
        return proc

    def caller(self, user: str, calls: int, rate: float = 20, scenario: str = "http_uac.xml",
               name: str = "", limit: int = 0, timeout: float = 60,
               extra: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:  # fmt: skip
        """A sipp caller: ``calls`` calls to ``user`` through the proxy (``extra``: more sipp
        arguments, e.g. ``-d`` for scenarios that pause)."""
        scn = scenario if "/" in scenario else str(SCENARIOS / scenario)
        proc = sipp(["-sf", scn, f"127.0.0.1:{self.port}", "-i", "127.0.0.1",
                     "-p", str(free_port()), "-s", user, "-m", str(calls), "-r", str(rate),
                     "-l", str(limit or calls), *extra],
                    self.tmp / f"{name or user}.log", timeout=timeout)  # fmt: skip
        self.procs.append(proc)
        return proc

    def stats(self) -> dict[str, int]:
        """The service's counters."""
        with urllib.request.urlopen(f"{self.url}/stats", timeout=5) as answer:  # noqa: S310
            return json.loads(answer.read())  # type: ignore[no-any-return]

    def log(self) -> str:
        return self.proxy.log.read_text(errors="replace")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
                         for p in sorted(self.tmp.glob("*.log")))  # fmt: skip

    def _stop_service(self) -> None:
        if self.service is not None and self.service.poll() is None:
            self.service.terminate()
            try:
                self.service.wait(10)
            except subprocess.TimeoutExpired:
                self.service.kill()
                self.service.wait(5)

    def stop(self) -> int:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)
        code = self.proxy.stop()
        self._stop_service()
        return code


__all__ = ["Rig", "Blackhole", "MiniUas", "Prober", "fail_scenario", "finish", "free_port", "options_rtt",
           "most_calls_at_once", "start_service", "EXAMPLE"]  # fmt: skip
