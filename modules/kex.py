"""kex: core extensions of Kamailio exported to KEMI -- ``setdebug(level)`` and
``resetdebug()`` (Kamailio levels -3 alert .. 3 debug applied to the ``siprouter`` loggers of
this worker). The flag functions of cfg's kex (``setsflag``, ``issflagset``, ...) are core KEMI
functions (``KSR.setsflag``), as in Kamailio.
"""

from __future__ import annotations

import logging
from typing import Any

from app.module import Module

module = Module("kex", doc="core extensions: debug level")
LEVELS = {-3: logging.CRITICAL, -2: logging.CRITICAL, -1: logging.ERROR, 0: logging.WARNING,
          1: logging.INFO, 2: logging.INFO, 3: logging.DEBUG}  # fmt: skip
_saved: list[int] = []
root = logging.getLogger("siprouter")


@module.function("setdebug", "i")
def setdebug(ctx: Any, level: int) -> int:
    """Set this worker's log level (Kamailio's debug value, -3..3 and above)."""
    if not _saved:
        _saved.append(root.level)
    root.setLevel(LEVELS[max(-3, min(3, level))])
    return 1


@module.function("resetdebug")
def resetdebug(ctx: Any) -> int:
    """Back to the configured log level."""
    if _saved:
        root.setLevel(_saved.pop())
    return 1
