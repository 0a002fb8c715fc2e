"""Shared helpers for the rpc tests: a command table, short socket dirs, real-tool lookup."""

from __future__ import annotations

import asyncio
import os
import shutil
from typing import Any

import pytest

from rpc import Commands, CoreInfo, RpcFault, Stats, register_core_commands, register_stats_commands

PROCS = [(0, 4242, "main process - attendant"), (1, os.getpid(), "udp receiver child=0")]


def make_table() -> tuple[Commands, Stats]:
    """Generic commands + stats commands + a few test commands."""
    commands, stats = Commands(), Stats()
    register_core_commands(
        commands, CoreInfo(version="9.8.7", repo_rev="abc123", processes=lambda: list(PROCS))
    )
    register_stats_commands(commands, stats)
    stats.counter("core", "rcv_requests", doc="received requests").inc(5)
    stats.gauge("tmx", "active_transactions", func=lambda: 3)
    stats.counter(
        "core", "rcv_requests_invite", prom_name="rcv_requests_method", labels={"method": "INVITE"}
    ).inc(2)
    stats.counter(
        "core", "rcv_requests_bye", prom_name="rcv_requests_method", labels={"method": "BYE"}
    ).inc()

    @commands.add("test.add", doc="Adds two ints.")
    def add(a: int, b: int = 1) -> int:
        return a + b

    @commands.add("test.fault")
    def fault() -> None:
        raise RpcFault(404, "AOR not found in location table")

    @commands.add("test.slow")
    async def slow(value: str) -> str:
        await asyncio.sleep(0)
        return value.upper()

    @commands.add("test.struct")
    def struct() -> dict[str, Any]:
        return {"name": "x", "n": -7, "list": [1, 2], "sub": {"k": "v"}}

    @commands.add("test.boom")
    def boom() -> None:
        raise RuntimeError("kaput")

    return commands, stats


def real_tool(name: str) -> str:
    """Path of a real Kamailio tool; skipped when missing, failed with CI=true."""
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None
    )
    if path is None:
        message = f"{name} not installed (Debian package kamailio)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


async def run(
    *argv: str, env: dict[str, str] | None = None, timeout: float = 10.0
) -> tuple[int, str, str]:
    """Run a subprocess without blocking the loop that serves it; bounded in time."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(), err.decode()
