"""Earlier live runs on a state directory, as the ledger recorded them (for a History view)."""

from __future__ import annotations

from pathlib import Path

from batch.ledger import LEDGER_NAME, RunRecord, list_runs, read_run


def live_runs(state_dir: Path, limit: int = 50) -> list[RunRecord]:
    """The newest ``limit`` live runs made with ``state_dir`` (by the CLI, a scheduler or the
    page), newest first, with their writes done / failed / unknown. Read-only."""
    return list_runs(state_dir / LEDGER_NAME, limit)


def live_run(state_dir: Path, run_id: str) -> RunRecord | None:
    """One live run with what its writes became (an interrupted run's counts: written, failed,
    unsure), or None when the ledger never recorded it (it died before its first write)."""
    return read_run(state_dir / LEDGER_NAME, run_id)
