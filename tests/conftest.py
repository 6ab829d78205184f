"""Fixtures shared by the end-to-end tests (tests/test_e2e_*.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from batch.sandbox import Sandbox
from tests.e2e_support import SAMPLE_CSV, sample_sandbox


@pytest.fixture()
def sb() -> Iterator[Sandbox]:
    """A sandbox seeded from sample_data, time-scaled; stopped after the test."""
    sandbox = sample_sandbox()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture()
def sample(tmp_path: Path) -> Path:
    """sample_data/completions.csv copied into the test's folder."""
    return Path(shutil.copyfile(SAMPLE_CSV, tmp_path / "completions.csv"))
