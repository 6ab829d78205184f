"""A header with no data rows: exit 2 by default, "nothing to do" and exit 0 with --allow-empty."""

from __future__ import annotations

import io
from pathlib import Path

from batch.cli import CliEnv, main


def run(args: list[str], cwd: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*args], CliEnv(stdout=out, stderr=err, interactive=False))
    return code, out.getvalue(), err.getvalue()


def test_an_empty_export_is_an_error_unless_allowed(tmp_path: Path) -> None:
    path = tmp_path / "march.csv"
    path.write_text("Email,Course,Completion Date\n", encoding="utf-8")
    code, _, err = run(["validate", str(path), "--offline"], tmp_path)
    assert code == 2
    assert "has a header (row 1) but no data rows" in err and "--allow-empty" in err

    code, out, err = run(["validate", str(path), "--offline", "--allow-empty"], tmp_path)
    assert code == 0
    assert "nothing to do" in err and "exit 0: nothing to do" in err
    assert not list(tmp_path.glob("march.report*"))  # no rows, no report


def test_allow_empty_never_hides_a_file_that_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "march.csv"
    path.write_text("Name,Department\nAda,Finance\n", encoding="utf-8")
    code, _, err = run(["validate", str(path), "--offline", "--allow-empty"], tmp_path)
    assert code == 2 and "email" in err.lower()
