"""The CLI's view of a job's events: a heartbeat line for schedulers, at most every 30 s."""

from __future__ import annotations

import io

from batch.cli import CliEnv, _Progress
from batch.jobs import StageProgress, WriteProgress


def write_event(done: int, eta: float | None = 95.0) -> WriteProgress:
    return WriteProgress(
        rows_done=done // 2,
        rows_total=500,
        writes_done=done,
        writes_total=1000,
        writes_made=done,
        rate_per_s=10.0,
        eta_seconds=eta,
        throttled=0,
        elapsed=done / 10.0,
    )


def test_without_a_terminal_a_heartbeat_line_at_most_every_30_seconds() -> None:
    err = io.StringIO()
    now = [0.0]
    progress = _Progress(
        CliEnv(stderr=err, interactive=False), bars=False, heartbeat=30.0, clock=lambda: now[0]
    )
    for t, done in ((1, 10), (10, 100), (31, 310), (40, 400), (62, 620)):
        now[0] = float(t)
        progress(write_event(done))
    lines = err.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(
        "progress: rows 155 of 500, writes 310 of 1,000 (10.0/s), about 1 min 35 s left"
    )
    assert lines[0].startswith("[") and "] progress:" in lines[0]  # a timestamp first
    assert "writes 620 of 1,000" in lines[1]


def test_lookups_beat_too_and_a_terminal_or_quiet_run_gets_no_heartbeat() -> None:
    err = io.StringIO()
    now = [100.0]
    beating = _Progress(
        CliEnv(stderr=err, interactive=False), bars=False, heartbeat=30.0, clock=lambda: now[0]
    )
    now[0] = 131.0
    beating(StageProgress("learner state", 40, 524))
    assert err.getvalue().rstrip().endswith("progress: learner state: 40 of 524")
    silent_err = io.StringIO()
    silent = _Progress(CliEnv(stderr=silent_err), bars=False, heartbeat=None)
    silent(write_event(10))
    silent(StageProgress("learner state", 1, 2))
    assert silent_err.getvalue() == ""
