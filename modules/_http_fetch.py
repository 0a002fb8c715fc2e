"""HTTP requests for http_client and http_async_client: one aiohttp session per worker.

* :class:`Pool` owns one :class:`aiohttp.ClientSession` (created lazily in the worker's loop,
  closed by :meth:`Pool.close`) whose connector keeps connections alive per host, bounded by
  ``limit`` / ``limit_per_host``; TLS contexts are cached per (verify, cert, key, ca) tuple.
* :meth:`Pool.fetch` runs one request described by a :class:`Query` and never raises: a
  transport failure becomes a :class:`Reply` with ``ok=False`` and the libcurl error code and
  text Kamailio users know (``28`` "Timeout was reached", ``7`` "Couldn't connect to
  server", ...); timings are measured as libcurl's (``$http_time(...)``, microseconds;
  :mod:`modules._http_timing`, not aiohttp's tracing). The request's ``total`` timeout is
  aiohttp's own (one timer, no extra task), never rounded up to a whole second.
* Authentication as libcurl's ``authmethod`` bitmap: 1 Basic (sent at once when Digest is not
  allowed), 2 Digest (answers the challenge); with both, a Basic challenge is answered too.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import socket
import ssl
import time
from dataclasses import dataclass, field

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from modules._http_timing import MARKS, TimedConnector, TimedResolver, micro

CURL_ERRORS: dict[int, str] = {
    0: "No error",
    1: "Unsupported protocol",
    3: "URL using bad/illegal format or missing URL",
    6: "Couldn't resolve host name",
    7: "Couldn't connect to server",
    28: "Timeout was reached",
    35: "SSL connect error",
    52: "Server returned nothing (no headers, no data)",
    55: "Failed sending data to the peer",
    56: "Failure when receiving data from the peer",
    58: "Problem with the local SSL certificate",
    60: "SSL peer certificate or SSH remote key was not OK",
    63: "Maximum file size exceeded",
    77: "Problem with the SSL CA cert (path? access rights?)",
}
AUTH_BASIC, AUTH_DIGEST = 1, 2
INF = float("inf")
CACHE_MAX = 256  # the URLs / timeouts kept parsed (the most recently used)
VERSIONS: dict[aiohttp.HttpVersion | None, str] = {
    aiohttp.HttpVersion11: "1.1",
    aiohttp.HttpVersion10: "1.0",
}


@dataclass(frozen=True, slots=True)
class Tls:
    """TLS settings of a request (libcurl's verify/cert options)."""

    verify_peer: bool = True
    verify_host: bool = True
    client_cert: str = ""
    client_key: str = ""
    ca_path: str = ""


@dataclass(slots=True)
class Query:
    """One HTTP request: what to send, how long to wait, how to authenticate."""

    url: str
    method: str = "GET"
    body: bytes | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    timeout: float = 5.0  # seconds, whole request
    connect_timeout: float | None = None
    username: str = ""
    password: str = ""
    authmethod: int = AUTH_BASIC | AUTH_DIGEST
    tls: Tls = Tls()
    max_size: int = 0  # 0 = unlimited
    truncate: bool = False  # at max_size: keep what fits (True) or fail with 63 (False)
    follow_redirect: bool = False
    user_agent: str = ""


@dataclass(slots=True)
class Reply:
    """The outcome of a :class:`Query`; ``ok`` False means no HTTP response (``error``)."""

    ok: bool
    status: int = 0
    reason: str = ""
    headers: CIMultiDictProxy[str] = field(default_factory=lambda: CIMultiDictProxy(CIMultiDict()))
    body: bytes = b""
    curl_code: int = 0
    error: str | None = None
    marks: dict[str, float] | None = None  # perf_counter() marks, "start" and "end" included
    version: str = "1.1"

    @property
    def times(self) -> dict[str, int]:
        """libcurl's timings in microseconds (``total``, ``connect``, ...; 0 when unknown)."""
        return micro(self.marks or {})

    @property
    def text(self) -> str:
        """The body decoded (UTF-8, errors replaced)."""
        return self.body.decode("utf-8", "replace")

    def raw(self) -> str:
        """Status line, headers and body (``$http_mb``)."""
        head = [f"HTTP/{self.version} {self.status} {self.reason}"]
        head += [f"{k}: {v}" for k, v in self.headers.items()]
        return "\r\n".join(head) + "\r\n\r\n" + self.text


def failure(code: int, detail: str = "") -> Reply:
    """A reply for a transport failure with libcurl code ``code``."""
    text = CURL_ERRORS.get(code, f"curl error {code}")
    return Reply(ok=False, curl_code=code, error=f"{text}: {detail}" if detail else text)


def _curl_code(exc: BaseException) -> int:
    if isinstance(exc, asyncio.TimeoutError | TimeoutError | aiohttp.ServerTimeoutError):
        return 28
    if isinstance(exc, aiohttp.InvalidURL | ValueError):
        return 3
    if isinstance(exc, ssl.SSLCertVerificationError | aiohttp.ClientConnectorCertificateError):
        return 60
    if isinstance(exc, ssl.SSLError):
        return 35
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return 60
    if isinstance(exc, aiohttp.ClientConnectorSSLError | aiohttp.ClientSSLError):
        return 35
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return 6
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = getattr(exc, "os_error", None)
        return 6 if isinstance(os_error, socket.gaierror) else 7
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return 52
    return 56


class TooLarge(Exception):
    """The body exceeds ``max_size``."""


class Pool:
    """One worker's HTTP client session with keep-alive pools per host."""

    def __init__(self, limit: int = 100, limit_per_host: int = 0, keepalive: bool = True) -> None:
        self.limit, self.limit_per_host, self.keepalive = limit, limit_per_host, keepalive
        self.session: aiohttp.ClientSession | None = None
        self.resolver: TimedResolver | None = None
        self._tls: dict[Tls, ssl.SSLContext | bool] = {}

    def open(self) -> aiohttp.ClientSession:
        """The session (created on first use, in the running loop). No cookie jar: like
        libcurl without its cookie engine, a query never sends another's cookies."""
        if self.session is None or self.session.closed:
            self.resolver = TimedResolver()
            connector = TimedConnector(
                limit=self.limit,
                limit_per_host=self.limit_per_host,
                force_close=not self.keepalive,
                ttl_dns_cache=60,
                resolver=self.resolver,
            )
            self.session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self.session

    async def close(self) -> None:
        """Close the session and its pooled connections."""
        if self.session is not None and not self.session.closed:
            await self.session.close()
        if self.resolver is not None:
            await self.resolver.close()
        self.session = self.resolver = None

    def ssl_for(self, tls: Tls) -> ssl.SSLContext | bool:
        """The TLS context of these settings (cached)."""
        ctx = self._tls.get(tls)
        if ctx is None:
            ctx = self._tls[tls] = _ssl_context(tls)
        return ctx

    async def fetch(self, q: Query) -> Reply:
        """Run ``q``; every failure becomes a ``Reply(ok=False)`` with a libcurl code."""
        start = time.perf_counter()
        marks = {"start": start}
        token = MARKS.set(marks)
        try:
            reply = await self._fetch(q, marks, start)
        except TooLarge:
            reply = failure(63)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            reply = failure(_curl_code(exc), str(exc))
        finally:
            MARKS.reset(token)
        marks["end"] = time.perf_counter()
        reply.marks = marks
        return reply

    async def _fetch(self, q: Query, marks: dict[str, float], start: float) -> Reply:
        resp = await self._send(q, q.timeout, basic=_basic_first(q))
        if _wants_basic(q, resp):
            resp.release()
            left = max(q.timeout - (time.perf_counter() - start), 0.001)
            resp = await self._send(q, left, basic=True)
        async with resp:
            marks["starttransfer"] = time.perf_counter()
            if resp.history:
                marks["redirect"] = marks["hop"]
            body = await (_read(resp, q.max_size, q.truncate) if q.max_size else resp.read())
            version = resp.version
            return Reply(
                ok=True,
                status=resp.status,
                reason=resp.reason or "",
                headers=resp.headers,
                body=body,
                version=VERSIONS.get(version) or _version(version),
            )

    async def _send(self, q: Query, seconds: float, basic: bool) -> aiohttp.ClientResponse:
        headers = CIMultiDict(q.headers)
        if q.user_agent and "User-Agent" not in headers:
            headers["User-Agent"] = q.user_agent
        if basic:
            token = base64.b64encode(f"{q.username}:{q.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        digest = q.username and not basic and q.authmethod & AUTH_DIGEST
        middlewares = (aiohttp.DigestAuthMiddleware(q.username, q.password),) if digest else ()
        return await self.open().request(
            q.method, _url(q.url), data=q.body, headers=headers,
            timeout=_timeout(seconds, q.connect_timeout),
            ssl=self.ssl_for(q.tls) if q.url.startswith("https") else True,
            allow_redirects=q.follow_redirect, middlewares=middlewares,
        )  # fmt: skip


@functools.lru_cache(maxsize=CACHE_MAX)
def _timeout(total: float, connect: float | None) -> aiohttp.ClientTimeout:
    """The whole request's timeout (never rounded up to a second; immutable, so shared)."""
    return aiohttp.ClientTimeout(total=total, sock_connect=connect, ceil_threshold=INF)


@functools.lru_cache(maxsize=CACHE_MAX)
def _url(text: str) -> URL:
    """``text`` parsed (a routing script asks the same few URLs again and again)."""
    return URL(text)


def _version(version: aiohttp.HttpVersion | None) -> str:
    return f"{version.major}.{version.minor}" if version else "1.1"


def _basic_first(q: Query) -> bool:
    return bool(q.username) and q.authmethod & (AUTH_BASIC | AUTH_DIGEST) == AUTH_BASIC


def _wants_basic(q: Query, resp: aiohttp.ClientResponse) -> bool:
    if resp.status != 401 or not q.username or not q.authmethod & AUTH_BASIC:
        return False
    return _basic_first(q) is False and "basic" in resp.headers.get("WWW-Authenticate", "").lower()


async def _read(resp: aiohttp.ClientResponse, max_size: int, truncate: bool) -> bytes:
    data = bytearray()
    async for chunk in resp.content.iter_chunked(65536):
        data += chunk
        if len(data) > max_size:
            if not truncate:
                raise TooLarge
            return bytes(data[:max_size])
    return bytes(data)


def _ssl_context(tls: Tls) -> ssl.SSLContext | bool:
    ctx = ssl.create_default_context()
    if tls.ca_path:
        if tls.ca_path.endswith("/") or not tls.ca_path.endswith((".pem", ".crt")):
            ctx.load_verify_locations(capath=tls.ca_path)
        else:
            ctx.load_verify_locations(cafile=tls.ca_path)
    if tls.client_cert:
        ctx.load_cert_chain(tls.client_cert, tls.client_key or None)
    if not tls.verify_host or not tls.verify_peer:
        ctx.check_hostname = False
    if not tls.verify_peer:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
