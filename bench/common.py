"""Shared pieces of the benchmarks: figures and lines of the one table, worlds, the machine.

Why a module: every benchmark reports the same way so that ``python -m bench`` can print ONE
table (``bench.summary``) and write ``bench/results.json``. A run against ALM is a ``Line``: its
calls per rate-limited bucket, the time they take at ALM's documented limits (``bench.limits``,
never the time-scaled ones), what was measured in ALM's time and the targets it was checked
against (``Figure``s). A figure that is not a run (``Scenario.add``) prints as a line of text.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

from batch.sandbox import SandboxConfig, generate_completions, generate_seed
from batch.sandbox.seed import SeedData
from bench import limits

# Endpoints (as the sandbox's books name them) that resolve users, courses and the catalogue.
LOOKUP_ENDPOINTS = frozenset({
    "GET /users", "GET /users/{id}", "GET /learningObjects", "GET /learningObjects/{id}",
    "POST /jobs", "GET /jobs/{id}", "GET /_sandbox/downloads/{file}",
})  # fmt: skip
ENROLLMENT_READS = "GET /users/{id}/enrollments"
WRITE_ENDPOINTS = frozenset({"POST /users/{id}/enrollments", "POST /users/{id}/userModuleGrade"})


@dataclass
class Figure:
    """One line of the table. ``passed`` is None when the figure has no target."""

    scenario: str
    name: str
    value: Any
    target: str = ""
    passed: bool | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        return "" if self.passed is None else ("PASS" if self.passed else "FAIL")


@dataclass
class Line:
    """One line of the table: a run in what its user waits for, or a local cost.

    ``group`` is the file (or the setting) the line belongs to: lines print under it. A run
    against ALM has ``calls`` per endpoint (the sandbox's books) and ``limits_seconds``, the
    least time they take at ALM's documented limits; ``measured`` is what the run took in ALM's
    time (a time-scaled run: its network time times the scale, beside ``cpu_share``, the
    client's CPU over the wall time) or, for a local cost, in real seconds. ``checks`` are its
    targets.
    """

    group: str
    run: str
    calls: dict[str, int] | None = None
    limits_seconds: float | None = None
    binding: str = ""
    measured: str = ""
    used: float | None = None  # limits_seconds / the measured time in ALM's time
    estimate_ratio: float | None = None  # the dry run's estimate / the measured time
    throttled: int | None = None  # requests answered 429
    early: int | None = None  # requests sent before a retry-after had passed
    cpu_share: float | None = None
    local: bool = False  # a local cost (no ALM): printed after the runs
    checks: list[Figure] = field(default_factory=list)

    def check(
        self, name: str, value: Any, target: str, passed: bool | None, note: str = ""
    ) -> None:
        self.checks.append(Figure("", name, value, target, passed, note))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Scenario:
    """A benchmark's figures plus the command that reproduces them and its raw details."""

    name: str
    command: str
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    lines: list[Line] = field(default_factory=list)

    def add(
        self, name: str, value: Any, target: str = "", passed: bool | None = None, note: str = ""
    ) -> Figure:
        fig = Figure(self.name, name, value, target, passed, note)
        self.figures.append(fig)
        return fig

    def add_line(self, line: Line) -> Line:
        """A line of the table; its checks join the scenario's figures (the targets count)."""
        for check in line.checks:
            check.scenario = f"{line.group}: {line.run}"
        self.lines.append(line)
        self.figures.extend(line.checks)
        return line

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "command": self.command,
            "seconds": round(self.seconds, 1),
            "lines": [line.to_json() for line in self.lines],
            "figures": [asdict(f) for f in self.figures if not self._in_a_line(f)],
            "details": self.details,
        }

    def _in_a_line(self, figure: Figure) -> bool:
        return any(figure is c for line in self.lines for c in line.checks)


def fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value or math.isinf(value):
            return str(value)
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return str(value)


def table(figures: Iterable[Figure]) -> str:
    """The figures as one fixed-width table (scenario, figure, value, target, result)."""
    rows = [("scenario", "figure", "value", "target", "result")]
    rows += [
        (f.scenario, f.name + (f" ({f.note})" if f.note else ""), fmt(f.value), f.target, f.verdict)
        for f in figures
    ]
    return aligned(rows)


def aligned(rows: Sequence[tuple[str, ...]]) -> str:
    """Rows of text as fixed-width columns, the first row a heading underlined with dashes."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def duration(seconds: float) -> str:
    """Readable duration: 42 s, 7.5 min, 40.0 h, 3.2 days."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# --- ALM's documented limits (bench.limits), by the names the older figures use -----------------
_NAMED = {
    "GET": limits.GET,
    "POST": limits.POST,
    "GET /users (500/h)": limits.USERS,
    "GET /learningObjects (500/h)": limits.LEARNING_OBJECTS,
}


def real_buckets() -> dict[str, tuple[float, float]]:
    """Bucket -> (requests per second, burst) at ALM's documented admin limits (without the
    learningObject API's 15/min: ``bench.limits.at_limits`` counts that one too)."""
    return {name: (limit.per_second, limit.burst) for name, limit in _NAMED.items()}


def bucket_counts(calls: Mapping[str, int]) -> dict[str, int]:
    """Endpoint call counts -> how many tokens each documented bucket must grant."""
    counts = limits.per_bucket(calls)
    return {name: counts[limit.column] for name, limit in _NAMED.items()}


def time_at_real_limits(calls: Mapping[str, int]) -> tuple[float, str]:
    """Lower bound (seconds) on the time these calls take at ALM's documented limits, and the
    bucket that binds: each bucket grants its burst at once, then ``rate`` per second."""
    worst, name = 0.0, "-"
    for bucket, n in bucket_counts(calls).items():
        seconds = _NAMED[bucket].seconds(n)
        if seconds > worst:
            worst, name = seconds, bucket
    return worst, name


def lookups(calls: Mapping[str, int]) -> int:
    return sum(n for e, n in calls.items() if e in LOOKUP_ENDPOINTS)


def api_calls(calls: Mapping[str, int]) -> dict[str, int]:
    """Calls to ALM's API only (no OAuth token call, no sandbox harness), sorted by endpoint."""
    return {
        e: n
        for e, n in sorted(calls.items())
        if not e.split(" ", 1)[-1].startswith(("/oauth", "/_sandbox/books", "/_sandbox/con"))
    }


def diff_calls(after: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}


# --- generated worlds ---------------------------------------------------------------------------
@dataclass
class World:
    seed: SeedData
    path: Path
    rows: int
    distinct_users: int
    distinct_courses: int
    catalogue: int


def make_world(
    folder: Path,
    *,
    rows: int,
    distinct_users: int,
    distinct_courses: int,
    catalogue: int,
    users: int | None = None,
    random_seed: int = 7,
) -> World:
    """A seed with ``catalogue`` courses and enough users, plus a completions CSV over it."""
    folder.mkdir(parents=True, exist_ok=True)
    # ~3 % of generated users are suspended or deleted: leave room for the active ones.
    seed = generate_seed(
        users or int(distinct_users * 1.1) + 50, catalogue, random_seed=random_seed
    )
    path = generate_completions(
        seed,
        rows,
        distinct_users=distinct_users,
        distinct_courses=distinct_courses,
        path=folder / f"completions-{rows}.csv",
        random_seed=random_seed,
    )
    return World(seed, path, rows, distinct_users, distinct_courses, catalogue)


# --- machine ------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_1_5_15": [round(x, 2) for x in load],
    }


def load_now() -> float:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else 0.0


class LoadSampler:
    """The 1-minute load average every ``every`` seconds while a block runs: the machine's
    other work (other engineers share its cores) is part of every wall-time figure."""

    def __init__(self, every: float = 15.0) -> None:
        import threading

        self.samples: list[float] = [load_now()]
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-load", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self.samples.append(load_now())

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.samples.append(load_now())

    def summary(self) -> str:
        return f"{min(self.samples):g}-{max(self.samples):g} (median {median(self.samples):g})"


class Stopwatch:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.t0


def dump(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")


# --- a sandbox in its own process -----------------------------------------------------------------
class SandboxProcess:
    """``alm-batch sandbox`` in a child process: ALM's side gets its own core and GIL, as a
    remote ALM would, so a live benchmark measures the client, not two servers sharing one
    interpreter. Duck-types what ``settings_for_sandbox`` and the benchmarks read from
    ``Sandbox`` (``config``, ``credentials``, ``base_url``, ``books()``); the books come
    from the harness (``GET /_sandbox/books``). Stopped by its own pid only.
    """

    def __init__(
        self, seed: SeedData, folder: Path, config: SandboxConfig, start_timeout: float = 60.0
    ) -> None:
        import subprocess

        from batch.sandbox import save_seed

        folder.mkdir(parents=True, exist_ok=True)
        seed_file = save_seed(seed, folder / "alm_seed.json")
        self.config = config
        low, high = config.latency_ms
        cmd = [
            sys.executable,
            "-m",
            "batch",
            "sandbox",
            "--port",
            "0",
            "--seed",
            str(seed_file),
            "--time-scale",
            f"{config.time_scale:g}",
            "--latency-ms",
            f"{low:g},{high:g}",
        ]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        self.base_url = ""
        deadline = time.monotonic() + start_timeout
        assert self.proc.stdout is not None
        while not self.base_url and time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("export ALM_BASE_URL="):
                self.base_url = line.strip().split("=", 1)[1]
        if not self.base_url:
            self.stop()
            raise RuntimeError("the sandbox subprocess did not start")
        # The command line sets the clock and the latency; every other field of ``config``
        # that differs from the defaults (rates, bursts, job delay...) is set through the
        # harness before the first request, so the child behaves as ``Sandbox(config)`` would.
        defaults = SandboxConfig(time_scale=config.time_scale, latency_ms=config.latency_ms)
        changes = {f: v for f, v in config.to_json().items() if v != defaults.to_json()[f]}
        self.config = SandboxConfig(time_scale=config.time_scale, latency_ms=config.latency_ms)
        if changes:
            try:
                self.configure(**changes)
            except Exception:
                self.stop()
                raise
        c = SandboxConfig()
        self.credentials = {
            "client_id": c.client_id,
            "client_secret": c.client_secret,
            "refresh_token": c.refresh_token,
        }

    def books(self) -> dict[str, Any]:
        import requests

        return dict(requests.get(self.base_url + "/_sandbox/books", timeout=60).json())

    def configure(self, **changes: Any) -> SandboxConfig:
        """Change the child's config (``POST /_sandbox/config``), as ``Sandbox.configure`` does
        in-process: the CLI sets only the clock and latency, this sets every other knob (the
        per-verb rates and bursts of a header scenario). The new limits apply at once."""
        import requests

        answer = requests.post(self.base_url + "/_sandbox/config", json=changes, timeout=60)
        if answer.status_code != 200:
            raise RuntimeError(f"the sandbox refused config {sorted(changes)}: {answer.text}")
        self.config = self.config.updated(changes)
        return self.config

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except Exception:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
