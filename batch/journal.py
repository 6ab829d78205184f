"""Journal this run's writes: the one owner of the ledger while a job runs.

The ledger (``ledger.py``) is the storage: a SQLite journal of every write and every run. The
``Journal`` is what a run does with it, in one place:

- ``open``: the ledger of the state directory, for this run (a dry run opens it only when one
  exists, and never writes to it);
- ``drop_done_writes(plan)``: take out of a plan (the whole plan, or one learner's rows as they
  are planned) the writes an earlier run already made (``apply_ledger``);
- ``close_completed(plan)``: journal entries left open (a run killed between a write and its
  answer) for courses the plan's own read shows completed in ALM are closed as done;
- ``start`` / ``end``: the run's record, written when it starts (so a run that dies is still
  listed, with what it wrote) and when it ends;
- the executor journals each write through ``journal.ledger`` (pending before the send, the
  outcome after it).

A journal that cannot be written (disk full) raises ``StateWriteFailed`` from the write that
failed; ``end`` only warns, since the writes themselves are journaled already.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from batch.errors import StateWriteFailed
from batch.ledger import (
    LEDGER_NAME,
    Ledger,
    LedgerEntry,
    WriteKey,
    WriteState,
    already_posted_message,
)
from batch.models import RowStatus
from batch.plan import Plan
from batch.programs import ProgramPlan

log = logging.getLogger(__name__)

__all__ = ["Journal", "apply_ledger", "close_entries_alm_shows_complete"]


class Journal:
    """The ledger as one run uses it (see the module's docstring)."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        base_url: str,
        run_id: str,
        input_sha256: str = "",
        overwrite: bool = False,
    ) -> None:
        self.ledger = ledger
        self.base_url = base_url
        self.run_id = run_id
        self.input_sha256 = input_sha256
        self.overwrite = overwrite

    @classmethod
    def open(
        cls,
        state_dir: Path,
        *,
        base_url: str,
        run_id: str,
        input_sha256: str = "",
        overwrite: bool = False,
        create: bool = True,
    ) -> Journal | None:
        """The journal of ``state_dir``'s ledger; None when there is none and ``create`` is
        False (a dry run on a new state directory has no earlier writes to take out)."""
        path = state_dir / LEDGER_NAME
        if not create and not path.exists():
            return None
        return cls(
            Ledger(path),
            base_url=base_url,
            run_id=run_id,
            input_sha256=input_sha256,
            overwrite=overwrite,
        )

    @property
    def warnings(self) -> list[str]:
        return self.ledger.warnings

    def start(self, *, input_path: str, options: dict[str, Any]) -> None:
        """Record the run before its first write: a run that dies is still listed."""
        self.ledger.start_run(
            self.run_id, input_path=input_path, input_sha256=self.input_sha256, options=options
        )

    def drop_done_writes(self, plan: Plan) -> None:
        apply_ledger(plan, self.ledger, self.base_url, overwrite=self.overwrite)

    def close_completed(self, plan: Plan) -> int:
        return close_entries_alm_shows_complete(plan, self.ledger, self.base_url, self.run_id)

    def prepare_learner(self, plan: Plan) -> None:
        """One learner's rows, planned just now, before any of their writes is queued."""
        self.drop_done_writes(plan)
        self.close_completed(plan)

    def end(self, exit_status: int) -> None:
        try:
            self.ledger.end_run(self.run_id, exit_status)
        except StateWriteFailed:  # the writes are journaled; only the run's end is missing
            log.warning("the end of run %s is not in the ledger either", self.run_id)

    def close(self) -> None:
        self.ledger.close()


def apply_ledger(plan: Plan, ledger: Ledger, base_url: str, *, overwrite: bool) -> None:
    """Take out of ``plan`` the writes an earlier run already made (used by dry and live runs).

    A row whose every planned grade is ``done`` becomes ALREADY_COMPLETED ("Already posted by
    run <id> on <date>; not posted again.", naming the latest run involved); a partly done row
    keeps only the grades still needed, and drops its enrollment when the ledger (or a done
    grade of the same course) shows the learner enrolled. ``overwrite`` skips nothing: the
    user asked to re-post on purpose. Pending/unknown/failed entries stay planned: the executor
    settles them by reading ALM before any re-send.
    """
    if overwrite:
        return
    rows = [r for r in plan.rows if r.status is RowStatus.WOULD_COMPLETE]
    if not rows:
        return
    entries = ledger.for_users(base_url, (r.user_id for r in rows))
    if not entries:
        return
    for rp in rows:
        done: list[LedgerEntry] = []
        remaining = []
        for grade in rp.grades:
            entry = entries.get(WriteKey.for_grade(base_url, grade))
            if entry is not None and entry.state is WriteState.DONE:
                done.append(entry)
            else:
                remaining.append(grade)
        enroll_entry = entries.get(
            WriteKey.for_enroll(base_url, rp.user_id, rp.course_id, rp.instance_id)
        )
        if rp.enroll and (
            done or (enroll_entry is not None and enroll_entry.state is WriteState.DONE)
        ):
            rp.enroll = False
        if rp.program is not None:
            _drop_enrolled_courses(rp.program, entries, base_url, rp.user_id)
        if done and not remaining:
            latest = max(done, key=lambda e: e.done_at or e.updated_at)
            rp.status = RowStatus.ALREADY_COMPLETED
            rp.message = already_posted_message(latest)
            rp.grades = []
            rp.enroll = False
            if rp.program is not None:
                rp.program.course_enrolls = []
        else:
            rp.grades = remaining


def _drop_enrolled_courses(
    program: ProgramPlan, entries: dict[WriteKey, LedgerEntry], base_url: str, user_id: str
) -> None:
    """A program row's enrollments in its courses that an earlier run already made."""

    def made(course_id: str, instance_id: str) -> bool:
        entry = entries.get(WriteKey.for_enroll(base_url, user_id, course_id, instance_id))
        return entry is not None and entry.state is WriteState.DONE

    program.course_enrolls = [ce for ce in program.course_enrolls if not made(*ce)]


def close_entries_alm_shows_complete(plan: Plan, ledger: Ledger, base_url: str, run_id: str) -> int:
    """Settle open journal entries of courses ALM already shows completed.

    A run killed right after a row's last grade was accepted leaves that grade ``pending``; the
    next plan (which read the learner's enrollments) then finds the course COMPLETED and never
    schedules the row, so nothing else would ever settle the entry. The plan's own read is the
    proof: the entries are closed as done. Returns how many were closed.
    """
    completed = {
        (r.user_id, r.course_id)
        for r in plan.rows
        if r.status is RowStatus.ALREADY_COMPLETED and r.user_id and r.course_id
    }
    for r in plan.rows:  # a program row: the courses ALM shows completed (and the program)
        if r.program is not None and r.status is RowStatus.ALREADY_COMPLETED:
            completed.update((r.user_id, c) for c in r.program.completed_course_ids())
    if not completed:
        return 0
    closed = 0
    for entry in ledger.unsettled(base_url):
        if (entry.key.user_id, entry.key.course_id) in completed:
            ledger.finish(
                entry.key,
                WriteState.DONE,
                message="settled: ALM shows the course completed",
                run_id=run_id,
            )
            closed += 1
    return closed
