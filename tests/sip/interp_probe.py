"""What ``sip/`` makes of a fixed set of inputs, as one JSON document, so that two Python
interpreters can be compared (tests/sip/test_interpreters.py): every RFC 4475 / RFC 5118
torture message (parsed, checked, validated, its headers read and the message serialised)
and header values aimed at the regular-expression fast paths (name-addr, URI, Via, Digest).

    python tests/sip/interp_probe.py > out.json

Standard library only (the system's Python has no third-party package).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sip import SIPError, parse, parse_name_addr, parse_uri, parse_via  # noqa: E402
from sip.digest import parse_auth  # noqa: E402
from tests.sip.conformance import RFC4475, RFC5118, manifest, read, wire_5118  # noqa: E402

NAME_ADDRS = [
    "Bob Smith <sip:bob@b.com>", "Bob <sip:bob@b.com>;tag=abc", "  Bob   Smith\t<sip:b@c>  ",
    '"Bob \\"the\\" Smith" <sip:bob@b.com;transport=tcp>;tag=1;x', '"" <sip:a@b>',
    "<sip:a@b>", "<sip:a@b>;", "<sip:a@b>;tag", "<sip:a@b>;tag=", "sip:a@b;tag=1",
    "sip:a@b;", "sip:+1-212@b.com;user=phone", "A B C D <sips:x@[2001:db8::1]:5061;lr>;q=0.5",
    "Bob Smith<sip:b@c>", "<tel:+1234>;expires=60", "Bob < sip:b@c >", "*", "<sip:a@b>;a=b;c",
    '"a\\\\" <sip:a@b>', "x <sip:a@b>;p=[::1]", "<sip:a@b>;+sip.instance=\"<urn:uuid:1>\"",
]  # fmt: skip
URIS = [
    "sip:a@b", "sip:a@b:5060", "sip:a@b:", "sip:a:pw@b;lr", "sip:b;lr;", "sip:b;transport=tcp;lr",
    "sips:[2001:db8::1]:5061;maddr=1.2.3.4", "sip:%61lice@b", "sip:a@b?subject=x&h=y",
    "sip:a@b;x=", "sip:a@b;;x", "sip:user;par=1@host", "tel:+1-212-555", "sip:@b", "sip:a@b:99999",
]  # fmt: skip
VIAS = [
    "SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bK1;rport", "SIP/2.0/UDP host;branch=z9hG4bK1;",
    "SIP/2.0/TCP [::1]:5061;received=::1;rport=9", "SIP/2.0/UDP h:", "SIP/2.0/UDP h;x;y=",
    "SIP / 2.0 / UDP h ; branch = z9hG4bKx", "SIP/2.0/WS abc.invalid;branch=z9hG4bK;alias",
]  # fmt: skip
AUTHS = [
    'Digest username="a", realm="r", nonce="n", uri="sip:b", response="x"',
    'Digest username="a\\"b", realm="r\\\\", nonce="", qop=auth, nc=00000001',
    'Digest username="a",realm="r",nonce="n\\', "Digest realm=r, , nonce=n",
    'Digest username="a", realm="r' + "x" * 300 + '"',
]  # fmt: skip


def attempt(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, or the error it raised: its class and status, and the message of sip's
    own errors (Python's own messages may change from one version to the next)."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - what fails is part of the outcome
        return {
            "error": type(exc).__name__,
            "text": str(exc) if isinstance(exc, SIPError) else None,
            "status": getattr(exc, "status", None),
        }


def name_addr(na: Any) -> Any:
    return None if na is None else [na.display_name, str(na.uri), list(na.params), str(na)]


def uri(u: Any) -> Any:
    fields = ("scheme", "user", "password", "host", "port", "params", "headers")
    return [str(u), *(getattr(u, f) for f in fields)]


def via(v: Any) -> Any:
    return [str(v), v.transport, v.host, v.port, list(v.params), v.branch, v.received, v.rport]


def auth(text: str) -> Any:
    a = parse_auth(text)
    return [a.scheme, a.params]


def message(data: bytes) -> Any:
    msg = parse(data)
    return {
        "first": msg.start_line(),
        "check": attempt(lambda: msg.check() or "ok"),
        "validate": attempt(lambda: msg.validate() or "ok"),
        "vias": attempt(lambda: [via(v) for v in msg.vias]),
        "from": attempt(lambda: name_addr(msg.from_)),
        "to": attempt(lambda: name_addr(msg.to)),
        "contacts": attempt(lambda: [name_addr(c) for c in msg.contacts]),
        "call_id": attempt(lambda: msg.call_id),
        "cseq": attempt(lambda: str(msg.cseq)),
        "max_forwards": attempt(lambda: msg.max_forwards),
        "bytes": attempt(lambda: msg.serialize().decode("utf-8", "surrogateescape")),
    }


def probe() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for folder, wire in ((RFC4475, bytes), (RFC5118, wire_5118)):
        for row in manifest(folder):
            name = row["file"]
            out[f"{folder.name}/{name}"] = attempt(message, wire(read(folder, name)))
    samples: list[tuple[str, list[str], Callable[[str], Any]]] = [
        ("name-addr", NAME_ADDRS, lambda t: name_addr(parse_name_addr(t))),
        ("uri", URIS, lambda t: uri(parse_uri(t))),
        ("via", VIAS, lambda t: via(parse_via(t))),
        ("auth", AUTHS, auth),
    ]
    for kind, values, fn in samples:
        for text in values:
            out[f"{kind} {text!r}"] = attempt(fn, text)
    return out


if __name__ == "__main__":
    json.dump(probe(), sys.stdout, default=repr, sort_keys=True, indent=0)
