"""http_client's named connections (``httpcon``) and header-line parsing.

``modparam("http_client", "httpcon", "name=>scheme://[user:pass@]host[:port][/base][;p=v]")``;
parameters: ``useragent``, ``verify_peer``, ``verify_host``, ``client_cert``, ``client_key``,
``cipher_suites``, ``timeout`` (unit of ``timeout_mode``), ``tlsversion``, ``maxdatasize``,
``httpredirect``, ``keep_connections``, ``authmethod``, ``query_result``, ``failover``
(another connection, tried on a transport failure or a 5xx).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from modules._http_fetch import Query, Tls

INT_PARAMS = (
    "verify_peer", "verify_host", "timeout", "tlsversion", "maxdatasize", "httpredirect",
    "keep_connections", "authmethod", "query_result",
)  # fmt: skip


class HttpConError(ValueError):
    """A malformed ``httpcon`` definition (a start-up error)."""


@dataclass(frozen=True, slots=True)
class Connection:
    """A named HTTP connection: base URL, credentials, per-connection settings."""

    name: str
    url: str
    username: str = ""
    password: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def failover(self) -> str:
        """Name of the connection to try when this one fails ("" = none)."""
        return str(self.params.get("failover", ""))

    def oneline(self, cfg: Mapping[str, Any]) -> bool:
        """Whether only the first body line is stored (``query_result``)."""
        return bool(self.params.get("query_result", cfg["query_result"]))

    def full_url(self, part: str) -> str:
        """The base URL with ``part`` appended."""
        if not part:
            return self.url
        return self.url.rstrip("/") + "/" + part.lstrip("/")

    def query(self, base: Query, part: str, ctype: str, data: str, cfg: Mapping[str, Any]) -> Query:
        """A query on this connection, from the module defaults in ``base``."""
        p = self.params
        timeout = base.timeout
        if "timeout" in p:
            timeout = p["timeout"] / 1000 if cfg["timeout_mode"] == 2 else float(p["timeout"])
        tls = Tls(
            bool(p.get("verify_peer", base.tls.verify_peer)),
            bool(p.get("verify_host", base.tls.verify_host)),
            p.get("client_cert", base.tls.client_cert),
            p.get("client_key", base.tls.client_key),
            base.tls.ca_path,
        )
        return replace(
            base, url=self.full_url(part), method="POST" if data else "GET",
            body=data.encode() if data else None,
            headers=[("Content-Type", ctype)] if data and ctype else [],
            timeout=max(timeout, 0.001), username=self.username, password=self.password,
            authmethod=p.get("authmethod", base.authmethod), tls=tls,
            max_size=p.get("maxdatasize", base.max_size),
            follow_redirect=bool(p.get("httpredirect", base.follow_redirect)),
            user_agent=p.get("useragent", base.user_agent),
        )  # fmt: skip

    def describe(self) -> dict[str, Any]:
        """For ``httpclient.listcon`` (no password)."""
        return {"name": self.name, "url": self.url, "username": self.username, **self.params}


def parse_httpcon(text: str) -> Connection:
    """Parse one ``httpcon`` value; raise :class:`HttpConError`."""
    name, sep, rest = text.partition("=>")
    if not sep or not name.strip() or not rest.strip():
        raise HttpConError(f'httpcon must be "name=>url", got {text!r}')
    url, *pairs = rest.strip().split(";")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpConError(f"httpcon {name.strip()}: not an http(s) URL: {url!r}")
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, ""))
    params = dict(_param(name.strip(), pair) for pair in pairs if pair.strip())
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    return Connection(name.strip(), clean, user, password, params)


def _param(con: str, pair: str) -> tuple[str, Any]:
    key, sep, value = pair.partition("=")
    key, value = key.strip(), value.strip()
    if not sep:
        raise HttpConError(f"httpcon {con}: parameter {pair!r} needs a value")
    if key in INT_PARAMS:
        try:
            return key, int(value)
        except ValueError:
            raise HttpConError(f"httpcon {con}: {key} must be an integer") from None
    return key, value


def split_headers(hdrs: str) -> list[tuple[str, str]]:
    """``"A: 1\\r\\nB: 2"`` -> ``[("A", "1"), ("B", "2")]`` (lines without ``:`` skipped)."""
    out = []
    for line in hdrs.replace("\r\n", "\n").split("\n"):
        name, sep, value = line.partition(":")
        if sep and name.strip():
            out.append((name.strip(), value.strip()))
    return out
