"""The four transaction state machines as lookup tables (RFC 3261 §17.1.1, §17.1.2, §17.2.1,
§17.2.2, with the Accepted state of RFC 6026 §7.1/§7.2 and Timer C of RFC 3261 §16.8).

Each table maps ``(state, input)`` to ``(ops, next state)``: ``ops`` is the tuple of
primitive operations the transaction performs, in order, before it moves on. A pair that
is not in a table is a protocol error: the transaction reports it and terminates (see
:meth:`sip.transaction.Transaction.fire`). Benign late inputs (a 1xx after the final
response, an INVITE retransmission in Confirmed, ...) are listed explicitly with no ops.

On entering a new state the transaction drops the timers that do not survive the change
(:data:`KEEP`) and arms the state's own timers (:data:`ENTRY`).
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "Kind", "State", "Input", "Op", "Row", "TABLES", "ENTRY", "KEEP", "TIMER_INPUTS",
]  # fmt: skip


class Kind(Enum):
    __hash__ = object.__hash__  # C-level identity hash: table look-ups are hot

    ICT = "INVITE client"
    NICT = "non-INVITE client"
    IST = "INVITE server"
    NIST = "non-INVITE server"


class State(Enum):
    __hash__ = object.__hash__  # C-level identity hash: table look-ups are hot

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


class Input(Enum):
    __hash__ = object.__hash__  # C-level identity hash: table look-ups are hot

    RECV_1XX = "1xx received"
    RECV_2XX = "2xx received"
    RECV_FINAL = "300-699 received"
    RECV_REQUEST = "request retransmission"
    RECV_ACK = "ACK received"
    SEND_1XX = "TU sends 1xx"
    SEND_2XX = "TU sends 2xx"
    SEND_FINAL = "TU sends 300-699"
    TRANSPORT_ERROR = "transport error"
    TIMER_A = "A"
    TIMER_B = "B"
    TIMER_C = "C"
    TIMER_D = "D"
    TIMER_E = "E"
    TIMER_F = "F"
    TIMER_G = "G"
    TIMER_H = "H"
    TIMER_I = "I"
    TIMER_J = "J"
    TIMER_K = "K"
    TIMER_L = "L"
    TIMER_M = "M"
    TIMER_TU = "TU"


#: timer name → its input
TIMER_INPUTS = {i.value: i for i in Input if i.name.startswith("TIMER_")}


class Op(Enum):
    __hash__ = object.__hash__  # C-level identity hash: table look-ups are hot

    REPORT = "pass the message to the TU"
    SEND_ACK = "build and send the ACK for a non-2xx final response"
    RESEND_ACK = "send the ACK again"
    RETRANSMIT = "retransmit the request and double the interval (Timers A, E)"
    SEND = "send the TU's response and keep it"
    RESEND = "send the last response again, if any"
    RETRANSMIT_RESPONSE = "resend the final response and double the interval (Timer G)"
    RESET_C = "restart Timer C (a provisional response arrived)"
    TIMER_C = "report Timer C and give the CANCEL 64*T1 to work (Timer B re-armed)"
    TIMEOUT = "report a timeout (408 for a client transaction)"
    FAIL = "report a transport error (503 for a client transaction)"


Row = tuple[tuple[Op, ...], State]
S, I, O = State, Input, Op  # noqa: E741 (short names keep the tables readable)
_NONE: tuple[Op, ...] = ()

ICT: dict[tuple[State, Input], Row] = {
    (S.CALLING, I.TIMER_A): ((O.RETRANSMIT,), S.CALLING),
    (S.CALLING, I.TIMER_B): ((O.TIMEOUT,), S.TERMINATED),
    (S.CALLING, I.TIMER_C): ((O.TIMEOUT,), S.TERMINATED),
    (S.CALLING, I.RECV_1XX): ((O.REPORT, O.RESET_C), S.PROCEEDING),
    (S.CALLING, I.RECV_2XX): ((O.REPORT,), S.ACCEPTED),
    (S.CALLING, I.RECV_FINAL): ((O.SEND_ACK, O.REPORT), S.COMPLETED),
    (S.CALLING, I.TRANSPORT_ERROR): ((O.FAIL,), S.TERMINATED),
    (S.PROCEEDING, I.RECV_1XX): ((O.REPORT, O.RESET_C), S.PROCEEDING),
    (S.PROCEEDING, I.RECV_2XX): ((O.REPORT,), S.ACCEPTED),
    (S.PROCEEDING, I.RECV_FINAL): ((O.SEND_ACK, O.REPORT), S.COMPLETED),
    (S.PROCEEDING, I.TIMER_C): ((O.TIMER_C,), S.PROCEEDING),
    (S.PROCEEDING, I.TIMER_B): ((O.TIMEOUT,), S.TERMINATED),
    (S.PROCEEDING, I.TRANSPORT_ERROR): ((O.FAIL,), S.TERMINATED),
    (S.COMPLETED, I.RECV_FINAL): ((O.RESEND_ACK,), S.COMPLETED),
    (S.COMPLETED, I.RECV_1XX): (_NONE, S.COMPLETED),
    (S.COMPLETED, I.RECV_2XX): (_NONE, S.COMPLETED),
    (S.COMPLETED, I.TIMER_D): (_NONE, S.TERMINATED),
    (S.COMPLETED, I.TRANSPORT_ERROR): (_NONE, S.TERMINATED),
    (S.ACCEPTED, I.RECV_2XX): ((O.REPORT,), S.ACCEPTED),
    (S.ACCEPTED, I.RECV_1XX): (_NONE, S.ACCEPTED),
    (S.ACCEPTED, I.RECV_FINAL): (_NONE, S.ACCEPTED),
    (S.ACCEPTED, I.TIMER_M): (_NONE, S.TERMINATED),
    (S.ACCEPTED, I.TRANSPORT_ERROR): (_NONE, S.ACCEPTED),
}

NICT: dict[tuple[State, Input], Row] = {
    (S.TRYING, I.TIMER_E): ((O.RETRANSMIT,), S.TRYING),
    (S.TRYING, I.TIMER_F): ((O.TIMEOUT,), S.TERMINATED),
    (S.TRYING, I.RECV_1XX): ((O.REPORT,), S.PROCEEDING),
    (S.TRYING, I.RECV_2XX): ((O.REPORT,), S.COMPLETED),
    (S.TRYING, I.RECV_FINAL): ((O.REPORT,), S.COMPLETED),
    (S.TRYING, I.TRANSPORT_ERROR): ((O.FAIL,), S.TERMINATED),
    (S.PROCEEDING, I.TIMER_E): ((O.RETRANSMIT,), S.PROCEEDING),
    (S.PROCEEDING, I.TIMER_F): ((O.TIMEOUT,), S.TERMINATED),
    (S.PROCEEDING, I.RECV_1XX): ((O.REPORT,), S.PROCEEDING),
    (S.PROCEEDING, I.RECV_2XX): ((O.REPORT,), S.COMPLETED),
    (S.PROCEEDING, I.RECV_FINAL): ((O.REPORT,), S.COMPLETED),
    (S.PROCEEDING, I.TRANSPORT_ERROR): ((O.FAIL,), S.TERMINATED),
    (S.COMPLETED, I.RECV_1XX): (_NONE, S.COMPLETED),
    (S.COMPLETED, I.RECV_2XX): (_NONE, S.COMPLETED),
    (S.COMPLETED, I.RECV_FINAL): (_NONE, S.COMPLETED),
    (S.COMPLETED, I.TIMER_K): (_NONE, S.TERMINATED),
    (S.COMPLETED, I.TRANSPORT_ERROR): (_NONE, S.TERMINATED),
}

IST: dict[tuple[State, Input], Row] = {
    (S.PROCEEDING, I.RECV_REQUEST): ((O.RESEND,), S.PROCEEDING),
    (S.PROCEEDING, I.SEND_1XX): ((O.SEND,), S.PROCEEDING),
    (S.PROCEEDING, I.SEND_2XX): ((O.SEND,), S.ACCEPTED),
    (S.PROCEEDING, I.SEND_FINAL): ((O.SEND,), S.COMPLETED),
    (S.PROCEEDING, I.TRANSPORT_ERROR): ((O.FAIL,), S.TERMINATED),
    (S.PROCEEDING, I.TIMER_TU): ((O.TIMEOUT,), S.TERMINATED),
    (S.COMPLETED, I.RECV_REQUEST): ((O.RESEND,), S.COMPLETED),
    (S.COMPLETED, I.TIMER_G): ((O.RETRANSMIT_RESPONSE,), S.COMPLETED),
    (S.COMPLETED, I.TIMER_H): ((O.TIMEOUT,), S.TERMINATED),
    (S.COMPLETED, I.RECV_ACK): (_NONE, S.CONFIRMED),
    (S.COMPLETED, I.SEND_1XX): (_NONE, S.COMPLETED),
    (S.COMPLETED, I.SEND_2XX): (_NONE, S.COMPLETED),
    (S.COMPLETED, I.SEND_FINAL): (_NONE, S.COMPLETED),
    (S.COMPLETED, I.TRANSPORT_ERROR): ((O.FAIL,), S.TERMINATED),
    (S.CONFIRMED, I.RECV_ACK): (_NONE, S.CONFIRMED),
    (S.CONFIRMED, I.RECV_REQUEST): (_NONE, S.CONFIRMED),
    (S.CONFIRMED, I.SEND_1XX): (_NONE, S.CONFIRMED),
    (S.CONFIRMED, I.SEND_2XX): (_NONE, S.CONFIRMED),
    (S.CONFIRMED, I.SEND_FINAL): (_NONE, S.CONFIRMED),
    (S.CONFIRMED, I.TIMER_I): (_NONE, S.TERMINATED),
    (S.CONFIRMED, I.TRANSPORT_ERROR): (_NONE, S.TERMINATED),
    (S.ACCEPTED, I.RECV_REQUEST): (_NONE, S.ACCEPTED),
    (S.ACCEPTED, I.RECV_ACK): ((O.REPORT,), S.ACCEPTED),
    (S.ACCEPTED, I.SEND_2XX): ((O.SEND,), S.ACCEPTED),
    (S.ACCEPTED, I.SEND_1XX): (_NONE, S.ACCEPTED),
    (S.ACCEPTED, I.SEND_FINAL): (_NONE, S.ACCEPTED),
    (S.ACCEPTED, I.TIMER_L): (_NONE, S.TERMINATED),
    (S.ACCEPTED, I.TRANSPORT_ERROR): ((O.FAIL,), S.ACCEPTED),
}

NIST: dict[tuple[State, Input], Row] = {
    (S.TRYING, I.RECV_REQUEST): (_NONE, S.TRYING),
    (S.TRYING, I.SEND_1XX): ((O.SEND,), S.PROCEEDING),
    (S.TRYING, I.SEND_2XX): ((O.SEND,), S.COMPLETED),
    (S.TRYING, I.SEND_FINAL): ((O.SEND,), S.COMPLETED),
    (S.TRYING, I.TRANSPORT_ERROR): ((O.FAIL,), S.TERMINATED),
    (S.TRYING, I.TIMER_TU): ((O.TIMEOUT,), S.TERMINATED),
    (S.PROCEEDING, I.RECV_REQUEST): ((O.RESEND,), S.PROCEEDING),
    (S.PROCEEDING, I.SEND_1XX): ((O.SEND,), S.PROCEEDING),
    (S.PROCEEDING, I.SEND_2XX): ((O.SEND,), S.COMPLETED),
    (S.PROCEEDING, I.SEND_FINAL): ((O.SEND,), S.COMPLETED),
    (S.PROCEEDING, I.TRANSPORT_ERROR): ((O.FAIL,), S.TERMINATED),
    (S.PROCEEDING, I.TIMER_TU): ((O.TIMEOUT,), S.TERMINATED),
    (S.COMPLETED, I.RECV_REQUEST): ((O.RESEND,), S.COMPLETED),
    (S.COMPLETED, I.SEND_1XX): (_NONE, S.COMPLETED),
    (S.COMPLETED, I.SEND_2XX): (_NONE, S.COMPLETED),
    (S.COMPLETED, I.SEND_FINAL): (_NONE, S.COMPLETED),
    (S.COMPLETED, I.TIMER_J): (_NONE, S.TERMINATED),
    (S.COMPLETED, I.TRANSPORT_ERROR): (_NONE, S.TERMINATED),
}

TABLES: dict[Kind, dict[tuple[State, Input], Row]] = {
    Kind.ICT: ICT, Kind.NICT: NICT, Kind.IST: IST, Kind.NIST: NIST,
}  # fmt: skip

#: initial state of each kind
INITIAL = {Kind.ICT: S.CALLING, Kind.NICT: S.TRYING, Kind.IST: S.PROCEEDING, Kind.NIST: S.TRYING}

#: timers armed on entering a state ("A", "E", "G" are retransmission timers: unreliable only)
ENTRY: dict[tuple[Kind, State], tuple[str, ...]] = {
    (Kind.ICT, S.CALLING): ("A", "B", "C"),
    (Kind.ICT, S.COMPLETED): ("D",),
    (Kind.ICT, S.ACCEPTED): ("M",),
    (Kind.NICT, S.TRYING): ("E", "F"),
    (Kind.NICT, S.COMPLETED): ("K",),
    (Kind.IST, S.PROCEEDING): ("TU",),
    (Kind.IST, S.COMPLETED): ("G", "H"),
    (Kind.IST, S.CONFIRMED): ("I",),
    (Kind.IST, S.ACCEPTED): ("L",),
    (Kind.NIST, S.TRYING): ("TU",),
    (Kind.NIST, S.COMPLETED): ("J",),
}

#: timers that survive entering a state (the others are cancelled)
KEEP: dict[tuple[Kind, State], frozenset[str]] = {
    (Kind.ICT, S.PROCEEDING): frozenset("C"),
    (Kind.NICT, S.PROCEEDING): frozenset("EF"),
    (Kind.NIST, S.PROCEEDING): frozenset({"TU"}),
}
__all__ += ["INITIAL"]
