"""``siprouter-ctl``: a kamcmd-like client for siprouter's JSON-RPC management interface.

    siprouter-ctl core.version
    siprouter-ctl --json stats.get_statistics core:
    siprouter-ctl --url http://127.0.0.1:5062/RPC --token SECRET core.psx
    siprouter-ctl cfg.set core debug s:3

Parameters are typed like kamcmd's: an integer literal becomes an int, a decimal literal a
float, anything else a string; ``s:`` forces a string, ``i:`` an int (kamctl's prefixes).
Over the unix socket (default :data:`DEFAULT_SOCKET`, or ``$SIPROUTER_RPC_SOCKET``) it writes
one JSON document and reads one newline-terminated reply; with ``--url`` it POSTs to ``/RPC``.
Exit status: 0 on a result, 1 on a JSON-RPC error or fault, 2 when the server cannot be
reached or answers something that is not JSON-RPC.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
import urllib.error
import urllib.request
from typing import Any

import orjson

__all__ = ["DEFAULT_SOCKET", "call_unix", "call_url", "human", "main", "typed_param"]

DEFAULT_SOCKET = os.environ.get("SIPROUTER_RPC_SOCKET", "/run/siprouter/siprouter_rpc.sock")

_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?")


class CtlError(Exception):
    """The server could not be reached or gave no usable answer."""


def typed_param(text: str) -> Any:
    """kamcmd's parameter typing, plus kamctl's ``i:`` prefix."""
    if text.startswith("s:"):
        return text[2:]
    if text.startswith("i:"):
        return int(text[2:], 0)
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


def request_doc(method: str, params: list[Any]) -> bytes:
    doc: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": os.getpid()}
    if params:
        doc["params"] = params
    return orjson.dumps(doc)


def call_unix(path: str, payload: bytes, timeout: float) -> bytes:
    """Send one document over the unix stream socket; return the reply line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            return _read_line(sock)
        except OSError as exc:
            raise CtlError(f"{path}: {exc}") from exc


def _read_line(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            break
    return b"".join(chunks)


def call_url(url: str, payload: bytes, timeout: float, token: str | None) -> bytes:
    """POST one document to ``url``; fault statuses still carry a JSON-RPC body."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=payload, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            return bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return bytes(exc.read())
    except (urllib.error.URLError, OSError) as exc:
        raise CtlError(f"{url}: {exc}") from exc


def human(value: Any, indent: int = 0) -> list[str]:
    """kamcmd-style text: scalars as they are, structs in braces with tab-indented members."""
    pad = "\t" * indent
    if isinstance(value, dict):
        lines = [pad + "{"]
        for key, item in value.items():
            sub = human(item, indent + 1)
            if len(sub) == 1 and not isinstance(item, dict | list):
                lines.append(f"{pad}\t{key}: {sub[0].strip()}")
            else:
                lines += [f"{pad}\t{key}:"] + human(item, indent + 2)
        return lines + [pad + "}"]
    if isinstance(value, list):
        return [line for item in value for line in human(item, indent)]
    return [pad + ("" if value is None else str(value))]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="siprouter-ctl", description=__doc__.split("\n")[0])
    ap.add_argument("-s", "--socket", default=DEFAULT_SOCKET, help="unix socket path")
    ap.add_argument("--url", help="HTTP endpoint, e.g. http://127.0.0.1:5062/RPC")
    ap.add_argument(
        "--token",
        default=os.environ.get("SIPROUTER_RPC_TOKEN"),
        help="bearer token for --url (default $SIPROUTER_RPC_TOKEN)",
    )
    ap.add_argument("--json", action="store_true", help="print the JSON-RPC reply as JSON")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    ap.add_argument("method")
    ap.add_argument("params", nargs=argparse.REMAINDER)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``siprouter-ctl``; returns the exit status."""
    args = parse_args(argv)
    try:
        payload = request_doc(args.method, [typed_param(p) for p in args.params])
        raw = (
            call_url(args.url, payload, args.timeout, args.token)
            if args.url
            else call_unix(args.socket, payload, args.timeout)
        )
        reply = orjson.loads(raw)
        if not isinstance(reply, dict) or not ({"result", "error"} & reply.keys()):
            raise CtlError(f"unexpected answer: {raw[:200]!r}")
    except (CtlError, ValueError) as exc:
        print(f"siprouter-ctl: {exc}", file=sys.stderr)
        return 2
    return _print(reply, args.json)


def _print(reply: dict[str, Any], as_json: bool) -> int:
    if as_json:
        sys.stdout.write(orjson.dumps(reply).decode() + "\n")
    elif "error" in reply:
        err = reply["error"]
        print(f"error: {err.get('code')} - {err.get('message')}", file=sys.stderr)
    else:
        for line in human(reply.get("result")):
            print(line)
    return 1 if "error" in reply else 0


if __name__ == "__main__":
    sys.exit(main())
