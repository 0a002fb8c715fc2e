"""Route greenlets: a pool that runs each message's route in its own greenlet, and
:func:`wait`, the primitive that parks a route until an awaitable completes.

The asyncio loop runs in the *hub* (the greenlet that calls :meth:`RoutePool.run`). A pooled
greenlet runs jobs in a loop; a job that calls :func:`wait` switches back to the hub and keeps
its greenlet until the awaitable is done (the done-callback switches back into it); the pool
hands the next message to another greenlet. Creating a greenlet costs ~10 µs, switching into
an existing one ~1 µs (design.md, Execution model), hence the pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from greenlet import GreenletExit, getcurrent, greenlet

from app.context import CURRENT

T = TypeVar("T")
Job = Callable[[], None]
MAX_IDLE = 128


class RouteGreenlet(greenlet):  # type: ignore[misc]
    """A greenlet that runs routes (``wait`` may only park one of these)."""

    pool: RoutePool
    parked_on: Any = None


class RoutePool:
    """Runs jobs in pooled :class:`RouteGreenlet` s; counts and tracks parked ones."""

    def __init__(self, max_idle: int = MAX_IDLE) -> None:
        self.max_idle = max_idle
        self._idle: list[RouteGreenlet] = []
        self.parked: dict[RouteGreenlet, Any] = {}  # greenlet -> the tag given to wait
        self.created = 0

    def run(self, job: Job) -> None:
        """Run ``job`` in a route greenlet; return when it ends or parks.

        Called from inside a route greenlet (a nested route, e.g. onsend), the job runs
        inline in the caller's greenlet.
        """
        if isinstance(getcurrent(), RouteGreenlet):
            job()
            return
        g = self._idle.pop() if self._idle else self._new()
        g.switch(job)

    def _new(self) -> RouteGreenlet:
        g = RouteGreenlet(self._work)
        g.pool = self
        self.created += 1
        return g

    def _work(self, job: Job) -> None:
        me = getcurrent()
        while True:
            job()
            if len(self._idle) >= self.max_idle:
                return
            self._idle.append(me)
            job = me.parent.switch()

    def kill_parked(self) -> list[Any]:
        """End every parked route (shutdown); returns their tags."""
        tags = []
        for g, tag in list(self.parked.items()):
            tags.append(tag)
            self.parked.pop(g, None)
            g.throw(GreenletExit)
        return tags

    def clear(self) -> None:
        """Let the idle greenlets go."""
        self._idle.clear()


def in_route() -> bool:
    """True when the caller runs in a route greenlet (so :func:`wait` may park it)."""
    return isinstance(getcurrent(), RouteGreenlet)


def wait(awaitable: Awaitable[T], timeout: float | None = None, tag: Any = None) -> T:
    """Park the current route until ``awaitable`` is done; return its result or raise.

    The loop serves other messages meanwhile. ``timeout`` (seconds) raises
    :class:`TimeoutError`. ``tag`` (default: the route's context) is what shutdown gets
    back for a route still parked (it answers the request). Outside a route greenlet (e.g. in an ``async def`` route, which
    runs as an asyncio task) this raises RuntimeError: await the awaitable instead.
    """
    me = getcurrent()
    if not isinstance(me, RouteGreenlet):
        raise RuntimeError("wait() outside a route greenlet; in async routes use await")
    if timeout is not None:
        awaitable = asyncio.wait_for(awaitable, timeout)
    future = asyncio.ensure_future(awaitable)
    future.add_done_callback(me.switch)
    pool = me.pool
    pool.parked[me] = CURRENT.get() if tag is None else tag
    try:
        done = me.parent.switch()
    except BaseException:
        future.remove_done_callback(me.switch)
        future.cancel()
        raise
    finally:
        pool.parked.pop(me, None)
    return done.result()  # type: ignore[no-any-return]
