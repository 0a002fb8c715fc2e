"""The real process: SIGHUP reloads the script in every worker; SIGTERM stops cleanly."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

from .proc import Siprouter, free_port

CFG = """\
#!KAMAILIO
debug=2
children=2
listen=udp:127.0.0.1:PORT
loadmodule "sl.so"
loadmodule "app_python3.so"
modparam("app_python3", "load", "script.py")
cfgengine "python"
"""
SCRIPT = """\
import KSR

def mod_init():
    return Handler()

class Handler:
    def child_init(self, rank):
        return 0

    def ksr_request_route(self, msg):
        KSR.sl.sl_send_reply(200, "VERSION")
"""


def _ask(port: int, n: int) -> set[str]:
    reasons = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.bind(("127.0.0.1", 0))
        me = sock.getsockname()[1]
        for i in range(n):
            msg = (
                f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};"
                f"branch=z9hG4bK{time.time_ns()}{i}\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n"
                f"Call-ID: {i}-{time.time_ns()}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            )
            sock.sendto(msg.encode(), ("127.0.0.1", port))
            reasons.add(sock.recv(65535).split(b"\r\n", 1)[0].decode())
    return reasons


def test_sighup_reloads_and_sigterm_stops(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "kamailio.cfg").write_text(CFG.replace("PORT", str(port)))
    script = tmp_path / "script.py"
    script.write_text(SCRIPT.replace("VERSION", "one"))
    router = Siprouter(["-f", str(tmp_path / "kamailio.cfg")], tmp_path / "log.txt", workers=2)
    try:
        assert _ask(port, 10) == {"SIP/2.0 200 one"}
        script.write_text(SCRIPT.replace("VERSION", "two"))
        router.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while (tmp_path / "log.txt").read_text().count("script reloaded") < 2:
            assert time.monotonic() < deadline, (tmp_path / "log.txt").read_text()
            time.sleep(0.05)
        assert _ask(port, 10) == {"SIP/2.0 200 two"}
    finally:
        code = router.stop()
    assert code == 0
    log = (tmp_path / "log.txt").read_text()
    assert log.count("stopping") == 2 and "Traceback" not in log
