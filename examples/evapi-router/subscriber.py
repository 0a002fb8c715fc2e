"""An evapi subscriber that routes INVITEs: connects to siprouter's (or Kamailio's) event
socket, reads each event (netstrings), answers INVITE events with an rtjson document taken
from a table keyed by the R-URI user ("*" = default; unknown user: route null -> 404).

    python examples/evapi-router/subscriber.py --table examples/evapi-router/routes.json \\
        [--host 127.0.0.1] [--port 8448] [--latency-ms 0]

Reconnects every second when the proxy is not there.
"""

import argparse
import asyncio
import json


def netstring(text):
    data = text.encode()
    return b"%d:%s," % (len(data), data)


async def netstrings(reader):
    """Yield the netstrings read from ``reader`` until it closes."""
    buf = b""
    while chunk := await reader.read(65536):
        buf += chunk
        while True:
            buf = buf.lstrip()
            head, colon, rest = buf.partition(b":")
            if not colon or not head.isdigit() or len(rest) <= int(head):
                break
            yield rest[: int(head)]
            buf = rest[int(head) + 1 :]


def decide(table, event):
    ruri = event.get("ruri") or ""
    user = ruri.split(":", 1)[-1].split("@", 1)[0] if "@" in ruri else ""
    route = table.get(user, table.get("*"))
    return {"tindex": event["tindex"], "tlabel": event["tlabel"], "route": route}


async def answer(writer, table, event, latency):
    if latency:
        await asyncio.sleep(latency)
    writer.write(netstring(json.dumps(decide(table, event))))


async def subscribe(host, port, table, latency):
    while True:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(1)
            continue
        print(f"subscribed to {host}:{port}", flush=True)
        async for frame in netstrings(reader):
            event = json.loads(frame)
            if event.get("event") == "invite":
                asyncio.ensure_future(answer(writer, table, event, latency))
        writer.close()
        print("the proxy closed the event socket", flush=True)
        await asyncio.sleep(1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--table", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8448)
    p.add_argument("--latency-ms", type=float, default=0)
    args = p.parse_args()
    with open(args.table) as f:
        table = json.load(f)
    try:
        asyncio.run(subscribe(args.host, args.port, table, args.latency_ms / 1000))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
