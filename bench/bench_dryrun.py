"""Dry runs of the sample, a monthly file and a backfill: calls, and minutes at ALM's limits.

Run: ``.venv/bin/python -m bench.bench_dryrun`` (the sample and the monthly file, about a
minute) or ``--files sample,monthly,backfill`` (the backfill adds about four minutes).

Per file (``bench.files``), on a fresh sandbox in its own process with ALM's documented limits
and answer times on a faster clock (``bench.runs``), with the tool's out-of-the-box settings:

- **dry run, first on the account** (empty state directory): users, catalogue and courses
  looked up, then every learner's state read;
- **dry run again** (the same state directory, as next month's file): the lookups come from the
  cache; learner state is always read from ALM;
- **live run, from the plan**: the calls the live run makes (the learner reads, and the writes
  the plan counts) at ALM's limits, beside the dry run's estimate (for the sample, the live run
  is measured: ``bench.bench_live``);
- **row-by-row script**: what a plain script (look up the user, scan the catalogue for the
  course, read the course and the enrollments, post) calls for the same file, counted exactly
  from the data (``bench.naive``; the smoke test runs the script and checks the count).

Targets: lookups grow with distinct courses and the catalogue, not rows; none on a re-run;
learner-state reads exactly one per learner plus extra pages; no write; no request before a
``retry-after``; at most 1 % of requests answered 429; the client's CPU at most 25 % of the
wall time; on a re-run where ALM's limits bind (5 ALM minutes or more), at least 90 % of the
allowance used (a first run looks users and courses up before it reads learner state: its
share is shown);
the estimate of the live run within 10 % of the least time its calls take at ALM's limits.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench import limits
from bench.common import (
    ENROLLMENT_READS,
    Line,
    SandboxProcess,
    Scenario,
    Stopwatch,
    World,
    duration,
    load_now,
)
from bench.files import FILES, File, learner_reads, world
from bench.naive import count_calls
from bench.runs import (
    ESTIMATE_TOLERANCE,
    Measured,
    alm_config,
    alm_estimate,
    client_settings,
    job,
    measure,
    measured_line,
)
from bench.summary import render

QUICK = ("sample", "monthly")
ALL = ("sample", "monthly", "backfill")
LOOKUPS = ("GET /users", "GET /users/{id}", "GET /learningObjects", "GET /learningObjects/{id}")
PLANNED_WRITES = "POST writes the plan counts"


def _lookups(calls: dict[str, int]) -> int:
    """Users, catalogue pages and courses looked up, and ALM jobs submitted."""
    return sum(calls.get(e, 0) for e in LOOKUPS) + calls.get("POST /jobs", 0)


def _writes(calls: dict[str, int]) -> int:
    """Writes to learners (a job submission is not one)."""
    return sum(n for e, n in calls.items() if e.startswith("POST /users"))


def run_file(file: File, folder: Path) -> Scenario:
    """The file's first dry run, its re-run, its live run's calls from the plan, and (for a
    generated file) the row-by-row script's calls."""
    scenario = Scenario(
        f"dry runs: {file.label}",
        f".venv/bin/python -m bench.bench_dryrun --files {file.key}",
    )
    watch = Stopwatch()
    w = world(file, folder)
    with SandboxProcess(w.seed, folder / file.key / "alm", alm_config(file.scale)) as sb:
        settings = client_settings(sb, file.scale)

        def dry(name: str) -> Measured:
            run = job(settings, w.path, folder / file.key, name, dry_run=True)
            return measure(sb, run, file.scale)

        first, again = dry("first"), dry("again")
    for name, m, run in (
        ("first", first, "dry run, first on the account, one read per learner"),
        ("again", again, "dry run again (cache warm), one read per learner"),
    ):
        # A first run looks users and courses up before it reads learner state (it needs the
        # users' ids), so the allowance is not its only limit: its share is shown, not judged.
        line = measured_line(
            file.label, run, m, exit_status=file.exit_status, used_target=name == "again"
        )
        _dry_checks(line, file, w, m, warm=name == "again")
        scenario.add_line(line)
        scenario.details[name] = m.to_json()
    if file.generated:
        scenario.add_line(_planned(file, again))
        scenario.add_line(_row_by_row(file, w))
    scenario.details.update(rows=file.rows, learners=file.learners, load_after=load_now())
    scenario.seconds = watch.seconds
    return scenario


def _dry_checks(line: Line, file: File, w: World, m: Measured, *, warm: bool) -> None:
    lookups, writes = _lookups(m.calls), _writes(m.calls)
    line.check("writes", writes, "= 0", writes == 0)
    if warm:
        known = file.unknown_emails
        target = "= 0 (cached)" if not known else f"<= {known} (emails ALM did not know)"
        line.check("lookups", lookups, target, lookups <= known)
    elif file.generated:
        # Users: one lookup each for up to 50 learners, else one users export job.
        pages, users = -(-file.catalogue // 100), file.learners if file.learners <= 50 else 1
        bound = pages + file.courses + users + 1
        line.check(
            "lookups",
            lookups,
            f"<= {bound} ({pages} catalogue pages + {file.courses} courses + {users} users + 1)",
            lookups <= bound,
        )
    if file.generated:
        learners, reads = learner_reads(w)
        got = m.calls.get(ENROLLMENT_READS, 0)
        line.check(
            "learner reads", got, f"= {reads:,} ({learners:,} learners + pages)", got == reads
        )


def _planned(file: File, dry: Measured) -> Line:
    """The live run's calls as the dry run planned them, at ALM's limits, beside its
    estimate: the learner reads again, then the planned writes."""
    planned = dry.outcome.summary.writes_planned
    calls = {ENROLLMENT_READS: dry.calls.get(ENROLLMENT_READS, 0), PLANNED_WRITES: planned}
    seconds, binding = limits.at_limits(calls)
    estimate = alm_estimate(dry.outcome, dry.scale)
    line = Line(
        file.label,
        "live run, --yes: counted from the plan",
        calls=calls,
        limits_seconds=seconds,
        binding=binding,
        measured="not run; est " + ("-" if estimate is None else duration(estimate)),
    )
    if estimate is not None and seconds > 0:
        ratio = estimate / seconds
        line.check(
            "estimate / at ALM's limits",
            f"{ratio:.3f}",
            f"1 to {1 + ESTIMATE_TOLERANCE:g}",
            1.0 <= ratio <= 1 + ESTIMATE_TOLERANCE,
        )
    return line


def _row_by_row(file: File, w: World) -> Line:
    calls = dict(count_calls(w.seed, w.path, live=True))
    seconds, binding = limits.at_limits(calls)
    return Line(
        file.label,
        "row-by-row script, live: counted",
        calls=calls,
        limits_seconds=seconds,
        binding=binding,
        measured="not run",
    )


def run(keys: tuple[str, ...], folder: Path | None = None) -> list[Scenario]:
    with tempfile.TemporaryDirectory(prefix="bench-dryrun-") as tmp:
        base = folder or Path(tmp)
        return [run_file(FILES[k], base) for k in keys]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_dryrun",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--files", default="quick", help=f"comma-separated: {', '.join(ALL)}; 'quick' or 'all'"
    )
    args = parser.parse_args(argv)
    keys = {"quick": QUICK, "all": ALL}.get(args.files) or tuple(args.files.split(","))
    scenarios = run(keys)
    print(render(scenarios))
    failed = [f for s in scenarios for f in s.figures if f.passed is False]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
