"""A JSON-RPC 2.0 routing server over TCP netstrings (what Kamailio's jsonrpcc speaks).

    python examples/jsonrpc-router/server.py --table examples/jsonrpc-router/routes.json \\
        [--host 127.0.0.1] [--port 8449] [--latency-ms 0]

Method ``route`` with params ``{"ruri": ..., ...}`` answers the rtjson document of the R-URI
user from the table (``"*"`` = default), or the error ``{"code": 404, "message": "Not
Found"}``. Notifications (no ``id``) are counted and not answered; unknown methods get
``-32601``. Standard library only.
"""

import argparse
import asyncio
import json


def netstring(doc):
    data = json.dumps(doc).encode()
    return b"%d:%s," % (len(data), data)


def route(table, params):
    ruri = (params or {}).get("ruri") or ""
    user = ruri.split(":", 1)[-1].split("@", 1)[0] if "@" in ruri else ""
    doc = table.get(user, table.get("*"))
    return ("result", doc) if doc else ("error", {"code": 404, "message": "Not Found"})


async def answer(writer, table, req, latency):
    if "id" not in req:
        return  # a notification
    if latency:
        await asyncio.sleep(latency)
    if req.get("method") == "route":
        kind, value = route(table, req.get("params"))
    else:
        kind, value = "error", {"code": -32601, "message": "Method not found"}
    writer.write(netstring({"jsonrpc": "2.0", "id": req["id"], kind: value}))


async def client(reader, writer, table, latency):
    buf = b""
    while chunk := await reader.read(65536):
        buf += chunk
        while True:
            buf = buf.lstrip()
            head, colon, rest = buf.partition(b":")
            if not colon or not head.isdigit() or len(rest) <= int(head):
                break
            req, buf = json.loads(rest[: int(head)]), rest[int(head) + 1 :]
            asyncio.ensure_future(answer(writer, table, req, latency))
    writer.close()


async def serve(host, port, table, latency):
    server = await asyncio.start_server(
        lambda r, w: client(r, w, table, latency), host, port, reuse_address=True
    )
    print(f"listening on {host}:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--table", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8449)
    p.add_argument("--latency-ms", type=float, default=0)
    args = p.parse_args()
    with open(args.table) as f:
        table = json.load(f)
    try:
        asyncio.run(serve(args.host, args.port, table, args.latency_ms / 1000))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
