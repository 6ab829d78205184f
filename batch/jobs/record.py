"""A job's record in its folder (``job.json``): written when it starts and as it goes.

A live run must never vanish: a page whose process dies (a crash, kill -9, out of memory) must
still list the run, say what it wrote and offer to run the rest. So the record is written
before the first row is read, again as stages change and at most every few seconds while
writes go, and at the end; the rows are recorded as they finish (``results.py``). While the job
runs, its thread holds an exclusive ``flock`` on ``.running`` in the folder: the OS drops it
when the process dies, so a record that says "running" whose lock is free was interrupted.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from batch.settings import PRIVATE_FILE, write_private_text

log = logging.getLogger(__name__)

RECORD_FILE = "job.json"
RECORD_FORMAT = "alm-batch job"
RECORD_VERSION = 1
RUNNING_FILE = ".running"
SAVE_EVERY_SECONDS = 2.0  # while writes go: the record is at most this old when a run dies


@dataclass
class Progress:
    """Where a job stands, as both front ends show it (updated from the job's own events)."""

    stage: str = ""
    stage_done: int = 0
    stage_total: int = 0
    rows_done: int = 0
    rows_total: int = 0
    writes_done: int = 0
    writes_total: int = 0
    writes_made: int = 0
    rate_per_s: float = 0.0
    eta_seconds: float | None = None
    throttled: int = 0
    elapsed: float = 0.0
    writes_answered: int = 0  # HTTP writes ALM answered
    writes_in_flight: int = 0  # sent, not yet answered
    rate_per_minute: float = 0.0  # writes answered per minute (the last minute)
    enrolled_not_graded: int = 0  # learners enrolled whose grades were not all sent
    cancel_requested: bool = False  # Cancel / Ctrl-C: nothing more is sent
    rows_waiting: int = 0  # a plan filling: rows still waiting for their learner's state

    @classmethod
    def from_json(cls, data: Any) -> Progress:
        if not isinstance(data, dict):
            return cls()
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


@dataclass
class JobRecord:
    """What ``job.json`` holds (see the module's docstring). ``summary`` is the report's
    summary (``summary_json``) once the job has one; ``columns`` and ``fields`` (field ->
    header) let the rows be shown and exported again after a restart."""

    state: str
    dry_run: bool
    run_id: str = ""
    input_path: str = ""
    state_dir: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # the shape options (shape_json)
    edits: list[dict[str, str]] = field(default_factory=list)  # EditLog.for_report()
    started_at: str = ""
    ended_at: str | None = None
    progress: Progress = field(default_factory=Progress)
    summary: dict[str, Any] | None = None
    exit_status: int | None = None
    error: str = ""
    aborted: str = ""  # why ALM (or the state directory) stopped the run, when it did
    cancelled: bool = False  # the confirmation was declined
    interrupted: bool = False  # cancelled mid-run (Ctrl-C, Cancel)
    columns: list[str] = field(default_factory=list)
    input_format: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    course_names: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"format": RECORD_FORMAT, "version": RECORD_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobRecord:
        known = {n: data[n] for n in cls.__dataclass_fields__ if n in data and n != "progress"}
        return cls(**known, progress=Progress.from_json(data.get("progress") or {}))


def save(folder: Path, record: JobRecord) -> None:
    """Write ``job.json`` (atomically, this user only). A record that cannot be written is
    logged, never raised: the run goes on, and the ledger still journals every write."""
    try:
        write_private_text(folder / RECORD_FILE, json.dumps(record.to_json(), default=str))
    except OSError as exc:
        log.warning("the job's record %s was not saved: %s", folder / RECORD_FILE, exc)


def load(folder: Path) -> dict[str, Any] | None:
    """``job.json`` as JSON, or None when it is missing or unreadable."""
    try:
        data = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_record(data: dict[str, Any]) -> bool:
    return data.get("format") == RECORD_FORMAT


class RunningMark:
    """``.running`` in a job's folder, locked while the job runs (see the module's docstring)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / RUNNING_FILE
        self._fd: int | None = None

    def hold(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            log.warning("the job's running mark %s is not held: %s", self.path, exc)
            return
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing drops the flock

    @staticmethod
    def held_elsewhere(folder: Path) -> bool:
        """True while some process (this one included) runs the job of ``folder``."""
        path = folder / RUNNING_FILE
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        return False


class Throttle:
    """At most one save every ``SAVE_EVERY_SECONDS`` (``due`` says when one is owed)."""

    def __init__(self, every: float = SAVE_EVERY_SECONDS) -> None:
        self.every = every
        self._last = 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            return True
        return False
