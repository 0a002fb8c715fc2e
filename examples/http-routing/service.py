"""A small HTTP routing service: answers siprouter (or Kamailio) with rtjson documents.

    python examples/http-routing/service.py --table examples/http-routing/routes.json \\
        --port 8080 [--latency-ms 200]

``GET /route?ruri=sip:1001@example.com&from=...`` (or ``POST`` a JSON object with a ``ruri``
member) looks the R-URI user up in the table and answers an rtjson document::

    {"version": "1.0", "routing": "serial", "routes": [{"uri": ..., "dst_uri": ...}, ...]}

The table (a JSON file) maps a user to ``{"routing": "serial"|"parallel", "routes": [...]}``;
the entry ``"*"`` is the default. Unknown users get HTTP 404. ``--latency-ms`` delays every
answer (a slow database); an entry's own ``"latency_ms"`` delays the answers for that user;
an entry ``{"raw": "text"}`` is answered as is (``application/json``: a broken service, for
tests). ``POST /auth {"user": u, "token": t}`` answers 200 when the entry of ``u`` has that
``"token"`` (else 403). ``GET /health`` answers 200 at once; ``GET /stats`` counts the queries served
(``queries``) and the delayed answers outstanding (``waiting``, highest ``max_waiting``).
``--port 0`` picks a free port and prints it (``listening on 127.0.0.1:N``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path
from typing import Any

from aiohttp import web

TABLE = web.AppKey("table", dict)
LATENCY = web.AppKey("latency", float)
COUNT = web.AppKey("count", dict)


def load_table(path: Path) -> dict[str, Any]:
    """Read and check the routing table."""
    table = json.loads(path.read_text())
    if not isinstance(table, dict):
        raise SystemExit(f"{path}: the table must be a JSON object")
    for user, entry in table.items():
        if isinstance(entry, dict) and (
            isinstance(entry.get("raw"), str) or ("token" in entry and "routing" not in entry)
        ):
            continue
        if entry.get("routing") not in ("serial", "parallel") or not entry.get("routes"):
            raise SystemExit(f"{path}: entry {user!r} needs routing and routes")
    return table


def user_of(ruri: str) -> str:
    """``sip:1001@example.com;x=y`` -> ``1001``."""
    rest = ruri.split(":", 1)[-1]
    return rest.split("@", 1)[0] if "@" in rest else ""


def entry_of(table: dict[str, Any], ruri: str) -> dict[str, Any] | None:
    """The table entry of a R-URI (None when the table has no entry)."""
    entry = table.get(user_of(ruri)) or table.get("*")
    return entry if isinstance(entry, dict) else None


def document(table: dict[str, Any], ruri: str) -> dict[str, Any] | None:
    """The rtjson document for a R-URI (None when the table has no entry)."""
    entry = entry_of(table, ruri)
    if entry is None or "raw" in entry:
        return None
    return {"version": "1.0", "routing": entry["routing"], "routes": entry["routes"]}


async def route(request: web.Request) -> web.Response:
    """Answer the rtjson document of the request's R-URI."""
    app = request.app
    if request.method == "POST":
        body = await request.json()
        ruri = str(body.get("ruri", "")) if isinstance(body, dict) else ""
    else:
        ruri = request.query.get("ruri", "")
    count = app[COUNT]
    count["queries"] += 1
    entry = entry_of(app[TABLE], ruri) or {}
    latency = entry.get("latency_ms", app[LATENCY] * 1000) / 1000
    if latency:
        count["waiting"] += 1
        count["max_waiting"] = max(count["max_waiting"], count["waiting"])
        try:
            await asyncio.sleep(latency)
        finally:
            count["waiting"] -= 1
    if "raw" in entry:
        return web.Response(text=entry["raw"], content_type="application/json")
    doc = document(app[TABLE], ruri)
    if doc is None:
        return web.json_response({"error": f"no route for {ruri!r}"}, status=404)
    return web.json_response(doc)


async def auth(request: web.Request) -> web.Response:
    """``POST /auth {"user": u, "token": t}``: 200 if the table entry of ``u`` has that
    ``"token"``, else 403 (credentials checked by the service, e.g. for REGISTER)."""
    app = request.app
    app[COUNT]["auth"] += 1
    try:
        body = await request.json()
        user, token = str(body["user"]), str(body["token"])
    except (ValueError, KeyError, TypeError):
        return web.json_response({"ok": False, "error": "bad request"}, status=400)
    entry = app[TABLE].get(user)
    ok = isinstance(entry, dict) and entry.get("token") is not None and entry["token"] == token
    return web.json_response({"ok": ok}, status=200 if ok else 403)


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[COUNT])


def make_app(table: dict[str, Any], latency: float = 0.0) -> web.Application:
    """The service as an aiohttp application (tests run it in-process)."""
    app = web.Application()
    app[TABLE], app[LATENCY] = table, latency
    app[COUNT] = {"queries": 0, "waiting": 0, "max_waiting": 0, "auth": 0}
    app.router.add_route("*", "/route", route)
    app.router.add_post("/auth", auth)
    app.router.add_get("/health", health)
    app.router.add_get("/stats", stats)
    return app


async def serve(table: dict[str, Any], host: str, port: int, latency: float) -> None:
    """Run until SIGINT/SIGTERM."""
    runner = web.AppRunner(make_app(table, latency), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0]
    print(f"listening on {bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--table", type=Path, default=Path(__file__).with_name("routes.json"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay every answer")
    args = parser.parse_args()
    asyncio.run(serve(load_table(args.table), args.host, args.port, args.latency_ms / 1000))


if __name__ == "__main__":
    main()
