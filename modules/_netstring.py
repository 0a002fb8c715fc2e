"""Framing of the event socket (evapi) and of JSON-RPC over TCP (jsonrpcc): netstrings
(``<length>:<data>,``, D. J. Bernstein) or, without netstrings, newline-free JSON frames one
per line.

:class:`Decoder` is sans-IO: ``feed(bytes)`` returns the complete frames found so far and
keeps a partial one for the next call. Leading whitespace before a netstring is skipped (as
Kamailio's evapi does). A malformed length, a missing ``,`` or a frame longer than
``max_size`` is an error: the buffer is reset (Kamailio's behaviour), :attr:`Decoder.errors`
counts it and the bytes up to the next plausible frame start are dropped.
"""

from __future__ import annotations

MAX_DIGITS = 10  # a length field longer than this is garbage anyway


def encode(data: bytes | str) -> bytes:
    """``data`` as one netstring."""
    raw = data.encode() if isinstance(data, str) else data
    return b"%d:%s," % (len(raw), raw)


def encode_line(data: bytes | str) -> bytes:
    """``data`` as one raw frame (newlines replaced by spaces, then ``\\n``)."""
    raw = data.encode() if isinstance(data, str) else data
    return raw.replace(b"\r", b" ").replace(b"\n", b" ") + b"\n"


def frame(data: bytes | str, netstring: bool = True) -> bytes:
    """``data`` framed as the socket expects."""
    return encode(data) if netstring else encode_line(data)


class FrameError(ValueError):
    """A frame that cannot be decoded (bad length, missing comma, too long)."""


class Decoder:
    """Incremental decoder of netstrings (or of lines with ``netstring=False``)."""

    def __init__(self, max_size: int = 65536, netstring: bool = True) -> None:
        self.max_size = max_size
        self.netstring = netstring
        self.errors = 0
        self.last_error = ""
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes buffered for an incomplete frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return every complete frame (errors are counted and skipped)."""
        self._buf += data
        split = self._netstrings if self.netstring else self._lines
        return split()

    def _fail(self, why: str) -> None:
        self.errors += 1
        self.last_error = why
        self._buf.clear()

    def _lines(self) -> list[bytes]:
        frames = []
        while (end := self._buf.find(b"\n")) >= 0:
            line = bytes(self._buf[:end]).strip()
            del self._buf[: end + 1]
            if len(line) > self.max_size:
                self.errors += 1
                self.last_error = "frame too long"
            elif line:
                frames.append(line)
        if len(self._buf) > self.max_size:
            self._fail("frame too long")
        return frames

    def _netstrings(self) -> list[bytes]:
        frames: list[bytes] = []
        while True:
            try:
                got = self._one()
            except FrameError as exc:
                self._fail(str(exc))
                return frames
            if got is None:
                return frames
            frames.append(got)

    def _one(self) -> bytes | None:
        """One netstring from the buffer, None if incomplete; raise FrameError."""
        buf = self._buf
        start = 0
        while start < len(buf) and buf[start] in b" \t\r\n":
            start += 1
        del buf[:start]
        colon = buf.find(b":", 0, MAX_DIGITS + 1)
        if colon < 0:
            if len(buf) > MAX_DIGITS or not bytes(buf).isdigit() and buf:
                raise FrameError("bad netstring length")
            return None
        size = self._size(bytes(buf[:colon]))
        end = colon + 1 + size
        if len(buf) <= end:
            return None
        if buf[end] != ord(","):
            raise FrameError("netstring without the closing comma")
        data = bytes(buf[colon + 1 : end])
        del buf[: end + 1]
        return data

    def _size(self, digits: bytes) -> int:
        if not digits.isdigit() or (len(digits) > 1 and digits[0] == ord("0")):
            raise FrameError("bad netstring length")
        size = int(digits)
        if size > self.max_size:
            raise FrameError(f"frame of {size} bytes (max {self.max_size})")
        return size
