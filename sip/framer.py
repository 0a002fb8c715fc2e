"""Stream framing for SIP over TCP, TLS and other byte streams (RFC 3261 §18.3, §7.5;
RFC 5626 §3.5.1 CRLF keep-alives).

``StreamFramer`` is fed bytes as they arrive and hands out one event at a time:
a parsed :class:`~sip.message.Message`, or :class:`KeepAlive` for a double-CRLF ping
(answer it with a single CRLF). It gives the same events however the bytes are cut into
reads. Two kinds of error, both :class:`~sip.errors.RemoteProtocolError`:

* :class:`FramingError` -- the stream cannot be framed any more (no or bad Content-Length,
  header section or body over the limits); the framer stays broken and the connection
  must be closed;
* a plain ``RemoteProtocolError`` -- one message was framed but is malformed; its bytes are
  consumed and the stream goes on (answer 400 if it was a request).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import RemoteProtocolError
from .message import DEFAULT_LIMITS, Limits, Message
from .parser import parse

__all__ = ["StreamFramer", "KeepAlive", "FramingError"]

_CL_RE = re.compile(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*(?:\r\n[ \t]+)?([^\r\n]*)", re.I)
_END = b"\r\n\r\n"


class FramingError(RemoteProtocolError):
    """The stream's framing is lost: close the connection."""


@dataclass(frozen=True)
class KeepAlive:
    """A CRLFCRLF ping from the peer (RFC 5626 §3.5.1): answer with CRLF."""


_KEEPALIVE = KeepAlive()


class StreamFramer:
    """Turns a byte stream into SIP messages; see the module docstring."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._buf = bytearray()
        self._searched = 0  # bytes already searched for the end of the header section
        self._error: FramingError | None = None

    def feed(self, data: bytes) -> None:
        """Add received bytes (events come from :meth:`next_event`)."""
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not framed yet (a slow or stuck peer shows here)."""
        return len(self._buf)

    def next_event(self) -> Message | KeepAlive | None:
        """The next complete message or keep-alive, or None until more bytes arrive."""
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except FramingError as exc:
            self._error = exc
            raise

    def events(self) -> Iterator[Message | KeepAlive]:
        """Yield the events ready now; an error is raised where it occurs in the stream,
        after every event before it has been yielded."""
        while (event := self.next_event()) is not None:
            yield event

    def _next(self) -> Message | KeepAlive | None:
        buf = self._buf
        while buf[:2] == b"\r\n":
            if len(buf) < 4 and _END.startswith(bytes(buf)):
                return None  # "\r\n" or "\r\n\r": a pong or the start of a ping
            if buf[:4] == _END:
                del buf[:4]
                self._searched = 0
                return _KEEPALIVE
            del buf[:2]  # a lone CRLF (pong, or CRLF before a start line: RFC 3261 §7.5)
        if buf == b"\r":
            return None
        end = buf.find(_END, max(self._searched - 3, 0))
        limit = self.limits.max_header_bytes
        if end < 0:
            self._searched = len(buf)
            if len(buf) - 3 > limit:
                raise FramingError("header section too large", 513)
            return None
        if end > limit:
            raise FramingError("header section too large", 513)
        return self._message(end)

    def _message(self, end: int) -> Message | None:
        length = self._content_length(bytes(self._buf[: end + 2]))
        total = end + 4 + length
        if len(self._buf) < total:
            return None
        data = bytes(self._buf[:total])
        del self._buf[:total]
        self._searched = 0
        return parse(data, datagram=False, limits=self.limits)

    def _content_length(self, head: bytes) -> int:
        values = _CL_RE.findall(head)
        if not values:
            raise FramingError("Content-Length is required on a stream")
        if len(values) > 1:
            raise FramingError("more than one Content-Length header")
        value = values[0].strip()
        if not value.isdigit():
            raise FramingError(f"bad Content-Length {value[:20]!r}")
        length = int(value)
        if length > self.limits.max_body:
            raise FramingError("body too large", 513)
        return length
