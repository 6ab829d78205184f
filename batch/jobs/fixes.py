"""Fix in place: edit cells and leave rows out of a finished dry run, re-deciding every row the
change can touch.

The file is never changed: the job's edit log (``edits.py``) grows, its options carry the edits
(``JobOptions.edits`` / ``exclude``), and the whole file is validated again (a column's date
order and duplicates stay decided across every row).

After every fix, every row's status is what the live run will do. A row's outcome can hang on
another row of the same learner: a duplicate repeats an earlier row (same learner and course,
or the same modules after resolution), a program row leaves out the courses other rows grade,
a learner's enrollment is planned by the first of its rows. So the rows re-planned are the
changed rows and every row of the learners they name, before and after the change, in file
order, from what the dry run already read (``job.lookups``: no new read from ALM beyond a
learner or course a changed cell names for the first time). The rows whose outcome changed
because of the fix are listed (``Job.last_fix``) and the page says which.

The rule for a duplicate whose first row is excluded (or edited to another learner or course):
it becomes the row that is posted, as it would if the first row were not in the file. Its
message says so before the confirmation; excluding it too leaves the learner and course out.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from batch.errors import UsageError
from batch.jobs.online import OnlineRun, offline_result
from batch.jobs.options import JobState
from batch.models import CheckedRow, RowResult, RowStatus, email_key
from batch.reader import Table
from batch.settings import Settings
from batch.validate import ValidationOptions, decide_date_orders
from batch.validation.scores import decide_score_scale

if TYPE_CHECKING:
    from batch.jobs.engine import Job

_DUPLICATE_OF = re.compile(r"Duplicate of row (\d+)")


@dataclass(frozen=True, slots=True)
class Knock:
    """A row re-decided because another row changed."""

    row: int
    was: str  # its status before the fix
    now: str  # its status after it
    writes_was: int
    writes_now: int

    def describe(self) -> str:
        was, now = self.was.replace("_", " "), self.now.replace("_", " ")
        if was == now:  # the same outcome with other writes (another date or score, ...)
            return f"row {self.row} (still {now}, with other writes)"
        return f"row {self.row} ({was} -> {now})"


@dataclass(slots=True)
class Fix:
    """What the last fix did: the rows the person changed and the rows it re-decided."""

    edited: list[int] = field(default_factory=list)
    excluded: list[int] = field(default_factory=list)
    included: list[int] = field(default_factory=list)
    knocked: list[Knock] = field(default_factory=list)
    # The file-wide decisions after the fix (each date column's order, the score scale): a fix
    # that changes one (a date that makes a column read the other way) re-decides every row.
    decisions: tuple[object, ...] = ()

    def sentence(self) -> str:
        """What the page says after the fix."""
        parts = []
        for rows, verb in (
            (self.excluded, "Excluded"),
            (self.included, "Brought back"),
            (self.edited, "Re-checked"),
        ):
            if rows:
                parts.append(f"{verb} row{'s' if len(rows) > 1 else ''} {_rows(rows)}.")
        if not self.knocked:
            return " ".join(parts + ["No other row changed because of it."])
        shown = ", ".join(k.describe() for k in self.knocked[:10])
        more = f" and {len(self.knocked) - 10} more" if len(self.knocked) > 10 else ""
        parts.append(f"Also re-decided because of it: {shown}{more}.")
        promoted = [k.row for k in self.knocked if k.was == RowStatus.DUPLICATE.value]
        if promoted:
            parts.append(
                f"A duplicate whose first row is out of the run becomes the row that is posted "
                f"(row {_rows(promoted)}); exclude it too to leave that learner and course out."
            )
        return " ".join(parts)


def _rows(rows: list[int]) -> str:
    return ", ".join(str(r) for r in sorted(rows))


def recheck(job: Job, edits: dict[int, dict[str, str]], exclude: Iterable[int]) -> list[RowResult]:
    """``Job.recheck`` (see there)."""
    rows, summary = job.rows, job.summary
    if rows is None or summary is None or job.restored or job.state is not JobState.DONE:
        raise UsageError("Only a finished dry run that kept its rows can be re-checked.")
    if not summary.dry_run or job.live:
        raise UsageError("Rows can only be edited in a dry run; start a new dry run first.")
    edits = {int(row): dict(cells) for row, cells in edits.items()}
    dropped = {int(row) for row in exclude}
    with job.fix_lock:  # one fix at a time: each re-decides from the one before
        return _recheck(job, edits, dropped)


def _recheck(job: Job, edits: dict[int, dict[str, str]], dropped: set[int]) -> list[RowResult]:
    rows, summary = job.rows, job.summary
    assert rows is not None and summary is not None
    stored = {row: rows.get(row) for row in set(edits) | dropped}
    unknown = sorted(row for row, found in stored.items() if found is None)
    if unknown:
        raise UsageError(f"No row {unknown[0]} in {job.options.path.name}.")
    email_header = rows.fields.get("email", "")
    log = job.edits
    fix = Fix(excluded=sorted(dropped - log.excluded))
    learners: set[str] = set()  # the learners the changed rows name, before and after
    for row, found in stored.items():
        assert found is not None
        values = found.result.values
        learners.add(email_key(values.get(email_header, "")))
        for column, new in edits.get(row, {}).items():
            log.change(row, column, values.get(column, ""), new)
            if column == email_header:
                learners.add(email_key(new))
        if row in edits and row not in dropped:
            if row in log.excluded:
                fix.included.append(row)
            elif edits[row]:
                fix.edited.append(row)
            log.include(row)  # editing an excluded row brings it back
    for row in dropped:
        log.exclude(row)
        rows.exclude(row)
    validation = job.options.validation()
    decided = job.last_fix.decisions if job.last_fix is not None else ()
    if not decided and job.table is not None:
        decided = _decisions(job.table, validation)
    job.options = replace(job.options, edits=log.cells(), exclude=frozenset(log.excluded))
    table = job._open_table()
    job.table = table
    fix.decisions = _decisions(table, validation)
    everyone = fix.decisions != decided  # a column now reads otherwise: every row may change
    changed = (set(edits) | dropped) - log.excluded
    affected = [
        c
        for c in job._rows_to_run(table, validation)
        if everyone or c.row in changed or _learner(c) in learners
    ]
    if job.options.offline:
        fresh = [offline_result(c) for c in affected]
    else:
        settings = job._settings if job._settings is not None else Settings()
        fresh = OnlineRun(job, settings, table, summary).plan_only(affected)
    for result in fresh:
        if result.row in changed:
            continue
        before = rows.get(result.row)
        if before is None or before.excluded:
            continue
        old = before.result
        if old.status is result.status and old.planned_writes == result.planned_writes:
            continue
        if old.status is RowStatus.DUPLICATE:
            result.message = _promoted(result, old.message)
        fix.knocked.append(
            Knock(result.row, old.status.value, result.status.value,
                  old.writes_planned, result.writes_planned)
        )  # fmt: skip
    rows.put(fresh)
    job.last_fix = fix
    _follow(job)
    job.save()
    return [r for r in fresh if r.row in changed]


def _decisions(table: Table, options: ValidationOptions) -> tuple[object, ...]:
    """What the whole file decides for every row: each date column's day/month order and the
    score columns read as fractions."""
    orders = decide_date_orders(table, options)
    scale = decide_score_scale(table, options.score_scale, table.path.name)
    return tuple(sorted(orders.items())), tuple(sorted(scale))


def _learner(checked: CheckedRow) -> str:
    if checked.completion is not None:
        return checked.completion.email_key
    return email_key(checked.input.fields.get("email", ""))


def _promoted(result: RowResult, old_message: str) -> str:
    """A duplicate whose first row left the run (excluded, or edited to another learner or
    course) is decided on its own now: its message says so."""
    found = _DUPLICATE_OF.search(old_message)
    first = f"row {found.group(1)}" if found else "the row it repeated"
    if result.status is RowStatus.WOULD_COMPLETE:
        note = (
            f"It repeated {first}, which is no longer in the run as it was: this row is now the "
            "one posted (exclude it too to leave this learner and course out)."
        )
    else:
        note = f"It repeated {first}, which is no longer in the run as it was."
    return f"{result.message} {note}".strip()


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
