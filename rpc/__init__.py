"""siprouter's generic management layer: JSON-RPC 2.0 (Kamailio's jsonrpcs), binrpc (ctl),
the jsonrpcs FIFO, statistics with Kamailio names, and the ``siprouter-ctl`` client.

It knows nothing of SIP: the core and the modules register commands into a :class:`Commands`
table and statistics into a :class:`Stats` registry, then start the listeners they want::

    commands, stats = Commands(), Stats()
    register_core_commands(commands, CoreInfo(version="0.1.0"))
    register_stats_commands(commands, stats)
    server = RpcServer(commands, stats=stats, port=5062, unix_path="/run/siprouter/rpc.sock")
    await server.start()
    ...
    await server.stop()
"""

from rpc.binrpc import BinrpcServer
from rpc.commands import CoreInfo, register_core_commands, register_system_commands
from rpc.fifo import FifoServer
from rpc.registry import Command, Commands, InvalidParams, MethodNotFound, RpcFault
from rpc.server import JsonRpc, RpcServer
from rpc.stats import Stat, Stats, register_stats_commands

__all__ = [
    "BinrpcServer",
    "Command",
    "Commands",
    "CoreInfo",
    "FifoServer",
    "InvalidParams",
    "JsonRpc",
    "MethodNotFound",
    "RpcFault",
    "RpcServer",
    "Stat",
    "Stats",
    "register_core_commands",
    "register_stats_commands",
    "register_system_commands",
]
