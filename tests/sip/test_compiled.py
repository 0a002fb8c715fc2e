"""The compiled build of ``sip/`` (setup.py: ``SIPROUTER_MYPYC=1 pip install .``) passes the
same tests as the pure-Python package: mypyc compiles a copy of ``sip/`` in a temporary
folder, then ``tests/sip`` runs in a subprocess that imports that copy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from shutil import copy, copytree, ignore_patterns

from tests.e2e.proc import require_tool

ROOT = Path(__file__).resolve().parents[2]
COMPILED = "SIPROUTER_EXPECT_COMPILED"


def test_tests_sip_pass_on_the_mypyc_build(tmp_path: Path) -> None:
    if os.environ.get(COMPILED):
        return  # this is the run on the compiled copy
    require_tool("gcc")
    copytree(ROOT / "sip", tmp_path / "sip", ignore=ignore_patterns("__pycache__", "*.so"))
    copy(ROOT / "pyproject.toml", tmp_path)  # mypy's settings
    build = subprocess.run(
        [sys.executable, "-m", "mypyc", "sip"], cwd=tmp_path, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert build.returncode == 0, (build.stdout + build.stderr)[-4000:]
    assert list((tmp_path / "sip").glob("message.*.so")), "mypyc made no extension module"
    # the copy first, then the project (for ``tests``); pytest appends rather than prepends
    env = {**os.environ, COMPILED: "1", "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--import-mode=append", "-q", "-p", "no:cacheprovider",
         "-o", "addopts=", "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"),
         str(ROOT / "tests" / "sip")],
        cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    assert " passed" in run.stdout and " failed" not in run.stdout, run.stdout[-2000:]


def test_the_run_knows_which_build_it_imports() -> None:
    import sip
    import sip.message

    assert (Path(sip.message.__file__).suffix != ".py") == sip.COMPILED, sip.message.__file__
    if os.environ.get(COMPILED):  # the run on the compiled copy
        assert sip.COMPILED, sip.message.__file__
