"""Optional compiled build of ``sip/`` (everything else is in pyproject.toml).

``SIPROUTER_MYPYC=1 pip install .`` compiles the sans-IO core (``sip/``: parser, headers,
transactions) with mypyc into C extension modules; the interpreter then runs the same
code with ~30 % fewer instructions per relayed call (docs/performance.md, "Compiled
sip/"). Without the variable, and for editable installs (whose sources change under
them), the package stays pure Python. scripts/build_backend.py adds mypy to the build
environment when the variable is set.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from setuptools import setup


def ext_modules() -> list[Any]:
    if os.environ.get("SIPROUTER_MYPYC") != "1":
        return []
    if "editable_wheel" in sys.argv or "develop" in sys.argv:
        print("SIPROUTER_MYPYC=1 ignored for an editable install: sip/ stays pure Python",
              file=sys.stderr)  # fmt: skip
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        if "egg_info" in sys.argv:  # the backend asks for requirements before mypy is in
            return []
        raise SystemExit("SIPROUTER_MYPYC=1 needs mypy (mypyc) in the build environment") from None
    return mypycify(["sip"], opt_level="3")


setup(ext_modules=ext_modules())
