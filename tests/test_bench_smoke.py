"""The benchmarks at a tiny size, so they cannot rot between two ``make bench`` runs.

Asserts what the benchmarks count and how they judge it (calls per bucket from the sandbox's
books, ALM's documented limits, the row-by-row script's computed count equal to its real one, no
write in a dry run, every grade recorded once in a live run, a time-scaled figure left unjudged
when the client's CPU is too high), never timings: those belong to ``make bench``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from batch.errors import ExitStatus
from batch.jobs import JobOutcome
from batch.models import RunSummary
from batch.sandbox import Sandbox, SandboxConfig
from bench import bench_dryrun, bench_live, bench_pools, bench_read, bench_report, limits
from bench.common import Line, Scenario, time_at_real_limits
from bench.files import FILES, world
from bench.naive import NaiveScript, count_calls
from bench.runs import Measured, measured_line
from bench.summary import render


def _line(scenario: Scenario, run: str) -> Line:
    matches = [line for line in scenario.lines if line.run.startswith(run)]
    assert len(matches) == 1, f"{run!r} not in {[line.run for line in scenario.lines]}"
    return matches[0]


def _verdicts(line: Line) -> dict[str, bool | None]:
    return {c.name: c.passed for c in line.checks}


def test_documented_limits_bucket_every_call_and_bind_at_the_slowest() -> None:
    # 600 GET /users: 100 at once (burst), 500 more at 500/h = one hour.
    seconds, bucket = time_at_real_limits({"GET /users": 600})
    assert bucket == "GET /users (500/h)" and round(seconds) == 3600
    # 40 grade POSTs: burst 10, then 30 at 30/min = one minute.
    assert limits.at_limits({"POST /users/{id}/userModuleGrade": 40}) == (60.0, "POST")
    # 45 course reads fit every GET burst but the learningObject API's 15/min: 2 minutes.
    assert limits.at_limits({"GET /learningObjects/{id}": 45}) == (120.0, "LO/min")
    # A job's polls are GETs; the token and the job's file are outside ALM's allowance; the
    # users export's generation time (the sandbox's 30 s) is added to the bound.
    calls = {"GET /jobs/{id}": 6, "POST /oauth/token/refresh": 1, "GET /_sandbox/downloads/{f}": 1}
    assert limits.per_bucket(calls)["GET"] == 6 and limits.per_bucket(calls)["job polls"] == 6
    assert limits.at_limits(calls, {"generateUsers": 1}) == (30.0, "burst+job 30 s")
    # Another header set for the verbs: 600r/m, burst 10.
    fast = limits.with_verbs(600, 10, 600, 10)
    assert limits.at_limits({"GET /users/{id}/enrollments": 610}, limits=fast) == (60.0, "GET")


def test_dry_runs_count_lookups_reads_and_the_live_runs_plan(tmp_path: Path) -> None:
    (scenario,) = bench_dryrun.run(("tiny",), folder=tmp_path)
    first, again = _line(scenario, "dry run, first"), _line(scenario, "dry run again")
    planned, script = _line(scenario, "live run"), _line(scenario, "row-by-row")
    for line in (first, again):
        checks = _verdicts(line)
        assert checks["writes"] and checks["lookups"] and checks["learner reads"], line.checks
        assert checks["early requests"] and checks["exit status"], line.checks
        assert line.cpu_share is not None and line.measured.endswith("x600")
    assert first.calls is not None and first.calls.get("GET /learningObjects/{id}", 0) > 0
    assert again.calls is not None and set(again.calls) == {"GET /users/{id}/enrollments"}
    # The live run's calls from the plan: the same reads, then every planned write.
    assert planned.calls is not None and first.calls is not None
    writes = scenario.details["again"]["writes_planned"]
    assert planned.calls[bench_dryrun.PLANNED_WRITES] == writes > 0
    assert planned.limits_seconds == limits.POST.seconds(writes) and planned.binding == "POST"
    # The estimate is never below what ALM's limits allow (its burst aside).
    (estimate,) = planned.checks
    assert estimate.name == "estimate / at ALM's limits" and float(estimate.value) > 0.99
    assert script.calls is not None and sum(script.calls.values()) > sum(planned.calls.values())
    # Every figure is in the one table and in results.json.
    text = render([scenario])
    assert FILES["tiny"].label in text and "row-by-row script, live: counted" in text
    assert json.loads(json.dumps(scenario.to_json()))["lines"][0]["run"] == first.run


def test_the_row_by_row_scripts_count_is_what_it_calls(tmp_path: Path) -> None:
    w = world(FILES["tiny"], tmp_path)
    for live in (False, True):
        config = SandboxConfig(time_scale=600.0, limits_enabled=False)
        with Sandbox(seed=w.seed, config=config) as sb:
            result = NaiveScript(sb.base_url, sb.credentials, live=live).run(w.path)
            books = {
                e: n for e, n in sb.books()["calls"].items() if not e.startswith("POST /oauth")
            }
        counted = dict(count_calls(w.seed, w.path, live=live))
        assert books == counted == dict(result.calls), live


def test_a_live_run_records_every_grade_once(tmp_path: Path) -> None:
    (scenario,) = bench_live.run(("tiny",), folder=tmp_path)
    (line,) = scenario.lines
    checks = _verdicts(line)
    assert checks["grades recorded"] is True and checks["double grades"] is True
    assert checks["early requests"] and checks["exit status"], line.checks
    assert "estimate / actual" in checks and line.estimate_ratio is not None
    live = scenario.details["live"]
    assert live["writes_made"] == live["writes_planned"] > 0
    assert line.calls is not None and line.calls["POST /users/{id}/userModuleGrade"] > 0


def _measured(cpu: float, estimate_ratio: float = 1.0) -> tuple[Measured, float]:
    summary = RunSummary("r", "run", False, "f.csv", "0" * 64, "h", datetime.now(UTC))
    outcome = JobOutcome(summary=summary, exit_status=ExitStatus.OK)
    m = Measured(
        scale=60.0, wall=100.0, network=100.0, cpu=cpu,
        calls={"POST /users/{id}/userModuleGrade": 10 + 30 * 100},  # 100 min at 30/min
        jobs={}, throttled=0, early=0, double_grades=0, outcome=outcome, books={},
    )  # fmt: skip
    return m, m.alm_seconds * estimate_ratio


def test_time_scaled_figures_are_judged_only_while_the_clients_cpu_is_small() -> None:
    m, estimate = _measured(cpu=10.0)
    line = measured_line("g", "live", m, estimate_seconds=estimate)
    assert line.used == pytest.approx(6000.0 / 6000.0) and line.estimate_ratio == 1.0
    assert _verdicts(line)["allowance used"] and _verdicts(line)["estimate / actual"]
    m, estimate = _measured(cpu=40.0, estimate_ratio=1.5)
    line = measured_line("g", "live", m, estimate_seconds=estimate)
    checks = _verdicts(line)
    assert checks["client CPU"] is False
    assert checks["allowance used"] is None and checks["estimate / actual"] is None
    scenario = Scenario("s", "cmd")
    scenario.add_line(line)
    scenario.add("a figure without a run", 3, "< 4", True)
    text = render([scenario])
    assert "40%!" in text and "FAIL: client CPU (+2 not trusted)" in text
    assert "  a figure without a run: 3  [target < 4: PASS]" in text


def test_local_costs_run_at_a_tiny_size(tmp_path: Path) -> None:
    csv_path = tmp_path / "read.csv"
    bench_read.make_csv(csv_path, 200)
    got = bench_read.measure(csv_path, "validate")
    assert got["rows"] == 200 and got["invalid"] == 0 and got["peak_mb"] > 0
    written = bench_report.child("csv", 200)
    assert written["rows"] == 200 and written["rows_per_s"] > 0
    workbook = bench_report.run_child("xlsx", 200)  # in a fresh process, as make bench runs it
    assert workbook["rows"] == 200 and float(str(workbook["cpu_seconds"])) > 0


def test_the_pools_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    dry, live = bench_pools.run(["dry", "live"], [8], tmp_path, tiny=True)
    for scenario in (dry, live):
        (line,) = scenario.lines
        checks = _verdicts(line)
        assert checks["first dry run"] and checks["early requests"] and checks["exit status"]
        assert line.limits_seconds is not None and line.cpu_share is not None
    assert dry.details["run"]["calls"]["GET /users/{id}/enrollments"] >= 30
    assert "POST /users/{id}/userModuleGrade" in live.details["run"]["calls"]  # it wrote
    assert "(the default)" in render([dry, live])
