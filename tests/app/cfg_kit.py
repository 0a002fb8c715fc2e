"""Helpers of the kamailio.cfg parser tests: write a cfg file, parse it, catch its error."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from app.config import Config, ConfigError, parse_config


def cfg(tmp_path: Path, text: str, name: str = "kamailio.cfg", **kw: object) -> Config:
    """Write ``text`` (dedented) to ``tmp_path/name`` and parse it."""
    path = write(tmp_path, name, textwrap.dedent(text).lstrip("\n"))
    return parse_config(path, **kw)  # type: ignore[arg-type]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def error(tmp_path: Path, text: str, **kw: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        cfg(tmp_path, text, **kw)
    return info.value
