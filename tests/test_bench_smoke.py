"""The benchmarks at a tiny size, so they cannot rot between two ``make bench`` runs.

Asserts the structure and the sanity of the figures (calls counted, the row-by-row script's
computed count equal to its real one, no write in a dry run, every grade recorded once in a
live run), never timings: those belong to ``make bench`` on a quiet machine.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench import bench_dryrun, bench_live, bench_pools, bench_read, bench_report
from bench.common import Scenario, table, time_at_real_limits


def _figure(scenario: Scenario, name: str) -> object:
    matches = [f for f in scenario.figures if f.name == name]
    assert len(matches) == 1, f"{name!r} not in {[f.name for f in scenario.figures]}"
    return matches[0]


def test_every_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    dry = bench_dryrun.run_size("tiny", tmp_path / "dry", time_scale=600.0, naive_real_rows=60)
    details = dry.details
    assert details["cold"]["lookups"] > 0 and details["cold"]["enrollment_reads"] > 0
    assert details["warm"]["lookups"] == 0, details["warm"]["calls"]
    assert details["cold"]["writes"] == details["warm"]["writes"] == 0
    assert details["cold"]["counts"] and details["cold"]["exit_status"] == 0
    # The script was run for real and its calls equal the exact count computed from the data.
    assert details["naive_real"]["books"] == details["naive_counted"]
    assert _figure(dry, "row-by-row script run for real: calls").passed is True
    assert _figure(dry, "cold enrollment reads").passed is True
    assert sum(details["naive_counted"].values()) > sum(details["cold"]["calls"].values())

    live = bench_live.run_size(
        "tiny",
        tmp_path / "live",
        time_scale=200.0,
        concurrency=4,
        naive_seconds=1.0,
        in_process=True,
    )
    d = live.details
    assert d["writes_made"] > 0 and d["write_phase_seconds"] > 0
    assert d["double_grades"] == 0 and d["early_requests"] == 0
    assert d["grades_recorded"] == d["grades_expected"] > 0
    assert _figure(live, "grades recorded = grades the file needs").passed is True
    assert _figure(live, "exit status").passed is True
    assert d["naive"]["rows_done"] >= 1 and d["naive"]["writes"] > 0
    assert d["naive"]["double_grades"] == 0

    csv_path = tmp_path / "read.csv"
    bench_read.make_csv(csv_path, 200)
    got = bench_read.measure(csv_path, "validate")
    assert got["rows"] == 200 and got["invalid"] == 0 and got["peak_mb"] > 0
    written = bench_report.child("csv", 200)
    assert written["rows"] == 200 and written["rows_per_s"] > 0
    workbook = bench_report.run_child("xlsx", 200)  # in a fresh process, as make bench runs it
    assert workbook["rows"] == 200 and float(str(workbook["cpu_seconds"])) > 0

    text = table(f for s in (dry, live) for f in s.figures)
    assert "PASS" in text and text.count("\n") == len(dry.figures) + len(live.figures) + 1
    assert json.loads(json.dumps([dry.to_json(), live.to_json()]))[0]["command"].startswith(
        ".venv/bin/python -m bench.bench_dryrun"
    )


def test_time_at_real_limits_uses_the_documented_buckets() -> None:
    # 600 GET /users: 100 at once (burst), 500 more at 500/h = one hour.
    seconds, bucket = time_at_real_limits({"GET /users": 600})
    assert bucket == "GET /users (500/h)" and round(seconds) == 3600
    # 40 grade POSTs: burst 10, then 30 at 30/min = one minute.
    seconds, bucket = time_at_real_limits({"POST /users/{id}/userModuleGrade": 40})
    assert bucket == "POST" and round(seconds) == 60


def test_the_pools_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    dry, live = bench_pools.run(["dry", "live"], [8], tmp_path, tiny=True)
    for scenario in (dry, live):
        assert _figure(scenario, "exit status warm-up / run").passed is True
        assert _figure(scenario, "requests before a retry-after passed").passed is True
        assert scenario.details["alm_minutes"] > 0
    assert dry.details["buckets"]["GET"] >= 30 and dry.details["buckets"]["POST"] == 0
    assert live.details["buckets"]["POST"] > 0  # the live run wrote
    lines = bench_pools.summary([dry, live]).splitlines()
    assert [line.split()[:2] for line in lines[2:]] == [["dry", "8"], ["live", "8"]]
