"""Every transaction kind driven by hand: a moved clock, no sockets (RFC 3261 §17, RFC 6026)."""

from __future__ import annotations

import pytest

from sip import parse
from sip.message import Request, Response, make_response
from sip.timers import TimerConfig
from sip.transaction import (
    AckReceived,
    BadMessage,
    CancelReceived,
    Input,
    Kind,
    Peer,
    RequestReceived,
    ResponseReceived,
    State,
    StrayAck,
    StrayResponse,
    Timeout,
    TimerCFired,
    TransactionLayer,
    TransactionTerminated,
    TransportFailed,
    make_ack,
)  # fmt: skip

UAS = Peer("UDP", "192.0.2.2", 5060)
UAC = Peer("UDP", "192.0.2.1", 5060)
TCP_UAS = Peer("TCP", "192.0.2.2", 5060)
TCP_UAC = Peer("TCP", "192.0.2.1", 40000)


def req(method: str = "INVITE", branch: str = "z9hG4bK-1", *, seq: int = 1, to_tag: str = "",
        host: str = "192.0.2.1", transport: str = "UDP") -> Request:  # fmt: skip
    to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    return Request(method, "sip:bob@example.com", [
        ("Via", f"SIP/2.0/{transport} {host}:5060;branch={branch}"), ("Max-Forwards", "70"),
        ("From", "<sip:alice@example.com>;tag=a1"), ("To", to), ("Call-ID", "call-1"),
        ("CSeq", f"{seq} {method}"), ("Content-Length", "0"),
    ])  # fmt: skip


def resp(request: Request, status: int, tag: str = "b1") -> Response:
    return make_response(request, status, to_tag=tag)


def kinds(events: list[object]) -> list[str]:
    return [type(e).__name__ for e in events]


def send_times(layer: TransactionLayer, until: float, step: float = 0.01) -> list[float]:
    """Move the clock to ``until`` by deadlines; return when something was sent."""
    times = []
    while (d := layer.next_deadline()) is not None and d <= until:
        layer.handle_timers(d)
        if layer.drain():
            times.append(round(d, 6))
    return times


# -- INVITE client --------------------------------------------------------------------------
def test_timer_a_doubles_up_to_t2_then_timer_b_gives_408() -> None:
    layer = TransactionLayer()
    key = layer.send_request(req(), UAS, 0.0)
    assert len(layer.drain()) == 1
    times = send_times(layer, 40.0)
    # intervals 0.5, 1, 2, 4, 4, 4 ... (capped at T2 = 4) until Timer B at 64*T1 = 32 s
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert key not in layer


def test_timer_a_uncapped_is_strict_rfc_and_b_reports_408() -> None:
    layer = TransactionLayer(TimerConfig(timer_a_cap=None))
    key = layer.send_request(req(), UAS, 0.0)
    layer.drain()
    assert send_times(layer, 31.9) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    events = layer.handle_timers(32.0)
    assert kinds(events) == ["Timeout", "TransactionTerminated"]
    timeout = events[0]
    assert isinstance(timeout, Timeout) and timeout.timer == "B" and timeout.tx == key
    assert timeout.response is not None and timeout.response.status == 408
    assert layer.next_deadline() is None and len(layer) == 0


def test_invite_client_non2xx_sends_ack_and_absorbs_retransmissions() -> None:
    layer = TransactionLayer()
    invite = req()
    key = layer.send_request(invite, UAS, 0.0)
    layer.drain()
    ev = layer.receive(resp(invite, 180), UAS, 0.1)
    assert kinds(ev) == ["ResponseReceived"] and layer.get(key).state is State.PROCEEDING  # type: ignore[union-attr]
    assert send_times(layer, 10.0) == []  # no retransmission once proceeding
    busy = resp(invite, 486)
    ev = layer.receive(busy, UAS, 10.0)
    assert kinds(ev) == ["ResponseReceived"]
    (ack,) = layer.drain()
    a = ack.message
    assert isinstance(a, Request) and a.method == "ACK" and a.branch == "z9hG4bK-1"
    assert a.to_tag == "b1" and a.cseq == (1, "ACK") and a.uri_text == invite.uri_text
    assert layer.receive(parse(bytes(busy)), UAS, 11.0) == []  # absorbed ...
    assert [o.data for o in layer.drain()] == [ack.data]  # ... and the ACK is resent
    assert layer.receive(resp(invite, 180), UAS, 11.5) == []
    assert kinds(layer.handle_timers(10.0 + 32.0)) == ["TransactionTerminated"]  # Timer D


def test_rfc6026_invite_client_accepted_passes_2xx_retransmissions() -> None:
    layer = TransactionLayer()
    invite = req()
    key = layer.send_request(invite, UAS, 0.0)
    ok = resp(invite, 200)
    assert kinds(layer.receive(ok, UAS, 0.2)) == ["ResponseReceived"]
    assert layer.get(key).state is State.ACCEPTED  # type: ignore[union-attr]
    layer.drain()
    assert kinds(layer.receive(ok, UAS, 1.0)) == ["ResponseReceived"]  # the core re-ACKs
    assert layer.drain() == []  # the transaction itself never ACKs a 2xx
    assert kinds(layer.handle_timers(0.2 + 32.0)) == ["TransactionTerminated"]  # Timer M
    assert kinds(layer.receive(ok, UAS, 40.0)) == ["StrayResponse"]


def test_timer_c_fires_after_provisional_then_cancel_grace() -> None:
    layer = TransactionLayer(TimerConfig(timer_c=60.0))
    invite = req()
    key = layer.send_request(invite, UAS, 0.0)
    layer.receive(resp(invite, 180), UAS, 1.0)
    layer.receive(resp(invite, 183), UAS, 30.0)  # resets Timer C
    assert layer.handle_timers(61.0) == []
    ev = layer.handle_timers(90.0)
    assert ev == [TimerCFired(key)]
    ev = layer.handle_timers(90.0 + 32.0)
    assert kinds(ev) == ["Timeout", "TransactionTerminated"]
    assert isinstance(ev[0], Timeout) and ev[0].timer == "B"


def test_timer_c_without_provisional_is_a_408() -> None:
    layer = TransactionLayer(TimerConfig(t1=10.0, timer_c=60.0))  # Timer B (640 s) after C
    layer.send_request(req(), UAS, 0.0)
    ev = [e for e in layer.handle_timers(60.0) if isinstance(e, Timeout)]
    assert ev and ev[0].timer == "C" and ev[0].response is not None and ev[0].response.status == 408


# -- non-INVITE client --------------------------------------------------------------------
def test_timer_e_doubles_to_t2_and_f_times_out() -> None:
    layer = TransactionLayer()
    key = layer.send_request(req("OPTIONS"), UAS, 0.0)
    layer.drain()
    assert send_times(layer, 31.9) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    ev = layer.handle_timers(32.0)
    assert isinstance(ev[0], Timeout) and ev[0].timer == "F" and ev[0].tx == key
    assert ev[0].response is not None and ev[0].response.status == 408


def test_non_invite_client_proceeding_retransmits_every_t2() -> None:
    layer = TransactionLayer()
    options = req("OPTIONS")
    layer.send_request(options, UAS, 0.0)
    layer.drain()
    layer.receive(resp(options, 100), UAS, 0.2)
    assert send_times(layer, 10.0) == [0.5, 4.5, 8.5]
    ev = layer.receive(resp(options, 200), UAS, 9.0)
    assert kinds(ev) == ["ResponseReceived"]
    assert layer.receive(resp(options, 200), UAS, 9.5) == []  # absorbed in Completed
    assert kinds(layer.handle_timers(9.0 + 5.0)) == ["TransactionTerminated"]  # Timer K = T4


# -- INVITE server --------------------------------------------------------------------------
def test_invite_server_absorbs_retransmission_and_resends_last_response() -> None:
    layer = TransactionLayer()
    invite = req()
    ev = layer.receive(invite, UAC, 0.0)
    assert isinstance(ev[0], RequestReceived)
    key = ev[0].tx
    assert layer.receive(parse(bytes(invite)), UAC, 0.1) == [] and layer.drain() == []
    layer.send_response(resp(invite, 180), 0.2, key)
    assert len(layer.drain()) == 1
    assert layer.receive(parse(bytes(invite)), UAC, 0.5) == []
    (again,) = layer.drain()
    assert isinstance(again.message, Response) and again.message.status == 180
    assert again.target == UAC


def test_invite_server_non2xx_timer_g_h() -> None:
    layer = TransactionLayer()
    invite = req()
    key = layer.receive(invite, UAC, 0.0)[0].tx  # type: ignore[attr-defined]
    layer.send_response(resp(invite, 486), 0.0, key)
    layer.drain()
    assert send_times(layer, 31.9) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    ev = layer.handle_timers(32.0)
    assert kinds(ev) == ["Timeout", "TransactionTerminated"]
    assert isinstance(ev[0], Timeout) and ev[0].timer == "H" and ev[0].response is None


def test_invite_server_ack_confirms_then_timer_i() -> None:
    layer = TransactionLayer()
    invite = req()
    key = layer.receive(invite, UAC, 0.0)[0].tx  # type: ignore[attr-defined]
    busy = resp(invite, 486)
    layer.send_response(busy, 0.0, key)
    ack = make_ack(invite, busy)
    assert layer.receive(ack, UAC, 0.3) == []  # absorbed, not reported
    assert layer.get(key).state is State.CONFIRMED  # type: ignore[union-attr]
    layer.drain()
    assert layer.receive(ack, UAC, 0.4) == [] and layer.receive(invite, UAC, 0.5) == []
    assert layer.drain() == []
    assert send_times(layer, 5.4) == []
    assert key not in layer  # Timer I = T4 = 5 s after the ACK


def test_rfc6026_invite_server_accepted() -> None:
    layer = TransactionLayer()
    invite = req()
    key = layer.receive(invite, UAC, 0.0)[0].tx  # type: ignore[attr-defined]
    ok = resp(invite, 200)
    layer.send_response(ok, 0.1, key)
    assert layer.get(key).state is State.ACCEPTED  # type: ignore[union-attr]
    layer.drain()
    assert layer.receive(invite, UAC, 0.3) == [] and layer.drain() == []  # INVITE absorbed
    layer.send_response(ok, 0.6, key)  # the core retransmits its 2xx (§13.3.1.4)
    assert len(layer.drain()) == 1
    ack_same_branch = req("ACK", to_tag="b1")
    ev = layer.receive(ack_same_branch, UAC, 0.7)
    assert kinds(ev) == ["AckReceived"]
    ack_new_branch = req("ACK", "z9hG4bK-ack", to_tag="b1")
    assert kinds(layer.receive(ack_new_branch, UAC, 0.8)) == ["StrayAck"]
    assert kinds(layer.handle_timers(0.1 + 32.0)) == ["TransactionTerminated"]  # Timer L


# -- non-INVITE server ------------------------------------------------------------------------
def test_non_invite_server_trying_proceeding_completed() -> None:
    layer = TransactionLayer()
    bye = req("BYE", to_tag="b1")
    key = layer.receive(bye, UAC, 0.0)[0].tx  # type: ignore[attr-defined]
    assert layer.receive(bye, UAC, 0.5) == [] and layer.drain() == []  # Trying: absorbed
    layer.send_response(resp(bye, 100), 0.6, key)
    layer.receive(bye, UAC, 1.0)
    assert [o.message.status for o in layer.drain()] == [100, 100]  # type: ignore[attr-defined]
    layer.send_response(resp(bye, 200), 1.1, key)
    layer.receive(bye, UAC, 2.0)
    assert [o.message.status for o in layer.drain()] == [200, 200]  # type: ignore[attr-defined]
    assert kinds(layer.handle_timers(1.1 + 32.0)) == ["TransactionTerminated"]  # Timer J


# -- CANCEL -----------------------------------------------------------------------------------
def test_cancel_while_proceeding_and_after_final() -> None:
    layer = TransactionLayer()
    invite = req()
    ikey = layer.receive(invite, UAC, 0.0)[0].tx  # type: ignore[attr-defined]
    cancel = req("CANCEL")
    ev = layer.receive(cancel, UAC, 1.0)
    assert isinstance(ev[0], CancelReceived)
    assert ev[0].invite == ikey and ev[0].invite_state is State.PROCEEDING
    layer.send_response(resp(cancel, 200), 1.0, ev[0].tx)
    layer.send_response(resp(invite, 487), 1.0, ikey)
    ev2 = layer.receive(req("CANCEL", seq=1, branch="z9hG4bK-1x"), UAC, 1.5)
    assert isinstance(ev2[0], CancelReceived) and ev2[0].invite is None  # no match: 481
    layer2 = TransactionLayer()
    key2 = layer2.receive(invite, UAC, 0.0)[0].tx  # type: ignore[attr-defined]
    layer2.send_response(resp(invite, 200), 0.1, key2)
    ev3 = layer2.receive(cancel, UAC, 0.2)
    assert isinstance(ev3[0], CancelReceived) and ev3[0].invite_state is State.ACCEPTED


def test_client_cancel_waits_for_provisional() -> None:
    layer = TransactionLayer()
    invite = req()
    key = layer.send_request(invite, UAS, 0.0)
    layer.drain()
    ckey = layer.cancel(key, 0.1)
    assert ckey is not None and ckey.method == "CANCEL" and layer.drain() == []
    layer.receive(resp(invite, 180), UAS, 0.3)
    (out,) = layer.drain()
    assert isinstance(out.message, Request) and out.message.method == "CANCEL"
    assert out.message.branch == invite.branch and out.message.cseq == (1, "CANCEL")
    assert ckey in layer
    layer.receive(resp(invite, 487), UAS, 0.4)
    assert layer.cancel(key, 0.5) is None  # after the final response: nothing to cancel


# -- RFC 2543 fallback matching --------------------------------------------------------------
def test_rfc2543_matching_without_magic_cookie() -> None:
    layer = TransactionLayer()
    invite = req(branch="old-1")
    key = layer.receive(invite, UAC, 0.0)[0].tx  # type: ignore[attr-defined]
    assert key.branch.startswith("2543:")
    assert layer.receive(parse(bytes(invite)), UAC, 0.1) == []  # retransmission matched
    busy = resp(invite, 486, tag="zz")
    layer.send_response(busy, 0.2, key)
    assert layer.receive(make_ack(invite, busy), UAC, 0.3) == []  # ACK (To tag zz) absorbed
    assert layer.get(key).state is State.CONFIRMED  # type: ignore[union-attr]
    other = req(branch="old-1", seq=2)
    assert isinstance(layer.receive(other, UAC, 0.4)[0], RequestReceived)  # CSeq differs


# -- reliable transports -----------------------------------------------------------------------
def test_reliable_client_never_retransmits_and_ends_at_once() -> None:
    layer = TransactionLayer()
    invite = req(transport="TCP")
    key = layer.send_request(invite, TCP_UAS, 0.0)
    layer.drain()
    assert send_times(layer, 31.0) == []
    ev = layer.receive(resp(invite, 404), TCP_UAS, 1.0)
    assert kinds(ev) == ["ResponseReceived", "TransactionTerminated"]  # Timer D = 0
    assert len(layer.drain()) == 1 and key not in layer  # the ACK
    options = req("OPTIONS", "z9hG4bK-2", transport="TCP")
    layer.send_request(options, TCP_UAS, 2.0)
    assert kinds(layer.receive(resp(options, 200), TCP_UAS, 3.0))[-1] == "TransactionTerminated"


def test_reliable_server_timers() -> None:
    layer = TransactionLayer()
    invite = req(transport="TCP")
    key = layer.receive(invite, TCP_UAC, 0.0)[0].tx  # type: ignore[attr-defined]
    busy = resp(invite, 500)
    layer.send_response(busy, 0.0, key)
    assert layer.drain()[0].target == TCP_UAC
    assert send_times(layer, 31.0) == []  # no Timer G
    assert kinds(layer.receive(make_ack(invite, busy), TCP_UAC, 1.0)) == ["TransactionTerminated"]
    bye = req("BYE", "z9hG4bK-3", transport="TCP")
    bkey = layer.receive(bye, TCP_UAC, 2.0)[0].tx  # type: ignore[attr-defined]
    assert kinds(layer.send_response(resp(bye, 200), 2.0, bkey)) == ["TransactionTerminated"]


def test_reliable_timer_h_still_runs() -> None:
    layer = TransactionLayer()
    invite = req(transport="TCP")
    key = layer.receive(invite, TCP_UAC, 0.0)[0].tx  # type: ignore[attr-defined]
    layer.send_response(resp(invite, 480), 0.0, key)
    ev = layer.handle_timers(32.0)
    assert isinstance(ev[0], Timeout) and ev[0].timer == "H"


# -- errors and strays ---------------------------------------------------------------------------
def test_stray_response_ack_and_bad_message() -> None:
    layer = TransactionLayer()
    r = resp(req(), 200)
    assert layer.receive(r, UAS, 0.0) == [StrayResponse(r, UAS)]
    a = req("ACK", to_tag="x")
    assert layer.receive(a, UAC, 0.0) == [StrayAck(a, UAC)]
    bad = parse(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n")
    (ev,) = layer.receive(bad, UAC, 0.0)
    assert isinstance(ev, BadMessage) and ev.error.status == 400
    assert len(layer) == 0


def test_pair_outside_the_table_terminates_without_raising() -> None:
    layer = TransactionLayer()
    key = layer.send_request(req("OPTIONS"), UAS, 0.0)
    tx = layer.get(key)
    assert tx is not None and tx.kind is Kind.NICT
    tx.fire(Input.TIMER_G, 1.0)  # Timer G means nothing to a client
    (ev,) = layer.handle_timers(1.0)  # returns the events queued meanwhile
    assert isinstance(ev, TransactionTerminated) and ev.reason.startswith("error")
    assert key not in layer and layer.stats["errors"] == 1


def test_transport_error_reports_503() -> None:
    layer = TransactionLayer()
    key = layer.send_request(req(), UAS, 0.0)
    ev = layer.transport_error(key, 0.1)
    assert isinstance(ev[0], TransportFailed) and ev[0].response is not None
    assert ev[0].response.status == 503 and kinds(ev)[1] == "TransactionTerminated"


def test_send_request_misuse_raises_local_error() -> None:
    from sip import LocalProtocolError

    layer = TransactionLayer()
    with pytest.raises(LocalProtocolError):
        layer.send_request(req("ACK"), UAS, 0.0)
    layer.send_request(req(), UAS, 0.0)
    with pytest.raises(LocalProtocolError):
        layer.send_request(req(), UAS, 0.0)


def test_response_received_event_carries_source() -> None:
    layer = TransactionLayer()
    invite = req()
    key = layer.send_request(invite, UAS, 0.0)
    (ev,) = layer.receive(resp(invite, 100), UAS, 0.1)
    assert ev == ResponseReceived(key, ev.response, UAS)  # type: ignore[attr-defined]
    _ = AckReceived  # re-exported
