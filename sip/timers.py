"""Transaction timer values (RFC 3261 §17.1.1.1, §17.1.2.1, §17.2, Table 4 of §A;
RFC 3261 §16.6 item 11 / §16.8 for Timer C; RFC 6026 §8.4 and §8.11 for Timers L and M).

Every value derives from T1, T2 and T4 held in a frozen :class:`TimerConfig`. Reliable
transports (TCP, TLS, SCTP, WebSocket) never retransmit and use zero for the wait timers
D, I, J and K (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2): :meth:`TimerConfig.wait`
returns those values.

Timer A (INVITE request retransmission) doubles at each retransmission; RFC 3261 sets no
cap, Kamailio caps it at T2. ``timer_a_cap`` chooses (the default caps at T2 like Kamailio;
``None`` is the strict RFC behaviour). Timers E and G double up to T2 as RFC 3261 says.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TimerConfig", "DEFAULT_TIMERS", "RELIABLE_TRANSPORTS", "is_reliable"]

#: transports that deliver reliably (no retransmission from the transaction layer)
RELIABLE_TRANSPORTS = frozenset({"TCP", "TLS", "SCTP", "TLS-SCTP", "WS", "WSS"})
_ZERO_WHEN_RELIABLE = frozenset("DIJK")


def is_reliable(transport: str) -> bool:
    """True when ``transport`` (as in a Via or a target) is connection-oriented."""
    return transport.upper() in RELIABLE_TRANSPORTS


@dataclass(frozen=True)
class TimerConfig:
    """T1, T2, T4 (seconds) and the timers derived from them."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    #: Timer C, the proxy INVITE guard (RFC 3261 §16.6 item 11: more than 3 minutes)
    timer_c: float = 180.0
    #: Timer D on unreliable transports (RFC 3261: at least 32 s)
    timer_d: float = 32.0
    #: cap of Timer A's doubling; None = uncapped (strict RFC 3261 §17.1.1.2)
    timer_a_cap: float | None = 4.0

    @property
    def timeout(self) -> float:
        """64*T1: Timers B, F, H, J, L and M."""
        return 64 * self.t1

    @property
    def server_guard(self) -> float:
        """How long a server transaction waits for its TU to answer before giving up.

        Not in RFC 3261 (which waits forever); longer than Timer C plus the CANCEL grace,
        so a proxy core always answers first.
        """
        return self.timer_c + 2 * self.timeout

    def first_interval(self, reliable: bool) -> float | None:
        """First retransmission interval of Timers A, E and G; None when reliable."""
        return None if reliable else self.t1

    def next_interval(self, timer: str, interval: float) -> float:
        """The interval after a retransmission: doubled, capped at T2 (A: ``timer_a_cap``)."""
        doubled = 2 * interval
        cap = self.timer_a_cap if timer == "A" else self.t2
        return doubled if cap is None else min(doubled, max(cap, interval))

    def wait(self, timer: str, reliable: bool) -> float:
        """Duration of a timer that is not a retransmission timer (B, C, D, F, H, I..M)."""
        if reliable and timer in _ZERO_WHEN_RELIABLE:
            return 0.0
        if timer == "C":
            return self.timer_c
        if timer == "D":
            return self.timer_d
        if timer in ("I", "K"):
            return self.t4
        if timer == "TU":
            return self.server_guard
        return self.timeout


DEFAULT_TIMERS = TimerConfig()
