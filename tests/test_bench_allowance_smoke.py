"""The allowance benchmark at a tiny size, so it cannot rot between two ``make bench``.

Asserts the structure and the sanity of what it measures (the world it builds, the reads and
writes counted from the sandbox's books, both bounds, the mode, every targeted figure present),
never the timings or the verdicts: those belong to ``make bench`` on a quiet machine.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from bench import bench_allowance
from bench.common import Scenario, table

FIGURES = (
    "live run: reads / writes",
    "requests answered 429 (dry + live)",
    "requests before retry-after passed",
    "dry run's estimate vs live wall time",
    "dry run: reads vs read allowance",
    "exit status warm-up/dry/live, double grades, lookups",
)


def _names(scenario: Scenario) -> list[str]:
    return [f.name for f in scenario.figures]


def test_the_issue_world_names_every_learner_and_pages_some(tmp_path: Path) -> None:
    world = bench_allowance.make_issue_world(
        tmp_path, rows=12, learners=9, courses=3, catalogue=30, paged=2
    )
    with world.path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    emails = [r["Learner Email"].casefold() for r in rows]
    assert len(rows) == 12 and len(set(emails)) == 9
    # No learner has the same course twice (a duplicate row would skew the writes).
    by_name = {
        str(lo["localizedMetadata"][0]["name"]): str(lo["id"])
        for lo in world.seed["learningObjects"]
    }

    def course_id(cell: str) -> str:
        return by_name.get(cell) or ("course:" + cell.removeprefix("course:"))

    pairs = {(e, course_id(r["Course"])) for e, r in zip(emails, rows, strict=True)}
    assert len(pairs) == 12
    # Two learners have more than one page (10) of enrollments: their state takes two reads.
    per_user: dict[str, int] = {}
    for e in world.seed["enrollments"]:
        per_user[str(e["userId"])] = per_user.get(str(e["userId"]), 0) + 1
    assert sum(1 for n in per_user.values() if n > bench_allowance.ENROLLMENT_PAGE) >= 2


def test_the_smallest_scenario_runs_and_reports_every_figure(tmp_path: Path) -> None:
    (scenario,) = bench_allowance.run(
        ("600rm-40-120",), size="tiny", writes_per_s=200.0, in_process=True, folder=tmp_path
    )
    d = scenario.details
    names = _names(scenario)
    for name in FIGURES:
        assert name in names, names
    efficiency = [f for f in scenario.figures if f.name.startswith("efficiency (")]
    assert len(efficiency) == 1 and efficiency[0].name == f"efficiency ({d['mode']} bound / wall)"
    targeted = {f.name for f in scenario.figures if f.passed is not None}
    assert targeted == {
        efficiency[0].name,
        "requests answered 429 (dry + live)",
        "requests before retry-after passed",
        "dry run's estimate vs live wall time",
        "exit status warm-up/dry/live, double grades, lookups",
    }
    # What was counted: the live run read learner state and wrote; the dry run only read.
    # One read a learner and a second page for the paged ones, every planned write, and the
    # requests answered 429 (the books count them too).
    rows, learners, _, _, paged = bench_allowance.SIZES["tiny"]
    assert d["rows"] == rows and d["writes_planned"] > rows  # an enrollment, 1-3 grades a row
    assert d["reads"] >= learners + paged and d["writes"] >= d["writes_planned"]
    assert d["reads"] + d["writes"] == learners + paged + d["writes_planned"] + d["throttled_live"]
    assert d["live_calls"].get("GET /users/{id}/enrollments", 0) == d["reads"]
    assert set(d["dry_calls"]) == {"GET /users/{id}/enrollments"}
    assert d["dry_reads"] >= learners + paged
    # The bounds follow from the counts and the allowances (600r/m at x20 = 200/s each way).
    assert d["time_scale"] == 20.0
    assert d["read_allowance_per_s"] == d["write_allowance_per_s"] == 200.0
    seq = d["reads"] / 200.0 + d["writes"] / 200.0
    assert abs(d["sequential_bound_seconds"] - seq) < 0.01
    assert d["overlap_bound_seconds"] == round(max(d["reads"], d["writes"]) / 200.0, 2)
    assert d["mode"] in ("sequential", "overlap") and 0 < d["efficiency"]
    assert tuple(d["timeline"][-1][1:]) == (d["reads"], d["writes"])
    # A correct run: nothing failed, nothing graded twice, no lookups (the cache was warm).
    assert d["exit_status"] == [0, 0, 0] and d["double_grades"] == 0
    assert d["estimate_seconds"] is not None and d["estimate_seconds"] > 0
    # It reports like the other pieces: the one table, results.json, and one line here.
    assert table(scenario.figures).count("\n") == len(scenario.figures) + 1
    assert json.loads(json.dumps(scenario.to_json()))["command"].startswith(
        ".venv/bin/python -m bench.bench_allowance --scenarios 600rm-40-120"
    )
    lines = bench_allowance.summary_table([scenario]).splitlines()
    assert len(lines) == 3 and lines[2].startswith("allowance 600rm, 40-120 ms")
