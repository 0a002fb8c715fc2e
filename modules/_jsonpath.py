"""JSON paths as Kamailio's jansson module reads them (``a.b[0][1].c``), backed by orjson.

Shared by :mod:`modules.jansson`, :mod:`modules.json` and :mod:`modules.rtjson`.

* :func:`parse_path` splits a path into keys (str) and array indexes (int); a leading ``[n]``
  addresses a top-level array; ``""`` is the whole document. Indexes are decimal, hex
  (``0x..``) or octal as C's ``strtol(.., 0)``; a negative index finds nothing.
* :func:`path_get` follows a path (``MISSING`` when any step is absent).
* :func:`path_set` is ``json_path_set``: intermediate objects are created for ``a.b`` steps,
  never arrays; a final ``[n]`` replaces an existing element; with ``append`` the target must
  be an array (the value is appended) or an object merged with an object value.
* :func:`to_pv` maps a JSON value to a PV value as ``jansson_to_val``: string -> str,
  integer -> int (str outside the C int range), real -> str ``%.15g``, true/false -> 1/0,
  object/array -> compact JSON, null -> ``None`` ($null).
"""

from __future__ import annotations

from typing import Any

import orjson

Step = str | int
MISSING: Any = object()
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


class PathError(ValueError):
    """An invalid path, or a path that cannot be set in this document."""


def loads(text: str | bytes) -> Any:
    """Parse JSON text; raise :class:`PathError` when it is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise PathError(f"invalid JSON: {exc}") from None


def dumps(value: Any) -> str:
    """Compact JSON text (as ``json_dumps(JSON_COMPACT|JSON_PRESERVE_ORDER)``)."""
    return orjson.dumps(value).decode()


def _index(token: str) -> int:
    try:
        return int(token, 0)
    except ValueError:
        try:
            return int(token, 8) if token.startswith("0") else int(token, 10)
        except ValueError:
            raise PathError(f"invalid array index {token!r}") from None


def parse_path(path: str) -> list[Step]:
    """``"a.b[0][1].c"`` -> ``["a", "b", 0, 1, "c"]``; raise :class:`PathError`."""
    steps: list[Step] = []
    i, n = 0, len(path)
    while i < n:
        if path[i] == "[":
            end = path.find("]", i)
            if end < 0:
                raise PathError(f"missing ']' in {path!r}")
            steps.append(_index(path[i + 1 : end]))
            i = end + 1
            if i < n and path[i] not in ".[":
                raise PathError(f"unexpected characters after ']' in {path!r}")
        else:
            end = min((j for j in (path.find(".", i), path.find("[", i)) if j >= 0), default=n)
            if end == i:
                raise PathError(f"empty key in {path!r}")
            steps.append(path[i:end])
            i = end
        if i < n and path[i] == ".":
            i += 1
    return steps


def _step(cursor: Any, step: Step) -> Any:
    if isinstance(step, int):
        ok = isinstance(cursor, list) and 0 <= step < len(cursor)
        return cursor[step] if ok else MISSING
    return cursor.get(step, MISSING) if isinstance(cursor, dict) else MISSING


def path_get(doc: Any, path: str) -> Any:
    """The value at ``path`` or :data:`MISSING`."""
    cursor = doc
    for step in parse_path(path):
        cursor = _step(cursor, step)
        if cursor is MISSING:
            break
    return cursor


def _walk(doc: Any, steps: list[Step]) -> Any:
    """The container of the last step, creating objects for missing ``.key`` steps."""
    cursor = doc
    for pos, step in enumerate(steps[:-1]):
        nxt = _step(cursor, step)
        if nxt is MISSING:
            if isinstance(step, int):
                raise PathError("array index out of bound")
            if not isinstance(cursor, dict) or isinstance(steps[pos + 1], int):
                raise PathError("object expected (new arrays are not created)")
            nxt = cursor[step] = {}
        cursor = nxt
    return cursor


def _append(target: Any, value: Any) -> None:
    if isinstance(target, list):
        target.append(value)
    elif isinstance(target, dict) and isinstance(value, dict):
        target.update(value)
    else:
        raise PathError("JSON array or object expected")


def path_set(doc: Any, path: str, value: Any, append: bool = False) -> Any:
    """Set (or append) ``value`` at ``path`` in ``doc``; return the document."""
    steps = parse_path(path)
    if not steps:
        if not append:
            raise PathError("invalid JSON path")
        _append(doc, value)
        return doc
    parent, last = _walk(doc, steps), steps[-1]
    if append:
        _append(_step(parent, last), value)
    elif isinstance(last, int):
        if _step(parent, last) is MISSING:
            raise PathError("array index out of bound")
        parent[last] = value
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise PathError("JSON object expected")
    return doc


def to_pv(value: Any) -> Any:
    """A JSON value as the PV value Kamailio's jansson gives it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if INT_MIN <= value <= INT_MAX else str(value)
    if isinstance(value, float):
        return f"{value:.15g}"
    if isinstance(value, str):
        return value
    return dumps(value)
