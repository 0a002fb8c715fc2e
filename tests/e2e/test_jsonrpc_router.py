"""End to end: examples/jsonrpc-router as real processes on loopback -- siprouter, the
asyncio JSON-RPC server program, sipp callers and callees: calls routed by the server's
rtjson documents; the server restarted between two batches of calls (siprouter reconnects
and the calls after it succeed); no server -> 503."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from .proc import ROOT, SCENARIOS, Siprouter, finish, free_port, require_tool, sipp
from .test_evapi_router import fail_scenario

EXAMPLE = ROOT / "examples" / "jsonrpc-router"


class Setup:
    """siprouter with the example's cfg, the JSON-RPC server program, a sipp callee port."""

    def __init__(self, tmp: Path) -> None:
        require_tool("sipp")
        self.tmp, self.port, self.rpc, self.uas_port = tmp, free_port(), free_port(), free_port()
        table = {
            "*": {"routing": "serial", "routes": [{"dst_uri": f"sip:127.0.0.1:{self.uas_port}"}]}
        }
        (tmp / "routes.json").write_text(json.dumps(table))
        self.server: subprocess.Popen[bytes] | None = None
        self.runs = 0
        args = ["-f", str(EXAMPLE / "kamailio.cfg"), "-A", f"SIP_PORT={self.port}",
                "-A", f'RPC_SERVERS="127.0.0.1:{self.rpc},1"']  # fmt: skip
        self.proxy = Siprouter(args, tmp / "siprouter.log")

    def start_server(self) -> None:
        self.runs += 1
        log = self.tmp / f"rpcserver{self.runs}.log"
        self.server = subprocess.Popen(
            [sys.executable, str(EXAMPLE / "server.py"), "--table", str(self.tmp / "routes.json"),
             "--port", str(self.rpc)], stdout=log.open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + 10
        while "listening" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.kill()
        if self.server is not None:
            self.server.wait(5)

    def calls(self, count: int, name: str) -> int:
        uas = sipp(["-sf", str(SCENARIOS / "tm_uas.xml"), "-i", "127.0.0.1", "-p", str(self.uas_port),
                    "-m", str(count)], self.tmp / f"uas_{name}.log")  # fmt: skip
        uac = self.caller(count, str(SCENARIOS / "tm_uac.xml"), name)
        return max(abs(finish(uac, 60)), abs(finish(uas, 15)))

    def caller(self, count: int, scenario: str, name: str) -> subprocess.Popen[bytes]:
        return sipp(["-sf", scenario, f"127.0.0.1:{self.port}", "-i", "127.0.0.1", "-p", str(free_port()),
                     "-s", "bob", "-m", str(count), "-r", "20"], self.tmp / f"uac_{name}.log")  # fmt: skip

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.tmp.glob("*.log")))  # fmt: skip


def test_routed_calls_and_a_server_restart(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    try:
        scn = fail_scenario(tmp_path, 503)
        assert finish(setup.caller(3, scn, "noserver"), 20) == 0, setup.logs()
        setup.start_server()
        time.sleep(1.2)  # reconnection back-off is at most 1 s in the example
        assert setup.calls(20, "before") == 0, setup.logs()
        setup.stop_server()
        setup.start_server()  # the same port: siprouter reconnects by itself
        time.sleep(1.2)
        assert setup.calls(20, "after") == 0, setup.logs()
    finally:
        setup.stop_server()
        assert setup.proxy.stop() == 0, setup.logs()
    assert "Traceback" not in (tmp_path / "siprouter.log").read_text()
