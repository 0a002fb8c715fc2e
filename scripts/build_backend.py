"""The package's build backend: setuptools' own, with mypy (for mypyc) added to the build
environment when ``SIPROUTER_MYPYC=1`` asks for the compiled build of ``sip/`` (setup.py).
"""

from __future__ import annotations

import os
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403 - every hook this module does not change


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    extra = ["mypy>=1.10"] if os.environ.get("SIPROUTER_MYPYC") == "1" else []
    return [*_setuptools.get_requires_for_build_wheel(config_settings), *extra]
