"""Report writing speed and memory: 100,000 rows in CSV, XLSX and JSON.

Run: ``.venv/bin/python -m bench.bench_report`` (``--rows 10000,100000`` by default,
``--formats csv,xlsx,json``). Each (format, size) runs in a fresh subprocess so its peak RSS is
its own. Rows are generated lazily, as a run produces them, and go through ``write_reports``
(report + failed-rows file in one pass), so the figures are what a real run pays.
Constant memory shows as the same peak RSS at 10,000 and 100,000 rows. Each line gives wall
seconds and CPU seconds (user + system: steadier than wall time on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from batch.models import RowResult, RowStatus, RunSummary
from batch.reporting import write_reports

COLUMNS = ["Employee ID", "Email", "Course", "Completion Date", "Score", "Department"]
_CYCLE = [RowStatus.COMPLETED] * 8 + [RowStatus.ALREADY_COMPLETED, RowStatus.INVALID]


def results(n: int) -> Iterator[RowResult]:
    """``n`` realistic results, generated one at a time (10% failed, some formula bait)."""
    for i in range(n):
        status = _CYCLE[i % len(_CYCLE)]
        values = {
            "Employee ID": f"{i:07d}",
            "Email": f"learner.{i}@example-corp.com",
            "Course": f"Compliance Training {i % 40:02d} – Sécurité",
            "Completion Date": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "Score": "-1" if status is RowStatus.INVALID else str(60 + i % 40),
            "Department": "=cmd|' /C calc'!A0" if i % 1000 == 0 else f"Dept {i % 17}",
        }
        ok = status is not RowStatus.INVALID
        yield RowResult(
            row=i + 2,
            values=values,
            status=status,
            message="Completed: 2 modules graded." if ok else
            f"column 'Score', row {i + 2}: '-1' is below the minimum 0. Fix the score.",
            user_id=f"user:{100000 + i}" if ok else "",
            course_id=f"course:{i % 40}" if ok else "",
            instance_id=f"course:{i % 40}_1" if ok else "",
            module_ids=[f"course:{i % 40}_1_1", f"course:{i % 40}_1_2"] if ok else [],
            action="grade 2 modules" if ok else "none",
            attempts=1 if ok else 0,
            posted_at="2026-11-26T14:16:02+00:00" if ok else "",
        )  # fmt: skip


def _cpu_seconds() -> float:
    """User + system CPU time of this process: steadier than wall time on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(fmt: str, rows: int) -> dict[str, object]:
    """Write one report in this process and measure it."""
    summary = RunSummary(
        run_id="bench", command="run", dry_run=False, input_path="bench.csv",
        input_sha256="0" * 64, alm_host="http://127.0.0.1", started_at=datetime.now(UTC),
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        baseline = _peak_rss_mb()
        cpu = _cpu_seconds()
        start = time.perf_counter()
        paths = write_reports(
            results(rows), columns=COLUMNS, summary=summary, input_path=Path(tmp) / "bench.csv",
            input_format="csv", explicit=Path(tmp) / f"bench.report.{fmt}", live=True,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu
        size = paths.report.stat().st_size / 1e6
    return {
        "format": fmt, "rows": rows, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
        "rows_per_s": round(rows / seconds), "peak_rss_mb": round(_peak_rss_mb(), 1),
        "baseline_rss_mb": round(baseline, 1), "report_mb": round(size, 1),
    }  # fmt: skip


def run_child(fmt: str, rows: int) -> dict[str, object]:
    """``child(fmt, rows)`` in a fresh process (its peak RSS is its own)."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_report", "--child", fmt, "--rows", str(rows)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_report", description=__doc__)
    parser.add_argument("--rows", default="10000,100000", help="comma-separated row counts")
    parser.add_argument("--formats", default="csv,xlsx,json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, int(args.rows))))
        return 0
    print(f"{'format':<6} {'rows':>8} {'seconds':>8} {'CPU s':>7} {'rows/s':>8} "
          f"{'peak RSS MB':>12} {'baseline MB':>12} {'file MB':>8}")  # fmt: skip
    for fmt in args.formats.split(","):
        for rows in args.rows.split(","):
            out = subprocess.run(
                [sys.executable, "-m", "bench.bench_report", "--child", fmt, "--rows", rows],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            r = json.loads(out.stdout)
            print(f"{r['format']:<6} {r['rows']:>8,} {r['seconds']:>8} {r['cpu_seconds']:>7} "
                  f"{r['rows_per_s']:>8,} "
                  f"{r['peak_rss_mb']:>12} {r['baseline_rss_mb']:>12} {r['report_mb']:>8}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
