"""siprouter's sans-IO SIP library: bytes in, events and bytes out.

No sockets, no clock, no asyncio: every time-dependent call takes ``now``. The message
layer (RFC 3261 §7, §19, §20, §25) lives in :mod:`sip.message`, :mod:`sip.headers` and
:mod:`sip.uri`; stream framing (§18.3) in :mod:`sip.framer`; digest authentication
(RFC 2617, RFC 7616) in :mod:`sip.digest`.
"""

from .dialog import Dialog, DialogId
from .errors import LocalProtocolError, RemoteProtocolError, SIPError
from .headers import ContentType, CSeq, NameAddr, Via, parse_name_addr, parse_via
from .matching import TxKey
from .message import DEFAULT_LIMITS, Limits, Message, Request, Response
from .parser import parse
from .timers import DEFAULT_TIMERS, TimerConfig
from .transaction import TransactionLayer
from .transaction_events import Peer
from .uri import URI, parse_uri, unescape

#: whether this package runs as C extension modules built by mypyc (setup.py, SIPROUTER_MYPYC=1)
COMPILED = not __file__.endswith(".py")

__all__ = [
    "SIPError", "RemoteProtocolError", "LocalProtocolError", "COMPILED",
    "Message", "Request", "Response", "parse", "Limits", "DEFAULT_LIMITS",
    "URI", "parse_uri", "unescape",
    "NameAddr", "Via", "CSeq", "ContentType", "parse_name_addr", "parse_via",
    "TransactionLayer", "TxKey", "Peer", "TimerConfig", "DEFAULT_TIMERS", "Dialog", "DialogId",
]  # fmt: skip
