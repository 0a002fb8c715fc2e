"""The state of one stateful transaction: Kamailio's tm *cell* (RFC 3261 §16.2 the server
transaction, §16.6 the client branches, §16.7 the response context).

A :class:`Cell` is one server transaction of :mod:`sip.transaction` (``key``) plus what the
transaction user adds: its ids (``$T(id_index)``/``$T(id_label)``), the routes armed with
``t_on_*``, its ``fr_timer``/``fr_inv_timer``, the branches (:class:`UacBranch`, one per
client transaction or *blind* for a suspended transaction), the final reply sent upstream,
and ``saved``: the routing context (flags, ``$avp``, ``$xavp``, destination set) that failure
routes and ``t_continue`` resume from. :data:`SETTINGS` holds the tm modparams of this worker.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from app.context import Ctx, Dest, Source
from sip import Request, Response, TxKey

__all__ = ["TmSettings", "SETTINGS", "UacBranch", "Cell", "hash_index", "DONE"]

#: status of a branch that ended without a reply (a resumed blind branch)
DONE = 1


@dataclass
class TmSettings:
    """The tm/tmx modparams (seconds where Kamailio has milliseconds)."""

    fr: float = 30.0
    fr_inv: float = 120.0
    failure_reply_mode: int = 0
    restart_fr_on_each_reply: bool = True
    auto_inv_100: bool = True
    auto_inv_100_reason: str = "trying -- your call is important to us"
    max_suspended: int = 1000
    max_inv_lifetime: float = 180.0
    max_noninv_lifetime: float = 32.0


SETTINGS = TmSettings()


def hash_index(key: TxKey) -> int:
    """The hash slot of a transaction (Kamailio's ``id_index``, 0..65535)."""
    return zlib.crc32(str(key).encode("utf-8", "surrogateescape")) & 0xFFFF


@dataclass(eq=False)
class UacBranch:
    """One outgoing branch (a client transaction), or the blind branch of a suspension."""

    index: int
    step: int
    uri: str = ""
    dest: Dest | None = None
    request: Request | None = None
    key: TxKey | None = None
    blind: bool = False
    flags: int = 0
    provisional: int = 0  # last provisional status received
    status: int = 0  # final status; 0 = pending
    final: Response | None = None  # the final reply, our Via removed (upstream-ready)
    replied: bool = False  # something came from the network
    timed_out: bool = False
    canceled: bool = False
    timer: asyncio.TimerHandle | None = None

    @property
    def pending(self) -> bool:
        return self.status == 0

    def stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


@dataclass(eq=False)
class Cell:
    """A stateful transaction; see the module docstring."""

    index: int
    label: int
    key: TxKey
    request: Request  # as received
    source: Source
    dest: Dest  # where upstream replies go
    saved: Ctx  # the latest routing context (request route, failure route, continuation)
    to_tag: str
    created: float
    fr: float = 30.0  # set from SETTINGS when created
    fr_inv: float = 120.0
    branches: list[UacBranch] = field(default_factory=list)
    on_failure: str = ""
    on_reply: str = ""
    on_branch: str = ""
    on_branch_failure: str = ""
    status: int = 0  # final status sent upstream
    last_status: int = 0  # last status sent upstream
    reason: str = ""
    winner: Response | None = None  # the reply that ended the last step (failure route)
    relay_msg: Request | None = None  # the request at relay time (failure routes restart here)
    relay_du: str | None = None
    step: int = 0
    canceled: bool = False
    suspended: bool = False
    terminated: bool = False  # the server transaction is gone
    failed_branch: int = -1
    # applied in order to every reply before it goes upstream (e.g. rtjson restoring the
    # From/To it rewrote); each returns the reply to send
    upstream_fixups: list[Callable[[Response], Response]] = field(default_factory=list)

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def is_invite(self) -> bool:
        return self.request.method == "INVITE"

    def pending(self) -> bool:
        """True while a branch waits for its final reply."""
        return any(b.status == 0 for b in self.branches)

    def blind(self) -> UacBranch | None:
        """The pending blind branch of a suspension, if any."""
        return next((b for b in self.branches if b.blind and b.status == 0), None)

    def expired(self, now: float) -> bool:
        life = SETTINGS.max_inv_lifetime if self.is_invite else SETTINGS.max_noninv_lifetime
        return now - self.created > life
