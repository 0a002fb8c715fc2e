"""jansson: JSON paths read and written into PVs (Kamailio's jansson module, kemi.md §5.7).

Kamailio exports only ``KSR.jansson.get`` to KEMI; siprouter also exports the cfg functions
(extension, same names without the ``jansson_`` prefix):

* ``get(path, json, dst)`` -- the value at ``path`` (``a.b[0][1].c``) into the PV named
  ``dst``; 1, or -1 when the JSON does not parse or the path is absent (``dst`` untouched).
  Values as Kamailio: string -> str, integer -> int, real -> ``%.15g`` str, true/false -> 1/0,
  object/array -> compact JSON, null -> ``$null``.
* ``pv_get(path, srcpv, dst)`` -- as ``get``, the JSON read from the PV named ``srcpv``.
* ``set(type, path, value, result)`` / ``append(...)`` -- write into the JSON held by the PV
  ``result`` (``{}`` when it holds no string); types ``integer|int``, ``real``,
  ``string|str``, ``object|obj``, ``array``, ``true``, ``false``, ``null``.
* ``array_size(path, json, dst)``, ``get_field(field, json, dst)`` (literal field name),
  ``xdecode(json, xavp)`` (object, or array of objects, into ``$xavp(xavp=>key)``; as
  Kamailio each decoded row is pushed at index 0), ``xencode(xavp, dst)`` (the fields of
  ``$xavp(xavp)`` as a JSON object, jansson's default ``{"a": 1, "b": "x"}`` form).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from app.context import Ctx
from app.module import Module
from modules._jsonpath import MISSING, PathError, loads, path_get, path_set, to_pv
from modules._pvutil import get_pv, set_pv

module = Module("jansson", doc="JSON paths into PVs (orjson)")
log = logging.getLogger("siprouter.jansson")


def _get(ctx: Ctx, path: str, text: Any, dst: str) -> int:
    if not isinstance(text, str):
        log.error("jansson: no JSON document to read")
        return -1
    try:
        value = path_get(loads(text), path)
    except PathError as exc:
        log.error("jansson: %s", exc)
        return -1
    if value is MISSING:
        return -1
    return 1 if set_pv(ctx, dst, to_pv(value)) else -1


@module.function("get", "sss")
def get(ctx: Ctx, path: str, text: str, dst: str) -> int:
    """Value at ``path`` of the JSON text into the PV ``dst``; 1 / -1."""
    return _get(ctx, path, text, dst)


@module.function("pv_get", "sss")
def pv_get(ctx: Ctx, path: str, src: str, dst: str) -> int:
    """Value at ``path`` of the JSON held by PV ``src`` into PV ``dst``; 1 / -1."""
    return _get(ctx, path, get_pv(ctx, src), dst)


@module.function("get_field", "sss")
def get_field(ctx: Ctx, field: str, text: str, dst: str) -> int:
    """Value of the top-level member ``field`` (no path parsing) into PV ``dst``."""
    try:
        doc = loads(text)
    except PathError as exc:
        log.error("jansson: %s", exc)
        return -1
    if not isinstance(doc, dict) or field not in doc:
        return -1
    return 1 if set_pv(ctx, dst, to_pv(doc[field])) else -1


def _typed(kind: str, text: str) -> Any:
    """The JSON value of ``text`` for a jansson_set type name; raise PathError."""
    if kind in ("object", "obj", "array"):
        value = loads(text)
        want = dict if kind != "array" else list
        if not isinstance(value, want):
            raise PathError(f"value to add is not an {kind}")
        return value
    if kind in ("string", "str"):
        return text
    try:
        if kind in ("integer", "int"):
            return int(text, 10)
        if kind == "real":
            return float(text)
    except ValueError:
        raise PathError(f"parsing {kind} failed for {text!r}") from None
    constants = {"true": True, "false": False, "null": None}
    if kind not in constants:
        raise PathError(f"unrecognized input type {kind!r}")
    return constants[kind]


def _set(ctx: Ctx, kind: str, path: str, text: str, result: str, append: bool) -> int:
    current = get_pv(ctx, result)
    try:
        value = _typed(kind, text)
        doc = loads(current if isinstance(current, str) else "{}")
        path_set(doc, path, value, append)
    except PathError as exc:
        log.error("jansson: %s", exc)
        return -1
    return 1 if set_pv(ctx, result, to_pv(doc)) else -1


@module.function("set", "ssss")
def jset(ctx: Ctx, kind: str, path: str, value: str, result: str) -> int:
    """Set ``path`` to a typed value in the JSON held by PV ``result``; 1 / -1."""
    return _set(ctx, kind, path, value, result, append=False)


@module.function("append", "ssss")
def jappend(ctx: Ctx, kind: str, path: str, value: str, result: str) -> int:
    """Append to the array (or merge into the object) at ``path``; 1 / -1."""
    return _set(ctx, kind, path, value, result, append=True)


@module.function("array_size", "sss")
def array_size(ctx: Ctx, path: str, text: str, dst: str) -> int:
    """Length of the array at ``path`` into PV ``dst`` (int); 1 / -1."""
    try:
        value = path_get(loads(text), path)
    except PathError as exc:
        log.error("jansson: %s", exc)
        return -1
    if not isinstance(value, list):
        log.error("jansson: value at %r is not an array", path)
        return -1
    return 1 if set_pv(ctx, dst, len(value)) else -1


@module.function("xdecode", "ss")
def xdecode(ctx: Ctx, text: str, xavp: str) -> int:
    """JSON object (or array of objects) into ``$xavp(xavp=>key)`` rows; 1 / -1."""
    try:
        doc = loads(text)
    except PathError as exc:
        log.error("jansson: %s", exc)
        return -1
    rows = doc if isinstance(doc, list) else [doc]
    if not all(isinstance(row, dict) for row in rows):
        log.error("jansson: xdecode needs an object or an array of objects")
        return -1
    items = ctx.xavps.setdefault(xavp, [])
    for row in rows:
        items.insert(0, {key: [to_pv(value)] for key, value in row.items()})
    return 1


@module.function("xencode", "ss")
def xencode(ctx: Ctx, xavp: str, dst: str) -> int:
    """The fields of the first ``$xavp(xavp)`` row as a JSON object into PV ``dst``."""
    items = ctx.xavps.get(xavp)
    if not items:
        return -1
    row = {name: values[0] if values else None for name, values in items[0].items()}
    text = json.dumps(row, ensure_ascii=False)  # json_dumps(flags 0): ", " and ": "
    return 1 if set_pv(ctx, dst, text) else -1
