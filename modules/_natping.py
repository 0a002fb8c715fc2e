"""nathelper's keep-alive pinger: every ``natping_interval`` seconds, a SIP request
(``sipping_method``, OPTIONS by default, From ``sipping_from``) to each registered contact
that needs it -- all of them, or with ``ping_nated_only`` those whose branch flags carry
``nat_bflag`` or ``sipping_bflag``.

The contacts come from a provider with usrloc's declared API: ``get_all_ucontacts()``
returning an iterable of records, each a mapping or an object with ``c``/``contact`` (the
Contact URI), ``received`` (source URI, may be None), ``cflags``/``flags`` (branch flags).
The pinger finds usrloc's ``module.api["get_all_ucontacts"]`` at child-init when usrloc is
loaded, and sends through the worker's core; :class:`NatPinger` can also be built with any
provider and sender (``send(data: bytes, dest: Dest) -> bool``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from app.context import Dest
from sip import parse_uri

log = logging.getLogger("siprouter.nathelper")


def _field(rec: Any, *names: str) -> Any:
    for name in names:
        value = rec.get(name) if isinstance(rec, dict) else getattr(rec, name, None)
        if value is not None:
            return value
    return None


class NatPinger:
    """Sends one round of pings per :meth:`ping_once`; :meth:`run` loops."""

    def __init__(self, provider: Callable[[], Iterable[Any]], send: Callable[[bytes, Dest], bool],
                 cfg: Any, local: Callable[[str], tuple[str, int]]) -> None:  # fmt: skip
        self.provider, self.send, self.cfg, self.local = provider, send, cfg, local
        self.sent = 0

    def wanted(self, rec: Any) -> bool:
        """Should this contact be pinged?"""
        if not self.cfg["ping_nated_only"]:
            return True
        flags = int(_field(rec, "cflags", "flags") or 0)
        bits = [b for b in (self.cfg["nat_bflag"], self.cfg["sipping_bflag"]) if b >= 0]
        return any(flags >> b & 1 for b in bits)

    def request(self, target: str, dest: Dest) -> bytes:
        """The ping request for a contact."""
        method = str(self.cfg["sipping_method"] or "OPTIONS")
        host, port = self.local(dest.proto)
        frm = str(self.cfg["sipping_from"] or f"sip:pinger@{host}")
        tag, cid = secrets.token_hex(4), secrets.token_hex(8)
        return (
            f"{method} {target} SIP/2.0\r\n"
            f"Via: SIP/2.0/{dest.proto.upper()} {host}:{port};branch=z9hG4bK{cid}\r\n"
            f"From: <{frm}>;tag={tag}\r\nTo: <{target}>\r\nCall-ID: {cid}\r\n"
            f"CSeq: 1 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        ).encode()

    def ping_once(self) -> int:
        """Ping every wanted contact; the number of pings sent."""
        count = 0
        for rec in list(self.provider()):
            contact = str(_field(rec, "c", "contact", "uri") or "")
            if not contact or not self.wanted(rec):
                continue
            try:
                uri = parse_uri(str(_field(rec, "received") or contact).strip("<>"))
                dest = Dest((uri.transport or "udp").lower(), uri.host_bare, uri.port or 5060)
                count += bool(self.send(self.request(contact.strip("<>"), dest), dest))
            except Exception as exc:  # noqa: BLE001 - one bad contact must not stop the round
                log.debug("natping %s: %s", contact, exc)
        self.sent += count
        return count

    async def run(self, interval: float) -> None:
        """Ping every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            self.ping_once()


_tasks: list[asyncio.Task[None]] = []


def install(module: Any) -> None:
    """Declare the pinger's hooks and API on nathelper's module."""

    @module.export("pinger")
    def make_pinger(provider: Any, send: Any, local: Any) -> NatPinger:
        return NatPinger(provider, send, module.cfg, local)

    @module.on_child_init
    def _start(rank: int) -> None:
        interval = int(module.cfg["natping_interval"])
        provider = _usrloc_provider()
        core = _worker_core()
        if interval <= 0 or provider is None or core is None or rank != 1:
            return
        pinger = make_pinger(provider, core.send, lambda proto: core.via_address(
            Dest(proto, "127.0.0.1", 5060)))  # fmt: skip
        _tasks.append(asyncio.get_running_loop().create_task(pinger.run(interval)))

    @module.on_stop
    def _stop() -> None:
        while _tasks:
            _tasks.pop().cancel()


def _usrloc_provider() -> Callable[[], Iterable[Any]] | None:
    from modules import MODULES, load_module  # noqa: PLC0415

    if "usrloc" not in MODULES:
        return None
    return load_module("usrloc").api.get("get_all_ucontacts")


def _worker_core() -> Any:
    from app import server  # noqa: PLC0415 - the running worker, if any

    current = server._state.get("server")  # noqa: SLF001
    return getattr(current, "core", None)
