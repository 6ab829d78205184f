"""What a row says beyond its cells' types: that it did not happen, that it is not a row at all.

- ``not_done``: the file itself says the learner did not complete: a completion status that
  means not done (or a blank one), ``passed`` = no, a score under the passing score. One rule,
  one message style: "Transcript Status says 'In Progress': not a completion, nothing posted."
- ``status_issue``: a status the tool does not know is never guessed: the row is invalid and
  the message names the column, the value and the values known.
- ``page_furniture``: a report's repeated header row or a "Page 2 of 3" line inside the data.

Each answer is memoised per cell text by the caller's dict (a file repeats its values).
"""

from __future__ import annotations

import re
from typing import Any

from batch.dates import DateProblem
from batch.models import InputRow, RowIssue, counted, fold_text, shown_value
from batch.reading.states import SHOWN_DONE, SHOWN_NOT_DONE, State, classify_state
from batch.validation.cells import parse_number, parse_passed

MEMO_LIMIT = 200_000  # as ``validation.model``: distinct cells remembered per file

NOTHING_POSTED = "not a completion, nothing posted"


def not_done_message(column: str, value: str, why: str = "") -> str:
    """'Transcript Status says 'In Progress': not a completion, nothing posted.'"""
    said = f"{column} says {shown_value(value)!r}" if value.strip() else f"{column} is empty"
    return f"{said}{why}: {NOTHING_POSTED}."


def status_verdict(
    column: str, text: str, extra_done: frozenset[str], memo: dict[Any, Any]
) -> tuple[State, str]:
    """(state, message) for one completion-status cell: the not-completed message for a value
    that means not done or a blank one, the invalid message for an unknown one."""
    key = ("status", text)
    hit = memo.get(key)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    state = classify_state(text, extra_done)
    if state is State.NOT_DONE:
        message = not_done_message(column, text)
    elif state is State.BLANK:
        message = not_done_message(column, text) + (
            " If the learner completed, write Completed or Yes there."
        )
    elif state is State.UNKNOWN:
        message = (
            f"{column} {shown_value(text)!r} is not a completion state the tool knows: "
            f"values that mean done are {SHOWN_DONE} (and their usual translations); values "
            f"that mean not done are {SHOWN_NOT_DONE}. If {shown_value(text)!r} means the "
            "learner completed, add it to the completed values (--completed-values); "
            "otherwise correct the cell."
        )
    else:
        message = ""
    if len(memo) < MEMO_LIMIT:
        memo[key] = (state, message)
    return state, message


def passed_or_score_says_no(
    data: dict[str, Any], mapping: dict[str, str], memo: dict[Any, Any]
) -> str:
    """The not-completed message when ``passed`` says no or the score is under the passing
    score (each cell read on its own, so another bad cell in the row does not hide it)."""
    passed = data.get("passed")
    if isinstance(passed, str) and passed.strip():
        if _cached(memo, "passed", passed, parse_passed) is False:
            return not_done_message(mapping["passed"], passed)
    score, low = data.get("score"), data.get("min_score")
    if score is None or low is None:
        return ""
    score_value = _number(score, memo)
    low_value = _number(low, memo)
    if score_value is not None and low_value is not None and score_value < low_value:
        shown = score if isinstance(score, str) else _num(score_value)
        return not_done_message(
            mapping["score"], shown, f", under the passing score {_num(low_value)}"
        )
    return ""


def _number(value: Any, memo: dict[Any, Any]) -> float | None:
    if isinstance(value, float | int):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        return None
    parsed = _cached(memo, "number", value, parse_number)
    return None if parsed is None else float(parsed[0])


def _cached(memo: dict[Any, Any], kind: str, text: str, parse: Any) -> Any:
    key = ("says", kind, text)
    if key in memo:
        return memo[key]
    try:
        value = parse(text)
    except DateProblem:
        value = None
    if len(memo) < MEMO_LIMIT:
        memo[key] = value
    return value


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# -- a report's page furniture inside the data -------------------------------------------------
_PAGE_LINE = re.compile(
    r"^(?:page|seite|p[aá]gina|pagina|pag\.?|p\.)\s*\d+\s*(?:(?:of|von|de|di|sur|/)\s*\d+)?$"
    r"|^\d+\s*(?:of|/)\s*\d+$"
    r"|^(?:printed|generated|report\s+(?:generated|run|date|printed)|run\s+date|end\s+of\s+report)\b"
    r"|^(?:grand\s+)?totals?\b\W*\d"
    r"|^\d[\d,.]*\s+(?:records?|rows?|results?)(?:\s+(?:returned|selected|found|listed))?\b",
    re.IGNORECASE,
)
FURNITURE = (
    "looks like a page header or footer of a report, not a completion: delete the row, or "
    "export the data without page headers and footers"
)


def page_furniture(row: InputRow, mapping: dict[str, str]) -> RowIssue | None:
    """A row that repeats the column names, or a short line such as "Page 2 of 3" or
    "Printed on 3 March 2025": the issue that says so, or None."""
    repeats = sum(
        1
        for name, header in mapping.items()
        if fold_text(row.fields.get(name, "")) == fold_text(header)
    )
    if repeats >= min(2, len(mapping)):
        return RowIssue("row", "", f"Row {row.row} repeats the column names: it {FURNITURE}.")
    filled = [v.strip() for v in row.values.values() if v.strip()]
    if 0 < len(filled) <= 3 and any(_PAGE_LINE.match(v) for v in filled):
        line = next(v for v in filled if _PAGE_LINE.match(v))
        return RowIssue("row", line, f"Row {row.row} ({shown_value(line)!r}) {FURNITURE}.")
    return None


# -- a second column that held the same values --------------------------------------------------
def disagreements(
    row: InputRow, mapping: dict[str, str], checks: list[tuple[str, str]]
) -> list[RowIssue]:
    """Columns picked because they held the same values in the rows looked at (``Email`` and
    ``Learner Email``): a row where they differ is invalid, never decided by position."""
    out = []
    for name, other in checks:
        main = mapping[name]
        a, b = row.fields.get(name, ""), row.values.get(other, "")
        if a.strip() and b.strip() and fold_text(a) != fold_text(b):
            out.append(
                RowIssue(
                    other,
                    b,
                    f"{other} says {shown_value(b)!r} where {main} says {shown_value(a)!r}: the "
                    "two columns hold the same values in other rows; correct the one that is "
                    "wrong, or leave one of them out of the run (ignore it).",
                )
            )
    return out


class NumberIds:
    """Course IDs a spreadsheet or a script stored as numbers ("1009221.0"), per column: read as
    the whole number they hold, and named in one warning per column."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self.first: dict[str, tuple[int, str, str]] = {}  # column -> (row, text, id)

    def note(self, column: str, row: int, text: str, course_id: str) -> None:
        self.rows[column] = self.rows.get(column, 0) + 1
        self.first.setdefault(column, (row, text, course_id))

    def warnings(self, where: str) -> list[str]:
        out = []
        for column, n in self.rows.items():
            row, text, course_id = self.first[column]
            out.append(
                f"{where}: column {column!r} holds {counted(n, 'course ID')} stored as numbers by a "
                f"spreadsheet or a script (e.g. {text!r} in row {row}), read as the whole "
                f"number each holds ({course_id}); to keep IDs as typed, format the column "
                "as Text."
            )
        return out
