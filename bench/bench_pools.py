"""How many requests in flight a run needs at ALM's documented limits: pool size against time.

Run: ``.venv/bin/python -m bench.bench_pools`` (about 3 minutes on 2 cores) or ``--pools 4,8``.

The header set is the one ALM documents on every answer, ``x-rate-limit: 600r/m`` with
``x-burst: 10``, for reads, and the admin table's ``POST 30/min`` (burst 10) for writes; ALM
answers in 300-600 ms. The sandbox runs in its own process on a faster clock, its answer time
scaled the same way (``bench.runs``), so every figure is in ALM's time.

Per pool size, on a fresh sandbox and state directory: a first dry run (the users export, the
catalogue and the courses into the cache, ALM's allowance into ``allowance.json``, as a second
run on an account has them), then the measured run:
- ``dry``: a dry run of issue 14's file (600 rows, 524 learners: 564 learner-state reads), x10;
- ``live``: a live run without confirmation (``--yes``) of a smaller file (150 rows, 120
  learners: about 500 writes, the first learner's grade probing the grade body alone), x30.

Targets: the default pool uses at least 90 % of the allowance; and those of every run (no
request before a ``retry-after``, at most 1 % answered 429, the client's CPU at most 25 %).
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from batch.jobs.concurrency import DEFAULT_POOL
from bench import limits
from bench.bench_allowance import make_issue_world
from bench.common import SandboxProcess, Scenario, World, load_now
from bench.runs import alm_config, client_settings, job, measure, measured_line
from bench.summary import render

READS_PER_MINUTE, READ_BURST = 600.0, 10  # x-rate-limit: 600r/m, x-burst: 10
WRITES_PER_MINUTE, WRITE_BURST = 30.0, 10  # the admin table: POST 30/min, burst 10
IN_FORCE = limits.with_verbs(READS_PER_MINUTE, READ_BURST, WRITES_PER_MINUTE, WRITE_BURST)
GROUP = "pool sizes (--concurrency): reads at 600r/m, burst 10; writes at 30/min, burst 10"


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


def run_pool(phase: Phase, pool: int, world: World, folder: Path) -> Scenario:
    scenario = Scenario(
        f"pools {phase.name}, --concurrency {pool}",
        f".venv/bin/python -m bench.bench_pools --phases {phase.name} --pools {pool}",
    )
    config = alm_config(
        phase.scale,
        get_per_minute=READS_PER_MINUTE,
        get_burst=READ_BURST,
        post_per_minute=WRITES_PER_MINUTE,
        post_burst=WRITE_BURST,
    )
    here = folder / f"{phase.name}-{pool}"
    with SandboxProcess(world.seed, here / "alm", config) as sb:
        settings = client_settings(sb, phase.scale)
        first = job(settings, world.path, here, "first", dry_run=True, concurrency=pool).run()
        run = job(settings, world.path, here, phase.name, dry_run=phase.dry_run, concurrency=pool)
        measured = measure(sb, run, phase.scale, IN_FORCE)
    default = " (the default)" if pool == DEFAULT_POOL else ""
    line = measured_line(
        GROUP,
        f"{phase.name} run, {world.rows} rows, --concurrency {pool}{default}",
        measured,
        used_target=pool == DEFAULT_POOL,  # what a person gets without tuning
        binds_seconds=30.0,
    )
    line.check("first dry run", int(first.exit_status), "= 0", int(first.exit_status) == 0)
    scenario.add_line(line)
    scenario.details = {
        "phase": phase.name,
        "pool": pool,
        "rows": world.rows,
        "learners": world.distinct_users,
        "run": measured.to_json(),
        "load_after": load_now(),
    }
    return scenario


def run(
    phases: list[str], pools: list[int], folder: Path | None = None, *, tiny: bool = False
) -> list[Scenario]:
    """Every pool size of every phase, one after the other (never two at once)."""
    with tempfile.TemporaryDirectory(prefix="bench-pools-") as tmp:
        base = folder or Path(tmp)
        out: list[Scenario] = []
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
    print(render(scenarios))
    return 1 if any(f.passed is False for s in scenarios for f in s.figures) else 0


if __name__ == "__main__":
    raise SystemExit(main())
