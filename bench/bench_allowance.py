"""Issue 14: does a run use every request ALM allows? Efficiency and estimate per header set.

Run: ``.venv/bin/python -m bench.bench_allowance`` (all four scenarios: 3-4 minutes on 2 cores
with the overlapping engine, ~14 minutes with the one before it) or ``--scenarios
admin-40-120`` (one; ``quick`` is that one). Scenarios: ALM's two documented header sets, each
at two latencies (alm-api.md §7 and §11):

- ``admin``: the documented admin table, GET 100/min burst 100 and POST 30/min burst 10 (the
  read:write allowance 100:30);
- ``600rm``: the header example every response carries, ``x-rate-limit: 600r/m``,
  ``x-burst: 10``, on every verb (so reads and writes get the same allowance);
- latency 40-120 ms and 300-600 ms per request.

The sandbox runs in its own process with its clock ``time_scale`` times faster, chosen so the
write allowance is ``--writes-per-s`` (60/s: x120 for the admin table, x6 for 600r/m) and a
live run takes ~30 s at the allowance. The sandbox states its headers in real time
(``3600r/m`` at x6 for 600r/m): the same allowance as a client pacing from them sees it. The
data is issue 14's: 600 rows, 524 distinct learners, 40 courses.

Per scenario, on a fresh sandbox: the README's first steps on a new account (no latency): a
warm-up dry run (it resolves users through the export job, as ``auto`` does for 524 new
learners, and fills the lookup cache, so the measured runs only read learner state and write)
and the write check on one test learner outside the file (``doctor --write-check``: ALM's grade
body is learned there, as the README asks before a first live run);
then the rates and latency of the scenario (buckets full), a measured dry run, one second's
pause, and a live run with ``--yes`` semantics (no confirmation), both through the job engine
with the tool's OUT-OF-THE-BOX settings (GET 100/min, POST 30/min until ALM's headers say
otherwise, default concurrency): what a person gets without tuning.

Measured from the sandbox's books (every request it received, 429s included), a timeline of
them polled every 0.25 s, and the job's outcome:
- reads R (GETs) and writes W (POSTs) of the live run, as the books count them (requests
  answered 429 included: at most 1 % by target, so the bound is at most that generous);
  allowances r, w per real second from the scenario's header rates; sequential bound
  R/r + W/w; overlap bound max(R/r, W/w);
- the engine's mode, from the timeline: "overlap" when more than 5 % of the live run's reads
  reached ALM after its first write, else "sequential"; efficiency = the bound of that mode /
  wall time of the live run (target >= 0.95; the other bound's figure is printed too);
- requests answered 429 (target <= 1 %) and requests sent before a retry-after had passed
  (``early_requests``, target 0), over the measured dry and live runs;
- the dry run's ``estimate_seconds`` against the live run's wall time (target within 10 %);
- exit status 0 and no double grade (sanity, so an efficiency is never that of a broken run).
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from batch.demo import settings_for_sandbox
from batch.doctor import run_write_check
from batch.jobs import (
    Job,
    JobEvent,
    JobOptions,
    JobOutcome,
    StageFinished,
    StageStarted,
    WriteProgress,
)
from batch.sandbox import Sandbox, SandboxConfig, generate_seed
from batch.sandbox.generate import COMPLETION_HEADERS
from batch.settings import Settings
from bench.common import (
    SandboxProcess,
    Scenario,
    Stopwatch,
    World,
    aligned,
    api_calls,
    diff_calls,
    duration,
    fmt,
    load_now,
    lookups,
)

EFFICIENCY_TARGET = 0.95
ESTIMATE_TOLERANCE = 0.10
THROTTLED_SHARE = 0.01
OVERLAP_SHARE = 0.05  # reads after the first write, as a share of all reads: "overlap" above
POLL_SECONDS = 0.25
PAUSE_SECONDS = 1.0  # between the dry run and the live run: the buckets refill, as for a person


@dataclass(frozen=True)
class HeaderSet:
    """One set of ALM's documented rate-limit headers (per sandbox minute)."""

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
    "admin": HeaderSet("GET 100/min burst 100, POST 30/min burst 10", 100.0, 100, 30.0, 10),
    "600rm": HeaderSet("x-rate-limit: 600r/m, x-burst: 10 on every verb", 600.0, 10, 600.0, 10),
}
LATENCIES: dict[str, tuple[float, float]] = {"40-120": (40.0, 120.0), "300-600": (300.0, 600.0)}
SCENARIOS: tuple[str, ...] = tuple(f"{h}-{lat}" for h in HEADER_SETS for lat in LATENCIES)
QUICK: tuple[str, ...] = ("admin-40-120",)
# name -> (rows, distinct learners, distinct courses, catalogue, learners with 2 pages of
# enrollments). Issue 14's run: 600 rows, 524 learners, 40 courses, 564 learner-state reads.
SIZES: dict[str, tuple[int, int, int, int, int]] = {
    "issue": (600, 524, 40, 200, 40),
    "tiny": (40, 30, 5, 30, 3),  # the smoke test's size
}
ENROLLMENT_PAGE = 10  # the sandbox's (and ALM's) page[limit] cap on GET /users/{id}/enrollments
WRITES_PER_S = 60.0


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


def out_of_the_box(sandbox: Any) -> Settings:
    """Settings pointing at ``sandbox`` with the tool's default limits, NOT time-scaled: the
    client knows ALM's allowance only from its headers, as against a real account."""
    defaults = {
        name: Settings.model_fields[name].default
        for name in (
            "get_per_minute",
            "get_burst",
            "post_per_minute",
            "post_burst",
            "users_get_per_hour",
            "lo_get_per_hour",
        )
    }
    return settings_for_sandbox(sandbox, **defaults)


def split_calls(calls: dict[str, int]) -> tuple[int, int]:
    """(reads, writes): GETs and POSTs to ALM's API (no token call, no sandbox harness)."""
    api = api_calls(calls)
    reads = sum(n for e, n in api.items() if e.startswith("GET ") and "/_sandbox/" not in e)
    writes = sum(n for e, n in api.items() if e.startswith("POST "))
    return reads, writes


class Timeline:
    """Polls the sandbox's books while a run goes: (seconds, reads, writes) since ``start``."""

    def __init__(self, books: Callable[[], dict[str, Any]], interval: float = POLL_SECONDS):
        self._books = books
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples: list[tuple[float, int, int]] = []
        self._base: dict[str, int] = {}
        self._t0 = 0.0

    def start(self) -> None:
        self._base = dict(self._books()["calls"])
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._poll, name="bench-timeline", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def sample(self) -> None:
        try:
            calls = self._books()["calls"]
        except Exception:  # a missed sample only coarsens the timeline
            return
        reads, writes = split_calls(diff_calls(calls, self._base))
        self.samples.append((round(time.perf_counter() - self._t0, 2), reads, writes))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.sample()

    def reads_after_first_write(self) -> int:
        """Reads that reached ALM after the first sample that saw a write (0: none, or no
        write at all). Sampling can only under-count them, never invent an overlap."""
        if not self.samples:
            return 0
        final_reads = self.samples[-1][1]
        for _, reads, writes in self.samples:
            if writes > 0:
                return final_reads - reads
        return 0

    def first_write_at(self) -> float | None:
        return next((t for t, _, w in self.samples if w > 0), None)

    def last_read_at(self) -> float | None:
        if not self.samples:
            return None
        final = self.samples[-1][1]
        return next((t for t, r, _ in self.samples if r >= final), None)


class _Stages:
    """When each stage started and finished, and the first write, from the job's events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._t0 = time.perf_counter()
        self.marks: dict[str, float] = {}

    def __call__(self, event: JobEvent) -> None:
        now = round(time.perf_counter() - self._t0, 2)
        key = None
        if isinstance(event, StageStarted):
            key = f"{event.stage} started"
        elif isinstance(event, StageFinished):
            key = f"{event.stage} finished"
        elif isinstance(event, WriteProgress) and event.writes_made > 0:
            key = "first write answered"
        if key is not None:
            with self._lock:
                self.marks.setdefault(key, now)


def _job(
    world: World,
    folder: Path,
    settings: Settings,
    *,
    dry_run: bool,
    name: str,
    user_lookup: str = "auto",
) -> Job:
    return Job(
        JobOptions(
            path=world.path,
            dry_run=dry_run,
            state_dir=folder / "state",
            report=folder / f"{name}.report.csv",
            command="bench",
            user_lookup=user_lookup,
            state_source="per-learner",  # the pacing of per-learner reads is what is measured
        ),
        settings,
        confirm=None,  # --yes: no person confirms
    )


def _sandbox(world: World, folder: Path, config: SandboxConfig, in_process: bool) -> Any:
    if in_process:
        return Sandbox(seed=world.seed, config=config)
    return SandboxProcess(world.seed, folder, config)


def run_scenario(
    key: str,
    folder: Path,
    *,
    size: str = "issue",
    writes_per_s: float = WRITES_PER_S,
    in_process: bool = False,
    world: World | None = None,
    write_check: bool = True,
) -> Scenario:
    """One header set at one latency: warm-up, measured dry run, measured live run.
    ``write_check=False``: the live run is the account's first write (the grade body is
    learned on its first grade, as when the README's write check was skipped)."""
    header_key, _, latency_key = key.partition("-")
    headers, latency = HEADER_SETS[header_key], LATENCIES[latency_key]
    rows, learners, courses, catalogue, paged = SIZES[size]
    scale = writes_per_s * 60.0 / headers.post_per_minute
    read_allowance = headers.get_per_minute * scale / 60.0  # per real second
    write_allowance = headers.post_per_minute * scale / 60.0
    scenario = Scenario(
        f"allowance {header_key}, {latency_key} ms: {rows:,} rows/{learners:,} learners",
        f".venv/bin/python -m bench.bench_allowance --scenarios {key} --size {size} "
        f"--writes-per-s {writes_per_s:g}" + ("" if write_check else " --no-write-check"),
    )
    watch = Stopwatch()
    here = folder / key
    if world is None:
        world = make_issue_world(
            here,
            rows=rows,
            learners=learners,
            courses=courses,
            catalogue=catalogue,
            paged=paged,
        )
    # The export job is done in 1 sandbox second (not 30): it is only the warm-up's.
    config = SandboxConfig(time_scale=scale, job_delay=1.0, **headers.limits())
    with _sandbox(world, here / "alm", config, in_process) as sb:
        settings = out_of_the_box(sb)
        # The export job, as `auto` picks for 524 new learners at ALM's 500 lookups/hour (and
        # as a first dry run on a real account does: its POST /jobs shows the write header).
        warm = _job(world, here, settings, dry_run=True, name="warm-up", user_lookup="export")
        warm_outcome = warm.run()
        if write_check:
            email, course = test_learner(world)
            check = run_write_check(settings, email, course, state_dir=here / "state")
            if check.exit_status != 0:
                raise RuntimeError(f"the write check failed: {check.checks}")
        # The scenario proper: latency on, buckets rebuilt full (a limit field is passed).
        sb.configure(latency_ms=latency, **headers.limits())
        b0 = sb.books()
        dry_watch = Stopwatch()
        dry = _job(world, here, settings, dry_run=True, name="dry").run()
        dry_seconds = dry_watch.seconds
        time.sleep(PAUSE_SECONDS)
        b1 = sb.books()
        timeline = Timeline(sb.books)
        live_job = _job(world, here, settings, dry_run=False, name="live")
        timeline.start()
        stages = _Stages()
        live_job.subscribe(stages)
        live_watch = Stopwatch()
        live = live_job.run()
        wall = live_watch.seconds
        timeline.stop()
        b2 = sb.books()
    _measure(
        scenario,
        headers=headers,
        latency=latency,
        scale=scale,
        read_allowance=read_allowance,
        write_allowance=write_allowance,
        warm=warm_outcome,
        dry=dry,
        live=live,
        dry_seconds=dry_seconds,
        wall=wall,
        books=(b0, b1, b2),
        timeline=timeline,
        stages=stages,
        world=world,
    )
    scenario.seconds = watch.seconds
    return scenario


def _counter(after: dict[str, Any], before: dict[str, Any], name: str) -> int:
    return int(after[name]) - int(before[name])


def _measure(
    scenario: Scenario,
    *,
    headers: HeaderSet,
    latency: tuple[float, float],
    scale: float,
    read_allowance: float,
    write_allowance: float,
    warm: JobOutcome,
    dry: JobOutcome,
    live: JobOutcome,
    dry_seconds: float,
    wall: float,
    books: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
    timeline: Timeline,
    stages: _Stages,
    world: World,
) -> None:
    b0, b1, b2 = books
    dry_calls = api_calls(diff_calls(b1["calls"], b0["calls"]))
    live_calls = api_calls(diff_calls(b2["calls"], b1["calls"]))
    dry_reads, dry_writes = split_calls(dry_calls)
    reads, writes = split_calls(live_calls)
    read_s, write_s = reads / read_allowance, writes / write_allowance
    sequential, overlap = read_s + write_s, max(read_s, write_s)
    after_first = timeline.reads_after_first_write()
    mode = "overlap" if reads and after_first > OVERLAP_SHARE * reads else "sequential"
    bound = overlap if mode == "overlap" else sequential
    efficiency = round(bound / wall, 3) if wall > 0 else 0.0
    other = sequential if mode == "overlap" else overlap
    throttled = _counter(b2, b0, "throttled")
    early = _counter(b2, b0, "early_requests")
    requests = sum(dry_calls.values()) + sum(live_calls.values())
    share = throttled / max(1, requests)
    estimate = dry.summary.estimate_seconds
    ratio = estimate / wall if estimate is not None and wall > 0 else None
    doubles = _counter(b2, b1, "double_grades")
    add = scenario.add
    add(
        "live run: reads / writes",
        f"{reads:,} / {writes:,}",
        note=f"allowance {read_allowance:.0f}/s / {write_allowance:.0f}/s (x{scale:g}), "
        f"latency {latency[0]:g}-{latency[1]:g} ms",
    )
    add(
        f"efficiency ({mode} bound / wall)",
        f"{efficiency:.2f} ({bound:.1f} s / {wall:.1f} s)",
        f">= {EFFICIENCY_TARGET:g}",
        efficiency >= EFFICIENCY_TARGET,
        note=f"{'sequential' if mode == 'overlap' else 'overlap'} bound {other:.1f} s: "
        f"{other / wall:.2f}; {after_first:,} reads after the first write",
    )
    add(
        "requests answered 429 (dry + live)",
        f"{throttled:,} of {requests:,} = {share:.2%}",
        f"<= {THROTTLED_SHARE:.0%}",
        share <= THROTTLED_SHARE,
    )
    add("requests before retry-after passed", early, "= 0", early == 0)
    add(
        "dry run's estimate vs live wall time",
        "no estimate"
        if ratio is None
        else f"{duration(estimate or 0.0)} vs {wall:.1f} s = {ratio:.2f}x",
        f"within {ESTIMATE_TOLERANCE:.0%}",
        ratio is not None and abs(ratio - 1.0) <= ESTIMATE_TOLERANCE,
    )
    add(
        "dry run: reads vs read allowance",
        f"{dry_reads:,} reads in {dry_seconds:.1f} s; bound {dry_reads / read_allowance:.1f} s "
        f"= {dry_reads / read_allowance / max(dry_seconds, 1e-9):.2f}",
        note=f"load {load_now()}",
    )
    sane = (
        int(live.exit_status) == 0
        and int(dry.exit_status) == 0
        and int(warm.exit_status) == 0
        and doubles == 0
        and dry_writes == 0
        and lookups(live_calls) == 0
    )
    add(
        "exit status warm-up/dry/live, double grades, lookups",
        f"{int(warm.exit_status)}/{int(dry.exit_status)}/{int(live.exit_status)}, {doubles}, "
        f"{lookups(live_calls)}",
        "0/0/0, 0, 0",
        sane,
    )
    scenario.details = {
        "header_set": headers.label,
        "limits_per_sandbox_minute": headers.limits(),
        "latency_ms": list(latency),
        "time_scale": scale,
        "rows": world.rows,
        "distinct_learners": world.distinct_users,
        "distinct_courses": world.distinct_courses,
        "catalogue": world.catalogue,
        "read_allowance_per_s": round(read_allowance, 2),
        "write_allowance_per_s": round(write_allowance, 2),
        "reads": reads,
        "writes": writes,
        "wall_seconds": round(wall, 2),
        "sequential_bound_seconds": round(sequential, 2),
        "overlap_bound_seconds": round(overlap, 2),
        "mode": mode,
        "reads_after_first_write": after_first,
        "efficiency": efficiency,
        "efficiency_sequential": round(sequential / wall, 3) if wall else 0.0,
        "efficiency_overlap": round(overlap / wall, 3) if wall else 0.0,
        "throttled": throttled,
        "throttled_live": _counter(b2, b1, "throttled"),
        "requests": requests,
        "early_requests": early,
        "estimate_seconds": None if estimate is None else round(estimate, 1),
        "estimate_ratio": None if ratio is None else round(ratio, 3),
        "estimate_basis": getattr(dry.summary, "estimate_basis", None),
        "live_summary_estimate_seconds": live.summary.estimate_seconds,
        "live_summary_actual_seconds": live.summary.actual_seconds,
        "writes_planned": dry.summary.writes_planned,
        "dry_seconds": round(dry_seconds, 2),
        "dry_reads": dry_reads,
        "dry_calls": dry_calls,
        "live_calls": live_calls,
        "first_write_at": timeline.first_write_at(),
        "last_read_at": timeline.last_read_at(),
        "stages": stages.marks,
        "timeline": timeline.samples,
        "exit_status": [int(warm.exit_status), int(dry.exit_status), int(live.exit_status)],
        "double_grades": doubles,
        "counts": dict(live.summary.counts),
        "load_after": load_now(),
    }


def run(
    keys: tuple[str, ...],
    *,
    size: str = "issue",
    writes_per_s: float = WRITES_PER_S,
    in_process: bool = False,
    folder: Path | None = None,
    write_check: bool = True,
) -> list[Scenario]:
    """The scenarios one after the other (never two at once: each would steal the other's
    cores), over ONE generated world so they differ only in headers and latency."""
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
            run_scenario(
                k,
                base,
                size=size,
                writes_per_s=writes_per_s,
                in_process=in_process,
                world=world,
                write_check=write_check,
            )
            for k in keys
        ]


def summary_table(scenarios: list[Scenario]) -> str:
    """One line per scenario: the figures issue 14 asks for, side by side."""
    head = (
        "scenario",
        "reads",
        "writes",
        "wall s",
        "seq bound",
        "max bound",
        "mode",
        "efficiency",
        "estimate",
        "est/actual",
        "429s",
        "early",
        "targets",
    )
    rows = [head]
    for s in scenarios:
        d = s.details
        checked = [f for f in s.figures if f.passed is not None]
        met = sum(1 for f in checked if f.passed)
        est = d["estimate_seconds"]
        rows.append(
            (
                s.name.split(":")[0],
                fmt(d["reads"]),
                fmt(d["writes"]),
                f"{d['wall_seconds']:.1f}",
                f"{d['sequential_bound_seconds']:.1f}",
                f"{d['overlap_bound_seconds']:.1f}",
                d["mode"],
                f"{d['efficiency']:.2f}",
                "-" if est is None else duration(est),
                "-" if d["estimate_ratio"] is None else f"{d['estimate_ratio']:.2f}x",
                f"{d['throttled']}/{d['requests']}",
                str(d["early_requests"]),
                f"{met}/{len(checked)}" + ("" if met == len(checked) else " FAIL"),
            )
        )
    return aligned(rows)


def main(argv: list[str] | None = None) -> int:
    from bench.common import table

    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_allowance",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--scenarios",
        default="all",
        help=f"comma-separated: {', '.join(SCENARIOS)}; 'all' or 'quick' ({', '.join(QUICK)})",
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
    keys = {"all": SCENARIOS, "quick": QUICK}.get(args.scenarios) or tuple(
        args.scenarios.split(",")
    )
    unknown = [k for k in keys if k not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}; choose from {', '.join(SCENARIOS)}")
    scenarios = run(
        keys,
        size=args.size,
        writes_per_s=args.writes_per_s,
        write_check=not args.no_write_check,
    )
    print(table(f for s in scenarios for f in s.figures))
    print()
    print(summary_table(scenarios))
    return 1 if any(f.passed is False for s in scenarios for f in s.figures) else 0


if __name__ == "__main__":
    raise SystemExit(main())
