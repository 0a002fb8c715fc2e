"""How the workers reach evapi's event socket (docs/evapi.md, "Processes").

A :class:`Link` is what the evapi module of a worker talks to:

* :class:`Local` -- the worker serves the subscribers itself (one worker, or worker 1);
* :class:`Hub` -- worker 1 with forked siblings: a :class:`Local` plus a private unix socket
  (``<tmp>/siprouter-<master pid>-evapi/hub.sock``, directory 0700) that the other workers
  connect to. Their relays arrive there and go to the subscribers; the hub pushes the list of
  subscribers (conidx, tag) to every worker on each change, so a worker knows at once whether
  ``async_relay`` has anyone to talk to. A relay that suspended a transaction registers its
  ids with the worker that owns it; a subscriber's message naming those ids (JSON object
  with ``tindex``/``tlabel`` or ``index``/``label``) runs the event callback in that worker,
  any other message in worker 1. Connection events run in worker 1.
* :class:`Remote` -- the other workers' side of that unix socket.

The internal protocol is netstrings of JSON objects: ``{"op": "relay", "data", "mode",
"tag", "ids"}``, ``{"op": "close"|"tag", "conidx", "tag"}`` from workers; ``{"op":
"clients", "list"}`` and ``{"op": "event", "ev", "info"}`` from the hub.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from modules._evapi_server import Client, Dispatcher
from modules._netstring import Decoder, encode

log = logging.getLogger("siprouter.evapi")
MAX_IDS = 65536  # suspended-transaction ids remembered by the hub
CONNECT_TRIES = 200  # x 25 ms: how long a worker waits for worker 1's hub socket


@dataclass(frozen=True, slots=True)
class Info:
    """The connection (and message) of an evapi event: ``$evapi(...)``."""

    conidx: int
    srcaddr: str
    srcport: int
    msg: str | None = None


Deliver = Callable[[str, Info], None]


def info_of(client: Client, data: bytes | None = None) -> Info:
    msg = None if data is None else data.decode("utf-8", "replace")
    return Info(client.conidx, client.addr, client.port, msg)


def hub_dir() -> str:
    """The private directory of this master's hub socket."""
    return os.path.join(tempfile.gettempdir(), f"siprouter-{os.getppid()}-evapi")


def ids_in(msg: str | None) -> tuple[int, int] | None:
    """The transaction ids a subscriber's JSON message names, if any."""
    if not msg or not msg.lstrip().startswith("{"):
        return None
    try:
        doc = json.loads(msg)
    except ValueError:
        return None
    for a, b in (("tindex", "tlabel"), ("index", "label")):
        try:
            return int(doc[a]), int(doc[b])
        except (KeyError, TypeError, ValueError):
            continue
    return None


class Link(ABC):
    """The evapi socket as a worker sees it (:class:`Local`, :class:`Hub`, :class:`Remote`)."""

    @abstractmethod
    def relay(self, data: str, mode: str, tag: str, ids: tuple[int, int] | None) -> int:
        """Send ``data`` to the subscribers ``mode``/``tag`` select (``ids``: the transaction it
        suspended, if any); how many it reached."""

    @abstractmethod
    def view(self) -> list[tuple[int, str]]:
        """The subscribers: ``(conidx, tag)`` each."""

    def count(self, mode: str, tag: str) -> int:
        """How many subscribers a relay in ``mode`` would reach."""
        tags = [t for _, t in self.view() if mode == "all" or t == tag]
        return min(len(tags), 1) if mode == "unicast" else len(tags)

    @abstractmethod
    def close(self, conidx: int) -> bool:
        """Close subscriber ``conidx``; False if there is none."""

    @abstractmethod
    def set_tag(self, conidx: int, tag: str) -> bool:
        """Tag subscriber ``conidx``; False if there is none."""

    def stats(self) -> dict[str, int]:
        return {}

    def clients(self) -> list[dict[str, Any]]:
        return [{"conidx": i, "tag": t} for i, t in self.view()]

    async def stop(self) -> None:
        return None


class Local(Link):
    """This process serves the subscribers."""

    def __init__(self, disp: Dispatcher) -> None:
        self.disp = disp

    def relay(self, data: str, mode: str, tag: str, ids: tuple[int, int] | None) -> int:
        return self.disp.relay(data, mode, tag)

    def view(self) -> list[tuple[int, str]]:
        return [(i, c.tag) for i, c in sorted(self.disp.clients.items())]

    def close(self, conidx: int) -> bool:
        client = self.disp.get(conidx)
        if client is not None:
            client.close()
        return client is not None

    def set_tag(self, conidx: int, tag: str) -> bool:
        client = self.disp.get(conidx)
        if client is not None:
            client.tag = tag
            self.changed()
        return client is not None

    def changed(self) -> None:
        """The list of subscribers changed (the hub tells the workers)."""

    def stats(self) -> dict[str, int]:
        return {**self.disp.stats, "clients": len(self.disp.clients)}

    def clients(self) -> list[dict[str, Any]]:
        return [{"conidx": i, "address": c.addr, "port": c.port, "tag": c.tag}
                for i, c in sorted(self.disp.clients.items())]  # fmt: skip

    async def stop(self) -> None:
        await self.disp.stop()


def _send(writer: asyncio.StreamWriter, doc: dict[str, Any]) -> None:
    if not writer.is_closing():
        writer.write(encode(json.dumps(doc)))


async def _frames(reader: asyncio.StreamReader) -> Any:
    """JSON objects read from an internal connection until it closes."""
    decoder = Decoder(max_size=1 << 24)
    while data := await reader.read(65536):
        for item in decoder.feed(data):
            yield json.loads(item)


class Hub(Local):
    """Worker 1 with forked siblings: serves the subscribers and the other workers."""

    def __init__(self, disp: Dispatcher, rank: int, deliver: Deliver) -> None:
        super().__init__(disp)
        self.rank, self.deliver = rank, deliver
        self.peers: dict[int, asyncio.StreamWriter] = {}
        self.owners: OrderedDict[tuple[int, int], int] = OrderedDict()
        self.server: asyncio.base_events.Server | None = None
        disp.on_new = lambda c: self._conn("evapi:connection-new", c)
        disp.on_closed = lambda c: self._conn("evapi:connection-closed", c)
        disp.on_message = self._message

    async def start(self) -> None:
        folder = hub_dir()
        shutil.rmtree(folder, ignore_errors=True)
        os.mkdir(folder, 0o700)
        self.server = await asyncio.start_unix_server(self._peer, os.path.join(folder, "hub.sock"))

    def relay(self, data: str, mode: str, tag: str, ids: tuple[int, int] | None) -> int:
        return self._relay(self.rank, data, mode, tag, ids)

    def _relay(self, rank: int, data: str, mode: str, tag: str, ids: Any) -> int:
        if ids is not None:
            self.owners[(int(ids[0]), int(ids[1]))] = rank
            while len(self.owners) > MAX_IDS:
                self.owners.popitem(last=False)
        return self.disp.relay(data, mode, tag)

    def _conn(self, evname: str, client: Client) -> None:
        self.changed()
        self.deliver(evname, info_of(client))

    def _message(self, client: Client, data: bytes) -> None:
        info = info_of(client, data)
        ids = ids_in(info.msg)
        rank = self.owners.pop(ids, self.rank) if ids is not None else self.rank
        peer = self.peers.get(rank)
        if peer is None:
            self.deliver("evapi:message-received", info)
        else:
            _send(peer, {"op": "event", "ev": "evapi:message-received", "info": asdict(info)})

    def changed(self) -> None:
        for writer in self.peers.values():
            _send(writer, {"op": "clients", "list": self.view()})

    async def _peer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        rank = -1
        try:
            async for op in _frames(reader):
                if op.get("op") == "hello":
                    rank = int(op["rank"])
                    self.peers[rank] = writer
                    _send(writer, {"op": "clients", "list": self.view()})
                else:
                    self._op(rank, op)
        except (ValueError, KeyError, ConnectionError) as exc:
            log.error("evapi hub: worker %d: %r", rank, exc)
        finally:
            if self.peers.get(rank) is writer:
                del self.peers[rank]
            writer.close()

    def _op(self, rank: int, op: dict[str, Any]) -> None:
        kind = op.get("op")
        if kind == "relay":
            self._relay(rank, op["data"], op["mode"], op.get("tag", ""), op.get("ids"))
        elif kind == "close":
            self.close(int(op["conidx"]))
        elif kind == "tag":
            self.set_tag(int(op["conidx"]), str(op["tag"]))

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in list(self.peers.values()):
            writer.close()
        shutil.rmtree(hub_dir(), ignore_errors=True)
        await super().stop()


async def serve(disp: Dispatcher, rank: int, deliver: Deliver) -> Hub:
    """Worker 1 of forked workers: the hub."""
    h = Hub(disp, rank, deliver)
    await h.start()
    return h


class Remote(Link):
    """A worker other than 1: relays go to the hub over the unix socket."""

    def __init__(self, rank: int, deliver: Deliver) -> None:
        self.rank, self.deliver = rank, deliver
        self.writer: asyncio.StreamWriter | None = None
        self.list: list[tuple[int, str]] = []
        self.task: asyncio.Task[None] | None = None
        self.sent: dict[str, int] = {"forwarded": 0}

    def start(self) -> None:
        """Connect in the background (worker 1 may not listen yet), then read."""
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        path = os.path.join(hub_dir(), "hub.sock")
        for _ in range(CONNECT_TRIES):
            try:
                reader, self.writer = await asyncio.open_unix_connection(path)
                break
            except OSError:
                await asyncio.sleep(0.025)
        else:
            log.error("evapi: worker %d cannot reach the hub at %s", self.rank, path)
            return
        _send(self.writer, {"op": "hello", "rank": self.rank})
        await self._read(reader)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            async for op in _frames(reader):
                if op.get("op") == "clients":
                    self.list = [(int(i), str(t)) for i, t in op["list"]]
                elif op.get("op") == "event":
                    self.deliver(op["ev"], Info(**op["info"]))
                    await asyncio.sleep(0)  # its t_continue runs before the next event
        except (ValueError, KeyError, TypeError, ConnectionError) as exc:
            log.error("evapi: worker %d: hub link: %r", self.rank, exc)
        self.list = []
        log.warning("evapi: worker %d lost the hub", self.rank)

    def view(self) -> list[tuple[int, str]]:
        return self.list

    def relay(self, data: str, mode: str, tag: str, ids: tuple[int, int] | None) -> int:
        sent = self.count(mode, tag)
        if sent and self.writer is not None:
            _send(self.writer, {"op": "relay", "data": data, "mode": mode, "tag": tag,
                                "ids": list(ids) if ids else None})  # fmt: skip
            self.sent["forwarded"] += 1
        return sent

    def close(self, conidx: int) -> bool:
        return self._op({"op": "close", "conidx": conidx}, conidx)

    def set_tag(self, conidx: int, tag: str) -> bool:
        return self._op({"op": "tag", "conidx": conidx, "tag": tag}, conidx)

    def _op(self, op: dict[str, Any], conidx: int) -> bool:
        if self.writer is None or all(i != conidx for i, _ in self.list):
            return False
        _send(self.writer, op)
        return True

    def stats(self) -> dict[str, int]:
        return dict(self.sent)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.writer is not None:
            self.writer.close()


async def connect(rank: int, deliver: Deliver) -> Remote:
    """A worker other than 1 of forked workers: the link to the hub."""
    remote = Remote(rank, deliver)
    remote.start()
    return remote
