"""The plan a person confirmed: the rows and the exact writes a live run is bound to.

The confirmation is consent: it names rows and counts writes, and the live run must do exactly
that, never more. A dry run records, on each row that would be posted, the writes it plans
(``RowResult.planned_writes``: one label per enrollment and per module grade, ``write_label``).
When the person confirms, those rows and labels become a ``ConfirmedPlan`` that the live job
carries to the executor, which sends no write outside it: a row whose ALM state changed since
the dry run so that it needs another write (a new enrollment, another instance, a module the
dry run did not plan) is not written and is reported as needing a new dry run. Fewer writes are
fine (ALM or an earlier run already has some). The live run's totals are the plan's.

Kept beside a live job (``confirmed.json`` in its folder), so its remaining rows can be run
after a Cancel or a restart, bound to the same consent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batch.models import RowResult, RowStatus

CONFIRMED_FILE = "confirmed.json"
_FORMAT = "alm-batch confirmed plan"


def write_label(
    kind: str,
    user_id: str,
    course_id: str,
    instance_id: str,
    module_id: str = "",
    sent: str = "",
) -> str:
    """One write as the confirmation counts it: ``enroll|user|course|instance|`` or
    ``grade|user|course|instance|module|<date> <score>`` (the ledger's ``WriteKey`` without the
    host, and for a grade the date and score it posts: the confirmation showed them)."""
    return "|".join((kind, user_id, course_id, instance_id, module_id, sent))


def label_parts(label: str) -> tuple[str, str, str, str, str]:
    """(kind, user, course, instance, module) of a ``write_label``."""
    kind, user, course, instance, module = (label.split("|") + [""] * 5)[:5]
    return kind, user, course, instance, module


@dataclass(frozen=True, slots=True)
class ConfirmedPlan:
    """Row -> the writes confirmed for it. Rows absent here may write nothing."""

    rows: Mapping[int, frozenset[str]] = field(default_factory=dict)
    estimate_seconds: float | None = None  # the confirmation's time at the write allowance

    @classmethod
    def from_results(
        cls, results: Iterable[RowResult], *, estimate_seconds: float | None = None
    ) -> ConfirmedPlan:
        """The rows a dry run would post, with their planned writes (excluded rows are not in
        ``results``)."""
        rows = {
            r.row: frozenset(r.planned_writes)
            for r in results
            if r.status is RowStatus.WOULD_COMPLETE and r.planned_writes
        }
        return cls(rows, estimate_seconds)

    @property
    def rows_total(self) -> int:
        return len(self.rows)

    @property
    def writes_total(self) -> int:
        return sum(len(w) for w in self.rows.values())

    def allows(self, row: int, label: str) -> bool:
        return label in self.rows.get(row, frozenset())

    def outside(self, row: int, labels: Iterable[str]) -> list[str]:
        """The labels of ``row`` the confirmation does not include."""
        allowed = self.rows.get(row, frozenset())
        return [label for label in labels if label not in allowed]

    def remaining(self, rows: Iterable[int], made: Callable[[str], bool]) -> ConfirmedPlan:
        """This plan for ``rows`` only (the rows a stopped run did not finish), less the
        writes ``made`` says ALM already has: the remaining run's own totals."""
        out: dict[int, frozenset[str]] = {}
        for row in rows:
            labels = frozenset(x for x in self.rows.get(row, frozenset()) if not made(x))
            if labels:
                out[row] = labels
        return ConfirmedPlan(out, None)

    # --- kept beside the live job ----------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "estimate_seconds": self.estimate_seconds,
            "rows": {str(row): sorted(labels) for row, labels in sorted(self.rows.items())},
        }

    @classmethod
    def from_json(cls, data: Any) -> ConfirmedPlan | None:
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            return None
        rows = data.get("rows")
        if not isinstance(rows, dict):
            return None
        estimate = data.get("estimate_seconds")
        return cls(
            {int(row): frozenset(str(x) for x in labels) for row, labels in rows.items()},
            float(estimate) if isinstance(estimate, int | float) else None,
        )

    @classmethod
    def read(cls, folder: Path) -> ConfirmedPlan | None:
        try:
            return cls.from_json(json.loads((folder / CONFIRMED_FILE).read_text("utf-8")))
        except (OSError, ValueError):
            return None
