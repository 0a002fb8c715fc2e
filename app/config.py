"""Parser of the global part of kamailio.cfg -- siprouter's configuration file.

``parse_config(path)`` reads a kamailio.cfg (preprocessed by :mod:`app.cfgpre`) into a
:class:`Config`: core parameters (``listen=``, ``children=``, ``debug=``, ``kemi.*``, ...),
``loadmodule``, ``modparam`` and ``cfgengine``. Routing is done by a KEMI script, so native
routing blocks (``request_route { ... }``) are rejected. ``load_modules(config)`` then
imports the implemented modules from the catalogue and applies their modparams.

Every error is a :class:`ConfigError` whose ``str()`` is ``file:line: message``.
See docs/config.md for what is supported.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import modules as catalogue
from app import known
from app.cfgpre import ConfigError, Preprocessor, Token, word_value
from app.cfgpre import cli_defines as cli_defines
from app.module import Module, ParamError

Value = int | str | bool
PROTOS = ("udp", "tcp", "tls", "sctp")


@dataclass(frozen=True, slots=True)
class Listen:
    """A ``listen=`` socket; ``proto`` None means every transport (udp and tcp)."""

    proto: str | None
    host: str  # IPv6 without brackets
    port: int
    advertise_host: str | None = None
    advertise_port: int | None = None
    name: str | None = None
    virtual: bool = False

    @property
    def hostport(self) -> str:
        """``host:port`` with IPv6 brackets."""
        return f"{_bracket(self.host)}:{self.port}"


@dataclass(frozen=True, slots=True)
class LoadedModule:
    """A ``loadmodule``; ``implemented`` is False for accepted-and-ignored core modules."""

    name: str
    path: str
    implemented: bool
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class ModParam:
    """One ``modparam`` for one module (a regex module name gives one per match)."""

    module: str
    param: str
    value: int | str
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class Setting:
    """A core parameter that is accepted and ignored, or a custom ``group.var`` one."""

    name: str
    value: Value
    file: str
    line: int


@dataclass(frozen=True)
class Config:
    """The parsed global part of kamailio.cfg."""

    path: str
    listens: tuple[Listen, ...] = ()
    aliases: tuple[str, ...] = ()
    port: int = 5060
    children: int = 8
    debug: int = 0
    log_stderror: bool = False
    log_prefix: str | None = None
    server_header: str | None = None
    user_agent_header: str | None = None
    kemi: Mapping[str, str] = field(default_factory=lambda: dict(known.KEMI_DEFAULTS))
    modules: tuple[LoadedModule, ...] = ()
    modparams: tuple[ModParam, ...] = ()
    cfgengine: str | None = None
    engine_module: str | None = None
    script: Path | None = None
    ignored: tuple[Setting, ...] = ()
    custom: tuple[Setting, ...] = ()
    defines: Mapping[str, str] = field(default_factory=dict)

    def module(self, name: str) -> LoadedModule | None:
        """The ``loadmodule`` of ``name``, if any."""
        return next((m for m in self.modules if m.name == name), None)


class _Stream:
    """Tokens with one token of look-ahead."""

    def __init__(self, tokens: Iterator[Token]) -> None:
        self._it, self._next = tokens, next(tokens, None)

    def peek(self) -> Token | None:
        return self._next

    def take(self) -> Token | None:
        tok, self._next = self._next, next(self._it, None)
        return tok

    def expect(self, what: str, after: Token, kind: str = "punct") -> Token:
        tok = self.take()
        if tok is None or tok.kind != kind or (kind == "punct" and tok.value != what):
            got = "end of file" if tok is None else repr(tok.value)
            where = tok or after
            raise ConfigError(
                f"expected {what} after {after.value!r}, got {got}", where.file, where.line
            )
        return tok


class _Parser:
    """Builds the fields of a :class:`Config` from the token stream."""

    def __init__(
        self, pp: Preprocessor, tokens: Iterator[Token], path: str, implemented: Collection[str]
    ) -> None:
        self.pp, self.s, self.implemented = pp, _Stream(tokens), implemented
        self.f: dict[str, Any] = {"path": path, "kemi": dict(known.KEMI_DEFAULTS)}
        self.listens: list[Listen] = []
        self.aliases: list[str] = []
        self.modules: list[LoadedModule] = []
        self.modparams: list[ModParam] = []
        self.ignored: list[Setting] = []
        self.custom_vars: list[Setting] = []

    def parse(self) -> Config:
        while (tok := self.s.take()) is not None:
            self.statement(tok)
        port = self.f.get("port", 5060)
        return Config(
            **self.f,
            listens=tuple(_default_port(x, port) for x in self.listens),
            aliases=tuple(self.aliases),
            modules=tuple(self.modules),
            modparams=tuple(self.modparams),
            ignored=tuple(self.ignored),
            custom=tuple(self.custom_vars),
            defines=dict(self.pp.defines),
        )

    def statement(self, tok: Token) -> None:
        if tok.kind == "punct" and tok.value == ";":
            return
        if tok.kind != "word":
            raise _err(f"unexpected {tok.value!r}", tok)
        handler = _STATEMENTS.get(tok.value)
        if handler is not None:
            handler(self, tok)
        elif tok.value.split("[", 1)[0] in known.ROUTE_BLOCKS:
            raise _err('native routing blocks are not supported yet; use cfgengine "python"', tok)
        else:
            self.assignment(tok)

    # -- statements ---------------------------------------------------------------------
    def loadmodule(self, tok: Token) -> None:
        path = self.s.expect("a quoted module name", tok, "str").value
        name = os.path.basename(path).removesuffix(".so")
        if self.loaded(name):
            return  # Kamailio skips a module loaded twice
        implemented = name in self.implemented
        if not implemented and not known.is_core_module(name):
            raise _err(_unknown_module(name), tok)
        self.modules.append(LoadedModule(name, path, implemented, tok.file, tok.line))

    def modparam(self, tok: Token) -> None:
        self.s.expect("(", tok)
        mod = self.s.expect("a quoted module name", tok, "str")
        self.s.expect(",", mod)
        param = self.s.expect("a quoted parameter name", tok, "str")
        self.s.expect(",", param)
        value = self.modparam_value(param)
        self.s.expect(")", param)
        for name in self.matching_modules(mod):
            self.modparams.append(ModParam(name, param.value, value, tok.file, tok.line))
            self.engine_param(name, param.value, value, tok)

    def modparam_value(self, after: Token) -> int | str:
        tok = self.s.take()
        if tok is not None and tok.kind == "str":
            return self.more_strings(tok.value)
        if tok is not None and tok.kind == "word":
            value = word_value(tok.value)
            if not isinstance(value, str):
                return int(value)
        raise _err("a modparam value is a number or a quoted string", tok or after)

    def cfgengine(self, tok: Token) -> None:
        self.optional("=")
        name = self.s.expect("a quoted engine name", tok, "str").value.lower()
        if name in ("python", "python3"):
            engine = next((m for m in known.ENGINE_MODULES if self.loaded(m)), None)
            if engine is None:
                raise _err('cfgengine "python" needs loadmodule "app_python3.so" before it', tok)
            self.f["cfgengine"], self.f["engine_module"] = "python", engine
        elif name in ("native", "default"):
            raise _err('native routing is not supported yet; use cfgengine "python"', tok)
        else:
            raise _err(f'cfgengine "{name}" is not supported yet; use cfgengine "python"', tok)

    def loadpath(self, tok: Token) -> None:
        self.optional("=")
        path = self.s.expect("a quoted path", tok, "str")
        self.ignored.append(Setting("mpath", path.value, tok.file, tok.line))

    def assignment(self, tok: Token) -> None:
        eq = self.s.peek()
        if eq is None or eq.kind != "punct" or eq.value != "=":
            raise _err(f"unknown statement {tok.value!r}", tok)
        self.s.take()
        values = self.value_tokens(eq)
        name = tok.value
        if name in _CORE:
            _CORE[name](self, name, values, tok)
        elif name in known.IGNORED_CORE_PARAMS:
            self.ignored.append(Setting(name, _any_value(values), tok.file, tok.line))
        elif "." in name and not name.startswith("kemi."):
            self.custom(name, values, tok)
        else:
            raise _err(f"unknown core parameter {name!r}", tok)

    # -- helpers ------------------------------------------------------------------------
    def value_tokens(self, eq: Token) -> list[Token]:
        """The tokens of an assignment's value: the rest of the line (strings may go on)."""
        first = self.s.take()
        if first is None or first.kind == "punct":
            raise _err("missing value", first or eq)
        values = [first]
        while (
            (nxt := self.s.peek()) is not None
            and nxt.kind != "punct"
            and (
                (nxt.file, nxt.line) == (values[-1].file, values[-1].line)
                or nxt.kind == values[-1].kind == "str"
            )
        ):
            values.append(nxt)
            self.s.take()
        return values

    def more_strings(self, text: str) -> str:
        """Concatenate adjacent quoted strings (``"a" "b"``)."""
        while (nxt := self.s.peek()) is not None and nxt.kind == "str":
            text += nxt.value
            self.s.take()
        return text

    def optional(self, punct: str) -> None:
        nxt = self.s.peek()
        if nxt is not None and nxt.kind == "punct" and nxt.value == punct:
            self.s.take()

    def loaded(self, name: str) -> bool:
        return any(m.name == name for m in self.modules)

    def matching_modules(self, mod: Token) -> list[str]:
        names = [m.name for m in self.modules]
        if re.fullmatch(r"[A-Za-z0-9_]+", mod.value):
            found = [mod.value] if mod.value in names else []
        else:
            try:
                found = [n for n in names if re.fullmatch(mod.value, n)]
            except re.error as exc:
                raise _err(f"bad module regex {mod.value!r}: {exc}", mod) from None
        if not found:
            raise _err(
                f'modparam for module "{mod.value}", which is not loaded '
                "(loadmodule must come first)",
                mod,
            )
        return found

    def engine_param(self, module: str, param: str, value: int | str, tok: Token) -> None:
        if module in known.ENGINE_MODULES and param in ("load", "script_name"):
            if not isinstance(value, str):
                raise _err(f'modparam "{module}" "{param}" expects a file name', tok)
            path = Path(value)
            self.f["script"] = path if path.is_absolute() else Path(tok.file).parent / path

    def custom(self, name: str, values: list[Token], tok: Token) -> None:
        """``group.var = value [desc "text"]``: a custom cfg variable (kept, unused)."""
        if len(values) >= 3 and values[-2].value in ("desc", "descr", "description"):
            values = values[:-2]
        self.custom_vars.append(Setting(name, _any_value(values), tok.file, tok.line))


# -- core parameters --------------------------------------------------------------------
def _core_int(p: _Parser, name: str, values: list[Token], tok: Token) -> None:
    value = _single(values, tok)
    parsed = word_value(value.value) if value.kind == "word" else value.value
    if not isinstance(parsed, int) or isinstance(parsed, bool):
        raise _err(f"{name} expects an integer, got {value.value!r}", value)
    p.f[name] = parsed


def _core_bool(p: _Parser, name: str, values: list[Token], tok: Token) -> None:
    value = _single(values, tok)
    parsed = word_value(value.value) if value.kind == "word" else None
    if parsed not in (0, 1):  # True/False compare equal to 1/0
        raise _err(f"{name} expects yes or no, got {value.value!r}", value)
    p.f[name] = bool(parsed)


def _core_str(p: _Parser, name: str, values: list[Token], tok: Token) -> None:
    if any(v.kind != "str" for v in values):
        raise _err(f"{name} expects a quoted string", values[0])
    text = "".join(v.value for v in values)
    if name.startswith("kemi."):
        p.f["kemi"][name[5:]] = "" if text.lower() == "none" else text
    else:
        p.f[name] = text


def _core_alias(p: _Parser, name: str, values: list[Token], tok: Token) -> None:
    p.aliases.append(_single(values, tok).value)


def _core_listen(p: _Parser, name: str, values: list[Token], tok: Token) -> None:
    p.listens.append(_listen(values))


_CORE = {
    **{n: _core_int for n in ("children", "debug", "port")},
    "log_stderror": _core_bool,
    **{n: _core_str for n in ("log_prefix", "server_header", "user_agent_header")},
    **{f"kemi.{k}": _core_str for k in known.KEMI_DEFAULTS},
    "alias": _core_alias,
    "listen": _core_listen,
}
_STATEMENTS = {
    "loadmodule": _Parser.loadmodule,
    "modparam": _Parser.modparam,
    "cfgengine": _Parser.cfgengine,
    "loadpath": _Parser.loadpath,
    "mpath": _Parser.loadpath,
}


def _listen(values: list[Token]) -> Listen:
    proto, host, port = _socket(values[0], with_proto=True)
    extra: dict[str, Any] = {}
    rest = iter(values[1:])
    for tok in rest:
        arg = next(rest, None) if tok.value in ("advertise", "name") else None
        if tok.value == "virtual":
            extra["virtual"] = True
        elif arg is None:
            raise _err(f"unexpected {tok.value!r} in listen", tok)
        elif tok.value == "advertise":
            _, extra["advertise_host"], extra["advertise_port"] = _socket(arg, False)
        else:
            extra["name"] = arg.value
    return Listen(proto, host, port or 0, **extra)


def _socket(tok: Token, with_proto: bool) -> tuple[str | None, str, int | None]:
    text, proto = tok.value, None
    head, sep, tail = text.partition(":")
    if with_proto and sep and head.lower() in PROTOS:
        proto, text = head.lower(), tail
    elif with_proto and sep and head.isalpha() and not tail.isdigit():
        raise _err(f"unknown transport {head!r} (udp, tcp, tls, sctp)", tok)
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else (rest or None)
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, None
    if not host or (port is not None and not (port.isdigit() and 0 < int(port) < 65536)):
        raise _err(f"bad address {tok.value!r}", tok)
    return proto, host, int(port) if port else None


def _default_port(listen: Listen, default: int) -> Listen:
    """Fill the port from ``port=`` (5061 for tls) and the advertised port from it."""
    tls_default = 5061 if listen.proto == "tls" and default == 5060 else default
    port = listen.port or tls_default
    adv = listen.advertise_port or (port if listen.advertise_host else None)
    return replace(listen, port=port, advertise_port=adv)


def _any_value(values: list[Token]) -> Value:
    if all(v.kind == "str" for v in values):
        return "".join(v.value for v in values)
    if len(values) == 1:
        return word_value(values[0].value)
    return " ".join(v.value for v in values)


def _single(values: list[Token], tok: Token) -> Token:
    if len(values) != 1:
        raise _err(f"{tok.value} takes one value", values[1])
    return values[0]


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _unknown_module(name: str) -> str:
    if known.is_kamailio_module(name):
        return f'module "{name}" is a Kamailio module siprouter does not implement yet'
    return f'unknown module "{name}"'


def _err(message: str, tok: Token) -> ConfigError:
    return ConfigError(message, tok.file, tok.line)


# -- entry points -----------------------------------------------------------------------
def parse_config(
    path: str | os.PathLike[str],
    defines: Mapping[str, str] | None = None,
    *,
    implemented: Collection[str] | None = None,
) -> Config:
    """Parse a kamailio.cfg; ``defines`` are ``-A NAME=VALUE`` (see :func:`cli_defines`).

    ``implemented`` names the modules siprouter has (default: ``modules.MODULES``).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    return parse_config_text(text, str(path), defines, implemented=implemented)


def parse_config_text(
    text: str,
    file: str = "kamailio.cfg",
    defines: Mapping[str, str] | None = None,
    *,
    implemented: Collection[str] | None = None,
) -> Config:
    """Parse cfg text; includes are relative to ``file``'s directory."""
    pp = Preprocessor(dict(defines or {}))
    impl = catalogue.MODULES if implemented is None else implemented
    return _Parser(pp, pp.tokens_of_text(text, file), file, impl).parse()


def apply_modparams(config: Config, modules: Mapping[str, Module]) -> None:
    """Set the declared params of ``modules`` from the config's modparams."""
    for mp in config.modparams:
        module = modules.get(mp.module)
        if module is None:
            continue
        try:
            module.set_param(mp.param, mp.value)
        except ParamError as exc:
            raise ConfigError(str(exc), mp.file, mp.line) from None


def load_modules(config: Config) -> dict[str, Module]:
    """Import the implemented loaded modules, check ``requires``, apply modparams.

    The modules' parameters are reset to their defaults first (a module is a singleton).
    """
    loaded = {m.name: m for m in config.modules}
    result = {m.name: catalogue.load_module(m.name) for m in config.modules if m.implemented}
    for name, module in result.items():
        module.reset_params()
        missing = [r for r in module.requires if r not in loaded]
        if missing:
            where = loaded[name]
            raise ConfigError(
                f'module "{name}" requires "{missing[0]}" (add loadmodule "{missing[0]}.so")',
                where.file,
                where.line,
            )
    apply_modparams(config, result)
    return result


def parse_listen(text: str, port: int = 5060) -> Listen:
    """A ``listen=`` value given elsewhere (``siprouter -l udp:127.0.0.1:5070``)."""
    config = parse_config_text(f"port={port}\nlisten={text}\n", "<command line>", implemented=())
    return config.listens[0]
