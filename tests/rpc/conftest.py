"""Fixtures for the rpc tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture
def sockdir() -> Iterator[str]:
    """A short directory under /tmp (unix socket paths are limited to 107 bytes)."""
    path = tempfile.mkdtemp(prefix="rpct", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)
