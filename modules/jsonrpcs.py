"""jsonrpcs: the JSON-RPC 2.0 management listeners (Kamailio's jsonrpcs, kemi.md §5.8).

``loadmodule "jsonrpcs.so"`` starts, in the management process (app.management):

* HTTP ``POST /RPC`` and ``GET /metrics`` on ``http_listen`` (extension; default
  ``127.0.0.1:5062``, loopback only; ``""`` turns HTTP off). Kamailio serves jsonrpcs over
  xhttp on the SIP port instead; here it is a separate listener.
* JSON-RPC over a unix stream socket ``unix_socket`` (extension; default
  ``siprouter_rpc.sock`` in the run directory, i.e. ``/run/siprouter/siprouter_rpc.sock``,
  what ``siprouter-ctl`` uses by default; mode ``unix_mode``, 0600; ``""`` turns it off).
* The FIFO ``fifo_name`` for ``kamctl rpc`` when set (relative names are in the run
  directory; replies in ``fifo_reply_dir``, mode ``fifo_mode``). Unlike Kamailio, there is no
  FIFO unless ``fifo_name`` is set.

``token`` (extension): when set, HTTP requests need ``Authorization: Bearer <token>``; unix
sockets and the FIFO are protected by file permissions. The run directory is the core
parameter ``run_dir`` (default ``/run/siprouter``). Kamailio's ``transport``,
``pretty_format`` (replies on the FIFO are always pretty), ``dgram_*``, ``tcp_socket``,
``fifo_user``/``fifo_group`` are accepted and not used.
"""

from __future__ import annotations

from typing import Any

from app.management import in_run_dir
from app.module import Module, ParamError
from rpc.fifo import FifoServer
from rpc.registry import Commands
from rpc.server import RpcServer
from rpc.stats import Stats

module = Module("jsonrpcs", doc="JSON-RPC management listeners (HTTP, unix socket, FIFO)")
module.param("http_listen", str, "127.0.0.1:5062", doc="HTTP host:port ('' = off); extension")
module.param("unix_socket", str, "siprouter_rpc.sock", doc="unix socket ('' = off); extension")
module.param("unix_mode", int, 0o600, doc="permissions of the unix socket; extension")
module.param("token", str, "", doc="bearer token required on HTTP; extension")
module.param("fifo_name", str, "", doc="FIFO for kamctl ('' = none)")
module.param("fifo_reply_dir", str, "/tmp/", doc="directory of kamctl's reply FIFOs")
module.param("fifo_mode", int, 0o660, doc="permissions of the FIFO")
for _name, _default in (("pretty_format", 1), ("transport", 6), ("dgram_workers", 1),
                        ("dgram_mode", 0o660), ("dgram_timeout", 2000)):  # fmt: skip
    module.param(_name, int, _default, doc="accepted, not used")
for _name in ("fifo_user", "fifo_group", "dgram_socket", "dgram_user", "dgram_group",
              "tcp_socket"):  # fmt: skip
    module.param(_name, str, "", doc="accepted, not used")


def http_address(text: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` of ``http_listen``."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ParamError(f'modparam "jsonrpcs" "http_listen": {text!r} is not host:port')
    return host.strip("[]") or "127.0.0.1", int(port)


def rpc_server(commands: Commands, stats: Stats, run_dir: str) -> RpcServer | None:
    """The HTTP + unix socket listener, or ``None`` when both are off."""
    cfg = module.cfg
    http, unix = str(cfg["http_listen"]), str(cfg["unix_socket"])
    if not http and not unix:
        return None
    host, port = http_address(http) if http else (None, 0)
    return RpcServer(
        commands,
        stats=stats,
        host=host,
        port=port,
        unix_path=in_run_dir(run_dir, unix) if unix else None,
        unix_mode=int(cfg["unix_mode"]),
        token=str(cfg["token"]) or None,
    )


@module.export("listeners")
def listeners(commands: Commands, stats: Stats, run_dir: str) -> list[Any]:
    """The listeners to start in the management process (not started yet)."""
    out: list[Any] = []
    server = rpc_server(commands, stats, run_dir)
    if server is not None:
        out.append(server)
    fifo = str(module.cfg["fifo_name"])
    if fifo:
        path = in_run_dir(run_dir, fifo)
        reply_dir = str(module.cfg["fifo_reply_dir"])
        mode = int(module.cfg["fifo_mode"])
        out.append(FifoServer(commands, path, reply_dir=reply_dir, mode=mode))
    return out
