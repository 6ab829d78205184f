"""Reading and validation speed and memory: generated CSV and XLSX files.

Run: ``.venv/bin/python -m bench.bench_read`` (``--rows 100000`` by default, ``--formats
csv,xlsx``; also ``xlsb`` and ``ods`` (through LibreOffice); ``--rows 1000000 --formats csv``
checks that a million rows stay in bounded memory). Each measurement runs in a fresh
subprocess so its peak RSS is its own; "read" only
streams ``Table.iter_rows()``, "read+validate" consumes ``check_rows`` (two passes: date
order, then rows), which is what a run pays before it touches ALM. Wall time depends on what
else the machine runs; CPU time is printed too.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

COLUMNS = ["Employee ID", "Email", "Course", "Completion Date", "Score", "Passed", "Department"]
_BASE = datetime(2024, 1, 1)


def _row(i: int) -> list[object]:
    day = _BASE + timedelta(days=i % 500, hours=i % 9)
    return [
        f"{i:07d}",
        f"learner.{i}@example-corp.com",
        f"Compliance Training {i % 40:02d} – Sécurité",
        day,
        60 + i % 40,
        "yes" if i % 5 else "no",
        f"Dept {i % 17}",
    ]


def make_csv(path: Path, rows: int) -> None:
    """Day-first dates, as a European "Save as CSV" writes them (the column decides itself)."""
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(COLUMNS)
        for i in range(rows):
            row = _row(i)
            day = row[3]
            assert isinstance(day, datetime)
            row[3] = day.strftime("%d/%m/%Y")
            writer.writerow(row)


def make_xlsx(path: Path, rows: int) -> None:
    """Real Excel dates and numbers, written in streaming mode."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Completions")
    ws.append(COLUMNS)
    for i in range(rows):
        ws.append(_row(i))
    wb.save(path)


def make_ods(path: Path, rows: int) -> None:
    """The same rows through LibreOffice (soffice must be installed): .ods as Calc writes it."""
    from tests.fixtures.make_legacy import convert

    src = path.with_suffix(".xlsx")
    make_xlsx(src, rows)
    convert(src, "ods", path.parent)
    src.unlink()


def make_xlsb(path: Path, rows: int) -> None:
    """The same rows as BIFF12 records (``tests/fixtures/make_xlsb``; dates as real dates)."""
    from tests.fixtures.make_xlsb import write_xlsb

    write_xlsb(path, [COLUMNS, *(_row(i) for i in range(rows))])


MAKERS = {"csv": make_csv, "xlsx": make_xlsx, "ods": make_ods, "xlsb": make_xlsb}


def child(path: str, mode: str) -> None:
    """Measure one pass in this (fresh) process; print a JSON line."""
    from batch.reader import open_table
    from batch.validate import ValidationOptions, check_rows

    start = time.perf_counter()
    cpu_start = time.process_time()
    count = invalid = 0
    table = open_table(path)
    if mode == "read":
        for _ in table.iter_rows():
            count += 1
    else:
        options = ValidationOptions(now=datetime(2026, 1, 1, tzinfo=UTC))
        for checked in check_rows(table, options):
            count += 1
            invalid += bool(checked.issues)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {"rows": count, "invalid": invalid, "seconds": seconds, "cpu": cpu}
    print(json.dumps({**result, "peak_mb": peak_kb / 1024}))


def measure(path: Path, mode: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_read", "--child", str(path), "--mode", mode],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--formats", default="csv,xlsx")
    parser.add_argument("--modes", default="read,validate")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--make", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="validate", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.mode)
        return 0
    if args.make:
        MAKERS[args.make[0]](Path(args.make[1]), args.rows)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            path = Path(tmp) / f"bench.{fmt}"
            t0 = time.perf_counter()
            # In its own process: Linux carries a parent's peak RSS into a child it starts.
            subprocess.run(
                [sys.executable, "-m", "bench.bench_read", "--make", fmt, str(path),
                 "--rows", str(args.rows)],
                check=True,
            )  # fmt: skip
            size_mb = path.stat().st_size / 1e6
            print(
                f"{fmt}: {args.rows:,} rows, {size_mb:.1f} MB (generated in "
                f"{time.perf_counter() - t0:.1f} s)"
            )
            modes = args.modes.split(",")
            for mode in modes:
                got = measure(path, mode)
                label = {"read": "read", "validate": "read+validate"}.get(mode, mode)
                print(
                    f"  {label:<14} {got['rows']:>9,.0f} rows: {got['seconds']:6.2f} s wall "
                    f"({got['rows'] / got['seconds']:>9,.0f} rows/s), {got['cpu']:6.2f} s CPU "
                    f"({got['rows'] / got['cpu']:>9,.0f} rows/s), peak RSS "
                    f"{got['peak_mb']:6.1f} MB, invalid {got['invalid']:.0f}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
