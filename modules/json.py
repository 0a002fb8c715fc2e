"""json: read fields of a JSON string into PVs (Kamailio's json module, kemi.md §5.7).

Kamailio's json module (json-c) has no KEMI exports; siprouter exports its cfg functions
under their cfg names (extension):

* ``KSR.json.json_get_field(json, field, dst)`` -- the JSON representation of member
  ``field`` into the PV ``dst`` (strings keep their quotes; objects and arrays in json-c's
  spaced form ``{ "a": 1 }``); 1, or -1 when the JSON is invalid or the field is absent.
* ``KSR.json.json_get_string(json, field, dst)`` -- the value as a string, without quotes
  (numbers as text, objects/arrays as JSON, null as ``$null``).

``field`` is a member name; when no member has that name and it contains ``.`` or ``[`` it
is read as a path (``a.b[0].c``, as the ``{json.parse}`` transformation does). Like json-c,
single-quoted strings are accepted (``{'foo':'bar'}``, the README's example).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from app.context import Ctx
from app.module import Module
from modules._jsonpath import MISSING, PathError, dumps, loads, path_get
from modules._pvutil import set_pv

module = Module("json", doc="JSON fields into PVs (json-c compatible, orjson)")
log = logging.getLogger("siprouter.json")
_SINGLE = re.compile(r"'((?:[^'\\]|\\.)*)'")


def _lenient(text: str) -> Any:
    """Parse ``text``; retry with single-quoted strings turned into JSON strings."""
    try:
        return loads(text)
    except PathError:
        fixed = _SINGLE.sub(lambda m: dumps(m.group(1).replace("\\'", "'")), text)
        return loads(fixed)


def _member(text: str, field: str) -> Any:
    try:
        doc = _lenient(text)
    except PathError as exc:
        log.error("json: empty or invalid JSON: %s", exc)
        return MISSING
    if isinstance(doc, dict) and field in doc:
        return doc[field]
    if "." in field or "[" in field:
        try:
            return path_get(doc, field)
        except PathError:
            return MISSING
    return MISSING


def spaced(value: Any) -> str:
    """json-c's ``json_object_to_json_string`` (spaced) form of a value."""
    if isinstance(value, dict):
        if not value:
            return "{ }"
        members = ", ".join(f"{dumps(k)}: {spaced(v)}" for k, v in value.items())
        return "{ " + members + " }"
    if isinstance(value, list):
        return "[ " + ", ".join(spaced(v) for v in value) + " ]" if value else "[ ]"
    return dumps(value)


def as_string(value: Any) -> str | None:
    """json-c's ``json_object_get_string``: strings bare, the rest as JSON text."""
    if value is None:
        return None
    return value if isinstance(value, str) else spaced(value)


@module.function("json_get_field", "sss")
def json_get_field(ctx: Ctx, text: str, field: str, dst: str) -> int:
    """JSON representation of ``field`` into the PV ``dst``; 1 / -1."""
    value = _member(text, field)
    if value is MISSING:
        return -1
    return 1 if set_pv(ctx, dst, spaced(value)) else -1


@module.function("json_get_string", "sss")
def json_get_string(ctx: Ctx, text: str, field: str, dst: str) -> int:
    """String value of ``field`` (no quotes) into the PV ``dst``; 1 / -1."""
    value = _member(text, field)
    if value is MISSING:
        return -1
    return 1 if set_pv(ctx, dst, as_string(value)) else -1
