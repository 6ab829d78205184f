"""How many requests in flight a run needs at ALM's documented limits: pool size against time.

Run: ``.venv/bin/python -m bench.bench_pools`` (about 3 minutes on 2 cores) or ``--pools 4,8``.

The header set is the one ALM documents on every answer, ``x-rate-limit: 600r/m`` with
``x-burst: 10``, for reads, and the admin table's ``POST 30/min`` (burst 10) for writes; ALM
answers in 300-600 ms. The sandbox runs in its own process on a clock ``--time-scale`` times
faster than ALM's, and its latency is scaled the same way (30-60 ms at x10), so every ratio is
ALM's: a figure in ALM's time is the wall time times the scale. That holds only while the
client's own CPU stays a small share of the wall time: it is measured and printed.

Per pool size, on a fresh sandbox and state directory: a warm-up dry run (the users export,
the catalogue and the courses into the cache, ALM's allowance into ``allowance.json``, as a
second run on an account has them), then the measured run:
- ``dry``: a dry run of issue 14's file (600 rows, 524 learners: 564 learner-state reads);
- ``live``: a live run without confirmation (``--yes``) of a smaller file (150 rows, 120
  learners: about 280 writes, the first learner's grade probing the grade body alone).

Figures (in ALM's time): the calls per rate-limited endpoint, the minutes the run took, the
minutes those calls need at the header set's rates (burst included) and their ratio, the share
of the allowance used; 429s and requests sent before a retry-after had passed (target 0); the
client's CPU as a share of the wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from batch.jobs import Job, JobOptions
from batch.jobs.concurrency import DEFAULT_POOL
from batch.sandbox import SandboxConfig
from bench.bench_allowance import make_issue_world, out_of_the_box
from bench.common import (
    SandboxProcess,
    Scenario,
    Stopwatch,
    World,
    aligned,
    api_calls,
    diff_calls,
    fmt,
    load_now,
    table,
)

READS_PER_MINUTE, READ_BURST = 600.0, 10  # x-rate-limit: 600r/m, x-burst: 10
WRITES_PER_MINUTE, WRITE_BURST = 30.0, 10  # the admin table: POST 30/min, burst 10
LATENCY_MS = (300.0, 600.0)  # ALM's answer time, in ALM's milliseconds
HOURLY = ("GET /users", "GET /users/{id}", "GET /learningObjects", "GET /learningObjects/{id}")
CPU_SHARE = 0.25  # above this, the client's own time would distort the scaled figures
USED_TARGET = 0.9  # share of the allowance a run at the default pool size must use


@dataclass(frozen=True)
class Phase:
    name: str
    dry_run: bool
    scale: float
    size: tuple[int, int, int, int, int]  # rows, learners, courses, catalogue, paged


PHASES = {
    "dry": Phase("dry", True, 10.0, (600, 524, 40, 200, 40)),
    "live": Phase("live", False, 30.0, (150, 120, 20, 100, 10)),
}
TINY = (40, 30, 5, 30, 3)  # the smoke test's size, on a clock 10 times faster still


def buckets(calls: dict[str, int]) -> dict[str, int]:
    """Calls per rate-limited bucket of ALM's API (no token call, no file download)."""
    out = {"GET": 0, "POST": 0, "GET hourly (500/h)": 0}
    for endpoint, n in api_calls(calls).items():
        method, _, template = endpoint.partition(" ")
        if template.startswith("/_sandbox"):
            continue
        out["POST" if method == "POST" else "GET"] += n
        if endpoint in HOURLY:
            out["GET hourly (500/h)"] += n
    return out


def bound_seconds(counts: dict[str, int]) -> float:
    """The least time these calls take at the header set (ALM's seconds): each bucket grants
    its burst at once, then its rate."""
    reads = max(0, counts["GET"] - READ_BURST) * 60.0 / READS_PER_MINUTE
    writes = max(0, counts["POST"] - WRITE_BURST) * 60.0 / WRITES_PER_MINUTE
    return max(reads, writes)


@contextlib.contextmanager
def client_cpu() -> Iterator[list[float]]:
    """CPU seconds of this process (the client; the sandbox has its own) during the block."""
    out: list[float] = []
    start = time.process_time()
    try:
        yield out
    finally:
        out.append(time.process_time() - start)


def run_pool(phase: Phase, pool: int, world: World, folder: Path) -> Scenario:
    scenario = Scenario(
        f"pools {phase.name}, --concurrency {pool}",
        f".venv/bin/python -m bench.bench_pools --phases {phase.name} --pools {pool}",
    )
    low, high = LATENCY_MS
    config = SandboxConfig(
        time_scale=phase.scale,
        job_delay=1.0,
        get_per_minute=READS_PER_MINUTE,
        get_burst=READ_BURST,
        post_per_minute=WRITES_PER_MINUTE,
        post_burst=WRITE_BURST,
    )
    here = folder / f"{phase.name}-{pool}"
    with SandboxProcess(world.seed, here / "alm", config) as sb:
        settings = out_of_the_box(sb)

        def job(name: str, *, dry_run: bool, lookup: str = "auto") -> Job:
            options = JobOptions(
                path=world.path,
                dry_run=dry_run,
                state_dir=here / "state",
                report=here / f"{name}.report.csv",
                command="bench",
                user_lookup=lookup,
                concurrency=pool,
                state_source="per-learner",  # pools keep per-learner reads busy: measured
            )
            return Job(options, settings, confirm=None)

        warm = job("warm-up", dry_run=True, lookup="export").run()
        sb.configure(latency_ms=(low / phase.scale, high / phase.scale))
        before = sb.books()
        watch = Stopwatch()
        with client_cpu() as cpu:
            outcome = job(phase.name, dry_run=phase.dry_run).run()
        wall = watch.seconds
        after = sb.books()
    calls = diff_calls(after["calls"], before["calls"])
    counts = buckets(calls)
    minutes = wall * phase.scale / 60.0
    bound = bound_seconds(counts) / 60.0
    used = bound / minutes if minutes > 0 else 0.0
    throttled = int(after["throttled"]) - int(before["throttled"])
    early = int(after["early_requests"]) - int(before["early_requests"])
    cpu_share = cpu[0] / wall if wall > 0 else 0.0
    add = scenario.add
    add("calls GET / POST / GET hourly", " / ".join(fmt(n) for n in counts.values()))
    add("minutes in ALM's time", round(minutes, 2), note=f"wall {wall:.1f} s x{phase.scale:g}")
    add("minutes the calls need at the limits", round(bound, 2))
    if pool == DEFAULT_POOL:  # what a person gets without tuning must use the allowance
        add(
            "share of the allowance used",
            round(used, 3),
            f">= {USED_TARGET:g}",
            used >= USED_TARGET,
        )
    else:
        add("share of the allowance used", round(used, 3))
    add("429s", throttled)
    add("requests before a retry-after passed", early, "= 0", early == 0)
    add("client CPU / wall", round(cpu_share, 3), f"<= {CPU_SHARE:g}", cpu_share <= CPU_SHARE)
    add(
        "exit status warm-up / run",
        f"{int(warm.exit_status)} / {int(outcome.exit_status)}",
        "0 / 0",
        int(warm.exit_status) == 0 and int(outcome.exit_status) == 0,
    )
    scenario.details = {
        "phase": phase.name,
        "pool": pool,
        "time_scale": phase.scale,
        "latency_ms_alm": list(LATENCY_MS),
        "rows": world.rows,
        "learners": world.distinct_users,
        "calls": api_calls(calls),
        "buckets": counts,
        "wall_seconds": round(wall, 2),
        "alm_minutes": round(minutes, 3),
        "bound_minutes": round(bound, 3),
        "allowance_used": round(used, 3),
        "throttled": throttled,
        "early_requests": early,
        "client_cpu_seconds": round(cpu[0], 2),
        "load_after": load_now(),
    }
    return scenario


def run(
    phases: list[str], pools: list[int], folder: Path | None = None, *, tiny: bool = False
) -> list[Scenario]:
    """Every pool size of every phase, one after the other (never two at once)."""
    with tempfile.TemporaryDirectory(prefix="bench-pools-") as tmp:
        base = folder or Path(tmp)
        out = []
        for name in phases:
            phase = PHASES[name]
            if tiny:
                phase = replace(phase, size=TINY, scale=phase.scale * 10)
            rows, learners, courses, catalogue, paged = phase.size
            world = make_issue_world(
                base / f"world-{name}",
                rows=rows,
                learners=learners,
                courses=courses,
                catalogue=catalogue,
                paged=paged,
            )
            out.extend(run_pool(phase, pool, world, base) for pool in pools)
        return out


def summary(scenarios: list[Scenario]) -> str:
    head = (
        "phase",
        "pool",
        "GET/POST calls",
        "ALM min",
        "bound min",
        "used",
        "429",
        "early",
        "CPU",
    )
    rows = [head]
    for s in scenarios:
        d = s.details
        b = d["buckets"]
        rows.append(
            (
                d["phase"],
                str(d["pool"]),
                f"{b['GET']:,}/{b['POST']:,}",
                f"{d['alm_minutes']:.2f}",
                f"{d['bound_minutes']:.2f}",
                f"{d['allowance_used']:.0%}",
                str(d["throttled"]),
                str(d["early_requests"]),
                f"{d['client_cpu_seconds'] / max(d['wall_seconds'], 1e-9):.0%}",
            )
        )
    return aligned(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_pools",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--phases", default="dry,live", help="dry, live or both")
    parser.add_argument(
        "--pools", default="2,4,8,16", help=f"pool sizes (--concurrency; default {DEFAULT_POOL})"
    )
    args = parser.parse_args(argv)
    phases = [p for p in args.phases.split(",") if p]
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        parser.error(f"unknown phase {unknown[0]!r}; choose from {', '.join(PHASES)}")
    pools = [int(p) for p in args.pools.split(",") if p]
    scenarios = run(phases, pools)
    print(table(f for s in scenarios for f in s.figures))
    print()
    print(summary(scenarios))
    return 1 if any(f.passed is False for s in scenarios for f in s.figures) else 0


if __name__ == "__main__":
    raise SystemExit(main())
