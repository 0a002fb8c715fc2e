"""A UAC and a UAS transaction layer wired in memory (tests/sip/net.py) exchange
INVITE/ACK/BYE and non-INVITE requests over a lossy, duplicating wire (seeded)."""

from __future__ import annotations

import pytest

from sip.message import Request, Response, make_response
from sip.proxy import new_branch, via_value
from sip.transaction import (
    AckReceived,
    Event,
    RequestReceived,
    ResponseReceived,
    StrayAck,
    StrayResponse,
    Timeout,
)  # fmt: skip

from .net import Net, Node, is_req, is_resp

T1, T2 = 0.5, 4.0


def schedule(start: float, stop: float, cap: float | None = T2) -> list[float]:
    """Send times of a request retransmitted by Timer A/E from ``start`` until ``stop``."""
    times, t, interval = [], start, T1
    while t < stop and t < start + 64 * T1:
        times.append(round(t, 6))
        t += interval
        interval = min(2 * interval, cap) if cap else 2 * interval
    return times


class Uas:
    """A UAS core: 180 + 200 to INVITE (retransmitting the 2xx until ACKed, §13.3.1.4),
    200 to anything else."""

    def __init__(self, node: Node) -> None:
        self.node, self.acked, self.ok_sends = node, False, 0
        node.on_event = self.on_event

    def on_event(self, node: Node, ev: Event) -> None:
        if isinstance(ev, RequestReceived):
            if ev.request.method == "INVITE":
                node.send_response(make_response(ev.request, 180, to_tag="uas"), ev.tx)
                self.resend_ok(ev.request, ev.tx, node.now, T1)
            else:
                node.send_response(make_response(ev.request, 200, to_tag="uas"), ev.tx)
        elif isinstance(ev, StrayAck | AckReceived):
            self.acked = True

    def resend_ok(self, invite: Request, tx: object, start: float, interval: float) -> None:
        if self.acked or self.node.now - start >= 64 * T1:
            return
        self.ok_sends += 1
        self.node.send_response(make_response(invite, 200, to_tag="uas"), tx)
        nxt = self.node.now + interval
        self.node.net.call_at(nxt, lambda: self.resend_ok(invite, tx, start, min(2 * interval, T2)))


class Uac:
    """A UAC core: ACKs every 2xx to its INVITE (the same ACK, §13.2.2.4), then BYE."""

    def __init__(self, node: Node, uas: Node) -> None:
        self.node, self.uas = node, uas
        self.ack: Request | None = None
        self.bye_key: object = None
        self.results: dict[str, int] = {}
        node.on_event = self.on_event

    def on_event(self, node: Node, ev: Event) -> None:
        if isinstance(ev, ResponseReceived | StrayResponse):
            self.on_response(ev.response)

    def on_response(self, r: Response) -> None:
        method = r.cseq.method if r.cseq else ""
        if r.status >= 200:
            self.results.setdefault(method, r.status)
        if method != "INVITE" or not 200 <= r.status < 300:
            return
        if self.ack is None:
            self.ack = self.node.request("ACK", self.uas)
            self.ack.replace("To", r.get("to") or "")
        self.node.send_stateless(self.ack, self.uas.peer)
        if self.bye_key is None:
            bye = self.node.request("BYE", self.uas, seq=2)
            bye.replace("To", r.get("to") or "")
            self.bye_key = self.node.send_request(bye, self.uas)


def invite_call(seed: int, loss: float) -> tuple[Net, Uac, Uas]:
    net = Net(seed=seed, loss=loss)
    a, b = net.node("10.0.0.1"), net.node("10.0.0.2")
    uac, uas = Uac(a, b), Uas(b)
    a.send_request(a.request("INVITE", b), b)
    net.run()
    return net, uac, uas


def first_response_time(node: Node, method: str) -> float:
    return min(t for t, ev in node.events if isinstance(ev, ResponseReceived)
               and ev.response.cseq is not None and ev.response.cseq.method == method)  # fmt: skip


@pytest.mark.parametrize("seed", range(8))
def test_invite_ack_bye_under_30_percent_loss(seed: int) -> None:
    net, uac, uas = invite_call(seed, 0.30)
    a, b = uac.node, uas.node
    assert uac.results == {"INVITE": 200, "BYE": 200}
    assert uas.acked
    assert len(a.layer) == 0 and len(b.layer) == 0  # every transaction ended
    assert a.layer.next_deadline() is None and b.layer.next_deadline() is None
    # the INVITE went out on Timer A's schedule until the first response came back
    invites = [round(w.time, 6) for w in net.sent(a, is_req("INVITE"))]
    assert invites == schedule(0.0, first_response_time(a, "INVITE"))
    byes = net.sent(a, is_req("BYE"))
    assert [round(w.time, 6) for w in byes] == schedule(byes[0].time, first_response_time(a, "BYE"))
    # the UAS answered every BYE copy that reached it: once, then once per retransmission
    delivered = sum(not w.dropped for w in byes)
    assert len(net.sent(b, is_resp(200, method="BYE"))) == delivered
    assert len(net.sent(b, is_resp(180))) == 1  # INVITE retransmissions absorbed in Accepted
    assert len(net.sent(b, is_resp(200, method="INVITE"))) == uas.ok_sends


def test_invite_exchange_without_loss_has_no_retransmission() -> None:
    net, uac, uas = invite_call(0, 0.0)
    assert uac.results == {"INVITE": 200, "BYE": 200}
    assert len(net.sent(uac.node, is_req("INVITE"))) == 1
    assert len(net.sent(uas.node, is_resp(200, method="INVITE"))) == 1
    assert uac.node.layer.stats["retransmissions"] == 0


@pytest.mark.parametrize("seed", range(4))
def test_non_invite_exchanges_under_30_percent_loss(seed: int) -> None:
    net = Net(seed=100 + seed, loss=0.30)
    a, b = net.node("10.0.0.1"), net.node("10.0.0.2")
    Uas(b)
    keys = []
    for i in range(10):
        req = a.request("OPTIONS", b, call_id=f"o{i}", seq=i + 1)
        keys.append(a.send_request(req, b))
        net.run()
    finals = [ev for _, ev in a.events if isinstance(ev, ResponseReceived)]
    assert len(finals) == 10 and not a.of(Timeout)
    assert len(a.layer) == 0 and len(b.layer) == 0
    for i in range(10):
        sent = [w for w in net.sent(a, is_req("OPTIONS")) if w.message.call_id == f"o{i}"]
        got = min(t for t, ev in a.events if isinstance(ev, ResponseReceived)
                  and ev.response.call_id == f"o{i}")  # fmt: skip
        assert [round(w.time, 6) for w in sent] == schedule(sent[0].time, got)
        answers = [w for w in net.sent(b, is_resp(200)) if w.message.call_id == f"o{i}"]
        assert len(answers) == sum(not w.dropped for w in sent)


def test_duplicated_datagrams_are_absorbed() -> None:
    net = Net(seed=7, dup=0.6)
    a, b = net.node("10.0.0.1"), net.node("10.0.0.2")
    Uas(b)
    for i in range(5):
        a.send_request(a.request("MESSAGE", b, call_id=f"m{i}"), b)
    net.run()
    assert len(b.of(RequestReceived)) == 5
    assert len(a.of(ResponseReceived)) == 5  # duplicate 200s absorbed in Completed


def test_total_loss_of_the_uas_gives_timeouts() -> None:
    net = Net()
    a, b = net.node("10.0.0.1"), net.node("10.0.0.2")
    net.drop = lambda msg, src, dst: dst == b.peer
    a.send_request(a.request("INVITE", b), b)
    a.send_request(a.request("OPTIONS", b, call_id="o"), b)
    net.run()
    timers = sorted(ev.timer for ev in a.of(Timeout))  # type: ignore[attr-defined]
    assert timers == ["B", "F"]
    assert len(net.sent(a, is_req("INVITE"))) == 11 and len(net.sent(a, is_req("OPTIONS"))) == 11


def test_drop_hook_loses_the_ack_and_the_2xx_is_retransmitted() -> None:
    net = Net()
    a, b = net.node("10.0.0.1"), net.node("10.0.0.2")
    _uac, uas = Uac(a, b), Uas(b)
    dropped: list[int] = []

    def drop_first_ack(msg: object, src: object, dst: object) -> bool:
        if isinstance(msg, Request) and msg.method == "ACK" and not dropped:
            dropped.append(1)
            return True
        return False

    net.drop = drop_first_ack
    a.send_request(a.request("INVITE", b), b)
    net.run()
    assert uas.acked and uas.ok_sends == 2
    assert len(net.sent(a, is_req("ACK"))) == 2
    assert via_value("UDP", "h", 1, new_branch()).startswith("SIP/2.0/UDP h:1;branch=z9hG4bK")
