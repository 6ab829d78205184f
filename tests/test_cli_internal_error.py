"""A bug is not "rows need a person": an unexpected exception exits 70 (EX_SOFTWARE) with one
line on stderr, and its traceback only with --verbose."""

from __future__ import annotations

import argparse
import io

import pytest

from batch import cli
from batch.cli import CliEnv, main
from batch.errors import ExitStatus


def _boom(args: argparse.Namespace, env: CliEnv) -> int:
    raise RuntimeError("row\nfield")


@pytest.mark.parametrize("verbose", [False, True])
def test_an_unexpected_exception_exits_70_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, verbose: bool
) -> None:
    monkeypatch.setitem(cli.COMMANDS, "validate", _boom)
    err = io.StringIO()
    argv = ["validate", "file.csv", "--offline"] + (["--verbose"] if verbose else [])
    code = main(argv, CliEnv(stdout=io.StringIO(), stderr=err))
    assert code == ExitStatus.INTERNAL == 70
    text = err.getvalue()
    line = next(line for line in text.splitlines() if line.startswith("alm-batch: "))
    assert line.startswith(
        "alm-batch: internal error (RuntimeError: row field), a bug in alm-batch."
    )
    assert "Anything already sent to ALM is in the ledger" in line
    assert "Run it with --verbose for the details." in line
    assert ("Traceback" in text) is verbose
    if not verbose:
        assert text.count("\n") == 1
