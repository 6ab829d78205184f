"""Reading and validation speed and memory: generated CSV and XLSX files.

Run: ``.venv/bin/python -m bench.bench_read`` (``--rows 100000`` by default, ``--formats
csv,xlsx``; ``--rows 1000000 --formats csv`` checks that a million rows stay in bounded
memory; ``--compare-calamine`` adds one bare pass of each XLSX engine). Each measurement runs in a fresh subprocess so its peak RSS is its own; "read" only
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


def _engine_rows(path: str, engine: str) -> int:
    """One pass over every row of an .xlsx with one engine alone: "ours" (the streaming XML
    reader) or "calamine" (python-calamine); both give the same text (tests check it)."""
    from pathlib import Path

    from batch.reading.calamine_book import CalamineBook
    from batch.reading.xlsx_book import XlsxBook

    book = CalamineBook(Path(path)) if engine == "calamine" else XlsxBook(Path(path))
    try:
        return sum(1 for _ in book.rows(book.sheets[0]))
    finally:
        book.close()


def child(path: str, mode: str) -> None:
    """Measure one pass in this (fresh) process; print a JSON line."""
    from batch.reader import open_table
    from batch.validate import ValidationOptions, check_rows

    start = time.perf_counter()
    cpu_start = time.process_time()
    count = invalid = 0
    if mode.startswith("engine-"):
        count = _engine_rows(path, mode.removeprefix("engine-"))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"rows": count, "invalid": 0, "seconds": seconds, "cpu": cpu,
                          "peak_mb": peak_mb}))  # fmt: skip
        return
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
    parser.add_argument(
        "--compare-calamine",
        action="store_true",
        help="XLSX: also time one bare pass with each engine (our streaming reader, "
        "python-calamine); the reader uses calamine where it gives the same text",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="validate", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.mode)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            path = Path(tmp) / f"bench.{fmt}"
            t0 = time.perf_counter()
            (make_csv if fmt == "csv" else make_xlsx)(path, args.rows)
            size_mb = path.stat().st_size / 1e6
            print(
                f"{fmt}: {args.rows:,} rows, {size_mb:.1f} MB (generated in "
                f"{time.perf_counter() - t0:.1f} s)"
            )
            modes = args.modes.split(",")
            if fmt == "xlsx" and args.compare_calamine:
                modes += ["engine-ours", "engine-calamine"]
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
