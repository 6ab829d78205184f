"""A real spreadsheet program opens the XLSX report: LibreOffice converts it to CSV headless.

The report (every status, formula bait, accents, line breaks, typed dates and numbers, the
Summary sheet with its charts) goes through ``soffice --headless --convert-to csv``; the CSV of
its first sheet must hold exactly the rows written. A package LibreOffice cannot read makes the
conversion produce nothing, and the test fail. When ``soffice`` is not installed the test is
skipped, loudly: install the Debian package ``libreoffice-calc-nogui``.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from batch.reporting import write_reports
from tests.test_report_golden import COLUMNS, sample_results, sample_summary

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
# "Text - txt - csv (StarCalc)": comma, double quote, UTF-8 (76), start at line 1.
CSV_FILTER = "csv:Text - txt - csv (StarCalc):44,34,76,1"

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        SOFFICE is None,
        reason="LibreOffice is NOT installed, so no real spreadsheet program checked the XLSX "
        "report: apt-get install libreoffice-calc-nogui",
    ),
]


def _expected_row(result: object) -> list[str]:
    from batch.models import RowResult

    assert isinstance(result, RowResult)
    posted = completed = ""
    if result.posted_at:  # a real date: LibreOffice writes it as the cell shows it, in UTC
        posted = datetime.fromisoformat(result.posted_at).strftime("%Y-%m-%d %H:%M:%S UTC")
    if result.date_completed:
        when = datetime.fromisoformat(result.date_completed.replace("Z", "+00:00"))
        completed = when.strftime("%Y-%m-%d %H:%M:%S UTC")
    cells = [
        str(result.row),
        *(result.values.get(c, "") for c in COLUMNS),
        result.status.value,
        result.message,
        result.user_id,
        result.course_id,
        result.instance_id,
        "; ".join(result.module_ids),
        completed,
        f"{float(result.score):g}" if result.score else "",
        result.action,
        str(result.attempts),
        posted,
    ]
    return [c.replace("\r\n", "\n").replace("\r", "\n") for c in cells]


def test_libreoffice_reads_the_xlsx_report_back(tmp_path: Path) -> None:
    assert SOFFICE is not None
    paths = write_reports(
        sample_results(), columns=COLUMNS, summary=sample_summary(),
        input_path=tmp_path / "completions.xlsx", input_format="xlsx",
        explicit=tmp_path / "completions.report.xlsx", live=True,
    )  # fmt: skip
    out = tmp_path / "csv"
    profile = tmp_path / "lo-profile"  # its own profile: safe beside other soffice processes
    done = subprocess.run(
        [SOFFICE, f"-env:UserInstallation={profile.as_uri()}", "--headless",
         "--convert-to", CSV_FILTER, "--outdir", str(out), str(paths.report)],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    converted = out / "completions.report.csv"
    assert converted.exists(), f"LibreOffice could not read the report: {done.stderr[-2000:]}"
    rows = list(csv.reader(io.StringIO(converted.read_text(encoding="utf-8"), newline="")))
    assert rows[0] == [
        "row", *COLUMNS, "status", "message", "user_id", "course_id", "instance_id",
        "module_ids", "date_completed", "score (alm-batch)", "action", "attempts", "posted_at",
    ]  # fmt: skip
    expected = [_expected_row(r) for r in sample_results()]
    assert len(rows) - 1 == len(expected)
    for got, want in zip(rows[1:], expected, strict=True):
        assert got == want, f"row {want[0]}"
