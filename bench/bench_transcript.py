"""Issue 22: a dry run's learner state from one Learner Transcript job, in ALM's time.

Run: ``.venv/bin/python -m bench.bench_transcript`` (the 20,000-row file of 2,000 learners,
40 courses, a 500-course catalogue, against a sandbox 600 times faster than ALM) and
``--sample-real`` (the 35-row sample against ``alm-batch sandbox`` at ALM's real limits, no time
scale: about two minutes of real time).

The 20,000-row file is dry-run four times, each from the sandbox's own books:

- **per-learner** (``--state-source per-learner``, what every dry run did before): one
  ``GET /users/{id}/enrollments`` per learner;
- **transcript** (``auto``, which chooses the job here): one ``generateLearnerTranscript`` job;
- **kept**: the same again, the snapshot reused from the state directory;
- **quota used up**: the day's transcript jobs spent (``job-quota-429``: a 429 whose
  ``retry-after`` says tomorrow): the run falls back to per-learner reads.

For each: rate-limited calls per endpoint (the S3 file download and the token are outside ALM's
allowance) and the minutes they take at ALM's documented limits (GET 100/min with a burst of
100; ``GET /users`` and ``GET /learningObjects`` 500/h; and the 15/min Adobe quoted for the
learningObject API where it applies), the slowest bucket binding. The transcript's own
generation time is added: the sandbox's 60 s (ALM: "minutes on a large account"). Every row
(status, message, writes) must be the same in all four.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from batch.demo import settings_for_sandbox
from batch.jobs import Job, JobOptions
from batch.sandbox import Sandbox, SandboxConfig, load_seed
from bench.common import (
    SandboxProcess,
    Scenario,
    Stopwatch,
    api_calls,
    diff_calls,
    duration,
    make_world,
    table,
    time_at_real_limits,
)

SIZE = {"rows": 20_000, "distinct_users": 2_000, "distinct_courses": 40, "catalogue": 500}
GOAL_CALLS = 60  # issue 22: at most 60 rate-limited calls for the 20,000-row dry run
LO_CAP_PER_MINUTE = 15.0  # Nov 2024 notes: "the learningObject API allows ... 15 per minute"
REAL_USERS_PER_HOUR = 500.0  # the resolver chooses lookups by ALM's real hourly allowance
OUTSIDE = ("GET /_sandbox/downloads/{file}",)  # S3 pre-signed links: not ALM's allowance
SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


def limited(calls: dict[str, int]) -> dict[str, int]:
    return {e: n for e, n in api_calls(calls).items() if e not in OUTSIDE}


def minutes(calls: dict[str, int], generation: float = 0.0) -> dict[str, Any]:
    """Minutes at the documented limits (slowest bucket), and with the learningObject cap."""
    seconds, bucket = time_at_real_limits(calls)
    lo = sum(n for e, n in calls.items() if e.startswith("GET /learningObjects"))
    capped = max(seconds, lo * 60.0 / LO_CAP_PER_MINUTE)
    return {
        "seconds": round(seconds + generation, 1),
        "bucket": bucket,
        "with_lo_cap_seconds": round(capped + generation, 1),
        "generation_seconds": generation,
    }


def _dry(sb: Sandbox, path: Path, state: Path, mode: str) -> dict[str, Any]:
    settings = settings_for_sandbox(sb, users_get_per_hour=REAL_USERS_PER_HOUR)
    before = sb.books()
    watch = Stopwatch()
    job = Job(
        JobOptions(
            path=path,
            dry_run=True,
            state_dir=state,
            report=state / "report.csv",
            command="bench",
            keep_results=True,
            state_source=mode,
        ),  # fmt: skip
        settings,
    )
    outcome = job.run()
    seconds = watch.seconds
    after = sb.books()
    calls = limited(diff_calls(after["calls"], before["calls"]))
    jobs = diff_calls(after.get("jobs_submitted", {}), before.get("jobs_submitted", {}))
    return {
        "calls": calls,
        "total": sum(calls.values()),
        "jobs": jobs,
        "learner_state": outcome.summary.learner_state,
        "warnings": [w for w in outcome.warnings if "transcript" in w],
        "wall_seconds": round(seconds, 2),
        "rows": [
            (
                r.row,
                r.status.value,
                r.message,
                r.planned_grades,
                r.planned_enrollments,
                r.date_completed,
                r.score,
                tuple(r.module_ids),
            )
            for r in job.results
        ],  # fmt: skip
    }


def run_large(
    folder: Path, time_scale: float, *, size: dict[str, int] = SIZE, mode: str = "auto"
) -> Scenario:
    """The four dry runs of a generated file (``size``); ``mode`` the second one's
    ``--state-source`` (``auto`` chooses the job at 2,000 learners; a tiny file forces it)."""
    rows = size["rows"]
    scenario = Scenario(
        f"learner state, {rows:,} rows / {size['distinct_users']:,} learners",
        f".venv/bin/python -m bench.bench_transcript --time-scale {time_scale:g}",
    )
    watch = Stopwatch()
    world = make_world(folder / "world", **size)
    config = SandboxConfig(time_scale=time_scale)
    generation = config.transcript_delay  # sandbox seconds = ALM seconds
    with Sandbox(seed=world.seed, config=config) as sb:
        before = _dry(sb, world.path, folder / "state-per-learner", "per-learner")
        after = _dry(sb, world.path, folder / "state", mode)
        kept = _dry(sb, world.path, folder / "state", mode)
        sb.configure(jobs_per_day=1, job_quota_status=429)  # the day's jobs are spent
        shutil.rmtree(folder / "state" / "transcripts")  # the kept file too
        quota = _dry(sb, world.path, folder / "state", mode)
    runs = {"per-learner": before, "transcript": after, "kept": kept, "quota used up": quota}
    at = {
        "per-learner": minutes(before["calls"]),
        "transcript": minutes(after["calls"], generation),
        "kept": minutes(kept["calls"]),
        "quota used up": minutes(quota["calls"]),
    }
    scenario.details = {
        name: {**{k: v for k, v in run.items() if k != "rows"}, "at_limits": at[name]}
        for name, run in runs.items()
    }
    scenario.details["time_scale"] = time_scale
    add = scenario.add
    add("per-learner: rate-limited calls", before["total"], note=_top(before["calls"]))
    add("per-learner: at ALM's limits", duration(at["per-learner"]["seconds"]),
        note=f"bound by {at['per-learner']['bucket']}; "
        f"{duration(at['per-learner']['with_lo_cap_seconds'])} at the learningObject cap")  # fmt: skip
    add("transcript: rate-limited calls", after["total"], f"<= {GOAL_CALLS}",
        after["total"] <= GOAL_CALLS, note=_top(after["calls"]))  # fmt: skip
    add("transcript: at ALM's limits + generation", duration(at["transcript"]["seconds"]),
        note=f"incl. the job's {generation:g} s; "
        f"{duration(at['transcript']['with_lo_cap_seconds'])} at the learningObject cap")  # fmt: skip
    add("transcript: jobs", after["jobs"], "1 transcript job",
        after["jobs"].get("generateLearnerTranscript") == 1)  # fmt: skip
    add("kept snapshot: rate-limited calls", kept["total"], "0 jobs",
        not kept["jobs"], note=_top(kept["calls"]))  # fmt: skip
    add("quota used up: falls back", quota["learner_state"][:60] + "...",
        "per-learner, one warning", len(quota["warnings"]) == 1
        and quota["calls"].get("GET /users/{id}/enrollments", 0) >= size["distinct_users"] * 0.9)  # fmt: skip
    add("quota used up: at ALM's limits", duration(at["quota used up"]["seconds"]),
        note=f"{quota['total']:,} calls")  # fmt: skip
    same = all(run["rows"] == before["rows"] for run in runs.values())
    add("rows identical in all four (status, message, writes)", same, "True", same,
        note=f"{len(before['rows']):,} rows")  # fmt: skip
    scenario.seconds = watch.seconds
    return scenario


def _top(calls: dict[str, int]) -> str:
    ranked = sorted(calls.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{e} {n:,}" for e, n in ranked[:4])


def run_sample_real(folder: Path) -> Scenario:
    """The 35-row sample against ``alm-batch sandbox`` at ALM's real limits (a process of its
    own, no time scale): wall time of ``validate`` with a fresh state directory, per learner
    and auto (the same here: 28 learners' reads fit ALM's burst, so auto reads them)."""
    scenario = Scenario(
        "sample (39 rows) at ALM's real limits",
        ".venv/bin/python -m bench.bench_transcript --sample-real",
    )
    watch = Stopwatch()
    for mode in ("per-learner", "auto"):
        with SandboxProcess(load_seed(SAMPLE), folder / f"alm-{mode}", SandboxConfig()) as sb:
            env = {k: v for k, v in os.environ.items() if not k.startswith("ALM_")}
            env.update({"ALM_BASE_URL": sb.base_url, "ALM_CLIENT_ID": sb.credentials["client_id"],
                        "ALM_CLIENT_SECRET": sb.credentials["client_secret"],
                        "ALM_REFRESH_TOKEN": sb.credentials["refresh_token"]})  # fmt: skip
            run_watch = Stopwatch()
            done = subprocess.run(
                [sys.executable, "-m", "batch", "validate", str(SAMPLE / "completions.csv"),
                 "--state-dir", str(folder / f"state-{mode}"), "--state-source", mode,
                 "--report", str(folder / f"{mode}.json")],
                env=env, cwd=folder, capture_output=True, text=True, check=False,
            )  # fmt: skip
            seconds = run_watch.seconds
            calls = limited(sb.books()["calls"])
        scenario.details[mode] = {"seconds": round(seconds, 1), "calls": calls,
                                  "exit": done.returncode}  # fmt: skip
        scenario.add(f"validate, --state-source {mode}", f"{seconds:.1f} s",
                     note=f"{sum(calls.values())} calls: {_top(calls)}")  # fmt: skip
    scenario.seconds = watch.seconds
    return scenario


def run(
    *, time_scale: float = 600.0, sample_real: bool = False, folder: Path | None = None
) -> list[Scenario]:
    with tempfile.TemporaryDirectory(prefix="bench-transcript-") as tmp:
        here = folder or Path(tmp)
        here.mkdir(parents=True, exist_ok=True)
        out = [run_large(here / "large", time_scale)]
        if sample_real:
            out.append(run_sample_real(here / "sample"))
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_transcript",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--time-scale", type=float, default=600.0)
    parser.add_argument("--sample-real", action="store_true", help="also the sample, real time")
    args = parser.parse_args(argv)
    scenarios = run(time_scale=args.time_scale, sample_real=args.sample_real)
    print(table(f for s in scenarios for f in s.figures))
    return 1 if any(f.passed is False for s in scenarios for f in s.figures) else 0


if __name__ == "__main__":
    raise SystemExit(main())
