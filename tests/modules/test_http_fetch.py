"""modules._http_fetch.Pool against a real aiohttp service: libcurl-like timings without
aiohttp's tracing, redirects, the whole-request timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from modules._http_fetch import Pool, Query


async def _hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(2)
    return web.Response(text="late")


async def _moved(request: web.Request) -> web.Response:
    raise web.HTTPFound("/hello")


@pytest.fixture
async def base() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/hello", _hello)
    app.router.add_get("/slow", _slow)
    app.router.add_get("/moved", _moved)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_timings_in_order(base: str) -> None:
    pool = Pool()
    try:
        for _ in range(2):  # a new connection, then the kept-alive one
            reply = await pool.fetch(Query(base + "/hello"))
            t = reply.times
            assert reply.ok and reply.status == 200
            assert 0 < t["connect"] <= t["pretransfer"] <= t["starttransfer"] <= t["total"]
            assert t["lookup"] == t["appconnect"] == t["redirect"] == 0  # an IP, no TLS
    finally:
        await pool.close()


async def test_redirect_time(base: str) -> None:
    pool = Pool()
    try:
        direct = await pool.fetch(Query(base + "/moved"))
        assert direct.status == 302 and direct.times["redirect"] == 0
        moved = await pool.fetch(Query(base + "/moved", follow_redirect=True))
        assert moved.status == 200 and moved.text == "hello"
        assert 0 < moved.times["redirect"] <= moved.times["starttransfer"]
    finally:
        await pool.close()


async def test_whole_request_timeout(base: str) -> None:
    pool = Pool()
    try:
        start = time.monotonic()
        reply = await pool.fetch(Query(base + "/slow", timeout=0.2))
        assert not reply.ok and reply.curl_code == 28
        assert time.monotonic() - start < 0.9
        assert 150_000 <= reply.times["total"] < 900_000
    finally:
        await pool.close()
