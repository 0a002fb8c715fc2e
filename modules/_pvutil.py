"""PV access for modules that write results into a PV named by the script (``"$var(r)"``)."""

from __future__ import annotations

import logging
from typing import Any

from app.context import Ctx

log = logging.getLogger("siprouter.kemi")


def set_pv(ctx: Ctx, name: str, value: Any) -> bool:
    """Assign ``value`` to the PV ``name``; False (logged) if the name is invalid/read-only."""
    if ctx.engine is None:
        return False
    try:
        ctx.engine.pvs.set(ctx, name, value)
    except Exception as exc:  # noqa: BLE001 - PVError, a setter's ValueError, ...
        log.error("cannot assign %s: %s", name, exc)
        return False
    return True


def get_pv(ctx: Ctx, name: str) -> Any:
    """The value of PV ``name`` (None for $null or an invalid name)."""
    if ctx.engine is None:
        return None
    try:
        return ctx.engine.pvs.get(ctx, name)
    except Exception as exc:  # noqa: BLE001
        log.error("cannot read %s: %s", name, exc)
        return None
