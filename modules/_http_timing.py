"""libcurl-like timings of an HTTP request (``$http_time(...)``) without aiohttp's tracing.

aiohttp's ``TraceConfig`` builds a ``Trace`` per request and awaits a signal at every step
(~85k instructions per request, a quarter of aiohttp's own cost); the few marks libcurl
reports are taken here instead, where the request passes anyway:

* :data:`MARKS` holds the marks of the request running in this task (each query runs in its
  own task; :meth:`modules._http_fetch.Pool.fetch` sets and resets it);
* :class:`TimedResolver` marks ``lookup`` when a host name was resolved (not for IP
  addresses, nor for names in the connector's DNS cache: libcurl's 0 then);
* :class:`TimedConnector` marks ``hop`` when a connection is asked for (the start of each
  redirect hop) and ``connect``/``pretransfer`` when the connection is ready (new or reused).

:func:`micro` turns the marks into libcurl's names in microseconds since the ``start`` mark
(when a variable asks: ``Reply.times``); names never marked are 0.
"""

from __future__ import annotations

import socket
from contextvars import ContextVar
from time import perf_counter
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

MARKS: ContextVar[dict[str, float] | None] = ContextVar("siprouter_http_marks", default=None)
NAMES = ("lookup", "connect", "appconnect", "pretransfer", "starttransfer", "redirect")


class TimedResolver(AbstractResolver):
    """aiohttp's default resolver, marking ``lookup`` when a resolution ends."""

    def __init__(self) -> None:
        self.inner = aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        marks = MARKS.get()
        if marks is not None:
            marks.setdefault("lookup", perf_counter())
        return found

    async def close(self) -> None:
        await self.inner.close()


class TimedConnector(aiohttp.TCPConnector):
    """A TCP connector marking the start of each hop and when its connection is ready."""

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
        marks = MARKS.get()
        if marks is None:
            return await super().connect(req, traces, timeout)
        marks["hop"] = perf_counter()
        conn = await super().connect(req, traces, timeout)
        ready = perf_counter()
        marks.setdefault("connect", ready)
        marks.setdefault("pretransfer", ready)
        return conn


def micro(marks: dict[str, float]) -> dict[str, int]:
    """libcurl's timings (µs since the ``start`` mark): ``total`` (until the ``end`` mark) and
    :data:`NAMES` (0 if unmarked)."""
    start = marks.get("start")
    if start is None:
        return dict.fromkeys(("total", *NAMES), 0)
    times = {name: int((marks[name] - start) * 1e6) if name in marks else 0 for name in NAMES}
    times["total"] = int((marks.get("end", start) - start) * 1e6)
    return times
