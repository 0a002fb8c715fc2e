"""Multipart bodies for textops' ``append_body_part`` (RFC 2046 §5.1)."""

from __future__ import annotations

from typing import Any

from modules import _textedit as te

BOUNDARY = "unique-boundary-1"


def _part(body: bytes, ctype: str, disposition: str | None) -> bytes:
    head = f"Content-Type: {ctype}\r\n"
    if disposition:
        head += f"Content-Disposition: {disposition}\r\n"
    return head.encode() + b"\r\n" + body


def append_part(ctx: Any, body: bytes, ctype: str, disposition: str | None) -> int:
    """Append a part; a non-multipart body becomes the first part of multipart/mixed."""
    msg = ctx.msg
    current = (msg.get("content-type") or "").strip()
    close = f"\r\n--{BOUNDARY}--\r\n".encode()
    if current.lower().startswith("multipart/") and msg.body.endswith(close):
        new = msg.body[: -len(close)] + f"\r\n--{BOUNDARY}\r\n".encode()
    else:
        first = _part(msg.body, current or "text/plain", None) if msg.body else b""
        new = f"--{BOUNDARY}\r\n".encode() + (
            first + f"\r\n--{BOUNDARY}\r\n".encode() if first else b""
        )
    te.rebuild(ctx, body=new + _part(body, ctype, disposition) + close)
    ctx.msg.replace("Content-Type", f"multipart/mixed;boundary={BOUNDARY}")
    return 1
