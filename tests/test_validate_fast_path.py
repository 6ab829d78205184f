"""The fast path of validation (``fast_values``) agrees with the pydantic model, cell for cell.

Valid rows skip pydantic's per-row machinery (a million rows in seconds); any row
with a problem goes through ``CompletionRecord``, which names every bad cell. The two must
agree on which rows are valid and on every typed value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from batch.validation.model import CompletionRecord, RowContext, fast_values

NOW = datetime(2026, 1, 1, tzinfo=UTC)
FLOOR = datetime(1990, 1, 1, tzinfo=UTC)

CELLS: dict[str, list[str]] = {
    "email": ["jane@acme.com", " Jane <jane@acme.com>", "mailto:a@b.co", "jane(at)acme.com",
              "", "a@b", "\u200bzoe@acme.com", "x y@acme.com"],
    "course": ["Fire Safety", "course:12", "123", "", "learningProgram:5", "  Sécurité  "],
    "completion_date": ["2025-03-14", "14/03/2025", "03/14/2025", "2025-02-30", "", "45000",
                        "1", "1900-01-00", "2030-01-01", "1985-06-01", "Mar 1, 2025",
                        "2025-03-14T09:30:00+02:00"],
    "start_date": ["", "2025-03-01", "2025-04-01", "1900-01-01", "junk"],
    "score": ["", "85", "85%", "101%", "-1", "abc", "85,5", "0"],
    "min_score": ["", "50", "90"],
    "max_score": ["", "100", "80"],
    "passed": ["", "yes", "no", "maybe", "TRUE"],
    "module": ["", "Quiz", "  Video  "],
    "instance": ["", "Spring"],
}  # fmt: skip


def _context(order: str | None) -> RowContext:
    return {
        "orders": {"completion_date": order, "start_date": order},
        "tz": UTC,
        "fmt": None,
        "now": NOW,
        "floor": FLOOR,
        "memo": {},
    }


def _model(data: dict[str, Any], ctx: RowContext) -> dict[str, Any] | None:
    try:
        return dict(CompletionRecord.model_validate(data, context=ctx).__dict__)
    except ValidationError:
        return None


row_strategy = st.fixed_dictionaries(
    {f: st.sampled_from(v) for f, v in CELLS.items() if f in ("email", "course")},
    optional={f: st.sampled_from(v) for f, v in CELLS.items() if f not in ("email", "course")},
)


@settings(max_examples=400, deadline=None)
@given(row=row_strategy, order=st.sampled_from([None, "DMY", "MDY"]))
def test_the_fast_path_and_the_model_agree(row: dict[str, str], order: str | None) -> None:
    ctx = _context(order)
    expected = _model(row, ctx)
    for _ in range(2):  # the second time from the memo
        got = fast_values(row, ctx)
        if expected is None:
            assert got is None
        else:
            assert got is not None
            assert {k: got.get(k) for k in expected} == expected


def test_a_default_completion_date_passes_through_both() -> None:
    ctx = _context(None)
    row: dict[str, Any] = {"email": "a@acme.com", "course": "X", "completion_date": NOW}
    expected = _model(row, ctx)
    got = fast_values(row, ctx)
    assert expected is not None and got is not None
    assert {k: got.get(k) for k in expected} == expected
    assert got["completion_date"] is NOW


def test_a_missing_required_field_goes_to_the_model() -> None:
    assert fast_values({"email": "a@acme.com", "course": "X"}, _context(None)) is None
