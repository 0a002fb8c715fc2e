"""The header section of a SIP message: stored as received, searched without splitting it
(RFC 3261 §7.3: header fields, compact forms §7.3.3, folding §7.3.1).

:class:`HeaderSection` keeps the section as one string (every header line preceded by CRLF,
then the CRLFCRLF that ends the section, which also stops every scan). A *plain* section
(no folding, no compact or one-letter names, none of the single headers repeated) is read by
one compiled regular expression, :data:`PLAIN_RE`, which also captures the values of the
headers every proxy reads (first Via, From, To, Call-ID, CSeq, Max-Forwards,
Content-Length); those look-ups then cost a group access. Other look-ups search a
lower-cased, unfolded copy made on first use, so parsing does no per-line work: finding a
header is one ``str.find``. The multimap is ordered and case-insensitive and knows the
compact forms (``v`` = Via, ``i`` = Call-ID, ...). Edits cut or splice the text where they
can and otherwise split it into lines and join it again, so untouched headers keep their
exact bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Literal

from ._text import is_token
from .errors import LocalProtocolError
from .headers import split_commas

__all__ = [
    "COMPACT", "HeaderSection", "SECTION_END", "FOLD_RE", "line_name", "Patterns", "PLAIN_RE",
    "PLAIN_NAMES",
]  # fmt: skip

#: compact form → full name (RFC 3261 §7.3.3 and the IANA registry)
COMPACT = {
    "a": "accept-contact", "b": "referred-by", "c": "content-type", "d": "request-disposition",
    "e": "content-encoding", "f": "from", "i": "call-id", "j": "reject-contact",
    "k": "supported", "l": "content-length", "m": "contact", "n": "identity-info",
    "o": "event", "r": "refer-to", "s": "subject", "t": "to", "u": "allow-events",
    "v": "via", "x": "session-expires", "y": "identity",
}  # fmt: skip
_SHORT = {full: short for short, full in COMPACT.items()}
_VIA = ("via", "v")
FOLD_RE = re.compile(r"\r?\n[ \t]+")
_COMPACT_RE = re.compile(r"\n[a-z][ \t:]")
SECTION_END = "\r\n\r\n"
_ASCII_LOWER = {c: c + 32 for c in range(65, 91)}

#: the headers :data:`PLAIN_RE` captures, group 1, 2, ... in this order
PLAIN_NAMES = ("via", "from", "to", "call-id", "cseq", "max-forwards", "content-length")

SLOW = object()
"""A field of :attr:`HeaderSection._core` to find the long way (see sip.message)."""
#: the index of each header's field in ``_core`` (branch, From tag, To tag, Call-ID, CSeq,
#: Max-Forwards: see sip.message's ``_core_fields``)
_CORE_FIELD = {"via": 0, "from": 1, "to": 2, "call-id": 3, "cseq": 4, "max-forwards": 5}
#: the cached views (sip.message's ``_cache`` keys) read from each header; a header not
#: listed has its view under its own name (Contact, Route, ...). ``server_key`` (sip.matching)
#: is read from the Via and the dialog's headers.
_VIEWS_OF = {
    "via": ("via", "vias", "server_key"), "from": ("from", "server_key"),
    "to": ("to", "server_key"), "call-id": ("server_key",), "cseq": ("cseq", "server_key"),
    "max-forwards": ("mf",), "content-length": ("cl",), "content-type": ("ct",),
    "expires": ("exp",),
}  # fmt: skip


def _plain_alternative(group: int, name: str) -> str:
    """One header line of :data:`PLAIN_RE`: the name, then (first time) the value captured.

    The name's first letter is a capital literal (sre skips an alternative on a literal
    that differs at once; a set or ``re.IGNORECASE`` would cost a call per line), the rest
    any case. ``_POISON`` eats the line and its CR so that no further line and no end can
    match: a repeated single header, or the name followed by a blank and no colon, makes
    the section not plain (the atomic repeat never takes that line back). So does the
    name followed by anything but a token character or a colon after blanks: the line
    editors (``_line_index``) would take it for this header, the look-ups would not."""
    again = r"[^\r]*+" if name == "via" else _POISON  # Via may repeat; the first is kept
    value = r"[ \t]*+([0-9]*+)[ \t]*+" if name == "content-length" else r"[ \t]*+([^\r]*+)"
    head = f"{name[0].upper()}(?ai:{re.escape(name[1:])})"
    return rf"{head}(?:[ \t]*+:(?({group}){again}|{value})|[^{_TOKEN}:]{_POISON})"


def _lower_first(name: str) -> str:
    """A line of :data:`PLAIN_RE` naming ``name`` with a small first letter: not plain."""
    return rf"{name[0]}(?ai:{re.escape(name[1:])})[^{_TOKEN}]{_POISON}"


_POISON = r"[^\r]*+\r"
_TOKEN = r"A-Za-z0-9\-.!%*_+`'~"  # RFC 3261 token characters
#: A plain header section (see the module docstring); group ``i`` is the value of the first
#: ``PLAIN_NAMES[i - 1]`` header (None when absent; leading blanks skipped, trailing kept).
#: Any other line must start with two token characters (no folding, no compact forms).
PLAIN_RE = re.compile(
    r"(?>(?:\r\n(?:"
    + "|".join(_plain_alternative(i, n) for i, n in enumerate(PLAIN_NAMES, 1))
    + "|"
    + "|".join(_lower_first(n) for n in PLAIN_NAMES)
    + rf"|[{_TOKEN}][{_TOKEN}][^\r]*+))*)\r\n\r\n\Z"
)

Patterns = tuple[str, str | None, int]
"""How to find a header: CRLF + its lower-case full name, CRLF + its compact form, and its
group in :data:`PLAIN_RE` (0 when it has none)."""

_PATTERNS: dict[str, Patterns] = {}


def _pattern(name: str) -> Patterns:
    """Search patterns (CRLF + lower-case full name, and the compact form), memoised."""
    key = name.lower()
    key = COMPACT.get(key, key)
    short = _SHORT.get(key)
    group = PLAIN_NAMES.index(key) + 1 if key in PLAIN_NAMES else 0
    pats = ("\r\n" + key, None if short is None else "\r\n" + short, group)
    if len(_PATTERNS) < 1024:
        _PATTERNS[name] = pats
    return pats


P_VIA = _pattern("via")
P_FROM = _pattern("from")
P_TO = _pattern("to")
P_CALL_ID = _pattern("call-id")
P_CSEQ = _pattern("cseq")
P_MAX_FORWARDS = _pattern("max-forwards")


def _aliases(name: str) -> tuple[str, ...]:
    key = name.lower()
    key = COMPACT.get(key, key)
    short = _SHORT.get(key)
    return (key, short) if short else (key,)


def _lower(text: str) -> str:
    low = text.lower()
    if len(low) != len(text):  # a few non-ASCII letters change length when lowered
        low = text.translate(_ASCII_LOWER)
    return low


class HeaderSection:
    """An ordered, case-insensitive multimap of header lines kept as text."""

    __slots__ = ("_hdr", "_unf", "_low", "_compact", "_folded", "_cache", "_core", "_plain")

    _hdr: str
    _unf: str
    _low: str | None  # lower-cased _unf, made on first use (_lowered)
    _compact: bool | None  # whether a compact name may occur; None: not known yet
    _folded: bool
    _cache: dict[str, Any]  # typed views derived from the text, dropped on every edit
    _core: Any  # the fields every proxy reads, found in one pass (see sip.message)
    _plain: re.Match[str] | Literal[False] | None  # PLAIN_RE's match; None: not tried yet

    def _set_text(
        self,
        hdr: str,
        compact: bool | None = None,
        plain: re.Match[str] | Literal[False] | None = None,
    ) -> None:
        """Install a new header section; look-up copies are derived lazily. ``compact``
        (whether compact names may occur) and ``plain`` are passed when already known."""
        self._hdr = self._unf = hdr
        self._low = None
        self._compact = compact
        self._folded = False
        self._cache = {}
        self._core = None
        self._plain = plain

    def _edited(
        self,
        name: str,
        hdr: str,
        compact: bool | None = None,
        plain: re.Match[str] | Literal[False] | None = None,
    ) -> None:
        """:meth:`_set_text` after an edit of the ``name`` headers only: the views and core
        fields read from other headers stay (the text they were read from is unchanged)."""
        cache, core = self._cache, self._core
        self._set_text(hdr, compact, plain)
        key = name.lower()
        key = COMPACT.get(key, key)
        if cache:
            drop = _VIEWS_OF.get(key) or (key,)
            self._cache = {k: v for k, v in cache.items() if k not in drop}
        if core is not None:
            i = _CORE_FIELD.get(key)
            self._core = core if i is None else (*core[:i], SLOW, *core[i + 1 :])

    def _lowered(self) -> str:
        """Make the lower-cased look-up copy (and learn whether compact names occur)."""
        self._low = low = _lower(self._unf)
        if self._compact is None:
            self._compact = _COMPACT_RE.search(low) is not None
        return low

    def _match_plain(self) -> re.Match[str] | None:
        """:data:`PLAIN_RE`'s match of the section, or None when it is not plain."""
        plain = self._plain
        if plain is None:
            plain = self._plain = PLAIN_RE.match(self._hdr) or False
        return plain or None

    def _unfold(self) -> None:
        """Replace folded continuation lines by a space in the look-up copies (§7.3.1)."""
        if self._compact is None:
            self._lowered()
        self._unf = unf = FOLD_RE.sub(" ", self._hdr)
        self._low = _lower(unf)
        self._folded = True

    # -- the header multimap ---------------------------------------------------------------
    def _spans(self, name: str) -> list[tuple[int, int]]:
        """(start of value, end of line) in ``_unf`` for each ``name`` header, in order."""
        return self._spans_of(_PATTERNS.get(name) or _pattern(name))

    def _spans_of(self, pats: Patterns) -> list[tuple[int, int]]:
        pat, short, _ = pats
        low = self._low or self._lowered()
        found = self._scan(low, pat)
        if short is not None and self._compact:
            found += self._scan(low, short)
            found.sort()
        if found and not self._folded:
            for _, e in found:
                if low[e + 2] in " \t":  # a folded line: look again in the unfolded copy
                    self._unfold()
                    return self._spans_of(pats)
        return found

    @staticmethod
    def _scan(low: str, pat: str) -> list[tuple[int, int]]:
        n = len(pat)
        found: list[tuple[int, int]] = []
        pos = low.find(pat)
        while pos >= 0:
            j = pos + n
            while low[j] in " \t":
                j += 1
            if low[j] == ":":
                found.append((j + 1, low.find("\r\n", j)))
            pos = low.find(pat, j)
        return found

    def _span1(self, pats: Patterns) -> tuple[int, int] | None:
        """Span of the first header's value, any spelling (see :meth:`_get` for the fast one)."""
        pat, short, _ = pats
        low = self._low or self._lowered()
        if short is not None and self._compact:
            spans = self._spans_of(pats)
            return spans[0] if spans else None
        pos = low.find(pat)
        n = len(pat)
        while pos >= 0:
            j = pos + n
            c = low[j]
            while c == " " or c == "\t":
                j += 1
                c = low[j]
            if c == ":":
                e = low.find("\r\n", j)
                if low[e + 2] in " \t" and not self._folded:
                    self._unfold()
                    return self._span1(pats)
                return j + 1, e
            pos = low.find(pat, j)
        return None

    def get(self, name: str, default: str | None = None) -> str | None:
        """Value of the first header called ``name`` (full or compact form), unfolded."""
        return self._get(_PATTERNS.get(name) or _pattern(name), default)

    def _get(self, pats: Patterns, default: str | None = None) -> str | None:
        pat, short, group = pats
        if group:  # one of PLAIN_NAMES: captured when the section is plain
            m = self._plain or self._match_plain()
            if m is not None:
                value = m[group]
                return default if value is None else value.strip()
        low = self._low or self._lowered()
        if short is None or not self._compact:  # fast path: "Name:" not folded
            pos = low.find(pat)
            while pos >= 0:
                j = pos + len(pat)
                c = low[j]
                if c == ":":
                    e = low.find("\r\n", j)
                    if low[e + 2] not in " \t":
                        return self._unf[j + 1 : e].strip()
                    break
                if c == " " or c == "\t":
                    break
                pos = low.find(pat, j)
            else:
                return default
        span = self._span1(pats)
        if span is None:
            return default
        return self._unf[span[0] : span[1]].strip()

    def get_all(self, name: str) -> list[str]:
        """Values of every header line called ``name``, in order."""
        pats = _PATTERNS.get(name) or _pattern(name)
        if pats[2] > 1:  # a single header (PLAIN_NAMES but Via): one line at most if plain
            m = self._plain or self._match_plain()
            if m is not None:
                value = m[pats[2]]
                return [] if value is None else [value.strip()]
        spans = self._spans_of(pats)  # may unfold, replacing self._unf
        unf = self._unf
        return [unf[a:b].strip() for a, b in spans]

    def values(self, name: str) -> list[str]:
        """Every comma-separated element of every ``name`` header (for list headers)."""
        return [item for v in self.get_all(name) for item in split_commas(v) if item]

    def __contains__(self, name: object) -> bool:
        return (
            isinstance(name, str) and self._span1(_PATTERNS.get(name) or _pattern(name)) is not None
        )

    def count(self, name: str) -> int:
        return len(self._spans(name))

    def raw_lines(self) -> list[str]:
        """The header lines exactly as they will be written (folding kept)."""
        return _lines_of(self._hdr[:-4])

    def items(self) -> Iterator[tuple[str, str]]:
        """``(name as written, unfolded value)`` for every header line, in order."""
        for line in self.raw_lines():
            name, _, value = line.partition(":")
            yield name.rstrip(), FOLD_RE.sub(" ", value).strip()

    def _edit(self, lines: list[str]) -> None:
        self._set_text("".join("\r\n" + line for line in lines) + SECTION_END)

    def _line_index(self, name: str) -> tuple[list[str], list[int]]:
        lines = self.raw_lines()
        keys = _aliases(name)
        idx = [i for i, line in enumerate(lines) if line_name(line) in keys]
        return lines, idx

    def add(self, name: str, value: str, index: int | None = None) -> None:
        """Append a header (or insert it before header line number ``index``)."""
        _check_header(name, value)
        line = f"{name}: {value}"
        if index is None:
            compact = self._compact if len(name) > 1 else None
            self._edited(name, f"{self._hdr[:-4]}\r\n{line}{SECTION_END}", compact)
            return
        lines = self.raw_lines()
        lines.insert(index, line)
        self._edit(lines)

    def insert(self, name: str, value: str) -> None:
        """Insert a header before all others (Kamailio's ``insert_hf``)."""
        _check_header(name, value)
        compact = self._compact if len(name) > 1 else None
        self._edited(name, f"\r\n{name}: {value}{self._hdr}", compact)

    def add_before(self, name: str, value: str, before: str) -> None:
        """Insert a header just before the first ``before`` header (or at the top)."""
        start = self._plain_start(before)
        if start is None:
            span = self._span1(_PATTERNS.get(before) or _pattern(before))
            if self._folded:  # the span is in the unfolded copy: edit by lines
                _, idx = self._line_index(before)
                self.add(name, value, idx[0] if idx else 0)
                return
            start = span[0] if span else -1
        _check_header(name, value)
        hdr = self._hdr
        at = hdr.rfind("\r\n", 0, start) if start >= 0 else 0  # that line's start, or the top
        compact = self._compact if len(name) > 1 else None
        self._edited(name, f"{hdr[:at]}\r\n{name}: {value}{hdr[at:]}", compact)

    def _plain_start(self, name: str) -> int | None:
        """Where the first ``name`` header's value starts (-1: no such header) when the
        section is plain and ``name`` one of PLAIN_NAMES; None otherwise."""
        group = (_PATTERNS.get(name) or _pattern(name))[2]
        m = (self._plain or self._match_plain()) if group else None
        return None if m is None else m.start(group)

    def remove(self, name: str) -> int:
        """Remove every ``name`` header; returns how many lines went."""
        done = self._splice(name, None)
        if done is not None:
            return done
        lines, idx = self._line_index(name)
        if idx:
            drop = set(idx)
            self._edit([line for i, line in enumerate(lines) if i not in drop])
        return len(idx)

    def replace(self, name: str, value: str) -> None:
        """Set ``name`` to one line with ``value``, in place of the first occurrence."""
        _check_header(name, value)
        done = self._splice(name, value)
        if done:
            return
        lines, idx = self._line_index(name)
        if not idx:
            self.add(name, value)
            return
        drop = set(idx[1:])
        lines[idx[0]] = f"{_line_written_name(lines[idx[0]])}: {value}"
        self._edit([line for i, line in enumerate(lines) if i not in drop])

    def _splice(self, name: str, value: str | None) -> int | None:
        """Cut every ``name`` line out of the text itself, putting ``value`` in the first
        one's place when given; None when the section was unfolded (then lines are split)."""
        if name.lower() not in _VIA:  # a single header: one line at most when plain
            start = self._plain_start(name)
            if start is not None:
                return self._splice_plain(name, start, value)
        spans = self._spans(name)
        if self._folded:
            return None
        hdr = self._hdr
        parts: list[str] = []
        prev = 0
        for k, (a, e) in enumerate(spans):
            if k == 0 and value is not None:
                parts += (hdr[prev:a], " ", value)
            else:
                parts.append(hdr[prev : hdr.rfind("\r\n", 0, a)])
            prev = e
        if spans:
            parts.append(hdr[prev:])
            self._edited(name, "".join(parts), self._compact)  # the names are unchanged
        return len(spans)

    def _splice_plain(self, name: str, start: int, value: str | None) -> int:
        """:meth:`_splice` of the ``name`` line whose value starts at ``start`` (-1: none)."""
        if start < 0:
            return 0
        hdr = self._hdr
        end = hdr.find("\r", start)
        if value is None:  # the whole line goes, with the CRLF before it
            self._edited(name, hdr[: hdr.rfind("\r\n", 0, start)] + hdr[end:], False)
        else:  # as _splice writes it: "Name:" + one space + value
            text = f"{hdr[: hdr.rfind(':', 0, start) + 1]} {value}{hdr[end:]}"
            self._edited(name, text, False)
        return 1

    def replace_first_value(self, name: str, value: str) -> bool:
        """In a plain section whose first ``name`` line holds one element (the usual top
        Via), make that line ``name: value`` in place, in the text; False (nothing done)
        otherwise (the caller then edits by lines)."""
        start = self._plain_start(name)
        if start is None or start < 0:
            return False
        _check_header(name, value)
        hdr = self._hdr
        end = hdr.find("\r", start)
        if "," in hdr[start:end]:
            return False
        begin = hdr.rfind("\r\n", 0, start) + 2
        self._edited(name, f"{hdr[:begin]}{name}: {value}{hdr[end:]}", False)
        return True

    def remove_first_value(self, name: str) -> str | None:
        """Remove the first comma-separated element of ``name`` (e.g. the top Via)."""
        start = self._plain_start(name)
        span: tuple[int, int] | None = None
        if start is not None and start >= 0:
            span = start, self._hdr.find("\r", start)
        elif start is None:  # any header: found in the text when nothing is folded
            span = self._span1(_PATTERNS.get(name) or _pattern(name))
        if span is not None and not self._folded:
            return self._cut_first_value(name, *span)
        lines, idx = self._line_index(name)
        if not idx:
            return None
        line = lines[idx[0]]
        items = split_commas(FOLD_RE.sub(" ", line.partition(":")[2]))  # no colon: ""
        if len(items) <= 1:
            del lines[idx[0]]
        else:
            lines[idx[0]] = f"{_line_written_name(line)}: {', '.join(items[1:])}"
        self._edit(lines)
        return items[0]

    def _cut_first_value(self, header: str, start: int, end: int) -> str:
        """:meth:`remove_first_value` of the (unfolded) line whose value is at start:end,
        in the text: the line goes when it holds one element, else its first element."""
        hdr = self._hdr
        value = hdr[start:end]
        begin = hdr.rfind("\r\n", 0, start)
        items = split_commas(value) if "," in value else None
        if items is None or len(items) == 1:
            self._edited(header, hdr[:begin] + hdr[end:], self._compact, False)
            return value.strip()
        name = _line_written_name(hdr[begin + 2 : end])  # as the line-by-line edit writes it
        rest = ", ".join(items[1:])
        self._edited(header, f"{hdr[:begin]}\r\n{name}: {rest}{hdr[end:]}", self._compact, False)
        return items[0]


def _lines_of(hdr: str) -> list[str]:
    """Split a header section into lines, keeping folded continuations with their header."""
    lines = hdr.split("\r\n")[1:]
    if not any(line[:1] in (" ", "\t") for line in lines):
        return lines
    out: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t") and out:
            out[-1] = out[-1] + "\r\n" + line
        else:
            out.append(line)
    return out


def _check_header(name: str, value: str) -> None:
    if not is_token(name) or "\r" in value or "\n" in value:
        raise LocalProtocolError(f"bad header {name!r}: {value!r}")


def _line_written_name(line: str) -> str:
    return line.partition(":")[0].rstrip()


def line_name(line: str) -> str:
    name = line.partition(":")[0].rstrip().lower()
    return COMPACT.get(name, name)
