"""The one error hierarchy of ``sip/`` (in the style of h11).

Everything the parser, the framer and the typed views raise for bad input is a
:class:`RemoteProtocolError`: the peer sent something wrong, and the error carries the
status a server should answer with (RFC 3261 §21: 400, 416, 420, 505, 513, ...).
:class:`LocalProtocolError` is raised when *our* code misuses the library (for example
asks a response for its Request-URI); it is a bug, not an input problem.
"""

from __future__ import annotations

__all__ = ["SIPError", "RemoteProtocolError", "LocalProtocolError"]

_REASONS = {
    400: "Bad Request",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    483: "Too Many Hops",
    501: "Not Implemented",
    505: "Version Not Supported",
    513: "Message Too Large",
}


class SIPError(Exception):
    """Base of every error raised by the ``sip`` package."""


class RemoteProtocolError(SIPError):
    """The remote side sent bytes that break the protocol.

    ``status``/``reason`` say what to answer (when the bad message was a request and a
    reply is possible); ``detail`` says what was wrong, for logs.
    """

    def __init__(self, detail: str, status: int = 400, reason: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.reason = reason or _REASONS.get(status, "Bad Request")

    def __repr__(self) -> str:
        return f"RemoteProtocolError({self.detail!r}, status={self.status})"


class LocalProtocolError(SIPError):
    """Our own code asked for something the protocol does not allow."""
