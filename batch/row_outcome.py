"""What happened to one row of a live run, and the message the report gives it.

``RowRun`` collects a row's writes as the executor (``execute.py``) makes them and turns into its
``RowResult``. The outcomes a stop can leave, each with its own wording:

- ``unknown``: a write may or may not have landed (its answer was lost and ALM could not be
  read): the next run reads ALM before sending it again;
- ``not_run``: the run stopped (Cancel, Ctrl-C, ALM stopped it) before this row's writes were
  sent, or before all of them: nothing about it is unsure; the message says what was made (an
  enrollment, some grades) and running the remaining rows sends the rest;
- ``not_run`` that needs a person: ALM's state changed since the dry run the person confirmed,
  and the row would need a write the confirmation did not include: nothing outside it is sent;
  a new dry run checks the row again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from batch.errors import ApiError
from batch.ledger import LedgerEntry, already_posted_message
from batch.models import RowResult, RowStatus
from batch.plan import RowPlan
from batch.programs import ProgramPlan, leftovers
from batch.resolve import type_label
from batch.settle import LearnerState

log = logging.getLogger("batch.execute")

AGAIN = "Run the same command again to finish."
REST = "Run the remaining rows (on the command line: the same command again) to send them."
NEW_DRY_RUN = "Start a new dry run to check it again."


@dataclass(slots=True)
class RowRun:
    """What happened to one row so far; turns into its ``RowResult``."""

    rp: RowPlan
    attempts: int = 0
    posted_at: str = ""
    posted: int = 0  # grades accepted in this run
    enrolled: bool = False  # enrollment created in this run
    program_note: str = ""  # a program row: what ALM shows of the program once its grades landed
    unplanned: list[str] = field(default_factory=list)  # courses ALM did not enroll through it
    earlier: list[LedgerEntry] = field(default_factory=list)  # grades done before
    failure: str = ""
    unknown: str = ""
    stopped: str = ""  # why the run stopped before this row's writes were all sent
    outside: str = ""  # a write the confirmed plan does not include: not sent
    retryable: bool = False  # the failure / unknown is for a re-run to settle, not a person
    resolved: int = 0  # planned writes settled (answered, or found done): the progress counts

    def merge(self, parts: list[RowRun]) -> None:
        """Fold in the runs of this row's grades posted side by side. The row's message is the
        weightiest problem met: a refusal a person must fix, then a retryable failure, then an
        unconfirmed write, then a write outside the confirmation, then a stop."""
        for part in parts:
            self.attempts += part.attempts
            self.posted += part.posted
            self.resolved += part.resolved
            self.earlier.extend(part.earlier)
            self.posted_at = max(self.posted_at, part.posted_at)

        def weight(run: RowRun) -> int:
            if run.failure:
                return 5 if not run.retryable else 4
            if run.unknown:
                return 3
            return 2 if run.outside else (1 if run.stopped else 0)

        worst = max([self, *parts], key=weight)
        if worst is not self and weight(worst) > weight(self):
            self.failure, self.unknown = worst.failure, worst.unknown
            self.stopped, self.outside = worst.stopped, worst.outside
            self.retryable = worst.retryable

    def result(self) -> RowResult:
        rp = self.rp
        total = len(rp.grades)
        done = self.posted + len(self.earlier)
        retryable = self.retryable
        if self.failure:
            status, message = RowStatus.FAILED, self.failure
        elif self.unknown:
            status, message = RowStatus.UNKNOWN, self.unknown
        elif self.outside:
            status, retryable = RowStatus.NOT_RUN, False
            message = f"{self.outside}{self._made()} {NEW_DRY_RUN}"
        elif self.stopped or done < total:
            status, retryable = RowStatus.NOT_RUN, True
            reason = self.stopped or "the run stopped"
            message = self._stopped_message(reason, done, total)
        elif self.posted == 0 and not self.enrolled and self.earlier:
            status = RowStatus.ALREADY_COMPLETED
            latest = max(self.earlier, key=lambda e: e.done_at or e.updated_at)
            message = already_posted_message(latest)
            self.posted_at = self.posted_at or (latest.done_at or "")
        elif rp.program is not None:
            status = RowStatus.COMPLETED
            message = program_done_message(rp, self.posted, self.enrolled, self.program_note)
            if self.unplanned:
                names = ", ".join(f"'{n}'" for n in self.unplanned)
                message += (
                    f" ALM did not enroll the learner in {names} through the program: enrolled "
                    "directly, a write more than planned each."
                )
            message += self._earlier()
        else:
            status = RowStatus.COMPLETED
            noun = "grade" if self.posted == 1 else "grades"
            message = f"Posted {self.posted} module {noun}."
            if self.enrolled:
                message = f"Enrolled the learner and posted {self.posted} module {noun}."
            message += self._earlier()
        out = rp.to_result(status, message)
        out.attempts = self.attempts
        out.writes_made = self.posted + (1 if self.enrolled else 0)
        out.posted_at = self.posted_at
        out.retryable = retryable and not status.ok
        return out

    def _earlier(self) -> str:
        if not self.earlier:
            return ""
        runs = ", ".join(sorted({e.run_id for e in self.earlier}))
        return f" {len(self.earlier)} more already posted by run {runs}."

    def _made(self) -> str:
        """What this row did make before it stopped, as a clause ("" when nothing)."""
        made = []
        if self.enrolled:
            made.append("the enrollment")
        if self.posted:
            made.append(f"{self.posted} module grade{'s' if self.posted != 1 else ''}")
        return f" Made before that: {' and '.join(made)}." if made else ""

    def _stopped_message(self, reason: str, done: int, total: int) -> str:
        left = total - done
        grades = f"{left} module grade{'s' if left != 1 else ''}"
        if self.enrolled and not self.posted:
            return f"Enrolled the learner; {grades} not sent: {reason}. {REST}"
        if self.enrolled:
            return (
                f"Enrolled the learner and posted {done} of {total} module grades; {left} not "
                f"sent: {reason}. {REST}"
            )
        if self.posted or self.earlier:
            return f"Posted {done} of {total} module grades; {left} not sent: {reason}. {REST}"
        return f"Not run: {reason}; nothing was written for this row. {REST}"


def not_run(rp: RowPlan, reason: str) -> RowResult:
    """A row the run stopped before starting: nothing sent, nothing unsure."""
    out = rp.to_result(
        RowStatus.NOT_RUN, f"Not run: {reason}; nothing was written for this row. {REST}"
    )
    out.retryable = True
    return out


def outside_message(labels: list[str]) -> str:
    """Why a row is not written: ALM changed since the confirmed dry run."""
    kinds = [label.split("|", 1)[0] for label in labels]
    what = []
    for kind, noun in (("enroll", "enrollment"), ("grade", "module grade")):
        n = kinds.count(kind)
        if n:
            what.append(f"{n} {noun}{'s' if n != 1 else ''}")
    return (
        "Not written: ALM's state changed since the dry run you confirmed, and this row now "
        f"needs {' and '.join(what) or 'writes'} the confirmation did not include; nothing "
        "outside it is sent."
    )


def program_state(learner: LearnerState, program: ProgramPlan, *, fresh: bool = True) -> str:
    """Once a program row's grades landed: what ALM shows of the program itself (one read).
    ALM rolls a program up from its courses, which can take a moment after the last grade."""
    found = learner.program(program.program_id, fresh=fresh)
    kind = type_label(program.lo_type)
    if isinstance(found, ApiError):
        return f"ALM could not be read to check the {kind} itself ({found.describe()})."
    if found is not None and found.completed:
        return f"ALM shows the {kind} completed."
    state = found.state.lower() if found is not None else "not enrolled"
    return (
        f"ALM does not show the {kind} completed yet ({state}): it rolls a {kind} up from its "
        "courses, which can take a moment; verifying the run waits for it."
    )


def program_done_message(rp: RowPlan, posted: int, enrolled: bool, note: str) -> str:
    """ "Enrolled the learner in the learning program 'X' and posted 7 module grades in 3
    courses." plus what ALM shows of the program."""
    assert rp.program is not None
    program = rp.program
    courses = len({g.course_id for g in rp.grades})
    grades = f"posted {posted} module grade{'s' if posted != 1 else ''}"
    if courses:
        grades += f" in {courses} course{'s' if courses != 1 else ''}"
    if enrolled and rp.enroll:
        text = f"Enrolled the learner in {program.label} and {grades}."
    else:
        text = f"{grades[:1].upper()}{grades[1:]} of {program.label}."
    text += leftovers(program)
    return f"{text} {note}".strip()


def internal_error(row: int, exc: Exception) -> str:
    """Log a bug met on a row (call from its ``except``) and say what the report shows."""
    log.exception("row %s failed unexpectedly", row)
    return f"Internal error ({type(exc).__name__}: {exc}); the ledger is intact. {AGAIN}"


def sentence(text: str) -> str:
    """Fit a message after "because": no final stop, lower-case first letter unless an acronym."""
    text = text.strip().rstrip(".")
    if not text:
        return "ALM stopped answering"
    if text[1:2].islower():
        text = text[:1].lower() + text[1:]
    return text
