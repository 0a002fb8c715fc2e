"""Properties of the transaction state machines (Hypothesis): over every state × input and
over random input sequences, nothing raises, the state stays valid, and every transaction
terminates once time runs past its longest timer."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sip.message import Message, Response, make_response
from sip.timers import TimerConfig
from sip.transaction import Input, Kind, Peer, State, Transaction, TransactionLayer, TxKey
from sip.transaction_tables import TABLES

from .test_transaction import req

UAS = Peer("UDP", "192.0.2.2", 5060)
UAC = Peer("UDP", "192.0.2.1", 5060)
CONFIG = TimerConfig()
#: the longest a transaction can live after its last input: the server guard
LONGEST = max(CONFIG.server_guard, CONFIG.timer_c + CONFIG.timeout, CONFIG.timer_d) + 1


def make(kind: Kind, transport: str = "UDP") -> tuple[TransactionLayer, Transaction]:
    layer = TransactionLayer(CONFIG)
    method = "INVITE" if kind in (Kind.ICT, Kind.IST) else "OPTIONS"
    request = req(method, transport=transport)
    peer = UAS._replace(transport=transport)
    if kind in (Kind.ICT, Kind.NICT):
        key = layer.send_request(request, peer, 0.0)
    else:
        ev = layer.receive(request, peer, 0.0)
        key = ev[0].tx  # type: ignore[attr-defined]
    tx = layer.get(key)
    assert tx is not None and tx.kind is kind
    return layer, tx


def message_for(tx: Transaction, inp: Input) -> Message | None:
    status = {Input.RECV_1XX: 180, Input.RECV_2XX: 200, Input.RECV_FINAL: 486,
              Input.SEND_1XX: 180, Input.SEND_2XX: 200, Input.SEND_FINAL: 486}.get(inp)  # fmt: skip
    if status is not None:
        return make_response(tx.request, status, to_tag="t")
    if inp is Input.RECV_ACK:
        return req("ACK", to_tag="t")
    if inp is Input.RECV_REQUEST:
        return tx.request
    return None


def run_out(layer: TransactionLayer, start: float) -> float:
    """Fire deadlines until none is left (bounded); returns the last time."""
    now = start
    for _ in range(10_000):
        deadline = layer.next_deadline()
        if deadline is None:
            break
        now = deadline
        layer.handle_timers(now)
    return now


def check_ends(layer: TransactionLayer, tx: Transaction, start: float) -> None:
    end = run_out(layer, start)
    assert tx.state is State.TERMINATED and len(layer) == 0
    assert end <= start + LONGEST


STATES = [s for s in State if s is not State.TERMINATED]


@pytest.mark.parametrize("kind", list(Kind))
def test_every_state_times_every_input(kind: Kind) -> None:
    """Force each state, feed each input (in the table or not): valid state, no exception,
    and the transaction still ends by the clock alone."""
    valid_states = {s for s, _ in TABLES[kind]} | {State.TERMINATED}
    for state, inp, transport in itertools.product(STATES, Input, ("UDP", "TCP")):
        if state not in valid_states:
            continue
        layer, tx = make(kind, transport)
        tx._enter(state, 1.0, "forced")
        tx.fire(inp, 2.0, message_for(tx, inp), UAS)
        assert tx.state in valid_states
        if (state, inp) not in TABLES[kind]:
            assert tx.state is State.TERMINATED and tx.key not in layer
        check_ends(layer, tx, 2.0)


def test_table_states_are_consistent() -> None:
    for _kind, table in TABLES.items():
        for (state, _), (ops, nxt) in table.items():
            assert state is not State.TERMINATED and isinstance(ops, tuple)
            assert nxt is State.TERMINATED or any(s is nxt for s, _ in table)


STEP = st.tuples(st.sampled_from(list(Input)), st.floats(0, 40), st.booleans())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(list(Kind)), transport=st.sampled_from(["UDP", "TCP"]),
       steps=st.lists(STEP, max_size=25))  # fmt: skip
def test_random_input_sequences(
    kind: Kind, transport: str, steps: list[tuple[Input, float, bool]]
) -> None:
    layer, tx = make(kind, transport)
    now = 0.0
    for inp, dt, through_layer in steps:
        now += dt
        layer.handle_timers(now)
        msg = message_for(tx, inp)
        if through_layer and msg is not None:
            feed(layer, tx.key, inp, msg, now)
        else:
            tx.fire(inp, now, msg, UAS)
        layer.drain()
        assert tx.state in State
        assert (tx.state is State.TERMINATED) == (layer.get(tx.key) is not tx)
    check_ends(layer, tx, now)


def feed(layer: TransactionLayer, key: TxKey, inp: Input, msg: Message, now: float) -> None:
    """Deliver ``msg`` the way the core or the network would."""
    if inp.name.startswith("SEND_") and isinstance(msg, Response):
        if key.side == "s":
            layer.send_response(msg, now, key)
    else:
        layer.receive(msg, UAC if key.side == "s" else UAS, now)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list(Input)), max_size=30), st.data())
def test_layer_never_raises_on_arbitrary_traffic(inputs: list[Input], data: st.DataObject) -> None:
    """Both sides of a layer at once, messages from any transaction: no exceptions."""
    layer = TransactionLayer(CONFIG)
    txs = [make_in(layer, kind) for kind in Kind]
    now = 0.0
    for inp in inputs:
        tx = data.draw(st.sampled_from(txs))
        now += data.draw(st.floats(0, 5))
        msg = message_for(tx, inp)
        if msg is not None:
            feed(layer, tx.key, inp, msg, now)
        else:
            layer.handle_timers(now)
    run_out(layer, now)
    assert len(layer) == 0


def make_in(layer: TransactionLayer, kind: Kind) -> Transaction:
    branch = f"z9hG4bK-{kind.name}"
    method = "INVITE" if kind in (Kind.ICT, Kind.IST) else "OPTIONS"
    request = req(method, branch)
    if kind in (Kind.ICT, Kind.NICT):
        key = layer.send_request(request, UAS, 0.0)
    else:
        key = layer.receive(request, UAC, 0.0)[0].tx  # type: ignore[attr-defined]
    tx = layer.get(key)
    assert tx is not None
    return tx
