"""The Python KEMI engine, loading and calling the script as app_python3 does (kemi.md §1).

* ``load()``: builds ``KSR`` from the built-in and loaded modules, installs it in
  ``sys.modules``, imports the script (its directory first on ``sys.path``), calls its
  ``mod_init()`` (must return the handler object); ``child_init(rank)`` calls the handler's
  ``child_init(rank)`` (must return an int, negative = failure).
* ``run(ctx, name, *args, then=...)``: runs the handler method ``name`` for one message in a
  pooled route greenlet (:mod:`app.greenpool`); ``then(ctx)`` runs after the route ends, even
  if the route parked and resumed later. ``sys.exit()`` (and ``KSR.x.exit()``) end a route
  quietly. Any other exception is logged with the Call-ID and traceback; a request that was
  not answered gets a 500. ``async def`` callbacks are run as asyncio tasks and awaited
  (an extension, docs/kemi.md).
* ``reload()``: re-imports the script and swaps the handler (``app_python.reload``); routes
  already running finish with the old handler. A failing reload keeps the old one. Each
  run records its handler in ``ctx.extra[HANDLER]``; a suspended transaction resumes on it
  (``run(..., handler=...)``), so a call suspended before a reload finishes with its script.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import logging
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from app import ksr_core, ksr_hdr, ksr_kx, ksr_msg, pv_core
from app.cfgpre import ConfigError
from app.context import CURRENT, Ctx, MsgObject, faked_ctx
from app.greenpool import RoutePool, wait
from app.ksr import api_list, build_ksr, install
from app.module import Module
from app.pv import PVRegistry

if TYPE_CHECKING:
    from app.config import Config
    from app.core import Core

log = logging.getLogger("siprouter.kemi")
BUILTIN: tuple[Module, ...] = (
    ksr_core.module,
    pv_core.module,
    ksr_hdr.module,
    ksr_core.x_module,
    ksr_kx.module,
)
assert ksr_msg.module is ksr_core.module  # ksr_msg adds its functions to the core module
QUIET_EXITS = (SystemExit, ksr_core.ScriptExit)
HANDLER = "kemi_handler"
"""``ctx.extra`` key: the handler object a route of this context ran on."""


class ScriptError(ConfigError):
    """The KEMI script cannot be loaded; ``str()`` is ``file:line: message``."""


class Engine:
    """The KEMI engine of one worker: the script's handler, ``KSR``, PVs, route greenlets."""

    def __init__(
        self,
        script: str | Path,
        modules: Mapping[str, Module] | Iterable[Module] = (),
        *,
        config: Config | None = None,
        core: Core | None = None,
    ) -> None:
        mods = modules.values() if isinstance(modules, Mapping) else modules
        self.script = Path(script).resolve()
        self.modules: tuple[Module, ...] = BUILTIN + tuple(mods)
        self.config, self.core = config, core
        self.callbacks: dict[str, str] = dict(config.kemi) if config else {}
        self._callback_names: dict[str, str] = {}  # kind -> method name, filled on use
        self.pvs = PVRegistry()
        self.vars: dict[str, Any] = {}
        self.pool = RoutePool()
        self.handler: Any = None
        self.script_module: ModuleType | None = None
        self.rank = 0
        self.version = 0
        self.errors = 0
        self._faked: Ctx | None = None
        for module in self.modules:
            self.pvs.add_module(module)
        self.ksr = build_ksr(self.modules, self.faked)

    # -- loading ------------------------------------------------------------------------
    def faked(self) -> Ctx:
        """The context KSR functions use outside any route."""
        if self._faked is None:
            self._faked = faked_ctx(self, self.core)
        return self._faked

    def load(self) -> None:
        """Install KSR, import the script and call ``mod_init()``; raise ScriptError."""
        install(self.ksr)
        if self.script.suffix not in (".py", ".pyc", ".pyo"):
            raise ScriptError(f"the KEMI script must be a .py file: {self.script}")
        if not self.script.is_file():
            raise ScriptError(f"cannot read the KEMI script {self.script}")
        folder = str(self.script.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        self.script_module = self._import()
        self.handler = self._mod_init(self.script_module)
        self.version += 1

    def _import(self) -> ModuleType:
        """Import (or re-import) the script as the module named by its basename."""
        name = self.script.stem
        spec = importlib.util.spec_from_file_location(name, self.script)
        if spec is None or spec.loader is None:
            raise ScriptError(f"cannot import the KEMI script {self.script}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except SyntaxError as exc:
            raise ScriptError(exc.msg, exc.filename or self.script, exc.lineno or 0) from None
        except Exception as exc:  # noqa: BLE001 - any error of the script stops start-up
            raise self._script_error(exc) from None
        return module

    def _mod_init(self, script: ModuleType) -> Any:
        init = getattr(script, "mod_init", None)
        if not callable(init):
            raise ScriptError("the script has no mod_init() function", self.script, 1)
        try:
            handler = init()
        except Exception as exc:  # noqa: BLE001
            raise self._script_error(exc) from None
        if handler is None:
            raise ScriptError("mod_init() returned None (should be a class instance)", self.script)
        return handler

    def _script_error(self, exc: BaseException) -> ScriptError:
        frames = [
            f
            for f in traceback.extract_tb(exc.__traceback__)
            if Path(f.filename).resolve() == self.script
        ]
        line = frames[-1].lineno if frames else 0
        return ScriptError(f"{type(exc).__name__}: {exc}", self.script, line or 0)

    def child_init(self, rank: int) -> None:
        """Call the handler's ``child_init(rank)``; raise ScriptError on failure."""
        self.rank = rank
        init = getattr(self.handler, "child_init", None)
        if not callable(init):
            raise ScriptError("the handler object has no child_init(rank) method", self.script)
        try:
            result = init(rank)
        except Exception as exc:  # noqa: BLE001
            raise self._script_error(exc) from None
        if not isinstance(result, int) or result < 0:
            raise ScriptError(f"child_init({rank}) returned {result!r}", self.script)

    def reload(self) -> dict[str, int]:
        """Re-import the script; ``{"old": n, "new": n + 1}`` (the old handler stays on error)."""
        old_handler, old = self.handler, self.version
        try:
            self.load()
            self.child_init(self.rank)
        except ScriptError as exc:
            self.handler, self.version = old_handler, old
            log.error("reload failed, keeping the running script: %s", exc)
            raise
        log.info("script reloaded (version %d)", self.version)
        return {"old": old, "new": self.version}

    def api_list(self) -> dict[str, Any]:
        """The KEMI functions exported (``app_python.api_list``)."""
        return api_list(self.modules)

    # -- running routes -------------------------------------------------------------------
    def callback(self, kind: str) -> str:
        """Configured callback name of ``kind`` (``request_route``, ...); "" = none."""
        name = self._callback_names.get(kind)
        if name is None:
            default = f"ksr_{kind}" if kind != "event_route" else ""
            name = self._callback_names[kind] = self.callbacks.get(f"{kind}_callback", default)
        return name

    def has_reply_route(self) -> bool:
        """True if the script has the reply route callback (``ksr_reply_route``)."""
        return self.has(self.callback("reply_route"))

    def has(self, name: str) -> bool:
        """True if the handler has a method ``name``."""
        return bool(name) and callable(getattr(self.handler, name, None))

    def run(
        self,
        ctx: Ctx,
        name: str,
        *args: Any,
        then: Callable[[Ctx], None] | None = None,
        required: bool = False,
        handler: Any = None,
    ) -> bool:
        """Run handler method ``name(msg, *args)`` for ``ctx`` (on ``handler``, by default
        the current script's); False if there is none."""
        handler = self.handler if handler is None else handler
        func = getattr(handler, name, None) if name else None
        if not callable(func):
            if required:
                log.error("the script has no %s() method", name or "request route")
            return False
        ctx.extra[HANDLER] = handler
        self.pool.run(lambda: self._execute(ctx, func, args, then))
        return True

    def _execute(
        self, ctx: Ctx, func: Callable[..., Any], args: tuple[Any, ...], then: Any
    ) -> None:
        outer = CURRENT.get()
        CURRENT.set(ctx)
        try:
            result = func(MsgObject(ctx), *args)
            if result is not None and type(result) is not int and inspect.isawaitable(result):
                wait(asyncio.ensure_future(result), tag=ctx)
        except QUIET_EXITS:
            log.debug("route %s ended by exit", getattr(func, "__name__", "?"))
        except Exception:  # noqa: BLE001 - a script error must not reach the loop
            self._failed(ctx, func)
        finally:
            CURRENT.set(outer)
        if then is not None:
            then(ctx)

    def _failed(self, ctx: Ctx, func: Callable[..., Any]) -> None:
        self.errors += 1
        name = getattr(func, "__name__", "?")
        log.error("error in %s (Call-ID %s):\n%s", name, ctx.call_id, traceback.format_exc())
        req = ctx.request
        if ctx.core is not None and req is not None and not ctx.replied and req.method != "ACK":
            ctx.core.reply(ctx, 500, "Server Internal Error")

    # -- the standard routes ---------------------------------------------------------------
    def request_route(self, ctx: Ctx, then: Callable[[Ctx], None] | None = None) -> bool:
        """Run the request route callback (``kemi.request_route_callback``)."""
        ctx.route = "request_route"
        return self.run(ctx, self.callback("request_route"), then=then, required=True)

    def reply_route(self, ctx: Ctx, then: Callable[[Ctx], None] | None = None) -> bool:
        """Run ``ksr_reply_route`` for a received reply; without one, ``then`` runs now."""
        ctx.route = "reply_route"
        if self.run(ctx, self.callback("reply_route"), then=then):
            return True
        if then is not None:
            then(ctx)
        return False

    def onsend_route(self, ctx: Ctx) -> bool:
        """Run ``ksr_onsend_route`` inline; True if the message may be sent."""
        name = self.callback("onsend_route")
        if not self.has(name):
            return True
        saved, ctx.route, ctx.drop = ctx.route, "onsend_route", False
        self.run(ctx, name)
        dropped, ctx.drop, ctx.route = ctx.drop, False, saved
        return not dropped

    def event_route(self, evname: str, name: str | None = None, ctx: Ctx | None = None) -> bool:
        """Run an event callback ``(msg, evname)`` on a faked request by default."""
        ctx = ctx or faked_ctx(self, self.core)
        ctx.route = "event_route"
        return self.run(ctx, name or self.callback("event_route"), evname)

    async def drain(self, grace: float) -> list[Any]:
        """Give parked routes ``grace`` seconds, then end them; returns their tags."""
        deadline = asyncio.get_running_loop().time() + grace
        while self.pool.parked and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        return self.pool.kill_parked()
