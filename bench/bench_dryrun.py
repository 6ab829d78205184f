"""Issue 4 / 7: API calls of a dry run (cold and warm cache) next to the row-by-row script.

Run: ``.venv/bin/python -m bench.bench_dryrun`` (issue 4's 20,000-row file: 2,000 users,
40 courses, a 500-course catalogue) or ``--sizes all`` (issue 7: 1,000 / 20,000 / 100,000
rows, a 2,000-course catalogue). Each size gets its own generated seed and sandbox, rate limits
ON and the sandbox clock ``--time-scale`` times faster than real (so an hourly limit does not
take an hour; wall time is then only the local cost, not ALM's).

What is measured, from the sandbox's own books (every request it received, 429s included):
calls per endpoint for ``Job(JobOptions(dry_run=True)).run()``, first with an empty state dir
(cold cache), then again with the same state dir (warm). The row-by-row script's calls are
computed exactly from the seed and the file (``bench.naive.count_calls``); at the smallest
size the script is also run for real (limits off, as only its calls are counted) and its real
count must equal the computed one. "At real limits" is the lower bound on time at ALM's
documented admin limits (GET 100/min, GET /users and GET /learningObjects 500/h; alm-api.md
§7): per bucket, (calls - burst) / rate; the slowest bucket binds.

Targets: cold lookups (users + catalogue + course structures) under 1 % of the rows;
enrollment reads exactly one per distinct user plus extra pages; warm lookups 0.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path
from typing import Any

from batch.demo import settings_for_sandbox
from batch.jobs import Job, JobOptions
from batch.sandbox import Sandbox, SandboxConfig
from bench.common import (
    ENROLLMENT_READS,
    Scenario,
    Stopwatch,
    World,
    api_calls,
    diff_calls,
    duration,
    load_now,
    lookups,
    make_world,
    table,
    time_at_real_limits,
)
from bench.naive import NaiveScript, count_calls

# name -> (rows, distinct users, distinct courses, catalogue)
SIZES: dict[str, tuple[int, int, int, int]] = {
    "1k": (1_000, 200, 10, 2_000),
    "20k": (20_000, 2_000, 40, 500),  # issue 4's file
    "20k-cat2000": (20_000, 2_000, 40, 2_000),
    "100k": (100_000, 10_000, 100, 2_000),
    "tiny": (60, 20, 4, 150),  # the smoke test's size
}
QUICK = ("1k", "20k")
ALL = ("1k", "20k", "20k-cat2000", "100k")
# The resolver chooses per-email lookups or the export job from the account's REAL hourly
# allowance (500/h); a time-scaled allowance would make 2,000 one-by-one lookups look cheap.
REAL_USERS_PER_HOUR = 500.0


def expected_enrollment_reads(world: World) -> tuple[int, int]:
    """(distinct users in the file that ALM knows, reads they need: 1 + extra pages each)."""
    import csv

    by_email = {
        str(u["email"]).casefold(): u
        for u in world.seed["users"]
        if u.get("state", "ACTIVE") == "ACTIVE"
    }
    with world.path.open(newline="", encoding="utf-8") as handle:
        emails = {r["Learner Email"].strip().casefold() for r in csv.DictReader(handle)}
    counts: dict[str, int] = {}
    for e in world.seed.get("enrollments", []):
        counts[str(e["userId"])] = counts.get(str(e["userId"]), 0) + 1
    ids = [str(by_email[e]["id"]) for e in emails if e in by_email]
    return len(ids), sum(max(1, math.ceil(counts.get(i, 0) / 10)) for i in ids)


def _dry_run(sb: Sandbox, world: World, state: Path, report: Path) -> dict[str, Any]:
    settings = settings_for_sandbox(sb, users_get_per_hour=REAL_USERS_PER_HOUR)
    before = sb.books()
    watch = Stopwatch()
    outcome = Job(
        JobOptions(
            path=world.path,
            dry_run=True,
            state_dir=state,
            report=report,
            command="bench",
            state_source="per-learner",  # the lookups' figures; bench_transcript: the job
        ),
        settings,
    ).run()
    seconds = watch.seconds
    after = sb.books()
    calls = api_calls(diff_calls(after["calls"], before["calls"]))
    real, binding = time_at_real_limits(calls)
    return {
        "calls": calls,
        "lookups": lookups(calls),
        "enrollment_reads": calls.get(ENROLLMENT_READS, 0),
        "writes": sum(n for e, n in calls.items() if e.startswith("POST /users")),
        "throttled": after["throttled"] - before["throttled"],
        "early_requests": after["early_requests"] - before["early_requests"],
        "seconds": round(seconds, 2),
        "real_limits_seconds": round(real),
        "real_limits_bucket": binding,
        "exit_status": int(outcome.exit_status),
        "counts": dict(outcome.summary.counts),
    }


def run_size(name: str, folder: Path, *, time_scale: float, naive_real_rows: int = 0) -> Scenario:
    """One file size: cold and warm dry runs, the naive script's exact count (and, when
    ``naive_real_rows`` is at least the file's size, a real naive run that must match it)."""
    rows, users, courses, catalogue = SIZES[name]
    scenario = Scenario(
        f"dry run {name}: {rows:,} rows/{users:,} users/{courses} courses/catalogue {catalogue:,}",
        f".venv/bin/python -m bench.bench_dryrun --sizes {name} --time-scale {time_scale:g}",
    )
    watch = Stopwatch()
    world = make_world(
        folder / name,
        rows=rows,
        distinct_users=users,
        distinct_courses=courses,
        catalogue=catalogue,
    )
    naive_counted = count_calls(world.seed, world.path, live=False)
    distinct, reads_needed = expected_enrollment_reads(world)
    config = SandboxConfig(time_scale=time_scale)
    with Sandbox(seed=world.seed, config=config) as sb:
        state = folder / name / "state"
        cold = _dry_run(sb, world, state, folder / name / "cold.report.csv")
        warm = _dry_run(sb, world, state, folder / name / "warm.report.csv")
        naive_real: dict[str, Any] | None = None
        if naive_real_rows >= rows:
            sb.configure(limits_enabled=False)  # only its calls are counted here
            sb.reset_books()
            result = NaiveScript(sb.base_url, sb.credentials, live=False).run(world.path)
            naive_real = {
                "books": api_calls(sb.books()["calls"]),
                "script": dict(result.calls),
                "seconds": round(result.seconds, 1),
            }
    naive_total = sum(naive_counted.values())
    naive_real_s, naive_bucket = time_at_real_limits(naive_counted)
    scenario.details = {
        "rows": rows,
        "distinct_users": users,
        "distinct_courses": courses,
        "catalogue": catalogue,
        "time_scale": time_scale,
        "cold": cold,
        "warm": warm,
        "naive_counted": dict(naive_counted),
        "naive_real_limits_seconds": round(naive_real_s),
        "naive_real": naive_real,
        "distinct_known_users": distinct,
        "load_after": load_now(),
    }
    add = scenario.add
    limit = rows / 100
    bound = math.ceil(catalogue / 100) + courses + 5
    if rows >= 20_000:  # issue 4's target, stated for its 20,000-row file
        add(
            "cold lookups (users+catalogue+courses)",
            cold["lookups"],
            f"< {limit:,.0f} (1% of rows)",
            cold["lookups"] < limit,
        )
    add(
        "cold lookups vs distinct data",
        cold["lookups"],
        f"<= {bound} (catalogue pages + courses + 5 job calls)",
        cold["lookups"] <= bound,
    )
    add(
        "cold enrollment reads",
        cold["enrollment_reads"],
        f"= {reads_needed:,} ({distinct:,} users + pages)",
        cold["enrollment_reads"] == reads_needed,
    )
    add("cold calls, all endpoints", sum(cold["calls"].values()))
    add("warm lookups", warm["lookups"], "= 0", warm["lookups"] == 0)
    add(
        "warm enrollment reads (always live)",
        warm["enrollment_reads"],
        f"= {reads_needed:,}",
        warm["enrollment_reads"] == reads_needed,
    )
    add(
        "enroll/grade POSTs sent (dry runs)",
        cold["writes"] + warm["writes"],
        "= 0",
        cold["writes"] + warm["writes"] == 0,
    )
    add(
        "429s / early requests (cold+warm)",
        f"{cold['throttled'] + warm['throttled']} / "
        f"{cold['early_requests'] + warm['early_requests']}",
        "early = 0",
        cold["early_requests"] + warm["early_requests"] == 0,
    )
    add(
        "exit status cold / warm",
        f"{cold['exit_status']} / {warm['exit_status']}",
        "0 / 0",
        cold["exit_status"] == 0 and warm["exit_status"] == 0,
    )
    add(
        "wall time cold / warm",
        f"{cold['seconds']:.1f} s / {warm['seconds']:.1f} s",
        note=f"sandbox x{time_scale:g}, load {load_now()}",
    )
    add(
        "cold at ALM's real limits",
        duration(cold["real_limits_seconds"]),
        note=f"bound by {cold['real_limits_bucket']}",
    )
    add(
        "warm at ALM's real limits",
        duration(warm["real_limits_seconds"]),
        note=f"bound by {warm['real_limits_bucket']}",
    )
    add(
        "row-by-row script: calls (computed exactly)",
        naive_total,
        note=f"{naive_counted['GET /learningObjects']:,} of them catalogue pages",
    )
    add(
        "row-by-row script at ALM's real limits",
        duration(naive_real_s),
        note=f"bound by {naive_bucket}",
    )
    add(
        "calls saved vs row-by-row (cold)",
        f"{naive_total / max(1, sum(cold['calls'].values())):.0f}x",
    )
    if naive_real is not None:
        same = naive_real["books"] == dict(naive_counted)
        add(
            "row-by-row script run for real: calls",
            sum(naive_real["books"].values()),
            f"= computed {naive_total:,}",
            same and naive_real["script"] == dict(naive_counted),
            note="sandbox books; limits off",
        )
    scenario.seconds = watch.seconds
    return scenario


def run(
    sizes: tuple[str, ...],
    *,
    time_scale: float = 600.0,
    naive_real_rows: int = 1_000,
    folder: Path | None = None,
) -> list[Scenario]:
    if folder is not None:
        return [
            run_size(n, folder, time_scale=time_scale, naive_real_rows=naive_real_rows)
            for n in sizes
        ]
    with tempfile.TemporaryDirectory(prefix="bench-dryrun-") as tmp:
        return [
            run_size(n, Path(tmp), time_scale=time_scale, naive_real_rows=naive_real_rows)
            for n in sizes
        ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_dryrun",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sizes", default="20k", help=f"comma-separated: {', '.join(SIZES)}; 'quick' or 'all'"
    )
    parser.add_argument("--time-scale", type=float, default=600.0)
    parser.add_argument(
        "--naive-real-rows",
        type=int,
        default=1_000,
        help="run the row-by-row script for real on files up to this many rows",
    )
    args = parser.parse_args(argv)
    sizes = {"quick": QUICK, "all": ALL}.get(args.sizes) or tuple(args.sizes.split(","))
    scenarios = run(sizes, time_scale=args.time_scale, naive_real_rows=args.naive_real_rows)
    print(table(f for s in scenarios for f in s.figures))
    failed = [f for s in scenarios for f in s.figures if f.passed is False]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
