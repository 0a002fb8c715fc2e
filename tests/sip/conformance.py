"""Loading the RFC 4475 / RFC 5118 torture messages from ../shared/conformance (as bytes)."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SIPROUTER_SHARED", ROOT.parent / "shared")) / "conformance"
RFC4475 = SHARED / "rfc4475"
RFC5118 = SHARED / "rfc5118"

_CL_RE = re.compile(rb"(?im)^(content-length|l)[ \t]*:[ \t]*\d+")


def manifest(folder: Path) -> list[dict[str, str]]:
    with open(folder / "manifest.tsv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def read(folder: Path, name: str) -> bytes:
    return (folder / name).read_bytes()


def wire_5118(data: bytes) -> bytes:
    """RFC 5118's archive form → wire form (its README): CRLF line ends, a closing empty
    line, Content-Length set to the CRLF body's length; nothing else changed."""
    text = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    head, sep, body = text.partition(b"\r\n\r\n")
    if not sep:
        head, body = text.rstrip(b"\r\n"), b""
    length = str(len(body)).encode()
    head = _CL_RE.sub(lambda m: m.group(1) + b": " + length, head)
    return head + b"\r\n\r\n" + body
