"""End to end: the basic example (examples/basic: registrar and stateful proxy with digest
auth) as a real siprouter process on loopback, subscribers added with ``siprouter-db``, sipp
UAs registering and calling each other over UDP and TCP: record-routed INVITE/ACK/BYE,
CANCEL (487 upstream, CANCEL downstream), 486 through the failure route, 408 at
``fr_inv_timer``, serial forking by q, parallel forking (first 200 wins, the other branch
is cancelled), every call completed under 10 % packet loss; and single transactions:
401/200 and a refused replay, wrong password, Max-Forwards 0 (483), unknown user (404), ..."""

from __future__ import annotations

from pathlib import Path

import pytest

from .basic_kit import (
    FLOWS,
    Callee,
    Server,
    call_flow,
    flow_logs,
    register_probes,
    request_probes,
    start_siprouter,
)
from .proc import require_tool

# what the example answers (the differential test holds Kamailio to the same, see
# tests/diff/test_kamailio_diff.py and docs/kamailio-differences.md)
EXPECTED_REGISTER = {
    "register without credentials": 401,
    "register, wrong password": 401,  # challenged again, as Kamailio's basic configuration
    "register with credentials": 200,
    "register, replayed Authorization": 401,  # auth nonce_count=1: nc must grow
    "register, same nonce, next nc": 200,
}
EXPECTED_REQUESTS = {
    "OPTIONS keep-alive to the proxy": 200,
    "Max-Forwards 0": 483,
    "INVITE to an unknown user": 404,
    "INVITE from outside to outside": 403,
    "INVITE from a local user, no credentials": 407,
    "INVITE without R-URI user": 484,
    "INVITE to sip:bob@localhost (Kamailio's automatic alias)": 403,  # no auto_aliases
    "BYE in a dialog without Route": 404,
    "scanner User-Agent": 200,
}


def _server(tmp: Path, defines: tuple[str, ...] = ()) -> Server:
    require_tool("sipp")
    return start_siprouter(tmp, tmp / "basic.db", defines)


def test_single_transactions(tmp_path: Path) -> None:
    server = _server(tmp_path)
    try:
        assert register_probes(server.port) == EXPECTED_REGISTER, server.logs()
        assert request_probes(server.port) == EXPECTED_REQUESTS, server.logs()
    finally:
        assert server.stop() == 0, server.logs()
    assert "Traceback" not in server.logs()


@pytest.mark.parametrize("name", list(FLOWS))
def test_call_flow(tmp_path: Path, name: str) -> None:
    transport, caller, callees, caller_user, defines = FLOWS[name]
    server = _server(tmp_path, defines)
    try:
        codes = call_flow(server, tmp_path, transport, caller, callees, caller_user)
    finally:
        rc = server.stop()
    assert codes == [0] * len(codes), flow_logs(tmp_path)
    assert rc == 0, flow_logs(tmp_path)
    assert "Traceback" not in server.logs(), flow_logs(tmp_path)


def test_lost_packets_every_call_completes(tmp_path: Path) -> None:
    """10 % loss at the caller (its INVITEs, ACKs, BYEs and the replies it receives):
    retransmitted INVITEs and BYEs are absorbed by the transactions and every call completes.
    (Loss at the sipp callee too makes sipp itself abort: a duplicate ACK that arrives during
    its closing pause is "unexpected" to it, whatever the proxy -- seen with Kamailio too.)"""
    lossy = ["-lost", "10", "-trace_err"]  # sipp says why a call failed in *_errors.log
    server = _server(tmp_path)
    try:
        codes = call_flow(
            server,
            tmp_path,
            "udp",
            ("basic_uac.xml", ["-m", "8", "-r", "4", *lossy]),
            [Callee("basic_uas.xml", ["-m", "8"])],
            "alice",
        )
    finally:
        rc = server.stop()
    # registrations and the caller: every call completed end to end (the caller got the 200
    # to its INVITE and to its BYE); the sipp callee's own exit under loss is sipp's business
    assert codes[:-1] == [0] * (len(codes) - 1), flow_logs(tmp_path)
    assert rc == 0
