"""The ``siprouter`` command (Kamailio-like options).

    siprouter -f kamailio.cfg [-A NAME[=VALUE]]... [-l ADDR]... [-n N] [-c] [--version]

Runs in the foreground and logs to stderr (``-D``/``-DD``/``-E`` are accepted for Kamailio
habits). ``-c`` checks the configuration and imports the script (``mod_init``), then exits:
0 if fine, 1 with ``file:line: message`` otherwise. With more than one child the master binds
the sockets, forks the workers (ranks 1..N) and forwards SIGTERM/SIGINT/SIGHUP to them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from app import management
from app.cfgpre import ConfigError, cli_defines
from app.config import Config, Listen, load_modules, parse_config, parse_listen
from app.engine import Engine
from app.server import Server, bind_sockets, run_worker, set_master
from app.workers import Workers

log = logging.getLogger("siprouter")


def parser() -> argparse.ArgumentParser:
    """The command-line options."""
    p = argparse.ArgumentParser(prog="siprouter", description="SIP proxy with KEMI scripts")
    p.add_argument("-f", dest="cfg", default="kamailio.cfg", help="configuration file")
    p.add_argument("-c", dest="check", action="store_true", help="check config and script, exit")
    p.add_argument("-A", dest="defines", action="append", default=[], metavar="NAME[=VALUE]")
    p.add_argument("-l", dest="listen", action="append", default=[], metavar="ADDR")
    p.add_argument("-n", dest="children", type=int, help="number of worker processes")
    p.add_argument("-d", dest="debug", action="count", default=0, help="more debug output")
    p.add_argument("-D", dest="foreground", action="count", default=0, help="(always foreground)")
    p.add_argument("-E", dest="stderr", action="store_true", help="(always logs to stderr)")
    about = f"siprouter {management.version_info().version} ({management.CORE_BUILD})"
    p.add_argument("--version", "-v", "-V", action="version", version=about)
    return p


def setup_logging(level: int) -> None:
    """Log to stderr at the Kamailio debug level ``level`` (-5..3+)."""
    py = {3: logging.DEBUG, 2: logging.INFO, 1: logging.INFO, 0: logging.WARNING, -1: logging.ERROR}
    logging.basicConfig(
        stream=sys.stderr,
        level=py.get(max(-1, min(level, 3)), logging.CRITICAL),
        format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s",
    )


def load(args: argparse.Namespace) -> tuple[Config, dict[str, object], list[Listen]]:
    """Parse the config, load the modules and compute the listeners (ConfigError)."""
    config = parse_config(args.cfg, cli_defines(args.defines))
    modules = load_modules(config)
    listens = list(config.listens) + [parse_listen(a, config.port) for a in args.listen]
    if not listens:
        listens = [parse_listen(f"0.0.0.0:{config.port}", config.port)]
    return config, modules, listens  # type: ignore[return-value]


def check(config: Config, modules: dict[str, object]) -> None:
    """Import the script and call mod_init (ScriptError on failure)."""
    if config.script is None:
        raise ConfigError('no KEMI script: add modparam("app_python3", "load", "file.py")')
    Engine(config.script, modules, config=config).load()  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``siprouter`` console script."""
    args = parser().parse_args(argv)
    try:
        config, modules, listens = load(args)
        setup_logging(config.debug + args.debug)
        if args.check:
            check(config, modules)
            print(f"{args.cfg}: configuration and script are fine", file=sys.stderr)
            return 0
        children = args.children if args.children is not None else config.children
        return serve(config, modules, listens, max(1, children))
    except ConfigError as exc:
        print(f"siprouter: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"siprouter: {exc}", file=sys.stderr)
        return 1


def _new_loop() -> None:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass


def serve(config: Config, modules: dict[str, object], listens: list[Listen], children: int) -> int:
    """Run one worker in this process, or fork ``children`` workers."""
    listens, socks = bind_sockets(listens)
    _new_loop()
    if children == 1:
        server = Server(config, modules, listens, 1, socks)  # type: ignore[arg-type]
        asyncio.run(run_worker(server, gc_tuning=True))
        return 0
    return _master(config, modules, listens, socks, children)


def _master(
    config: Config, modules: dict[str, object], listens: list[Listen], socks: dict, children: int
) -> int:  # type: ignore[type-arg]
    set_master(os.getpid())
    plan = management.prepare(config, modules, children)  # type: ignore[arg-type]
    workers = Workers(children)  # who owns a message, and the hand-off (app.workers)
    pids: dict[int, int] = {}
    for rank in range(1, children + 1):
        pid = os.fork()
        if pid == 0:
            workers.attach(rank)
            _child(config, modules, listens, socks, rank, workers)
        pids[pid] = rank
    workers.close()
    if plan is not None:  # the management process (jsonrpcs/ctl listeners), "rank" 0
        pids[management.spawn(plan, dict(pids), socks)] = 0
    return _supervise(pids)


def _child(
    config: Config, modules: dict[str, object], listens: list[Listen],
    socks: dict[tuple[str, str, int], object], rank: int, workers: Workers | None = None,
) -> None:  # fmt: skip
    code = 0
    try:
        server = Server(config, modules, listens, rank, socks, workers=workers)  # type: ignore[arg-type]
        asyncio.run(run_worker(server, gc_tuning=True))
    except ConfigError as exc:
        print(f"siprouter: worker {rank}: {exc}", file=sys.stderr)
        code = 1
    except BaseException:  # noqa: BLE001 - a worker must exit, never return into the master
        log.exception("worker %d failed", rank)
        code = 1
    os._exit(code)


def _supervise(pids: dict[int, int]) -> int:
    """Forward signals to the workers; stop all when one dies."""
    stopping = {"flag": False}

    def forward(sig: int, _frame: object) -> None:
        if sig != signal.SIGHUP:
            stopping["flag"] = True
        for pid in pids:
            _kill(pid, sig)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    status = 0
    while pids:
        pid, code = os.wait()
        rank = pids.pop(pid, None)
        if rank is not None and (code or not stopping["flag"]):
            status = status or 1
            if not stopping["flag"]:
                log.error("worker %d exited (%d): stopping", rank, code)
                forward(signal.SIGTERM, None)
    return status


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    sys.exit(main())
