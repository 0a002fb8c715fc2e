"""evapi with forked workers: worker 1's hub and another worker's link over the private unix
socket (both ends in this process, real sockets): relays of every worker reach the
subscriber; a message naming a transaction suspended by worker 2 runs its callback there;
other messages and connection events run in worker 1; tags and close travel to the hub."""

from __future__ import annotations

import asyncio
import json
import os
import stat

from modules import _evapi_hub as hub
from modules._evapi_server import Dispatcher, Limits
from modules._netstring import Decoder, encode

from .test_evapi import wait_for


async def test_hub_and_remote_worker() -> None:
    seen: dict[int, list[tuple[str, hub.Info]]] = {1: [], 2: []}
    disp = Dispatcher(Limits())
    host, port = await disp.start("127.0.0.1", 0)
    first = await hub.serve(disp, 1, lambda ev, info: seen[1].append((ev, info)))
    second = await hub.connect(2, lambda ev, info: seen[2].append((ev, info)))
    reader, writer = await asyncio.open_connection(host, port)
    dec = Decoder()
    try:
        mode = os.stat(hub.hub_dir()).st_mode
        assert stat.S_IMODE(mode) == 0o700
        await wait_for(lambda: second.count("all", "") == 1)
        assert seen[1][0][0] == "evapi:connection-new" and not seen[2]
        assert second.relay('{"tindex": 7, "tlabel": 9}', "all", "", (7, 9)) == 1
        assert first.relay("from-1", "all", "", None) == 1
        frames: list[bytes] = []
        while len(frames) < 2:
            frames += dec.feed(await asyncio.wait_for(reader.read(4096), 2))
        assert sorted(frames) == [b"from-1", b'{"tindex": 7, "tlabel": 9}']
        writer.write(encode(json.dumps({"tindex": 7, "tlabel": 9, "route": "x"})))
        writer.write(encode("hello"))
        await wait_for(lambda: seen[2] and len(seen[1]) == 2)
        assert seen[2][0][0] == "evapi:message-received" and "route" in (seen[2][0][1].msg or "")
        assert seen[1][1][1].msg == "hello"
        assert second.set_tag(0, "t1")
        await wait_for(lambda: second.view() == [(0, "t1")])
        assert second.count("multicast", "t1") == 1 and second.count("unicast", "zz") == 0
        assert second.close(0)
        assert await asyncio.wait_for(reader.read(), 2) == b""
        await wait_for(lambda: second.count("all", "") == 0)
        assert seen[1][-1][0] == "evapi:connection-closed"
    finally:
        writer.close()
        await second.stop()
        await first.stop()
    assert not os.path.exists(hub.hub_dir())


def test_ids_in_messages() -> None:
    assert hub.ids_in('{"tindex": "3", "tlabel": 4}') == (3, 4)
    assert hub.ids_in('{"index": 1, "label": 2, "x": []}') == (1, 2)
    assert hub.ids_in('{"tindex": "a"}') is None
    assert hub.ids_in("[1, 2]") is None and hub.ids_in("{bad") is None and hub.ids_in(None) is None
