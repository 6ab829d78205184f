"""After a live run that stopped (Cancel, Ctrl-C, ALM stopped it, its process died): the run of
its remaining rows, with the same file, choices and edits, bound to the same confirmation.

- ``remaining_options``: the stopped run's options without the rows it finished (written,
  nothing to write, or a person's to fix); unsure writes are settled by reading ALM before
  anything is sent again, as in every live run;
- ``remaining_bound``: the confirmed plan of those rows, less the writes the ledger shows made
  (an enrollment that reached ALM before the stop): the remaining run's totals are what is
  left to send, and it sends nothing the person did not confirm.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from batch.confirmed import ConfirmedPlan, label_parts
from batch.errors import UsageError
from batch.jobs.options import JobOptions, JobState
from batch.ledger import LEDGER_NAME, Ledger, WriteKey, WriteKind, WriteState
from batch.settings import Settings, resolve_state_dir

if TYPE_CHECKING:
    from batch.jobs.engine import Job


def remaining_options(job: Job) -> JobOptions:
    if not job.live or not job.done or job.state is JobState.DONE:
        raise UsageError("Only a live run that was cancelled or interrupted has rows left.")
    finished = job.rows.finished_rows() if job.rows is not None else frozenset()
    return replace(
        job.options,
        skip_rows=frozenset(job.options.skip_rows or ()) | finished,
        folder=None,
        report=None,
    )


def remaining_bound(job: Job, settings: Settings | None = None) -> ConfirmedPlan | None:
    bound = job.bound
    if bound is None:
        return None
    finished = job.rows.finished_rows() if job.rows is not None else frozenset()
    rows = [row for row in bound.rows if row not in finished]
    settings = settings or job._settings or Settings()
    path = resolve_state_dir(job.options.state_dir, settings) / LEDGER_NAME
    if not path.exists():
        return bound.remaining(rows, lambda label: False)
    ledger = Ledger(path)
    try:

        def made(label: str) -> bool:
            kind, user, course, instance, module = label_parts(label)
            key = WriteKey(settings.base_url, WriteKind(kind), user, course, instance, module)
            entry = ledger.get(key)
            return entry is not None and entry.state is WriteState.DONE

        return bound.remaining(rows, made)
    finally:
        ledger.close()
