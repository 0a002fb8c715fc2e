"""Tokenizer and preprocessor of kamailio.cfg.

Turns the text of a cfg file (and the files it includes) into :class:`Token` objects, the
way Kamailio's lexer does, handling on the way:

* comments: ``#`` and ``//`` to the end of the line, ``/* ... */`` blocks (may nest);
* preprocessor lines starting with ``#!`` or ``!!``: ``KAMAILIO``/``SER``/``OPENSER``/
  ``MAXCOMPAT``/``ALL`` headers, ``define``/``def``, ``trydef(ine)``, ``redef(ine)``,
  ``undef``, ``ifdef``/``ifndef``/``else``/``endif`` (nesting), ``defenv``/``defenvs``/
  ``trydefenv``/``trydefenvs``, ``subst``/``substdef``/``substdefs``, ``include_file``/
  ``import_file``; a ``#!define`` value may continue on the next line after a ``\\``;
* ``include_file "path"`` / ``import_file "path"`` statements (path relative to the
  including file, then to the current directory; ``import_file`` ignores a missing file);
* substitution of defined names: a word equal to a define becomes the tokens of its value;
  identifier parts of a word (``udp:MY_IP:5060``) are replaced by the define's text;
  ``#!subst`` expressions are applied to the contents of quoted strings.

Every token carries the file and line it comes from; errors are :class:`ConfigError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(Exception):
    """A configuration error; ``str()`` is ``file:line: message``."""

    def __init__(self, message: str, file: str | os.PathLike[str] = "", line: int = 0) -> None:
        super().__init__(message, str(file), line)
        self.message, self.file, self.line = message, str(file), line

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.file else self.message


@dataclass(frozen=True, slots=True)
class Token:
    """A word, a quoted string (``kind == "str"``) or one of ``( ) , = ; { }``."""

    kind: str  # "word" | "str" | "punct"
    value: str
    file: str
    line: int


PUNCT = "(),=;{}"
_WORD_END = re.compile(r"""[\s(),=;{}"'#]""")
_IDENT = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]*(?![A-Za-z0-9_])")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'", "0": "\0"}
MAX_INCLUDE_DEPTH = 10
_INT = re.compile(r"-?(0x[0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*|[01]+b)")
_BOOLS = dict.fromkeys(("yes", "true", "on", "enable"), True) | dict.fromkeys(
    ("no", "false", "off", "disable"), False
)
HEADERS = {"KAMAILIO", "OPENSER", "SER", "MAXCOMPAT", "ALL", "SIP-ROUTER"}
UNSUPPORTED_PP = {"ifexp", "defexp", "defexps"}


@dataclass
class _Cond:
    active: bool  # is the current branch taken (and all outer ones)?
    parent: bool  # were all outer branches taken?
    value: bool  # the tested condition
    file: str
    line: int
    seen_else: bool = False


@dataclass
class Preprocessor:
    """Shared state of one parse: defines, substitutions, the ``#!ifdef`` stack."""

    defines: dict[str, str] = field(default_factory=dict)
    substs: list[tuple[re.Pattern[str], str, int]] = field(default_factory=list)
    conds: list[_Cond] = field(default_factory=list)
    depth: int = 0

    @property
    def skipping(self) -> bool:
        return bool(self.conds) and not self.conds[-1].active

    # -- files --------------------------------------------------------------------------
    def tokens_of_file(self, path: str | os.PathLike[str]) -> Iterator[Token]:
        """Tokens of a file, includes expanded and defines substituted."""
        text = _read(Path(path), str(path), 0)
        yield from self.tokens_of_text(text, str(path))

    def tokens_of_text(self, text: str, file: str) -> Iterator[Token]:
        """Tokens of cfg text named ``file`` in messages."""
        yield from self._expand(self._raw_tokens(text, file))

    def _raw_tokens(self, text: str, file: str) -> Iterator[Token]:
        opened = len(self.conds)
        yield from _Scanner(self, text, file).tokens()
        if len(self.conds) > opened:
            cond = self.conds[opened]
            del self.conds[opened:]
            raise ConfigError("#!ifdef without #!endif", cond.file, cond.line)

    def include(self, name: str, must: bool, file: str, line: int) -> Iterator[Token]:
        """Tokens of an included file (``must`` is False for ``import_file``)."""
        path = _resolve_include(name, file)
        if path is None:
            if must:
                raise ConfigError(f'include_file "{name}": file not found', file, line)
            return
        if self.depth >= MAX_INCLUDE_DEPTH:
            raise ConfigError(f"includes nested deeper than {MAX_INCLUDE_DEPTH}", file, line)
        self.depth += 1
        try:
            yield from self._raw_tokens(_read(path, file, line), str(path))
        finally:
            self.depth -= 1

    # -- defines ------------------------------------------------------------------------
    def _expand(
        self, tokens: Iterator[Token], active: frozenset[str] = frozenset()
    ) -> Iterator[Token]:
        for tok in tokens:
            if tok.kind != "word":
                yield tok
            elif tok.value in self.defines and tok.value not in active:
                yield from self._expand_define(tok, active | {tok.value})
            else:
                yield Token("word", self._expand_parts(tok.value), tok.file, tok.line)

    def _expand_define(self, tok: Token, active: frozenset[str]) -> Iterator[Token]:
        value = self.defines[tok.value]
        sub = _Scanner(self, value, tok.file, tok.line, directives=False).tokens()
        relocated = (Token(t.kind, t.value, tok.file, tok.line) for t in sub)
        yield from self._expand(relocated, active)

    def _expand_parts(self, word: str) -> str:
        def repl(match: re.Match[str]) -> str:
            value = self.defines.get(match.group(0))
            return match.group(0) if value is None else _unquote(value)

        return _IDENT.sub(repl, word) if any(k in word for k in self.defines) else word

    def subst(self, text: str) -> str:
        """Apply the ``#!subst`` expressions to a string's contents."""
        for regex, repl, count in self.substs:
            text = regex.sub(repl, text, count=count)
        return text

    # -- directives ---------------------------------------------------------------------
    def directive(self, text: str, file: str, line: int) -> Iterator[Token]:
        """Handle one ``#!`` line (without the ``#!``); include directives yield tokens."""
        name, rest = (re.split(r"\s+", text.strip(), maxsplit=1) + [""])[:2]
        if name in ("ifdef", "ifndef", "else", "endif"):
            self._conditional(name, rest, file, line)
        elif self.skipping:
            return
        elif name in ("include_file", "import_file"):
            path = _directive_string(rest, file, line)
            yield from self.include(path, name == "include_file", file, line)
        else:
            self._other(name, rest, file, line)

    def _conditional(self, name: str, rest: str, file: str, line: int) -> None:
        if name in ("ifdef", "ifndef"):
            parent = not self.skipping
            value = (_ident(rest, file, line) in self.defines) == (name == "ifdef")
            self.conds.append(_Cond(parent and value, parent, value, file, line))
            return
        if not self.conds:
            raise ConfigError(f"#!{name} without #!ifdef", file, line)
        if name == "endif":
            self.conds.pop()
            return
        cond = self.conds[-1]
        if cond.seen_else:
            raise ConfigError("second #!else for the same #!ifdef", file, line)
        cond.seen_else, cond.active = True, cond.parent and not cond.value

    def _other(self, name: str, rest: str, file: str, line: int) -> None:
        if name.upper() in HEADERS and not rest:
            return
        handler = _HANDLERS.get(name)
        if handler is not None:
            handler(self, rest, file, line)
        elif name in UNSUPPORTED_PP:
            raise ConfigError(f"#!{name} is not supported", file, line)
        else:
            raise ConfigError(f"unknown preprocessor directive #!{name}", file, line)

    def define(self, rest: str, file: str, line: int, mode: str = "define") -> None:
        """``#!define`` (mode ``define``), ``#!trydef`` (``try``), ``#!redefine`` (``re``)."""
        ident, value = (re.split(r"\s+", rest, maxsplit=1) + [""])[:2]
        ident = _ident(ident, file, line)
        if ident in self.defines and mode == "define":
            raise ConfigError(
                f"{ident} is already defined (use #!redefine or #!trydef)", file, line
            )
        if ident not in self.defines or mode == "re":
            self.defines[ident] = value.strip()

    def undef(self, rest: str, file: str, line: int) -> None:
        self.defines.pop(_ident(rest, file, line), None)

    def defenv(self, rest: str, file: str, line: int, quote: bool, tried: bool) -> None:
        """``#!defenv ID=VAR`` / ``#!defenv VAR``; ``defenvs`` quotes the value."""
        ident, _, var = rest.partition("=")
        ident = _ident(ident.strip(), file, line)
        value = os.environ.get(var.strip() or ident)
        if value is None:
            if tried:
                return
            raise ConfigError(f"environment variable {var.strip() or ident} is not set", file, line)
        self.defines[ident] = _quote(value) if quote else value

    def add_subst(self, rest: str, file: str, line: int, define: int = 0) -> None:
        """``#!subst "/re/repl/flags"``; ``substdef``/``substdefs`` also define re."""
        expr = _directive_string(rest, file, line)
        if len(expr) < 3 or expr.count(expr[0]) < 3:
            raise ConfigError(f"bad #!subst expression {expr!r}", file, line)
        pattern, repl, flags = expr[1:].split(expr[0])[:3]
        try:
            regex = re.compile(pattern, re.IGNORECASE if "i" in flags else 0)
        except re.error as exc:
            raise ConfigError(f"bad #!subst regex: {exc}", file, line) from None
        self.substs.append((regex, repl, 0 if "g" in flags else 1))
        if define:
            self.defines[_ident(pattern, file, line)] = _quote(repl) if define > 1 else repl


_Handler = Callable[[Preprocessor, str, str, int], None]
_HANDLERS: dict[str, _Handler] = {
    "define": Preprocessor.define,
    "def": Preprocessor.define,
    "trydef": lambda pp, r, f, n: pp.define(r, f, n, "try"),
    "trydefine": lambda pp, r, f, n: pp.define(r, f, n, "try"),
    "redefine": lambda pp, r, f, n: pp.define(r, f, n, "re"),
    "redef": lambda pp, r, f, n: pp.define(r, f, n, "re"),
    "undef": Preprocessor.undef,
    "defenv": lambda pp, r, f, n: pp.defenv(r, f, n, False, False),
    "defenvs": lambda pp, r, f, n: pp.defenv(r, f, n, True, False),
    "trydefenv": lambda pp, r, f, n: pp.defenv(r, f, n, False, True),
    "trydefenvs": lambda pp, r, f, n: pp.defenv(r, f, n, True, True),
    "subst": Preprocessor.add_subst,
    "substdef": lambda pp, r, f, n: pp.add_subst(r, f, n, 1),
    "substdefs": lambda pp, r, f, n: pp.add_subst(r, f, n, 2),
}


class _Scanner:
    """Character scanner of one text; directives update the shared preprocessor."""

    def __init__(
        self, pp: Preprocessor, text: str, file: str, line: int = 1, directives: bool = True
    ) -> None:
        self.pp, self.text, self.file, self.line = pp, text, file, line
        self.pos, self.directives, self.bol = 0, directives, True

    def tokens(self) -> Iterator[Token]:
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\n":
                self.line, self.pos, self.bol = self.line + 1, self.pos + 1, True
            elif char.isspace():
                self.pos += 1
            elif self.directives and self.bol and self.text.startswith(("#!", "!!"), self.pos):
                line = self.line
                yield from self.pp.directive(self._directive_line(), self.file, line)
            elif self.pp.skipping:
                self._skip_line()
            else:
                self.bol = False
                yield from self._token(char)

    def _token(self, char: str) -> Iterator[Token]:
        if char == "#" or self.text.startswith("//", self.pos):
            self._skip_line()
        elif self.text.startswith("/*", self.pos):
            self._skip_block_comment()
        elif char in "\"'":
            yield self._string(char)
        elif char in PUNCT:
            self.pos += 1
            yield Token("punct", char, self.file, self.line)
        else:
            word = self._word()
            if word.value in ("include_file", "import_file") and self.directives:
                yield from self._include(word)
            else:
                yield word

    def _skip_line(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end

    def _directive_line(self) -> str:
        """Read a ``#!`` line (with ``\\`` continuations) up to its newline."""
        parts = []
        while True:
            end = self.text.find("\n", self.pos)
            end = len(self.text) if end < 0 else end
            chunk = self.text[self.pos : end].rstrip("\r")
            if not chunk.endswith("\\") or end >= len(self.text):
                self.pos = end
                parts.append(chunk)
                return "\n".join(parts).strip()[2:]
            parts.append(chunk[:-1])
            self.pos, self.line = end + 1, self.line + 1

    def _skip_block_comment(self) -> None:
        start, depth, pos = self.line, 0, self.pos
        while pos < len(self.text):
            if self.text.startswith("/*", pos):
                depth, pos = depth + 1, pos + 2
            elif self.text.startswith("*/", pos):
                depth, pos = depth - 1, pos + 2
                if depth == 0:
                    self.line += self.text.count("\n", self.pos, pos)
                    self.pos = pos
                    return
            else:
                pos += 1
        raise ConfigError("unterminated /* comment", self.file, start)

    def _string(self, quote: str) -> Token:
        start, out, pos = self.line, [], self.pos + 1
        while pos < len(self.text) and self.text[pos] != quote:
            char = self.text[pos]
            if char == "\\" and pos + 1 < len(self.text):
                pos += 1
                char = _ESCAPES.get(self.text[pos], "\\" + self.text[pos])
            out.append(char)
            pos += 1
        if pos >= len(self.text):
            raise ConfigError("unterminated string", self.file, start)
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos + 1
        return Token("str", self.pp.subst("".join(out)), self.file, start)

    def _word(self) -> Token:
        match = _WORD_END.search(self.text, self.pos + 1)
        end = len(self.text) if match is None else match.start()
        word, self.pos = self.text[self.pos : end], end
        return Token("word", word, self.file, self.line)

    def _include(self, word: Token) -> Iterator[Token]:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r":
            self.pos += 1
        if self.pos >= len(self.text) or self.text[self.pos] not in "\"'":
            raise ConfigError(f"{word.value} needs a quoted file name", word.file, word.line)
        path = self._string(self.text[self.pos]).value
        yield from self.pp.include(path, word.value == "include_file", word.file, word.line)


def _read(path: Path, file: str, line: int) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", file, line) from None


def _resolve_include(name: str, including: str) -> Path | None:
    path = Path(name)
    candidates = [path] if path.is_absolute() else [Path(including).parent / path, path]
    return next((p for p in candidates if p.is_file()), None)


def _directive_string(rest: str, file: str, line: int) -> str:
    rest = rest.strip()
    if len(rest) < 2 or rest[0] not in "\"'" or rest[-1] != rest[0]:
        raise ConfigError(f"expected a quoted string, got {rest!r}", file, line)
    return rest[1:-1]


def _ident(text: str, file: str, line: int) -> str:
    text = text.strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        raise ConfigError(f"bad preprocessor name {text!r}", file, line)
    return text


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0]:
        return value[1:-1]
    return value


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def word_value(word: str) -> int | str | bool:
    """A bare word: an int (decimal, 0x hex, 0 octal, 101b binary), a yes/no, else itself."""
    if word.lower() in _BOOLS:
        return _BOOLS[word.lower()]
    if _INT.fullmatch(word):
        sign, digits = (-1, word[1:]) if word.startswith("-") else (1, word)
        if digits.endswith("b"):
            return sign * int(digits[:-1], 2)
        base = 16 if digits.startswith("0x") else 8 if digits.startswith("0") else 10
        return sign * int(digits, base)
    return word


def cli_defines(args: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Parse ``-A NAME[=VALUE]`` arguments into defines."""
    out: dict[str, str] = {}
    for arg in args:
        name, _, value = arg.partition("=")
        out[_ident(name, "<command line>", 0)] = value
    return out
