"""Rows + resolutions + learner state -> planned actions. The dry run ends here.

CONTRACT: the dataclasses below are shared with execute.py, pipeline.py and report writing.
``build_plan`` is implemented by the resolution work (issue 4).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from batch.alm.types import GradeRequest
from batch.models import CheckedRow, RowResult, RowStatus


@dataclass(slots=True)
class RowPlan:
    """What will be (or would be) done for one input row.

    ``status`` is WOULD_COMPLETE when writes are planned; otherwise the row's final status
    (invalid, duplicate, user_not_found, course_not_found, ambiguous_course, rejected,
    already_completed) and ``message`` says why, for a person.
    ``module_ids`` are the loResource ids concerned (to grade, or already graded).
    ``grades`` are the userModuleGrade writes still needed, in order; ``enroll`` says whether
    an enrollment must be created first.
    """

    checked: CheckedRow
    status: RowStatus
    message: str = ""
    user_id: str = ""
    course_id: str = ""
    instance_id: str = ""
    module_ids: list[str] = field(default_factory=list)
    enroll: bool = False
    grades: list[GradeRequest] = field(default_factory=list)

    @property
    def row(self) -> int:
        return self.checked.row

    @property
    def action(self) -> str:
        """What was or would be done, for the report's ``action`` column."""
        if self.status is not RowStatus.WOULD_COMPLETE:
            return "skip" if self.status.ok else "none"
        n = len(self.grades)
        grade = f"grade {n} module{'s' if n != 1 else ''}"
        return f"enroll + {grade}" if self.enroll else grade

    @property
    def writes(self) -> int:
        """HTTP writes this row needs: one enrollment (if any) plus one per grade."""
        if self.status is not RowStatus.WOULD_COMPLETE:
            return 0
        return len(self.grades) + (1 if self.enroll else 0)

    def to_result(self, status: RowStatus | None = None, message: str | None = None) -> RowResult:
        return RowResult(
            row=self.row,
            values=self.checked.input.values,
            status=status if status is not None else self.status,
            message=message if message is not None else self.message,
            user_id=self.user_id,
            course_id=self.course_id,
            instance_id=self.instance_id,
            module_ids=list(self.module_ids),
            action=self.action,
        )


@dataclass(slots=True)
class Plan:
    rows: list[RowPlan] = field(default_factory=list)

    @property
    def grades_needed(self) -> int:
        return sum(len(r.grades) for r in self.rows if r.status is RowStatus.WOULD_COMPLETE)

    @property
    def enrollments_needed(self) -> int:
        return sum(1 for r in self.rows if r.status is RowStatus.WOULD_COMPLETE and r.enroll)

    @property
    def writes_needed(self) -> int:
        return sum(r.writes for r in self.rows)

    def estimate_seconds(self, writes_per_minute: float) -> float:
        """Lower bound on live-run time at the account's write allowance."""
        if writes_per_minute <= 0:
            return 0.0
        return self.writes_needed * 60.0 / writes_per_minute


@dataclass(slots=True)
class PlanOptions:
    overwrite: bool = False  # re-grade learners ALM already shows complete
    user_lookup: str = "auto"  # auto | per-email | export


ProgressCallback = Callable[[str, int, int], None]  # (stage, done, total)


def build_plan(
    rows: Iterable[CheckedRow],
    resolver: object,
    options: PlanOptions,
    *,
    on_progress: ProgressCallback | None = None,
) -> Plan:
    """Resolve every row through ``resolver`` (batch.resolve.Resolver) and plan its writes."""
    raise NotImplementedError
