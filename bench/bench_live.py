"""Live runs at ALM's write limit: the allowance used, the estimate, 429s, every grade once.

Run: ``.venv/bin/python -m bench.bench_live`` (the sample and a tenth of the monthly file,
about two minutes) or ``--files sample,quick-tenth`` (``make bench --quick``'s).

Per file (``bench.files``), on a fresh sandbox in its own process with ALM's documented limits
(POST 30/min, burst 10) and answer times on a faster clock (``bench.runs``), with the tool's
out-of-the-box settings, as the README's steps go: a dry run, then the live run that nobody
confirms (``--yes``: it writes for each learner as soon as their state is read). The whole
monthly file's live run (57,000 writes, 32 hours at ALM's limits) is counted from its plan in
``bench.bench_dryrun``; here a tenth of it (200 learners, the same shape) is run.

Targets: no request before a ``retry-after``; at most 1 % of requests answered 429; the client's
CPU at most 25 % of the wall time; at least 90 % of the write allowance used; the dry run's
estimate within 10 % of the live run's time; every grade the file needs recorded exactly once
(for a generated file the set is computed from the seed and the file, apart from the tool; the
sample's 62 are in ``sample_data/README.md``) and none twice.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.common import SandboxProcess, Scenario, Stopwatch, load_now
from bench.files import FILES, SAMPLE_GRADES, File, expected_grades, world
from bench.runs import alm_config, alm_estimate, client_settings, job, measure, measured_line
from bench.summary import render

QUICK = ("sample", "quick-tenth")
ALL = ("sample", "tenth")


def run_file(file: File, folder: Path) -> Scenario:
    """A dry run, then the live run (measured), of one file on a fresh account."""
    run = "live run, --yes, after a dry run"
    if file.key != "sample":
        run = f"live run, --yes: {file.rows:,} rows, {file.learners} learners of it"
    scenario = Scenario(
        f"live: {file.label}", f".venv/bin/python -m bench.bench_live --files {file.key}"
    )
    watch = Stopwatch()
    w = world(file, folder)
    with SandboxProcess(w.seed, folder / file.key / "alm", alm_config(file.scale)) as sb:
        settings = client_settings(sb, file.scale)
        here = folder / file.key
        dry = measure(sb, job(settings, w.path, here, "dry", dry_run=True), file.scale)
        live = measure(sb, job(settings, w.path, here, "live", dry_run=False), file.scale)
    line = measured_line(
        file.label,
        run,
        live,
        estimate_seconds=alm_estimate(dry.outcome, file.scale),
        exit_status=file.exit_status,
    )
    recorded = {(g["user_id"], g["module_id"]) for g in live.books["grades"]}
    if file.generated:
        wanted = expected_grades(w)
        line.check(
            "grades recorded",
            f"{len(recorded):,} of {len(wanted):,}",
            "= the grades the file needs",
            recorded == wanted and len(live.books["grades"]) == len(wanted),
        )
    else:
        line.check(
            "grades recorded", len(recorded), f"= {SAMPLE_GRADES}", len(recorded) == SAMPLE_GRADES
        )
    line.check("double grades", live.double_grades, "= 0", live.double_grades == 0)
    scenario.add_line(line)
    scenario.details = {
        "rows": file.rows,
        "learners": file.learners,
        "dry": dry.to_json(),
        "live": live.to_json(),
        "load_after": load_now(),
    }
    scenario.seconds = watch.seconds
    return scenario


def run(keys: tuple[str, ...], folder: Path | None = None) -> list[Scenario]:
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        base = folder or Path(tmp)
        return [run_file(FILES[k], base) for k in keys]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_live",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--files", default="all", help=f"comma-separated: {', '.join(FILES)}; 'quick' or 'all'"
    )
    args = parser.parse_args(argv)
    keys = {"quick": QUICK, "all": ALL}.get(args.files) or tuple(args.files.split(","))
    scenarios = run(keys)
    print(render(scenarios))
    return 1 if any(f.passed is False for s in scenarios for f in s.figures) else 0


if __name__ == "__main__":
    raise SystemExit(main())
