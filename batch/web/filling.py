"""How the page shows a dry run while it fills: what it waits for, the time left, and how many
rows are still waiting for their learner's state.

A dry run decides the rows that need no learner state at once (file problems, unknown learners
or courses, duplicates) and the others as each learner's state arrives: from one of ALM's jobs
(the learner transcript, after the users export) or learner by learner. The job keeps the rows
in its row store as they are decided (``batch.jobs.engine``) and what it waits for in
``job.waiting`` (``batch.jobs.waiting``); this words them for the status line and the JSON.
"""

from __future__ import annotations

from typing import Any

from batch.jobs import Job
from batch.jobs.waiting import READS_STAGE, Waiting

LATE = "any moment now (ALM's job is taking longer than expected)"


def human_seconds(seconds: float | None) -> str:
    """``under a second``, ``42 s``, ``12 min``, ``2.5 h``: as precise as a person needs."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return "under a second"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def about(seconds: float | None) -> str:
    """``about 42 s``, ``under a second``: an estimate as a sentence says it."""
    text = human_seconds(seconds)
    return text if seconds is None or seconds < 1 else f"about {text}"


def time_left(wait: Waiting | None) -> str:
    """The time left for what the run waits for, as the status line says it ("" unknown)."""
    if wait is None or wait.eta_seconds is None:
        return ""
    if wait.on_job:
        return about(wait.eta_seconds) if wait.eta_seconds >= 1 else LATE
    return f"{about(wait.eta_seconds)} at the account's read limit"


def waiting_line(wait: Waiting | None) -> str:
    """What the run waits for, as a sentence ("Waiting for ALM's learner transcript job ...")."""
    if wait is None or not wait.message:
        return ""
    text = wait.message[0].upper() + wait.message[1:]
    return text if text.endswith(".") else text + "."


def filling(job: Job) -> dict[str, Any]:
    """The status JSON's fields of a run still reading learner state (empty values once it
    ended): ``waiting_for``, ``waiting_eta_seconds``, ``time_left``, ``rows_waiting``, and
    ``step``, the step the wait belongs to (a transcript job is the learner state step, though
    the last progress counted courses)."""
    wait = job.waiting.current() if not job.done else None
    eta = wait.eta_seconds if wait is not None else None
    step = "" if wait is None else "users" if wait.source == "users" else READS_STAGE
    return {
        "step": step,
        "waiting_for": waiting_line(wait),
        "waiting_eta_seconds": None if eta is None else round(eta, 1),
        "time_left": time_left(wait),
        "rows_waiting": job.progress.rows_waiting if not job.done else 0,
    }
