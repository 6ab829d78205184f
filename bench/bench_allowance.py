"""ALM's two documented header sets: does a first live run use the allowance it is granted?

Run: ``.venv/bin/python -m bench.bench_allowance`` (both header sets, about two minutes) or
``--headers 600rm``. The data is issue 14's: 600 rows of 524 learners in 40 courses, every
learner's state read (564 reads: 40 learners have a second page) and 1,738 enrollments and
grades written. The header sets (alm-api.md §7):

- ``admin``: the published admin table, GET 100/min burst 100 and POST 30/min burst 10;
- ``600rm``: the header every answer carries in Adobe's examples, ``x-rate-limit: 600r/m`` with
  ``x-burst: 10``, on every verb (reads and writes get the same allowance).

Per header set, on a fresh sandbox in its own process with ALM's answer times (300-600 ms) on a
clock fast enough that writes go at 60 a second (x120 for the admin table, x6 for 600r/m;
``bench.runs``), as the README's "First run on a real account" goes, with the tool's
out-of-the-box settings: a first dry run (the users export, the catalogue and the courses into
the cache), the write check on a test learner outside the file (``doctor --write-check``: the
grade body is learned there), then the measured dry run and the live run nobody confirms
(``--yes``).

Targets: at least 90 % of the allowance used; the dry run's estimate within 10 % of the live
run's time; at most 1 % of requests answered 429; no request before a ``retry-after``; the
client's CPU at most 25 % of the wall time; no lookup in the live run (the cache is warm) and
no grade twice.
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from batch.doctor import run_write_check
from batch.sandbox import generate_seed
from batch.sandbox.generate import COMPLETION_HEADERS
from bench import limits
from bench.common import SandboxProcess, Scenario, Stopwatch, World, load_now, lookups
from bench.runs import alm_config, alm_estimate, client_settings, job, measure, measured_line
from bench.summary import render

WRITES_PER_S = 60.0  # the write allowance in real seconds: sets each header set's time scale


@dataclass(frozen=True)
class HeaderSet:
    """One set of ALM's documented rate-limit headers (per ALM minute)."""

    label: str
    get_per_minute: float
    get_burst: int
    post_per_minute: float
    post_burst: int

    def limits(self) -> dict[str, Any]:
        return {
            "get_per_minute": self.get_per_minute,
            "get_burst": self.get_burst,
            "post_per_minute": self.post_per_minute,
            "post_burst": self.post_burst,
        }


HEADER_SETS: dict[str, HeaderSet] = {
    "admin": HeaderSet("admin table (GET 100/min, POST 30/min)", 100.0, 100, 30.0, 10),
    "600rm": HeaderSet("600r/m, burst 10, on every verb", 600.0, 10, 600.0, 10),
}
QUICK: tuple[str, ...] = ("600rm",)
# name -> (rows, distinct learners, distinct courses, catalogue, learners with 2 pages of
# enrollments). Issue 14's run: 600 rows, 524 learners, 40 courses, 564 learner-state reads.
SIZES: dict[str, tuple[int, int, int, int, int]] = {
    "issue": (600, 524, 40, 200, 40),
    "tiny": (40, 30, 5, 30, 3),  # the smoke test's size
}
ENROLLMENT_PAGE = 10  # the sandbox's (and ALM's) page[limit] cap on GET /users/{id}/enrollments
GROUP = "600 rows, 524 learners (issue 14's file): ALM's two documented header sets"


def make_issue_world(
    folder: Path,
    *,
    rows: int,
    learners: int,
    courses: int,
    catalogue: int,
    paged: int,
    random_seed: int = 14,
) -> World:
    """A seed and a completions CSV shaped like issue 14's run: EVERY one of ``learners`` is in
    the file (``generate_completions`` draws pairs at random, so 600 rows over 524 learners
    would name only ~360), each on one row and the first ``rows - learners`` on a second row
    with another course; ``paged`` of them get 11 more enrollments in courses outside the file,
    so reading their state takes a second page (524 learners -> 564 reads, as in the issue).
    Course cells are names (70 %), ``course:N`` (20 %) or the bare number, as generated files."""
    if not learners <= rows <= 2 * learners or courses < 2:
        raise ValueError("rows must be between learners and 2 x learners, courses >= 2")
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(random_seed)
    seed = generate_seed(int(learners * 1.1) + 50, catalogue, random_seed=random_seed)
    active = [u for u in seed["users"] if u.get("state", "ACTIVE") == "ACTIVE"]
    usable = [
        lo
        for lo in seed["learningObjects"]
        if lo.get("state", "Published") == "Published"
        and any(m.get("loResourceType") == "Content" for m in lo.get("modules", []))
    ]
    if learners > len(active) or courses + ENROLLMENT_PAGE > len(usable):
        raise ValueError(f"the seed has {len(active)} active users, {len(usable)} courses")
    people = rng.sample(active, learners)
    picked = rng.sample(usable, courses)
    others = [lo for lo in usable if lo not in picked]
    lines: list[tuple[str, dict[str, Any]]] = []
    for n, person in enumerate(people):
        first = picked[n % courses]
        lines.append((str(person["email"]), first))
        if n < rows - learners:
            offset = 1 + (n // courses) % (courses - 1)  # never 0: never the same course
            lines.append((str(person["email"]), picked[(n % courses + offset) % courses]))
    enrolled = {
        (str(e["userId"]), str(e["instanceId"]).rsplit("_", 1)[0]) for e in seed["enrollments"]
    }
    for person in people[:paged]:
        free = [lo for lo in others if (str(person["id"]), lo["id"]) not in enrolled]
        for lo in rng.sample(free, ENROLLMENT_PAGE + 1):
            seed["enrollments"].append(
                {
                    "userId": person["id"],
                    "instanceId": lo["instances"][0]["id"],
                    "dateEnrolled": "2024-05-06T09:00:00.000Z",
                    "grades": [],
                }
            )
    rng.shuffle(lines)
    path = folder / f"completions-{rows}.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COMPLETION_HEADERS)
        for email, lo in lines:
            roll = rng.random()
            name = str(lo["localizedMetadata"][0]["name"])
            cell = name if roll < 0.7 else (lo["id"] if roll < 0.9 else lo["id"].split(":")[1])
            day = date(2025, 1, 1) + timedelta(days=rng.randrange(181))
            score = "" if rng.random() < 0.3 else str(rng.randint(60, 100))
            writer.writerow([email, cell, day.isoformat(), score])
    return World(seed, path, len(lines), learners, courses, catalogue)


def test_learner(world: World) -> tuple[str, str]:
    """A designated test learner for the write check: active, not in the file, in a course with
    Content modules it has not completed."""
    with world.path.open(newline="", encoding="utf-8") as handle:
        in_file = {row[0].casefold() for row in csv.reader(handle)}
    person = next(
        u
        for u in world.seed["users"]
        if u.get("state", "ACTIVE") == "ACTIVE" and str(u["email"]).casefold() not in in_file
    )
    taken = {
        str(e["instanceId"]).rsplit("_", 1)[0]
        for e in world.seed["enrollments"]
        if str(e["userId"]) == str(person["id"])
    }
    course = next(
        lo
        for lo in world.seed["learningObjects"]
        if lo.get("state", "Published") == "Published"
        and lo["id"] not in taken
        and any(m.get("loResourceType") == "Content" for m in lo.get("modules", []))
    )
    return str(person["email"]), str(course["id"])


def run_headers(
    key: str,
    world: World,
    folder: Path,
    *,
    writes_per_s: float = WRITES_PER_S,
    write_check: bool = True,
) -> Scenario:
    """One header set: the first steps on a new account, then the measured dry and live runs.
    ``write_check=False``: the live run is the account's first write (the grade body is
    learned on its first grade, as when the README's write check was skipped)."""
    headers = HEADER_SETS[key]
    scale = writes_per_s * 60.0 / headers.post_per_minute
    scenario = Scenario(
        f"allowance {key}: {world.rows:,} rows/{world.distinct_users:,} learners",
        f".venv/bin/python -m bench.bench_allowance --headers {key} "
        f"--writes-per-s {writes_per_s:g}" + ("" if write_check else " --no-write-check"),
    )
    watch = Stopwatch()
    here = folder / key
    with SandboxProcess(world.seed, here / "alm", alm_config(scale, **headers.limits())) as sb:
        settings = client_settings(sb, scale)
        first = job(settings, world.path, here, "first", dry_run=True).run()
        if write_check:
            email, course = test_learner(world)
            check = run_write_check(settings, email, course, state_dir=here / "state")
            if check.exit_status != 0:
                raise RuntimeError(f"the write check failed: {check.checks}")
        in_force = limits.with_verbs(**headers.limits())
        dry = measure(sb, job(settings, world.path, here, "dry", dry_run=True), scale, in_force)
        live = measure(sb, job(settings, world.path, here, "live", dry_run=False), scale, in_force)
    line = measured_line(
        GROUP,
        f"live run, {headers.label}" + ("" if write_check else ", no write check"),
        live,
        estimate_seconds=alm_estimate(dry.outcome, scale),
    )
    found = lookups(live.calls)
    line.check("lookups", found, "= 0 (cached)", found == 0)
    line.check("double grades", live.double_grades, "= 0", live.double_grades == 0)
    line.check("first dry run", int(first.exit_status), "= 0", int(first.exit_status) == 0)
    scenario.add_line(line)
    scenario.details = {
        "header_set": headers.label,
        "limits_per_alm_minute": headers.limits(),
        "time_scale": scale,
        "dry": dry.to_json(),
        "live": live.to_json(),
        "load_after": load_now(),
    }
    scenario.seconds = watch.seconds
    return scenario


def run(
    keys: tuple[str, ...],
    *,
    size: str = "issue",
    writes_per_s: float = WRITES_PER_S,
    folder: Path | None = None,
    write_check: bool = True,
) -> list[Scenario]:
    """The header sets one after the other (never two at once: each would steal the other's
    cores), over ONE generated world so they differ only in their headers."""
    with tempfile.TemporaryDirectory(prefix="bench-allowance-") as tmp:
        base = folder or Path(tmp)
        rows, learners, courses, catalogue, paged = SIZES[size]
        world = make_issue_world(
            base / "world",
            rows=rows,
            learners=learners,
            courses=courses,
            catalogue=catalogue,
            paged=paged,
        )
        return [
            run_headers(k, world, base, writes_per_s=writes_per_s, write_check=write_check)
            for k in keys
        ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_allowance",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--headers",
        default="all",
        help=f"comma-separated: {', '.join(HEADER_SETS)}; 'all' or 'quick' ({', '.join(QUICK)})",
    )
    parser.add_argument("--size", default="issue", choices=sorted(SIZES))
    parser.add_argument(
        "--writes-per-s",
        type=float,
        default=WRITES_PER_S,
        help="write allowance in real seconds: sets each header set's time scale",
    )
    parser.add_argument(
        "--no-write-check",
        action="store_true",
        help="skip the write check: the live run learns the grade body on its first grade",
    )
    args = parser.parse_args(argv)
    keys = {"all": tuple(HEADER_SETS), "quick": QUICK}.get(args.headers) or tuple(
        args.headers.split(",")
    )
    unknown = [k for k in keys if k not in HEADER_SETS]
    if unknown:
        parser.error(f"unknown header set {unknown[0]!r}; choose from {', '.join(HEADER_SETS)}")
    scenarios = run(
        keys, size=args.size, writes_per_s=args.writes_per_s, write_check=not args.no_write_check
    )
    print(render(scenarios))
    return 1 if any(f.passed is False for s in scenarios for f in s.figures) else 0


if __name__ == "__main__":
    raise SystemExit(main())
