"""Kamailio's binrpc protocol (the ``ctl`` module) on a unix stream socket, for ``kamcmd``.

Wire format (checked against Kamailio 5.6 ``ctl`` + ``kamcmd`` 1.5 traffic):

* Packet header: ``0xA1`` (magic 0xA, version 1); then one byte ``type<<4 | (len_len-1)<<2 |
  (cookie_len-1)`` with type 0 request, 1 reply, 3 fault; then the body length (``len_len``
  bytes, big endian) and a cookie (``cookie_len`` bytes) that the reply echoes.
* Each value record starts with ``S<<7 | size<<4 | type``: with S=0 ``size`` is the value's
  length (0..7), with S=1 it is the length of a big-endian length field that follows.
  Types: 0 int (big endian, minimal bytes, 0 has none; negatives as 4-byte two's complement),
  1 string (NUL-terminated, the NUL counted), 2 double (int of value*1000), 3 struct,
  4 array, 5 AVP (a struct member's name, NUL-terminated, followed by its value record),
  6 bytes. A struct/array starts with a size-0 record and ends with ``S=1, size=0``
  (``0x83``/``0x84``). kamcmd refuses an array as a struct member's value, so there a list is
  sent as a struct of unnamed values, as Kamailio's ``ctl`` does.
* A request body is the method name (string) followed by the parameters; a reply body is the
  command's values; a fault body is an int code and a string message (kamcmd prints
  ``error: 500 - command x.y not found``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from typing import Any

from rpc.registry import Commands, InvalidParams, MethodNotFound, RpcFault
from rpc.server import start_unix, stop_unix

__all__ = [
    "BinrpcServer",
    "BinrpcError",
    "decode_packet",
    "decode_values",
    "encode_packet",
    "encode_value",
    "binrpc_call",
]

log = logging.getLogger("siprouter.rpc.binrpc")

MAGIC_VERSION = 0xA1
REQ, REPL, FAULT = 0, 1, 3
T_INT, T_STR, T_DOUBLE, T_STRUCT, T_ARRAY, T_AVP, T_BYTES = 0, 1, 2, 3, 4, 5, 6
_END = object()


class BinrpcError(ValueError):
    """Malformed binrpc data."""


class _Name(str):
    """A decoded AVP (struct member) name."""


def _uint_bytes(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""


def _record(rtype: int, payload: bytes) -> bytes:
    if len(payload) < 8:
        return bytes([len(payload) << 4 | rtype]) + payload
    length = _uint_bytes(len(payload))
    return bytes([0x80 | len(length) << 4 | rtype]) + length + payload


def _int(value: int) -> bytes:
    if value < 0:
        return _record(T_INT, struct.pack(">i", value))
    return _record(T_INT, _uint_bytes(value))


def encode_value(value: Any) -> bytes:
    """One Python value as binrpc records (dict → struct, list → array)."""
    if isinstance(value, bool):
        return _int(int(value))
    if isinstance(value, int):
        return _int(value) if -(2**31) <= value < 2**31 else _str(str(value))
    if isinstance(value, float):
        return _int_record(T_DOUBLE, int(value * 1000))
    if isinstance(value, bytes):
        return _record(T_BYTES, value)
    if isinstance(value, dict):
        members = b"".join(_str(str(k), T_AVP) + _member(v) for k, v in value.items())
        return bytes([T_STRUCT]) + members + bytes([0x80 | T_STRUCT])
    if isinstance(value, list | tuple):
        return _container(T_ARRAY, value)
    return _str("" if value is None else str(value))


def _member(value: Any) -> bytes:
    """A struct member's value: kamcmd rejects an array there, so a list becomes a struct of
    unnamed values (as Kamailio's ``ctl`` encodes ``[`` inside a struct)."""
    if isinstance(value, list | tuple):
        return _container(T_STRUCT, value)
    return encode_value(value)


def _container(rtype: int, items: list[Any] | tuple[Any, ...]) -> bytes:
    return bytes([rtype]) + b"".join(encode_value(v) for v in items) + bytes([0x80 | rtype])


def _int_record(rtype: int, value: int) -> bytes:
    raw = struct.pack(">i", value) if value < 0 else _uint_bytes(value)
    return _record(rtype, raw)


def _str(text: str, rtype: int = T_STR) -> bytes:
    return _record(rtype, text.encode() + b"\0")


def encode_packet(ptype: int, cookie: bytes, body: bytes) -> bytes:
    """Header + body; the length field uses as few bytes as needed."""
    length = _uint_bytes(len(body)) or b"\0"
    flags = ptype << 4 | (len(length) - 1) << 2 | (len(cookie) - 1)
    return bytes([MAGIC_VERSION, flags]) + length + cookie + body


def header_size(first_two: bytes) -> tuple[int, int, int]:
    """(packet type, length-field size, cookie size) from the first two bytes."""
    if first_two[0] != MAGIC_VERSION:
        raise BinrpcError(f"bad magic/version 0x{first_two[0]:02x}")
    flags = first_two[1]
    return flags >> 4, (flags >> 2 & 3) + 1, (flags & 3) + 1


def decode_packet(data: bytes) -> tuple[int, bytes, bytes]:
    """A whole packet → (type, cookie, body)."""
    ptype, len_len, cookie_len = header_size(data[:2])
    length = int.from_bytes(data[2 : 2 + len_len], "big")
    start = 2 + len_len + cookie_len
    if len(data) < start + length:
        raise BinrpcError("truncated packet")
    return ptype, data[2 + len_len : start], data[start : start + length]


def decode_values(body: bytes) -> list[Any]:
    """Every top-level value of a body (structs as dicts, arrays as lists)."""
    values: list[Any] = []
    pos = 0
    while pos < len(body):
        value, pos = _decode(body, pos)
        if value is _END:
            raise BinrpcError("unbalanced struct/array end")
        values.append(value)
    return values


def _decode(body: bytes, pos: int) -> tuple[Any, int]:
    hdr = body[pos]
    rtype, size, pos = hdr & 0x0F, hdr >> 4 & 7, pos + 1
    if hdr & 0x80:
        if size == 0 and rtype in (T_STRUCT, T_ARRAY):
            return _END, pos
        size, pos = int.from_bytes(body[pos : pos + size], "big"), pos + size
    raw = body[pos : pos + size]
    if rtype in (T_STRUCT, T_ARRAY):
        return _decode_container(body, pos, rtype)
    if len(raw) < size:
        raise BinrpcError("truncated record")
    return _scalar(rtype, raw), pos + size


def _scalar(rtype: int, raw: bytes) -> Any:
    if rtype in (T_INT, T_DOUBLE):
        n = int.from_bytes(raw, "big", signed=len(raw) == 4)
        return n / 1000 if rtype == T_DOUBLE else n
    if rtype in (T_STR, T_AVP):
        text = raw.rstrip(b"\0").decode(errors="replace")
        return _Name(text) if rtype == T_AVP else text
    if rtype == T_BYTES:
        return raw
    raise BinrpcError(f"unknown record type {rtype}")


def _decode_container(body: bytes, pos: int, rtype: int) -> tuple[Any, int]:
    items: list[Any] = []
    while pos < len(body):
        value, pos = _decode(body, pos)
        if value is _END:
            return _container_value(rtype, items), pos
        items.append(value)
    raise BinrpcError("unterminated struct/array")


def _container_value(rtype: int, items: list[Any]) -> Any:
    named = items[::2]
    if rtype == T_STRUCT and all(isinstance(n, _Name) for n in named):
        return {str(k): v for k, v in zip(named, items[1::2], strict=False)}
    return [v for v in items if not isinstance(v, _Name)]


async def read_packet(reader: asyncio.StreamReader, limit: int) -> bytes:
    """One packet from a stream (raises ``IncompleteReadError`` at EOF)."""
    head = await reader.readexactly(2)
    _, len_len, cookie_len = header_size(head)
    rest = await reader.readexactly(len_len + cookie_len)
    length = int.from_bytes(rest[:len_len], "big")
    if length > limit:
        raise BinrpcError(f"packet of {length} bytes exceeds {limit}")
    return head + rest + await reader.readexactly(length)


async def execute(commands: Commands, body: bytes) -> tuple[int, bytes]:
    """Run the request in ``body``; return (packet type, reply body)."""
    try:
        values = decode_values(body)
        if not values or not isinstance(values[0], str):
            raise BinrpcError("method name expected")
        name, params = values[0], values[1:]
        cmd = commands.lookup(name)
        result = await cmd.call(params)
    except MethodNotFound as exc:
        return FAULT, _int(500) + _str(f"command {exc.name} not found")
    except InvalidParams as exc:
        return FAULT, _int(400) + _str(f"Invalid Parameters: {exc.detail}")
    except RpcFault as exc:
        return FAULT, _int(exc.code) + _str(exc.message)
    except BinrpcError as exc:
        return FAULT, _int(400) + _str(str(exc))
    except Exception as exc:  # a command bug must not kill the listener
        log.exception("binrpc command failed")
        return FAULT, _int(500) + _str(f"Internal Error: {exc}")
    return REPL, _reply_body(result, cmd.ret_array)


def _reply_body(result: Any, ret_array: bool) -> bytes:
    if result is None:
        return b""
    if ret_array and isinstance(result, list | tuple):
        return b"".join(encode_value(v) for v in result)
    return encode_value(result)


class BinrpcServer:
    """The ``ctl`` module's binrpc listener on a unix stream socket."""

    def __init__(
        self, commands: Commands, path: str, *, mode: int = 0o600, max_size: int = 1 << 20
    ) -> None:
        self.commands, self.path, self.mode, self.max_size = commands, path, mode, max_size
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server = await start_unix(self.path, self._serve, self.mode)

    async def stop(self) -> None:
        if self._server is not None:
            await stop_unix(self._server, self.path)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                ptype, cookie, body = decode_packet(await read_packet(reader, self.max_size))
                rtype, reply = await execute(self.commands, body)
                writer.write(encode_packet(rtype, cookie, reply))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except BinrpcError as exc:
            log.warning("binrpc: closing connection: %s", exc)
        finally:
            writer.close()


async def binrpc_call(path: str, method: str, *params: Any) -> Any:
    """Minimal client: returns the list of values, raises :class:`RpcFault` on a fault."""
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        body = encode_value(method) + b"".join(encode_value(p) for p in params)
        writer.write(encode_packet(REQ, os.urandom(4), body))
        await writer.drain()
        ptype, _, reply = decode_packet(await read_packet(reader, 1 << 24))
    finally:
        writer.close()
    values = decode_values(reply)
    if ptype == FAULT:
        raise RpcFault(int(values[0]), str(values[1]))
    return values
