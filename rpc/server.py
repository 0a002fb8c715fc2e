"""JSON-RPC 2.0 server (Kamailio's jsonrpcs) over HTTP ``POST /RPC`` and a unix stream socket.

Dispatch is jsonrpcserver's, with an explicit method table built from a :class:`Commands`
object (no global registry), orjson for (de)serialisation, and Kamailio's error texts:
-32700 "Parse Error", -32600 "Invalid Request", -32601 "Method Not Found", -32602 "Invalid
Parameters", -32603 "Internal Error"; a command's :class:`RpcFault` gives ``{code, message}``
as is (e.g. 500). Batches are dispatched item by item, so one bad item gets its own error.

Framing on the unix stream socket: the client writes JSON documents (objects or batch arrays)
back to back, whitespace between them allowed; the server splits them by bracket depth outside
strings (as jsonrpcs' FIFO reader does) and answers each with one compact JSON document followed
by ``\\n``, in order. Notifications get no bytes. Text that does not start a document is read
up to the next newline and answered with a Parse Error. The connection stays open until the
client closes it (a one-shot client may half-close after writing).

HTTP: ``POST /RPC`` answers the JSON reply; a notification gets ``204``. As in jsonrpcs, a
single reply carrying a command fault code in 100..599 uses that code as the HTTP status.
``GET /metrics`` renders the statistics in Prometheus text format. When a token is configured,
both need ``Authorization: Bearer <token>``; the listener binds 127.0.0.1 by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson
from aiohttp import web
from jsonrpcserver import Error, Result, Success, async_dispatch_to_serializable

from rpc.registry import Command, Commands, InvalidParams, RpcFault
from rpc.stats import Stats

__all__ = ["DocumentTooLarge", "JsonRpc", "JsonSplitter", "RpcServer", "dumps", "error_reply"]

log = logging.getLogger("siprouter.rpc")

KAMAILIO_MESSAGES = {
    -32700: "Parse Error",
    -32600: "Invalid Request",
    -32601: "Method Not Found",
    -32602: "Invalid Parameters",
    -32603: "Internal Error",
    -32000: "Execution Error",
}
_WS = b" \t\r\n"


def _validate(doc: Any) -> Any:
    """Request shape check; unlike jsonrpcserver's schema it lets jsonrpcs' extra fields in."""
    ok = (
        isinstance(doc, dict)
        and doc.get("jsonrpc") == "2.0"
        and isinstance(doc.get("method"), str)
        and isinstance(doc.get("params", []), list | dict)
        and isinstance(doc.get("id"), str | int | float | type(None))
    )
    if not ok:
        raise ValueError("invalid request")
    return doc


class _MethodTable(Mapping[str, Callable[..., Any]]):
    """jsonrpcserver's ``methods`` view of a :class:`Commands` table."""

    def __init__(self, commands: Commands) -> None:
        self._commands = commands

    def __getitem__(self, name: str) -> Callable[..., Any]:
        cmd = self._commands.get(name)
        if cmd is None:
            raise KeyError(name)
        return _adapter(cmd)

    def __iter__(self) -> Iterator[str]:
        return iter(self._commands.names())

    def __len__(self) -> int:
        return len(self._commands)


def _adapter(cmd: Command) -> Callable[..., Any]:
    async def method(*args: Any, **kwargs: Any) -> Result:
        try:
            value = await cmd.call(list(args) if args or not kwargs else kwargs)
        except InvalidParams as exc:
            return Error(exc.code, exc.message, exc.detail)
        except RpcFault as exc:
            return Error(exc.code, exc.message)
        return Success(value)

    return method


class JsonRpc:
    """Transport-independent JSON-RPC handling: bytes (or a parsed document) in, reply out."""

    def __init__(self, commands: Commands) -> None:
        self.commands = commands
        self._methods = _MethodTable(commands)

    async def handle_bytes(self, data: bytes) -> bytes | None:
        """One request or batch as bytes; the compact reply, or ``None`` (notifications)."""
        reply = await self.handle_text(data)
        return None if reply is None else dumps(reply)

    async def handle_text(self, data: bytes | str) -> Any:
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            return error_reply(-32700, None, str(exc))
        return await self.handle_doc(doc)

    async def handle_doc(self, doc: Any) -> Any:
        """A parsed document; returns the serialisable reply or ``None``."""
        if not isinstance(doc, list):
            return await self._one(doc)
        if not doc:
            return error_reply(-32600, None)
        replies = await asyncio.gather(*(self._one(item) for item in doc))
        out = [r for r in replies if r is not None]
        return out or None

    async def _one(self, item: Any) -> Any:
        reply = await async_dispatch_to_serializable(
            "", self._methods, deserializer=lambda _: item, validator=_validate
        )
        if isinstance(reply, dict) and "error" in reply:
            err = reply["error"]
            err["message"] = KAMAILIO_MESSAGES.get(err["code"], err["message"])
        return reply


def dumps(value: Any) -> bytes:
    """Compact JSON; non-string keys and unknown types are turned into strings."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)


def error_reply(code: int, req_id: Any, data: str | None = None) -> dict[str, Any]:
    """A JSON-RPC error document with Kamailio's message text."""
    err: dict[str, Any] = {"code": code, "message": KAMAILIO_MESSAGES.get(code, "Error")}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "error": err, "id": req_id}


class DocumentTooLarge(ValueError):
    """A document grew beyond the configured limit before it was complete."""


class JsonSplitter:
    """Incremental splitter of a byte stream into top-level JSON documents."""

    def __init__(self, limit: int = 1 << 20) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._pos = 0
        self._depth = 0
        self._in_str = False
        self._esc = False

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return the documents (or garbage lines) completed by them."""
        self._buf += data
        out: list[bytes] = []
        while (doc := self._next()) is not None:
            out.append(doc)
        if len(self._buf) > self.limit:
            raise DocumentTooLarge(f"JSON document larger than {self.limit} bytes")
        return out

    def _next(self) -> bytes | None:
        if self._pos == 0:
            stripped = self._buf.lstrip(_WS)
            del self._buf[: len(self._buf) - len(stripped)]
            if not self._buf:
                return None
            if self._buf[0] not in b"{[":
                return self._garbage_line()
        return self._scan()

    def _garbage_line(self) -> bytes | None:
        end = self._buf.find(b"\n")
        if end < 0:
            return None
        return self._cut(end + 1)

    def _scan(self) -> bytes | None:
        buf = self._buf
        for i in range(self._pos, len(buf)):
            c = buf[i]
            if self._in_str:
                self._in_str = self._esc or c != 0x22
                self._esc = not self._esc and c == 0x5C
            elif c == 0x22:
                self._in_str = True
            elif c in b"{[":
                self._depth += 1
            elif c in b"}]":
                self._depth -= 1
                if self._depth == 0:
                    return self._cut(i + 1)
        self._pos = len(buf)
        return None

    def _cut(self, end: int) -> bytes:
        doc = bytes(self._buf[:end])
        del self._buf[:end]
        self._pos = self._depth = 0
        self._in_str = self._esc = False
        return doc


class RpcServer:
    """HTTP (``/RPC``, ``/metrics``) and unix stream listeners for one command table."""

    def __init__(
        self,
        commands: Commands,
        *,
        stats: Stats | None = None,
        host: str | None = "127.0.0.1",
        port: int = 0,
        unix_path: str | None = None,
        unix_mode: int = 0o600,
        token: str | None = None,
        max_size: int = 1 << 20,
    ) -> None:
        self.rpc = JsonRpc(commands)
        self.stats = stats
        self.host, self.port = host, port
        self.unix_path, self.unix_mode = unix_path, unix_mode
        self.token = token
        self.max_size = max_size
        self._runner: web.AppRunner | None = None
        self._unix: asyncio.AbstractServer | None = None

    def make_app(self) -> web.Application:
        """The aiohttp application (also what tests drive with ``aiohttp_client``)."""
        app = web.Application(client_max_size=self.max_size)
        app.router.add_post("/RPC", self._http_rpc)
        app.router.add_get("/metrics", self._http_metrics)
        return app

    async def start(self) -> None:
        """Open the HTTP listener (``host`` not ``None``) and the unix socket (``unix_path``)."""
        if self.host is not None:
            self._warn_if_exposed()
            self._runner = web.AppRunner(self.make_app(), access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.port)
            await site.start()
            self.port = self._runner.addresses[0][1]
        if self.unix_path is not None:
            self._unix = await start_unix(self.unix_path, self._stream, self.unix_mode)

    async def stop(self) -> None:
        if self._unix is not None:
            await stop_unix(self._unix, self.unix_path)
            self._unix = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _warn_if_exposed(self) -> None:
        try:
            loopback = ipaddress.ip_address(self.host or "").is_loopback
        except ValueError:
            loopback = self.host == "localhost"
        if not loopback and not self.token:
            log.warning(
                "RPC listener on %s without a token: anyone who reaches it controls the proxy",
                self.host,
            )

    def _authorized(self, request: web.Request) -> bool:
        if not self.token:
            return True
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode())

    async def _http_rpc(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            body = {"jsonrpc": "2.0", "error": {"code": 401, "message": "Unauthorized"}, "id": None}
            return _json_response(body, 401, {"WWW-Authenticate": "Bearer"})
        reply = await self.rpc.handle_text(await request.read())
        if reply is None:
            return web.Response(status=204)
        return _json_response(reply, _http_status(reply))

    async def _http_metrics(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.Response(
                status=401, text="Unauthorized\n", headers={"WWW-Authenticate": "Bearer"}
            )
        refresh = getattr(self.stats, "refresh", None)  # statistics gathered elsewhere
        if refresh is not None:
            await refresh()
        text = self.stats.prometheus() if self.stats is not None else ""
        return web.Response(
            text=text, content_type="text/plain", headers={"X-Content-Type-Options": "nosniff"}
        )

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        splitter = JsonSplitter(self.max_size)
        try:
            while data := await reader.read(65536):
                for doc in splitter.feed(data):
                    reply = await self.rpc.handle_bytes(doc)
                    if reply is not None:
                        writer.write(reply + b"\n")
                        await writer.drain()
        except DocumentTooLarge as exc:
            writer.write(dumps(error_reply(-32700, None, str(exc))) + b"\n")
        except ConnectionError:
            pass
        finally:
            writer.close()


def _http_status(reply: Any) -> int:
    if isinstance(reply, dict) and "error" in reply:
        code = reply["error"].get("code")
        if isinstance(code, int) and 100 <= code < 600:
            return code
    return 200


def _json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=dumps(body), status=status, content_type="application/json", headers=headers
    )


async def start_unix(path: str, handler: Any, mode: int) -> asyncio.AbstractServer:
    """A unix stream server on ``path`` (a stale socket file is replaced), chmod ``mode``."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    old = os.umask(0o777 & ~mode)
    try:
        server = await asyncio.start_unix_server(handler, path)
    finally:
        os.umask(old)
    os.chmod(path, mode)
    return server


async def stop_unix(server: asyncio.AbstractServer, path: str | None) -> None:
    server.close()
    await server.wait_closed()
    if path:  # gone already when the management process removed its folder first
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
