"""The account's jobs: a daily quota per job type, one job at a time, expiring file links.

alm-api.md §2 and §12: about five jobs of one type a day, no new job while one runs, and the
file behind a pre-signed storage URL that expires (6 hours to 7 days in Adobe's notes). All on
the sandbox clock. The file is built when the job is submitted (``Job.content``), from the state
it reflects, so nothing written later leaks into it. A link is minted each time a finished job is
read; an expired one answers 403 like S3, and reading the job again gives a fresh one.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SANDBOX_DAY = 86400.0


@dataclass(slots=True)
class Job:
    id: str
    job_type: str
    description: str
    payload: dict[str, Any]
    submitted: float  # sandbox clock
    ready: float  # sandbox clock when the file is done
    date_created: datetime
    content: bytes
    failed: bool = False

    def phase(self, now: float) -> str:
        """queued (the first half of the generation), running, done."""
        if now >= self.ready:
            return "done"
        return "running" if now - self.submitted >= (self.ready - self.submitted) / 2 else "queued"


class Refused(Exception):
    """A submission the account cannot take now: ``reason`` quota or busy."""

    def __init__(self, reason: str, detail: str, wait: float) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.wait = wait  # sandbox seconds until a submission could succeed


class JobStore:
    """Submitted jobs and their links, behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._links: dict[str, tuple[str, float]] = {}  # token -> (job id, expires)
        self._next = 4200001

    def submit(
        self,
        job_type: str,
        *,
        description: str,
        payload: dict[str, Any],
        now: float,
        delay: float,
        quota: int,
        one_at_a_time: str,
        build: Callable[[], bytes],
        failed: bool,
        created: datetime,
    ) -> Job:
        """Accept a job, or raise ``Refused`` (the daily quota, or a job still running)."""
        with self._lock:
            today = sorted(
                j.submitted
                for j in self._jobs.values()
                if j.job_type == job_type and now - j.submitted < SANDBOX_DAY
            )
            if len(today) >= quota:
                raise Refused(
                    "quota",
                    f"daily limit reached: {quota} jobs of type {job_type} per day",
                    (today[0] + SANDBOX_DAY - now) if today else SANDBOX_DAY,  # quota 0: a day
                )
            running = [
                j
                for j in self._jobs.values()
                if j.ready > now and (one_at_a_time == "account" or j.job_type == job_type)
            ]
            if running and one_at_a_time != "off":
                first = min(running, key=lambda j: j.ready)
                raise Refused(
                    "busy",
                    f"job {first.id} ({first.job_type}) is still running; submit again when it "
                    "has completed",
                    first.ready - now,
                )
            job = Job(
                id=str(self._next),
                job_type=job_type,
                description=description,
                payload=payload,
                submitted=now,
                ready=now + delay,
                date_created=created,
                content=build(),
                failed=failed,
            )
            self._next += 1
            self._jobs[job.id] = job
            return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def sign(self, job_id: str, now: float, ttl: float) -> tuple[str, float]:
        """A fresh link token for the job's file and the sandbox moment it expires."""
        with self._lock:
            for token, (_, expires) in list(self._links.items()):
                if expires + SANDBOX_DAY < now:  # long dead: forget it
                    del self._links[token]
            token = secrets.token_hex(16)
            self._links[token] = (job_id, now + ttl)
            return token, now + ttl

    def check(self, token: str | None, job_id: str, now: float) -> str:
        """ok, expired or invalid (no such token, or one for another job)."""
        with self._lock:
            found = self._links.get(token or "")
        if found is None or found[0] != job_id:
            return "invalid"
        return "ok" if now < found[1] else "expired"
