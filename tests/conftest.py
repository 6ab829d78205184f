"""Fixtures shared by the end-to-end tests (tests/test_e2e_*.py)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from batch.jobs.account import LOCK_DIR_ENV
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


@pytest.fixture(autouse=True, scope="session")
def account_locks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The ALM account locks of this test session live in a folder of its own (not the
    per-user one); the CLI processes the tests start use it too (``e2e_support.child_env``)."""
    folder = tmp_path_factory.mktemp("account-locks")
    before = os.environ.get(LOCK_DIR_ENV)
    os.environ[LOCK_DIR_ENV] = str(folder)
    yield folder
    if before is None:
        os.environ.pop(LOCK_DIR_ENV, None)
    else:
        os.environ[LOCK_DIR_ENV] = before
