"""Fix in place: edit cells and leave rows out of a finished dry run, re-checking just those rows.

The file is never changed: the job's edit log (``edits.py``) grows, its options carry the edits
(``JobOptions.edits`` / ``exclude``), and the rows named are read, validated, resolved and
planned again with read-only calls (through the warm cache). The whole file is validated again
so a column's date order and duplicates stay decided across every row. The job's summary
follows: counts per status, rows, writes planned, the estimate, the edits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from batch.errors import UsageError
from batch.jobs.online import OnlineRun, offline_result
from batch.jobs.options import JobState
from batch.models import RowResult
from batch.settings import Settings

if TYPE_CHECKING:
    from batch.jobs.engine import Job


def recheck(job: Job, edits: dict[int, dict[str, str]], exclude: Iterable[int]) -> list[RowResult]:
    """``Job.recheck`` (see there)."""
    rows, summary = job.rows, job.summary
    if rows is None or summary is None or job.restored or job.state is not JobState.DONE:
        raise UsageError("Only a finished dry run that kept its rows can be re-checked.")
    if not summary.dry_run or job.live:
        raise UsageError("Rows can only be edited in a dry run; start a new dry run first.")
    edits = {int(row): dict(cells) for row, cells in edits.items()}
    dropped = {int(row) for row in exclude}
    stored = {row: rows.get(row) for row in set(edits) | dropped}
    unknown = sorted(row for row, found in stored.items() if found is None)
    if unknown:
        raise UsageError(f"No row {unknown[0]} in {job.options.path.name}.")
    log = job.edits
    for row, cells in edits.items():
        current = stored[row]
        assert current is not None
        for column, new in cells.items():
            log.change(row, column, current.result.values.get(column, ""), new)
        if row not in dropped:
            log.include(row)  # editing an excluded row brings it back
    for row in dropped:
        log.exclude(row)
        rows.exclude(row)
    job.options = replace(job.options, edits=log.cells(), exclude=frozenset(log.excluded))
    fresh: list[RowResult] = []
    if edits:
        table = job._open_table()
        job.table = table
        wanted = set(edits) - dropped
        checked = [c for c in job._rows_to_run(table, job.options.validation()) if c.row in wanted]
        if job.options.offline:
            fresh = [offline_result(c) for c in checked]
        else:
            settings = job._settings if job._settings is not None else Settings()
            fresh = OnlineRun(job, settings, table, summary).plan_only(checked)
        rows.put(fresh)
    _follow(job)
    job.save()
    return fresh


def _follow(job: Job) -> None:
    """The summary after a fix: counts, rows, writes planned (and the estimate with them)."""
    rows, summary = job.rows, job.summary
    assert rows is not None and summary is not None
    counts = Counter({status: n for status, n in rows.counts().items() if status != "excluded"})
    summary.counts = dict(counts)
    summary.rows = sum(counts.values())
    planned = rows.writes_planned()
    if summary.writes_planned and summary.estimate_seconds is not None:
        summary.estimate_seconds *= planned / summary.writes_planned
    summary.writes_planned = planned
    summary.edits = job.edits.for_report()
    job._touch()
