"""ctl: the binrpc management listener for ``kamcmd`` (Kamailio's ctl module).

``modparam("ctl", "binrpc", "unix:/run/siprouter/kamailio_ctl")`` (may be repeated; default
``unix:kamailio_ctl`` in the run directory, ``/run/siprouter/kamailio_ctl``) makes the
management process (app.management) serve binrpc on that unix stream socket, with
permissions ``mode`` (0600, as Kamailio). Only ``unix:`` sockets are supported: binrpc over
``tcp:``/``udp:`` has no authentication and is refused at start-up. Then::

    kamcmd -s unix:/run/siprouter/kamailio_ctl core.psx

``user``, ``group``, ``fifo``, ``autoconversion`` and the ``binrpc_*`` size parameters are
accepted and not used (``binrpc_max_body_size`` bounds a request, in KiB, as Kamailio's).
"""

from __future__ import annotations

from typing import Any

from app.management import in_run_dir
from app.module import Module, ParamError
from rpc.binrpc import BinrpcServer
from rpc.registry import Commands
from rpc.stats import Stats

module = Module("ctl", doc="binrpc management listener (kamcmd)")
module.param("binrpc", str, multi=True, doc="unix:/path of a binrpc listener (repeatable)")
module.param("mode", int, 0o600, doc="permissions of the unix sockets")
module.param("binrpc_max_body_size", int, 1024, doc="largest request (KiB)")
for _name, _default in (("autoconversion", 0), ("binrpc_struct_max_body_size", 1),
                        ("binrpc_buffer_size", 1024)):  # fmt: skip
    module.param(_name, int, _default, doc="accepted, not used")
for _name in ("user", "group", "fifo"):
    module.param(_name, str, "", doc="accepted, not used")

DEFAULT = "unix:kamailio_ctl"


def socket_path(spec: str, run_dir: str) -> str:
    """The path of a ``unix:path`` (or bare path) binrpc address."""
    proto, sep, rest = spec.partition(":")
    if not sep:
        proto, rest = "unix", spec
    if proto.lower() != "unix" or not rest:
        raise ParamError(f'modparam "ctl" "binrpc": {spec!r}: only unix:/path is supported')
    return in_run_dir(run_dir, rest)


@module.export("listeners")
def listeners(commands: Commands, stats: Stats, run_dir: str) -> list[Any]:
    """One :class:`BinrpcServer` per ``binrpc`` address (not started yet)."""
    specs = list(module.cfg["binrpc"]) or [DEFAULT]
    size = max(1, int(module.cfg["binrpc_max_body_size"])) * 1024
    mode = int(module.cfg["mode"])
    return [
        BinrpcServer(commands, socket_path(spec, run_dir), mode=mode, max_size=size)
        for spec in specs
    ]
