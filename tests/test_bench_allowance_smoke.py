"""The header-set benchmark at a tiny size, so it cannot rot between two ``make bench`` runs.

Asserts what it builds and counts (issue 14's world, the reads and writes from the sandbox's
books, the bound at the header set's own limits, the estimate compared), never the timings or
the time-scaled verdicts: those belong to ``make bench``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from bench import bench_allowance
from bench.summary import render


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


def test_a_header_set_runs_after_the_first_steps_and_is_judged_at_its_own_limits(
    tmp_path: Path,
) -> None:
    (scenario,) = bench_allowance.run(("600rm",), size="tiny", writes_per_s=200.0, folder=tmp_path)
    (line,) = scenario.lines
    d = scenario.details
    checks = {c.name: c.passed for c in line.checks}
    # The first dry run filled the cache: the live run only read learner state and wrote.
    assert checks["lookups"] is True and checks["first dry run"] is True
    assert checks["double grades"] is True and checks["early requests"] is True
    rows, learners, _, _, paged = bench_allowance.SIZES["tiny"]
    live = d["live"]
    assert live["calls"]["GET /users/{id}/enrollments"] >= learners + paged
    assert live["writes_made"] == live["writes_planned"] > rows  # an enrollment, 1-3 grades a row
    # The bound is the header set's (600r/m, burst 10 on every verb), not the admin table's:
    # 600/min at x20 = 200 writes a real second, so the scale follows from the write allowance.
    assert d["time_scale"] == 20.0
    writes = sum(n for e, n in live["calls"].items() if e.startswith("POST "))
    assert line.limits_seconds == max(0, writes - 10) / 10.0 and line.binding == "POST"
    # The dry run's estimate of the live run is compared with it.
    assert d["dry"]["estimate_seconds"] and line.estimate_ratio is not None
    assert "estimate / actual" in checks
    assert "live run, 600r/m, burst 10, on every verb" in render([scenario])
