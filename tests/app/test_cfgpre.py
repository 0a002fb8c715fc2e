"""Tests of the kamailio.cfg parser's lexical level, preprocessor and includes (app.cfgpre,
through app.config.parse_config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigError, cli_defines

from .cfg_kit import cfg, error, write


# -- lexical level ------------------------------------------------------------------------
def test_headers_and_comments(tmp_path: Path) -> None:
    c = cfg(
        tmp_path,
        """
        #!KAMAILIO
        #!SER
        #!OPENSER
        #!MAXCOMPAT
        #!ALL
        # a comment with listen=udp:1.1.1.1
        // another
        /* block
           children=99
           /* nested */ still comment
        */
        children=3 # trailing
        debug=1 // trailing
        """,
    )
    assert c.children == 3 and c.debug == 1 and c.listens == ()


def test_unterminated_comment_and_string(tmp_path: Path) -> None:
    err = error(tmp_path, "debug=1\n/* never closed\n")
    assert str(err) == f"{tmp_path}/kamailio.cfg:2: unterminated /* comment"
    assert error(tmp_path, 'debug=1\nlog_prefix="abc\n').line == 2


def test_string_escapes_and_concatenation(tmp_path: Path) -> None:
    c = cfg(
        tmp_path,
        r"""
        log_prefix="a\"b\\c\td" 'single'
        server_header="Server: x"
        """,
    )
    assert c.log_prefix == 'a"b\\c\tdsingle' and c.server_header == "Server: x"


# -- preprocessor --------------------------------------------------------------------------
def test_defines_and_substitution(tmp_path: Path) -> None:
    c = cfg(
        tmp_path,
        """
        #!define WITH_X
        #!define DBG 2
        #!define MYIP 10.0.0.1
        #!define PREFIX "P: "
        #!define LONG "a" \\
             "b"
        debug=DBG
        listen=udp:MYIP:5070
        log_prefix=PREFIX
        user_agent_header=LONG
        """,
    )
    assert c.debug == 2 and c.listens[0].host == "10.0.0.1" and c.log_prefix == "P: "
    assert c.user_agent_header == "ab"
    assert c.defines["WITH_X"] == "" and c.defines["DBG"] == "2"


def test_nested_ifdef(tmp_path: Path) -> None:
    text = """
        #!define A
        #!ifdef A
        #!ifdef B
        children=1
        #!else
        #!ifndef C
        children=2
        #!else
        children=3
        #!endif
        #!endif
        #!else
        #!ifdef A
        children=4
        #!endif
        children=5
        #!endif
        """
    assert cfg(tmp_path, text).children == 2
    assert cfg(tmp_path, text, defines={"C": ""}).children == 3
    assert cfg(tmp_path, text, defines={"B": "1"}).children == 1


def test_skipped_text_is_not_parsed(tmp_path: Path) -> None:
    c = cfg(
        tmp_path,
        """
        #!ifdef NOPE
        this is not a valid statement {
        #!define INSIDE
        #!endif
        children=2
        """,
    )
    assert c.children == 2 and "INSIDE" not in c.defines


def test_ifdef_errors(tmp_path: Path) -> None:
    assert error(tmp_path, "debug=1\n\n#!ifdef X\nchildren=1\n").line == 3
    assert "without #!ifdef" in str(error(tmp_path, "#!endif\n"))
    assert "without #!ifdef" in str(error(tmp_path, "#!else\n"))
    assert "second #!else" in str(error(tmp_path, "#!ifdef X\n#!else\n#!else\n#!endif\n"))


def test_define_redefine_trydef_undef(tmp_path: Path) -> None:
    c = cfg(
        tmp_path,
        """
        #!define N 1
        #!trydef N 2
        #!trydef M 3
        #!redefine N 4
        #!define GONE
        #!undef GONE
        children=N
        debug=M
        """,
    )
    assert c.children == 4 and c.debug == 3 and "GONE" not in c.defines
    err = error(tmp_path, "#!define N 1\n#!define N 2\n")
    assert err.line == 2 and "already defined" in err.message


def test_bang_bang_form(tmp_path: Path) -> None:
    c = cfg(tmp_path, "!!define N 5\n!!ifdef N\nchildren=N\n!!endif\n")
    assert c.children == 5


def test_cli_defines(tmp_path: Path) -> None:
    defs = cli_defines(["WITH_DEBUG", "LEVEL=3", 'PFX="x: "'])
    assert defs == {"WITH_DEBUG": "", "LEVEL": "3", "PFX": '"x: "'}
    text = "#!ifdef WITH_DEBUG\ndebug=LEVEL\n#!endif\nlog_prefix=PFX\n#!trydef LEVEL 9\n"
    c = cfg(tmp_path, text, defines=defs)
    assert c.debug == 3 and c.log_prefix == "x: " and c.defines["LEVEL"] == "3"
    with pytest.raises(ConfigError):
        cli_defines(["1BAD"])


def test_subst(tmp_path: Path) -> None:
    c = cfg(
        tmp_path,
        """
        #!subst "/PASSWD/secret/g"
        #!substdef "!HOSTNAME!example.com!"
        log_prefix="PASSWD and PASSWD"
        alias=HOSTNAME
        user_agent_header="ua HOSTNAME"
        """,
    )
    assert c.log_prefix == "secret and secret"
    assert c.aliases == ("example.com",) and c.user_agent_header == "ua example.com"
    assert "bad #!subst" in str(error(tmp_path, '#!subst "/x"\n'))


def test_defenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIPR_CHILDREN", "7")
    monkeypatch.setenv("SIPR_PFX", "env: ")
    c = cfg(
        tmp_path,
        """
        #!defenv KIDS=SIPR_CHILDREN
        #!defenvs PFX=SIPR_PFX
        #!trydefenv MISSING=SIPR_NOT_SET_ANYWHERE
        children=KIDS
        log_prefix=PFX
        """,
    )
    assert c.children == 7 and c.log_prefix == "env: " and "MISSING" not in c.defines
    assert "not set" in str(error(tmp_path, "#!defenv X=SIPR_NOT_SET_ANYWHERE\n"))


def test_unknown_directive(tmp_path: Path) -> None:
    err = error(tmp_path, "children=1\n#!frobnicate X\n")
    assert (err.line, "unknown preprocessor directive") == (2, err.message[:30])
    assert "not supported" in str(error(tmp_path, "#!ifexp X\n"))


# -- includes ------------------------------------------------------------------------------
def test_include_and_line_tracking(tmp_path: Path) -> None:
    write(tmp_path, "sub/inc.cfg", "#!define FROM_INC 6\n\nchildren=FROM_INC\n")
    write(tmp_path, "sub/bad.cfg", "\n\nchildren=abc\n")
    c = cfg(tmp_path, 'include_file "sub/inc.cfg"\nimport_file "missing.cfg"\ndebug=2\n')
    assert c.children == 6 and c.debug == 2
    err = error(tmp_path, 'debug=1\n#!include_file "sub/bad.cfg"\n')
    assert (err.file, err.line) == (str(tmp_path / "sub" / "bad.cfg"), 3)
    assert "children expects an integer" in str(err)


def test_include_relative_to_including_file(tmp_path: Path) -> None:
    write(tmp_path, "a/first.cfg", 'include_file "second.cfg"\n')
    write(tmp_path, "a/second.cfg", "children=9\n")
    assert cfg(tmp_path, 'import_file "a/first.cfg"\n').children == 9


def test_include_errors(tmp_path: Path) -> None:
    err = error(tmp_path, 'debug=1\ninclude_file "missing.cfg"\n')
    assert err.line == 2 and "not found" in err.message
    write(tmp_path, "loop.cfg", 'include_file "loop.cfg"\n')
    assert "nested deeper" in str(error(tmp_path, 'include_file "loop.cfg"\n'))
    write(tmp_path, "open.cfg", "#!ifdef X\n")
    assert error(tmp_path, 'include_file "open.cfg"\n').file.endswith("open.cfg")
