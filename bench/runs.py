"""Runs of the job engine against the sandbox, measured in ALM's time.

The sandbox runs in its own process (``SandboxProcess``: ALM's side has its own core and its
CPU is not the client's) on a clock ``scale`` times faster than ALM's, with ALM's documented
limits (``alm_config``: the admin table, 500/h on ``GET /users``, and Adobe's 15/min for the
learningObject API, the stricter of its two quotes for every file measured here) and ALM's
answer times (300-600 ms), scaled the same way. So every ratio is ALM's: a run's network time
times the scale is its time at ALM. That holds while the client's own CPU stays a small share
of the wall time, so it is measured beside every time-scaled figure (``Measured.cpu_share``).

The local part of a run (reading the file before the first call, writing the report after the
last) is measured apart and counted in real seconds, as a person would wait for it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch.demo import settings_for_sandbox
from batch.jobs import Job, JobEvent, JobOptions, JobOutcome, StageFinished, StageStarted
from batch.sandbox import SandboxConfig
from batch.settings import Settings
from bench import limits
from bench.common import Line, api_calls, diff_calls, duration
from bench.summary import CPU_TRUSTED

ALM_LATENCY_MS = (300.0, 600.0)  # ALM's answer time, in ALM's milliseconds
THROTTLED_SHARE = 0.01  # at most this share of a run's requests answered 429
USED_TARGET = 0.9  # share of the allowance a run must use where the limits bind
ESTIMATE_TOLERANCE = 0.10  # the dry run's estimate within this of the live run's time
BINDS_SECONDS = 300.0  # the allowance "binds" a run whose calls need at least 5 ALM minutes


def alm_config(scale: float, **changes: Any) -> SandboxConfig:
    """ALM's documented limits and answer times on a clock ``scale`` times faster than ALM's.
    The learningObject bucket is Adobe's 15/min (burst 15): for up to about 200 calls (every
    file here) it binds before the 500/h does; the sandbox keeps one bucket per endpoint."""
    low, high = ALM_LATENCY_MS
    values: dict[str, Any] = {
        "time_scale": scale,
        "latency_ms": (low / scale, high / scale),
        "lo_per_hour": limits.LO_API.per_second * 3600,
        "lo_burst": int(limits.LO_API.burst),
    }
    values.update(changes)
    return SandboxConfig(**values)


def client_settings(sandbox: Any, scale: float) -> Settings:
    """The tool's out-of-the-box settings, in the sandbox's time: its default rates (which pace
    it until ALM's headers say otherwise) times ``scale``, its default bursts. ``GET /users``
    stays at ALM's real 500 an hour: the resolver chooses between per-email lookups and the
    users export by it, and must choose as it would against ALM."""
    defaults = Settings.model_fields
    return settings_for_sandbox(
        sandbox,
        get_per_minute=defaults["get_per_minute"].default * scale,
        get_burst=defaults["get_burst"].default,
        post_per_minute=defaults["post_per_minute"].default * scale,
        post_burst=defaults["post_burst"].default,
        users_get_per_hour=defaults["users_get_per_hour"].default,
        lo_get_per_hour=defaults["lo_get_per_hour"].default * scale,
    )


def job(
    settings: Settings,
    path: Path,
    folder: Path,
    name: str,
    *,
    dry_run: bool,
    concurrency: int | None = None,
    state_source: str = "per-learner",
) -> Job:
    """A run as a person starts it with ``--yes`` (nobody confirms; a live run writes for each
    learner as soon as their state is read), its state directory ``folder/state``, its report
    ``folder/<name>.report.csv``. Every benchmark's runs are made here, so an option every run
    should take is set once. Learner state is read one learner at a time (``state_source``):
    these runs measure the pacing of those reads; ``bench_transcript`` measures the dry run that
    reads every learner's state from one Learner Transcript job instead."""
    options = JobOptions(
        path=path,
        dry_run=dry_run,
        state_dir=folder / "state",
        report=folder / f"{name}.report.csv",
        command="bench",
        concurrency=concurrency,
        state_source=state_source,
    )
    return Job(options, settings, confirm=None)


class StageClock:
    """When the job finished reading its file and when it started its report: the network
    part of a run lies between (job events arrive from the job's threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.read_done: float | None = None
        self.report_started: float | None = None

    def __call__(self, event: JobEvent) -> None:
        now = time.perf_counter()
        with self._lock:
            if isinstance(event, StageFinished) and event.stage == "read":
                self.read_done = self.read_done or now
            elif isinstance(event, StageStarted) and event.stage == "report":
                self.report_started = self.report_started or now


@dataclass
class Measured:
    """One job run against the sandbox: its calls (the books), times and CPU."""

    scale: float
    wall: float  # real seconds, the whole job
    network: float  # real seconds from the end of reading the file to the start of the report
    cpu: float  # CPU seconds of this process (the client) during the run
    calls: dict[str, int]
    jobs: dict[str, int]  # ALM jobs submitted, by type
    throttled: int
    early: int
    double_grades: int
    outcome: JobOutcome
    books: dict[str, Any]  # the books after the run
    limits_in_force: tuple[limits.Limit, ...] = limits.LIMITS  # the sandbox's header set

    @property
    def alm_seconds(self) -> float:
        """The run in ALM's time: its network part times the scale, its local part as is."""
        return self.network * self.scale + (self.wall - self.network)

    @property
    def cpu_share(self) -> float:
        return self.cpu / self.wall if self.wall > 0 else 0.0

    @property
    def trusted(self) -> bool:
        return self.cpu_share <= CPU_TRUSTED

    @property
    def requests(self) -> int:
        return sum(n for e, n in self.calls.items() if limits.limited(e))

    def limits(self) -> tuple[float, str]:
        return limits.at_limits(self.calls, self.jobs, self.limits_in_force)

    def to_json(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "wall_seconds": round(self.wall, 2),
            "network_seconds": round(self.network, 2),
            "alm_seconds": round(self.alm_seconds, 1),
            "cpu_seconds": round(self.cpu, 2),
            "cpu_share": round(self.cpu_share, 3),
            "calls": self.calls,
            "jobs": self.jobs,
            "throttled": self.throttled,
            "early_requests": self.early,
            "double_grades": self.double_grades,
            "exit_status": int(self.outcome.exit_status),
            "counts": dict(self.outcome.summary.counts),
            "writes_planned": self.outcome.summary.writes_planned,
            "writes_made": self.outcome.summary.writes_made,
            "estimate_seconds": self.outcome.summary.estimate_seconds,
            "estimate_basis": self.outcome.summary.estimate_basis,
        }


def measure(
    sandbox: Any, job: Job, scale: float, in_force: tuple[limits.Limit, ...] = limits.LIMITS
) -> Measured:
    """Run ``job`` against ``sandbox`` (a ``SandboxProcess`` on a clock ``scale`` times ALM's,
    enforcing ``in_force``) and measure it from the sandbox's books and the job's events."""
    clock = StageClock()
    job.subscribe(clock)
    before = sandbox.books()
    cpu0, start = time.process_time(), time.perf_counter()
    outcome = job.run()
    end = time.perf_counter()
    cpu = time.process_time() - cpu0
    after = sandbox.books()
    first = clock.read_done or start
    last = clock.report_started or end
    jobs = diff_calls(after.get("jobs_submitted", {}), before.get("jobs_submitted", {}))
    return Measured(
        scale=scale,
        wall=end - start,
        network=max(0.0, last - first),
        cpu=cpu,
        calls=api_calls(diff_calls(after["calls"], before["calls"])),
        jobs=jobs,
        throttled=int(after["throttled"]) - int(before["throttled"]),
        early=int(after["early_requests"]) - int(before["early_requests"]),
        double_grades=int(after["double_grades"]) - int(before["double_grades"]),
        outcome=outcome,
        books=after,
        limits_in_force=in_force,
    )


def measured_line(
    group: str,
    run: str,
    m: Measured,
    *,
    estimate_seconds: float | None = None,
    exit_status: int = 0,
    used_target: bool = True,
    binds_seconds: float = BINDS_SECONDS,
) -> Line:
    """The table's line for a measured run, with the targets every run has: exit status, no
    request before a retry-after, few 429s, the client's CPU a small share; where the limits
    bind (and ``used_target``), the share of the allowance used; with ``estimate_seconds``
    (the dry run's estimate of this run, in ALM's seconds), the estimate against the time
    measured. A time-scaled figure is not judged when the client's CPU share is too high."""
    seconds, binding = m.limits()
    alm = m.alm_seconds
    ratio = estimate_seconds / alm if estimate_seconds is not None and alm > 0 else None
    line = Line(
        group,
        run,
        calls=m.calls,
        limits_seconds=seconds,
        binding=binding,
        measured=f"{duration(alm)} x{m.scale:g}",
        used=seconds / alm if seconds > 0 and alm > 0 else None,
        estimate_ratio=ratio,
        throttled=m.throttled,
        early=m.early,
        cpu_share=m.cpu_share,
    )
    status = int(m.outcome.exit_status)
    line.check("exit status", status, f"= {exit_status}", status == exit_status)
    line.check("early requests", m.early, "= 0", m.early == 0)
    line.check(
        "429s",
        f"{m.throttled} of {m.requests}",
        f"<= {THROTTLED_SHARE:.0%}",
        m.throttled <= THROTTLED_SHARE * m.requests,
    )
    line.check("client CPU", f"{m.cpu_share:.0%}", f"<= {CPU_TRUSTED:.0%}", m.trusted)
    untrusted = "" if m.trusted else f"not trusted: client CPU {m.cpu_share:.0%}"
    if used_target and seconds >= binds_seconds and line.used is not None:
        line.check(
            "allowance used",
            f"{line.used:.0%}",
            f">= {USED_TARGET:.0%}",
            line.used >= USED_TARGET if m.trusted else None,
            untrusted,
        )
    if ratio is not None:
        line.check(
            "estimate / actual",
            f"{ratio:.2f}",
            f"within {ESTIMATE_TOLERANCE:.0%}",
            abs(ratio - 1) <= ESTIMATE_TOLERANCE if m.trusted else None,
            untrusted,
        )
    return line


def alm_estimate(outcome: JobOutcome, scale: float) -> float | None:
    """The dry run's estimate of the live run in ALM's seconds (the sandbox states its
    allowance in real time, so the client's estimate is in real seconds: times the scale)."""
    estimate = outcome.summary.estimate_seconds
    return None if estimate is None else estimate * scale
