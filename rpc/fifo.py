"""jsonrpcs' FIFO transport, so that ``kamctl rpc ...`` drives siprouter.

What kamctl (``kamctl.rpcfifo``, Kamailio 5.6) does, and what this server answers:

1. kamctl creates its reply FIFO ``$CHROOT_DIR/tmp/kamailio_receiver_<pid>`` and starts
   ``cat < reply-fifo`` in the background.
2. It writes one JSON-RPC document to ``fifo_name`` (``RPCFIFOPATH``), e.g.
   ``{"jsonrpc": "2.0", "method": "core.psx", "params": [1, "x"], "reply_name":
   "kamailio_receiver_123", "id": 123}\\n`` (``kamctl monitor`` writes multi-line documents).
3. The server splits the stream into documents by bracket depth (whitespace between documents
   ignored), runs each, and writes the reply to ``fifo_reply_dir/reply_name`` — pretty printed
   the way jsonrpcs' ``pretty_format=1`` does (tabs, cJSON layout, no trailing newline) — then
   closes it; kamctl's ``cat`` ends at EOF and ``filter_json`` prints the lines.

Rules: ``reply_name`` must be a plain file name (no ``/``) naming an existing FIFO (never a
regular file); the server waits up to ``reply_timeout`` seconds for a reader to open it. A
request without ``reply_name`` is executed and gets no reply. A notification (no ``id``) gets
an empty reply (the FIFO is opened and closed) so a waiting reader is not left hanging.
Unparsable documents are logged and dropped (there is nowhere to answer). Batches are accepted
(an extension: Kamailio's FIFO does not parse them); their ``reply_name`` is the first item's.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import stat
import time
from typing import Any

import orjson

from rpc.registry import Commands
from rpc.server import DocumentTooLarge, JsonRpc, JsonSplitter, dumps

__all__ = ["FifoServer", "pretty"]

log = logging.getLogger("siprouter.rpc.fifo")


def pretty(value: Any, depth: int = 0) -> str:
    """cJSON's formatted output, as jsonrpcs prints it with ``pretty_format=1``."""
    if isinstance(value, dict) and value:
        pad = "\t" * (depth + 1)
        inner = ",\n".join(
            f"{pad}{dumps(str(k)).decode()}:\t{pretty(v, depth + 1)}" for k, v in value.items()
        )
        return "{\n" + inner + "\n" + "\t" * depth + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(pretty(v, depth + 1) for v in value) + "]"
    return dumps(value).decode()


def reply_name_of(doc: Any) -> str | None:
    """The ``reply_name`` of a request (a batch's first item carrying one)."""
    items = doc if isinstance(doc, list) else [doc]
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("reply_name"), str):
            return str(item["reply_name"])
    return None


def safe_reply_name(name: str) -> bool:
    return bool(name) and "/" not in name and name not in (".", "..") and "\0" not in name


class FifoServer:
    """jsonrpcs FIFO transport: requests on ``path``, replies to ``reply_dir/reply_name``."""

    def __init__(
        self,
        commands: Commands,
        path: str,
        *,
        reply_dir: str = "/tmp",
        mode: int = 0o660,
        reply_timeout: float = 2.0,
        max_size: int = 1 << 20,
    ) -> None:
        self.rpc = JsonRpc(commands)
        self.path, self.reply_dir, self.mode = path, reply_dir, mode
        self.reply_timeout, self.max_size = reply_timeout, max_size
        self._task: asyncio.Task[None] | None = None
        self._transport: asyncio.ReadTransport | None = None

    async def start(self) -> None:
        """Create the FIFO (replacing a stale one) and start reading it."""
        self._make_fifo()
        fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)  # our own writer end: no EOF
        reader = asyncio.StreamReader(limit=self.max_size)
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
        )
        self._task = asyncio.create_task(self._read_loop(reader), name="jsonrpcs-fifo")

    def _make_fifo(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISFIFO(os.lstat(self.path).st_mode):
                raise FileExistsError(f"{self.path} exists and is not a FIFO")
            os.unlink(self.path)
        os.mkfifo(self.path, self.mode)
        os.chmod(self.path, self.mode)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        splitter = JsonSplitter(self.max_size)
        while data := await reader.read(65536):
            try:
                docs = splitter.feed(data)
            except DocumentTooLarge as exc:
                log.warning("jsonrpcs fifo: %s; input dropped", exc)
                splitter = JsonSplitter(self.max_size)
                continue
            for doc in docs:
                await self.handle(doc)

    async def handle(self, raw: bytes) -> None:
        """Run one document from the FIFO and answer it where ``reply_name`` says."""
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            log.warning("jsonrpcs fifo: invalid json doc %r", raw[:200])
            return
        reply = await self.rpc.handle_doc(doc)
        name = reply_name_of(doc)
        if name is None:
            log.info("jsonrpcs fifo: request without reply_name executed, no reply sent")
            return
        if not safe_reply_name(name):
            log.warning("jsonrpcs fifo: refusing reply_name %r", name)
            return
        text = b"" if reply is None else pretty(reply).encode()
        await self.write_reply(os.path.join(self.reply_dir, name), text)

    async def write_reply(self, path: str, data: bytes) -> None:
        """Open the reply FIFO once its reader is there, write ``data``, close."""
        deadline = time.monotonic() + self.reply_timeout
        fd = await self._open_reply(path, deadline)
        if fd is None:
            log.warning("jsonrpcs fifo: cannot open reply fifo %s", path)
            return
        try:
            await self._write_all(fd, data, deadline)
        finally:
            os.close(fd)

    async def _open_reply(self, path: str, deadline: float) -> int | None:
        while time.monotonic() < deadline:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
            except OSError as exc:
                if exc.errno not in (errno.ENXIO, errno.ENOENT):
                    return None
                await asyncio.sleep(0.01)
                continue
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                return fd
            os.close(fd)
            return None
        return None

    async def _write_all(self, fd: int, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view and time.monotonic() < deadline:
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                await asyncio.sleep(0.005)
            except BrokenPipeError:
                return
        if view:
            log.warning("jsonrpcs fifo: reply truncated after %d bytes", len(data) - len(view))
