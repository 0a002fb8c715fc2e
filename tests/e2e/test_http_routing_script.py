"""End to end, HTTP routing with a test script (tests/e2e/test_http_routing.py runs the
example as shipped): siprouter, the example's aiohttp service as a subprocess, sipp or small
UDP peers on loopback.

* chained async: two successive ``http_async_client.query`` calls before relaying;
* ``http_client.query`` (the "blocking" API): calls waiting on a slow service do not wait for
  each other, OPTIONS are answered meanwhile;
* the resumed route is a request route: a REGISTER whose token the service checks is saved
  by ``registrar.save`` there and answered 200;
* rtjson ``headers.from``/``headers.to`` rewrite display name and URI of the relayed INVITE,
  keeping the tags;
* reload (SIGHUP) while calls are suspended: they finish with the script that suspended
  them, new calls use the new one.
"""

from __future__ import annotations

import signal
import socket
import time
import uuid
from pathlib import Path
from xml.sax.saxutils import escape

from .http_kit import MiniUas, Prober, Rig, finish, free_port

CFG = """#!KAMAILIO
#!trydef SIP_PORT 5060
#!trydef ROUTER_URL "http://127.0.0.1:8080"
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:SIP_PORT
loadmodule "kex.so"
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "rr.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "http_client.so"
loadmodule "http_async_client.so"
loadmodule "rtjson.so"
loadmodule "app_python3.so"
modparam("tm", "fr_timer", 5000)
modparam("http_async_client", "connection_timeout", 3000)
modparam("http_client", "keep_connections", 1)
modparam("http_client", "query_result", 0)
modparam("http_client", "connection_timeout", 3)
modparam("app_python3", "load", "script.py")
cfgengine "python"
"""

SCRIPT = """import json
import KSR

VERSION = "one"


def mod_init():
    return Handler()


class Handler:
    def child_init(self, rank):
        self.url = KSR.kx.get_def("ROUTER_URL")
        return 0

    def ksr_request_route(self, msg):
        if KSR.is_OPTIONS():
            if KSR.pv.get("$rU") is None:
                KSR.sl.sl_send_reply(200, "Keepalive")
            else:
                rc = KSR.registrar.lookup("location")
                KSR.sl.sl_send_reply(200, "lookup %d %s" % (rc, KSR.pv.get("$ru")))
            return 1
        if KSR.is_CANCEL():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return 1
        if KSR.pv.get("$tt") is not None:
            KSR.rr.loose_route()
            if KSR.is_ACK() and KSR.tm.t_check_trans() == 0:
                return 1
            KSR.tm.t_relay()
            return 1
        if KSR.is_ACK():
            KSR.tm.t_check_trans()
            return 1
        if KSR.tm.t_check_trans() == 0:
            return 1
        if KSR.is_REGISTER():
            KSR.tm.t_newtran()
            body = {"user": KSR.pv.get("$tU"), "token": KSR.pv.get("$hdr(X-Token)") or ""}
            self.ask("/auth", body, "ksr_register_checked")
            return 1
        KSR.rr.record_route()
        user = KSR.pv.get("$rU") or ""
        KSR.pv.sets("$avp(user)", user)
        if user.startswith("blocking"):
            self.blocking()
            return 1
        KSR.tm.t_newtran()
        if user.startswith("chain"):
            self.ask("/route", {"ruri": "sip:chain-first@x"}, "ksr_chain_first")
        else:
            self.ask("/route", {"ruri": KSR.pv.get("$ru")}, "ksr_route_reply")
        return 1

    def ask(self, path, body, cbname):
        KSR.pv.sets("$http_req(body)", json.dumps(body))
        KSR.pv.sets("$http_req(hdr)", "Content-Type: application/json")
        if KSR.http_async_client.query(self.url + path, cbname) < 0:
            KSR.tm.t_reply(500, "Query Failed")

    def blocking(self):
        KSR.tm.t_newtran()  # 100 Trying now; retransmissions are absorbed meanwhile
        body = json.dumps({"ruri": KSR.pv.get("$ru")})
        rc = KSR.http_client.query_post_hdrs(self.url + "/route", body,
                                             "Content-Type: application/json", "$var(doc)")
        if rc != 200 or KSR.rtjson.init_routes(KSR.pv.get("$var(doc)")) < 0:
            KSR.sl.sl_send_reply(503, "Routing Service Unavailable")
            return
        self.relay()

    def relay(self):
        KSR.rtjson.push_routes()
        KSR.tm.t_on_branch("ksr_branch_route")
        if KSR.tm.t_relay() < 0:
            KSR.tm.t_reply(500, "Relay Failed")

    def ksr_branch_route(self, msg):
        KSR.rtjson.update_branch()
        return 1

    def ksr_route_reply(self, msg):
        if KSR.pv.get("$avp(user)").startswith("version"):
            KSR.tm.t_reply(480, "version " + VERSION)
            return 1
        if KSR.pv.get("$http_rs") != 200 or KSR.rtjson.init_routes(KSR.pv.get("$http_rb")) < 0:
            KSR.tm.t_reply(500, "Bad Routing Answer")
            return 1
        self.relay()
        return 1

    # chained: a first query, whose answer decides the second one, then relay
    def ksr_chain_first(self, msg):
        if KSR.pv.get("$http_rs") != 200:
            KSR.tm.t_reply(500, "First Query Failed")
            return 1
        KSR.pv.sets("$avp(first)", KSR.pv.get("$http_req_id"))
        self.ask("/route", {"ruri": KSR.pv.get("$ru")}, "ksr_chain_second")
        return 1

    def ksr_chain_second(self, msg):
        first, second = KSR.pv.get("$avp(first)"), KSR.pv.get("$http_req_id")
        if first is None or first == second or KSR.tmx.t_is_request_route() < 0:
            KSR.tm.t_reply(500, "Chain Broken")
            return 1
        KSR.hdr.append("X-Chain: %s %s\\r\\n" % (first, second))
        return self.ksr_route_reply(msg)

    # REGISTER: the service checked the token; save from the resumed (request) route
    def ksr_register_checked(self, msg):
        if KSR.pv.get("$http_ok") != 1:
            KSR.sl.send_reply(503, "Auth Service Unavailable")
        elif KSR.pv.get("$http_rs") != 200:
            KSR.sl.send_reply(403, "Forbidden")
        elif KSR.registrar.save("location", 0) < 0:
            KSR.sl.sl_reply_error()
        return 1
"""


def _rig(tmp: Path, table: dict[str, object], latency_ms: float = 0) -> Rig:
    (tmp / "script.py").write_text(SCRIPT)
    (tmp / "kamailio.cfg").write_text(CFG)
    return Rig(tmp, table, latency_ms=latency_ms, cfg=tmp / "kamailio.cfg")


def _clean(rig: Rig) -> None:
    log = rig.log()
    assert "Traceback" not in log and " ERROR " not in log, log[-4000:]


def _route(port: int, **extra: object) -> dict[str, object]:
    return {"routing": "serial", "routes": [{"dst_uri": f"sip:127.0.0.1:{port}", **extra}]}


def test_chained_queries_then_relay(tmp_path: Path) -> None:
    uas = MiniUas()
    table = {"chain-first": _route(1), "*": _route(uas.port)}
    rig = _rig(tmp_path, table)
    try:
        assert finish(rig.caller("chain", 10, 20), 30) == 0, rig.logs()
        assert rig.stats()["queries"] == 20  # two per call
        chains = [h["x-chain"].split() for h in uas.invite_headers()]
        assert len(chains) == 10 and all(a != b for a, b in chains)
    finally:
        uas.close()
        assert rig.stop() == 0, rig.logs()
    _clean(rig)


def test_http_client_calls_do_not_wait_for_each_other(tmp_path: Path) -> None:
    """http_client.query_post_hdrs (Kamailio's blocking API) parks only its message: 200
    calls at 100/s to a service answering in 300 ms overlap (about 30 queries wait at once;
    one at a time would take 60 s), and OPTIONS are answered meanwhile."""
    ok, calls = free_port(), 200
    rig = _rig(tmp_path, {"*": _route(ok)}, latency_ms=300)
    try:
        uas = rig.uas(ok, calls)
        prober = Prober(rig.port, every=0.02)
        started = time.monotonic()
        code = finish(rig.caller("blocking", calls, 100), 60)
        elapsed = time.monotonic() - started
        rtt = prober.stop()
        assert code == 0, rig.logs()
        assert finish(uas, 30) == 0, rig.logs()
        stats = rig.stats()
        print(f"{calls} calls in {elapsed:.1f} s, at most {stats['max_waiting']} queries "
              f"waiting at once; OPTIONS {rtt}")  # fmt: skip
        assert elapsed < 12, elapsed  # placed in 2 s, each waits 0.3 s; serially: 60 s
        assert stats["queries"] == calls and stats["max_waiting"] >= 20, stats
        assert rtt["p50_ms"] < 20 and rtt["within_20ms"] >= 0.9, rtt
    finally:
        assert rig.stop() == 0, rig.logs()
    _clean(rig)


def _register_scenario(tmp: Path, token: str, code: int) -> str:
    path = tmp / f"register_{code}.xml"
    path.write_text(f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register checked by HTTP">
  <send retrans="500"><![CDATA[
      REGISTER sip:127.0.0.1:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[service]@example.com>;tag=[pid]r[call_number]
      To: <sip:[service]@example.com>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:[service]@[local_ip]:[local_port]>
      Expires: 300
      X-Token: {token}
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <recv response="{code}" />
</scenario>
""")
    return str(path)


def _ask(port: int, method: str, user: str, sock: socket.socket) -> str:
    tag = uuid.uuid4().hex
    me = sock.getsockname()[1]
    msg = (f"{method} sip:{user}@example.com SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{tag};rport\r\n"
           f"From: <sip:probe@example.com>;tag={tag[:8]}\r\nTo: <sip:{user}@example.com>\r\n"
           f"Call-ID: {tag}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n"
           f"Contact: <sip:probe@127.0.0.1:{me}>\r\nContent-Length: 0\r\n\r\n")  # fmt: skip
    sock.sendto(msg.encode(), ("127.0.0.1", port))
    while True:
        line = sock.recv(65535).decode(errors="replace").split("\r\n", 1)[0]
        if not line.startswith("SIP/2.0 1"):
            return line


def test_register_checked_by_http_saved_in_the_resumed_route(tmp_path: Path) -> None:
    table = {"alice": {"token": "s3cret"}, "*": _route(1)}
    rig = _rig(tmp_path, table)
    try:
        good = rig.caller("alice", 1, 10, _register_scenario(tmp_path, "s3cret", 200), "reg")
        assert finish(good, 20) == 0, rig.logs()
        bad = rig.caller("alice", 1, 10, _register_scenario(tmp_path, "wrong", 403), "bad")
        assert finish(bad, 20) == 0, rig.logs()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(3)
            assert _ask(rig.port, "OPTIONS", "alice", sock).startswith(
                "SIP/2.0 200 lookup 1 sip:alice@127.0.0.1:"
            )
            assert (
                _ask(rig.port, "OPTIONS", "bob", sock)
                == "SIP/2.0 200 lookup -1 sip:bob@example.com"
            )
        assert rig.stats()["auth"] == 2
    finally:
        assert rig.stop() == 0, rig.logs()
    _clean(rig)


def test_rtjson_rewrites_from_and_to_of_the_branch(tmp_path: Path) -> None:
    uas = MiniUas()
    headers = {"from": {"display": 'Alice "A"', "uri": "sip:alice@a.example"},
               "to": {"display": "", "uri": "sip:+15551234@b.example;user=phone"}}  # fmt: skip
    table = {"*": _route(uas.port, headers=headers)}
    rig = _rig(tmp_path, table)
    try:
        assert finish(rig.caller("rewrite", 3, 10), 30) == 0, rig.logs()
        seen = uas.invite_headers()
        assert len(seen) == 3
        for h in seen:
            assert h["from"].startswith('"Alice \\"A\\"" <sip:alice@a.example>;tag='), h["from"]
            assert h["to"] == "<sip:+15551234@b.example;user=phone>", h["to"]
            assert "SIPpTag01" in h["from"]  # the caller's tag is kept
    finally:
        uas.close()
        assert rig.stop() == 0, rig.logs()
    _clean(rig)


# -- rtjson From/To for the whole dialog: sipp caller and callee check every header ------------
def _check(header: str, pattern: str, var: str) -> str:
    """A sipp action failing the call unless ``header``'s value matches ``pattern`` (ERE)."""
    return (f'<ereg regexp="{escape(pattern, {chr(34): "&quot;"})}" search_in="hdr" '
            f'header="{header}:" check_it="true" assign_to="{var}" />')  # fmt: skip


OK_TO_LAST = """  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

  ]]></send>"""  # a 200 to the request just received


def _both(frm: str, to: str, n: str = "") -> str:
    return f"<action>{_check('From', frm, 'f' + n)}{_check('To', to, 't' + n)}</action>"


def _fromto_caller(tmp: Path, callee_hangs_up: bool) -> str:
    """INVITE "Caller" <sip:sipp@...>, To <sip:fromto@proxy>; the 180/200 must carry these
    back (with the callee's tag); then BYE, or the callee's BYE with From/To swapped."""
    me = r'"Caller" <sip:sipp@127\.0\.0\.1:[0-9]+>;tag=[0-9]+SIPpTag01[0-9]+'
    callee = r"<sip:fromto@127\.0\.0\.1:[0-9]+>;tag=[0-9]+SIPpTag02[0-9]+"
    frm = '"Caller" <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]'
    to = "<sip:[service]@[remote_ip]:[remote_port]>"
    head = f"""Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: {frm}
      To: {to}"""
    hangup = f"""<recv request="BYE">{_both(callee, me, "3")}</recv>
{OK_TO_LAST}""" if callee_hangs_up else f"""<send retrans="500"><![CDATA[
      BYE [next_url] SIP/2.0
      [routes]
      {head}[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <recv response="200">{_both(me, callee, "4")}</recv>"""  # fmt: skip
    refs = ",f3,t3" if callee_hangs_up else ",f4,t4"  # the BYE's 200 restored too
    path = tmp / f"fromto_uac_{int(callee_hangs_up)}.xml"
    path.write_text(f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="rtjson from/to caller">
  <send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      {head}
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <recv response="100" optional="true" />
  <recv response="180">{_both(me, callee, "1")}</recv>
  <recv response="200" rrs="true">{_both(me, callee, "2")}</recv>
  <send><![CDATA[
      ACK [next_url] SIP/2.0
      [routes]
      {head}[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  {hangup}
  <Reference variables="f1,t1,f2,t2{refs}" />
</scenario>
""")
    return str(path)


def _fromto_callee(tmp: Path, callee_hangs_up: bool) -> str:
    """Sees the rewritten From/To on INVITE, ACK and the caller's BYE; its own BYE goes with
    From/To as it knows them (To and From of the INVITE swapped)."""
    # [\\] is a backslash in a bracket expression, however sipp reads backslashes
    caller = r'"Alice [\\]"A[\\]"" <sip:alice@a\.example>;tag=[0-9]+SIPpTag01[0-9]+'
    me = r"<sip:\+15551234@b\.example;user=phone>"
    me_tagged = me + ";tag=[0-9]+SIPpTag02[0-9]+"
    reply = """[last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag02[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port]>
      Content-Length: 0"""
    invite_check = (f"<action>{_check('From', caller, 'f1')}"
                    f'{_check("To", me + "$", "t1")}'
                    '<ereg regexp=".*" search_in="hdr" header="From:" assign_to="from" />'
                    '<ereg regexp=".*" search_in="hdr" header="To:" assign_to="to" />'
                    "</action>")  # fmt: skip
    hangup = """<send retrans="500"><![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: [$to];tag=[pid]SIPpTag02[call_number]
      To: [$from]
      Call-ID: [call_id]
      CSeq: 1 BYE
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <recv response="200" />""" if callee_hangs_up else f"""<recv request="BYE">{_both(caller, me_tagged, "3")}</recv>
{OK_TO_LAST}"""  # fmt: skip
    refs = "" if callee_hangs_up else ",f3,t3"
    path = tmp / f"fromto_uas_{int(callee_hangs_up)}.xml"
    path.write_text(f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="rtjson from/to callee">
  <recv request="INVITE" rrs="true">{invite_check}</recv>
  <send><![CDATA[
      SIP/2.0 180 Ringing
      {reply}

  ]]></send>
  <send retrans="500"><![CDATA[
      SIP/2.0 200 OK
      {reply}

  ]]></send>
  <recv request="ACK">{_both(caller, me_tagged, "2")}</recv>
  {hangup}
  <pause milliseconds="1000" />
  <Reference variables="from,to,f1,t1,f2,t2{refs}" />
</scenario>
""")
    return str(path)


def test_rtjson_from_to_last_the_whole_dialog(tmp_path: Path) -> None:
    """The callee sees the rewritten From/To (INVITE, ACK, the caller's BYE); the caller's
    180/200 carry its own values; the callee's BYE reaches the caller with them too."""
    callee = free_port()
    headers = {"from": {"display": 'Alice "A"', "uri": "sip:alice@a.example"},
               "to": {"display": "", "uri": "sip:+15551234@b.example;user=phone"}}  # fmt: skip
    rig = _rig(tmp_path, {"*": _route(callee, headers=headers)})
    try:
        for callee_hangs_up in (False, True):
            name = f"fromto{int(callee_hangs_up)}"
            uas = rig.uas(callee, 3, _fromto_callee(tmp_path, callee_hangs_up), name + "-uas")
            uac = rig.caller("fromto", 3, 10, _fromto_caller(tmp_path, callee_hangs_up), name)
            assert finish(uac, 30) == 0, rig.logs()
            assert finish(uas, 30) == 0, rig.logs()
    finally:
        assert rig.stop() == 0, rig.logs()
    _clean(rig)


def test_reload_while_suspended(tmp_path: Path) -> None:
    table = {"*": {**_route(1), "latency_ms": 1500}}
    rig = _rig(tmp_path, table)
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(6)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
            s.settimeout(6)
        old = socks[:3]
        sent = [_send_invite(rig.port, s) for s in old]
        (tmp_path / "script.py").write_text(SCRIPT.replace('VERSION = "one"', 'VERSION = "two"'))
        rig.proxy.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "script reloaded" not in rig.log():
            assert time.monotonic() < deadline, rig.log()
            time.sleep(0.05)
        assert rig.stats()["waiting"] == 3  # the old calls are still suspended
        sent += [_send_invite(rig.port, s) for s in socks[3:]]
        finals = [_final(s) for s in socks]
        assert finals[:3] == ["SIP/2.0 480 version one"] * 3, finals
        assert finals[3:] == ["SIP/2.0 480 version two"] * 3, finals
        assert len(sent) == 6
    finally:
        for s in socks:
            s.close()
        assert rig.stop() == 0, rig.logs()
    _clean(rig)


def _send_invite(port: int, sock: socket.socket) -> str:
    tag = uuid.uuid4().hex
    me = sock.getsockname()[1]
    msg = (f"INVITE sip:version@127.0.0.1:{port} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{tag};rport\r\n"
           f"From: <sip:caller@127.0.0.1>;tag={tag[:8]}\r\nTo: <sip:version@127.0.0.1>\r\n"
           f"Call-ID: {tag}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
           f"Contact: <sip:caller@127.0.0.1:{me}>\r\nContent-Length: 0\r\n\r\n")  # fmt: skip
    sock.sendto(msg.encode(), ("127.0.0.1", port))
    return tag


def _final(sock: socket.socket) -> str:
    while True:
        line = sock.recv(65535).decode(errors="replace").split("\r\n", 1)[0]
        if not line.startswith("SIP/2.0 1"):
            return line
