"""Fixtures shared by the functional tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.agent import short_tmpdir


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A short directory of its own (agent sockets live under it: AF_UNIX paths are short), removed after."""
    path = short_tmpdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
