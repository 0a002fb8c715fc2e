"""A real aiohttp service on 127.0.0.1:0 for the HTTP module tests (stopped by its handle)."""

from __future__ import annotations

import asyncio
import base64
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from app.config import Listen, load_modules, parse_config_text
from app.server import Server


@dataclass
class Service:
    """The running service: its URL base, the requests it saw, its runner."""

    runner: web.AppRunner
    port: int
    seen: list[dict[str, object]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        await self.runner.cleanup()


def _app(seen: list[dict[str, object]]) -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        body = await request.text()
        seen.append({"method": request.method, "path": request.path_qs, "body": body,
                     "headers": dict(request.headers)})  # fmt: skip
        delay = float(request.query.get("delay", "0"))
        if delay:
            await asyncio.sleep(delay)
        status = int(request.query.get("status", "200"))
        text = request.query.get("text", f"line1 {request.method}\nline2 {body}")
        return web.Response(status=status, text=text, headers={"X-Reply": "yes"})

    async def json_route(request: web.Request) -> web.Response:
        seen.append({"method": request.method, "path": request.path_qs})
        await asyncio.sleep(float(request.query.get("delay", "0")))
        return web.json_response({"routing": "serial", "n": len(seen)})

    async def basic(request: web.Request) -> web.Response:
        expect = "Basic " + base64.b64encode(b"user:secret").decode()
        if request.headers.get("Authorization") != expect:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="x"'})
        return web.Response(text="authorized")

    async def big(request: web.Request) -> web.Response:
        return web.Response(text="x" * 100_000)

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_route("*", "/base/echo", echo)
    app.router.add_get("/json", json_route)
    app.router.add_get("/basic", basic)
    app.router.add_get("/big", big)
    return app


async def start_service() -> Service:
    """Start the service on an ephemeral loopback port."""
    seen: list[dict[str, object]] = []
    runner = web.AppRunner(_app(seen), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return Service(runner, port, seen)


async def closed_port() -> int:
    """A loopback port nobody listens on (bound then released)."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return port


async def start_proxy(tmp: Path, script: str, cfg: str, grace: float = 1.0) -> Server:
    """A worker on 127.0.0.1:0 with the cfg's modules loaded and modparams applied."""
    (tmp / "script.py").write_text(textwrap.dedent(script))
    (tmp / "kamailio.cfg").write_text(cfg)
    config = parse_config_text(cfg, str(tmp / "kamailio.cfg"))
    listens = (Listen("udp", "127.0.0.1", 0), Listen("tcp", "127.0.0.1", 0))
    server = Server(config, load_modules(config), listens, grace=grace)
    await server.start()
    return server
