"""Which column feeds which field: decided from the headers *and* their values, never guessed.

``decide_columns`` applies, in order:

1. ``--map`` (the person's word) and ``--ignore-column`` (columns left out of every decision;
   they stay in the report).
2. Aliases (``reading.aliases``), with two rules that need the values: a header such as
   "Status" or "Result" feeds ``completion_status`` only when its values are completion states;
   "Completed" is the completion state when its values are states or its header asks
   ("Completed?"), and never the date then.
3. One column per field. When several columns could feed a field, the run stops with a
   ``ShapeQuestion`` naming them with a few values each, unless a rule proves which is meant:
   columns that hold the same values in every row looked at (the best-named is used, and the
   other is compared on every row). When the person picks one course column, the other (a
   course ID beside a name) is checked against it on every row after resolution.
4. A column whose values are completion states but whose header is not recognised stops the
   run until it is mapped or ignored: rows it marks as not done must never be posted silently.
5. The email column: a column named like one that holds names is refused (naming the column
   with the addresses); a manager's or a personal address beside the learner's is left out,
   and the warnings say so.

Every question carries the exact option for the CLI (``hint``) and structured choices for the
page; nothing here prints.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from batch.errors import IGNORE, Choice, ShapeQuestion
from batch.models import FIELDS, fold_text, looks_like_person_name, shown_value
from batch.reading.aliases import (
    ALIAS_KEYS,
    STATE_OR_DATE,
    STATUS_BY_VALUES,
    header_key,
)
from batch.reading.states import looks_like_states

SAMPLES = 3  # values shown per column in a question
_BY_VALUES_RANK = 100  # a column that feeds a field by its values ranks after every alias


@dataclass
class Columns:
    """The decision: field -> header, the second columns checked on every row, what to say."""

    mapping: dict[str, str]
    checks: dict[str, str] = field(default_factory=dict)  # field -> the other column compared
    warnings: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


class Sample:
    """The values of each column in the rows looked at (the first rows below the header)."""

    def __init__(self, columns: list[str], data: list[list[str]]) -> None:
        self.columns = columns
        self.data = data
        self._index = {c: i for i, c in enumerate(columns)}

    def values(self, column: str) -> list[str]:
        i = self._index[column]
        return [row[i].strip() if i < len(row) else "" for row in self.data]

    def filled(self, column: str) -> list[str]:
        return [v for v in self.values(column) if v]

    def shown(self, column: str) -> tuple[str, ...]:
        out: list[str] = []
        for value in self.filled(column):
            text = shown_value(value[:40]) + ("..." if len(value) > 40 else "")
            if text not in out:
                out.append(text)
            if len(out) == SAMPLES:
                break
        return tuple(out)

    def choices(self, columns: list[str]) -> list[Choice]:
        """One choice per column, with a few of its values (a question's answers)."""
        return [Choice(c, c, self.shown(c)) for c in columns]

    def quoted(self, column: str) -> str:
        shown = self.shown(column)
        return ", ".join(repr(v) for v in shown) if shown else "all blank"

    def agree(self, a: str, b: str) -> bool:
        """Equal in every row looked at where both are filled (a blank says nothing)."""
        return all(
            fold_text(x) == fold_text(y)
            for x, y in zip(self.values(a), self.values(b), strict=True)
            if x and y
        )


def field_of(column: str, sample: Sample) -> tuple[str | None, int]:
    """The field a column could feed, from its header and (for some headers) its values."""
    key = header_key(column)
    if key in STATE_OR_DATE:
        if "?" in column or looks_like_states(column, sample.values(column), header_says=True):
            return "completion_status", _BY_VALUES_RANK
    elif key in STATUS_BY_VALUES:
        if looks_like_states(column, sample.values(column), header_says=True):
            return "completion_status", _BY_VALUES_RANK
        return None, 0
    hit = ALIAS_KEYS.get(key)
    return (hit[0], hit[1]) if hit else (None, 0)


def decide_columns(
    columns: list[str],
    data: list[list[str]],
    *,
    mapping: dict[str, str],
    ignore: tuple[str, ...] | list[str],
    skip: tuple[str, ...],
    where: str,
    header_row: int,
    require: tuple[str, ...] | list[str],
) -> Columns:
    """Decide field -> header for ``columns`` (``data``: sampled rows, cells in column order;
    ``skip``: columns the tool wrote itself). Raises ``ShapeQuestion`` (see the module)."""
    sample = Sample(columns, data)
    usable = [c for c in columns if c not in skip]
    by_key: dict[str, str] = {}
    for col in usable:
        by_key.setdefault(header_key(col), col)

    def find(header: str) -> str | None:
        return header if header in usable else by_key.get(header_key(header))

    out = Columns(mapping={})
    for header in ignore:
        found = find(header)
        if found is None:
            out.warnings.append(f"{where}: the column to ignore, {header!r}, is not in the file.")
        elif found not in out.ignored:
            out.ignored.append(found)
    explicit: dict[str, str] = {}
    for header, name in mapping.items():
        found = find(header)
        if found is None:
            raise _mapped_column_missing(where, header, name, usable, sample)
        explicit[name] = found
    taken = set(explicit.values()) | set(out.ignored)
    candidates: dict[str, list[tuple[int, int, str]]] = {}
    state_columns: list[str] = []
    for pos, col in enumerate(usable):
        if col in taken:
            continue
        name_, rank = field_of(col, sample)
        if name_ is not None:
            candidates.setdefault(name_, []).append((rank, pos, col))
        elif looks_like_states(col, sample.values(col)):
            state_columns.append(col)
    result: dict[str, str] = {}
    for name in FIELDS:
        cands = [c for *_, c in sorted(candidates.get(name, []))]
        if name in explicit:
            result[name] = explicit[name]
            if name == "course" and cands:
                out.checks[name] = cands[0]  # a course ID beside the name: compared per row
            continue
        if not cands:
            continue
        if name == "email" and len(cands) > 1:
            cands = _without_names(where, cands, sample, out)
        if len(cands) > 1:
            cands.sort(key=lambda c: not sample.filled(c))  # a column with values first
            if not all(sample.agree(cands[0], other) for other in cands[1:]):
                raise _which_column(where, name, cands, sample)
            out.checks[name] = cands[1]
            out.warnings.append(
                f"{where}: columns {' and '.join(repr(c) for c in cands)} hold the same values "
                f"wherever both are filled in the rows looked at: {cands[0]!r} feeds {name}, "
                f"and {cands[1]!r} is compared with it on every row."
            )
        result[name] = cands[0]
    for col in state_columns:
        raise _unknown_state_column(where, col, result.get("completion_status"), sample)
    _check_email(where, result, explicit, usable, sample, out)
    missing = [f for f in require if f not in result]
    if missing:
        raise missing_question(where, usable, missing, header_row, sample)
    out.mapping = {f: result[f] for f in FIELDS if f in result}
    return out


# -- the questions ----------------------------------------------------------------------------
def _samples_of(columns: list[str], sample: Sample) -> str:
    return "; ".join(f"{c!r} (e.g. {sample.quoted(c)})" for c in columns)


def _which_column(where: str, name: str, found: list[str], sample: Sample) -> ShapeQuestion:
    after = (
        " The other course column is then checked against the one picked on every row."
        if name == "course"
        else ""
    )
    return ShapeQuestion(
        f"{where}: {len(found)} columns could feed {name}: {_samples_of(found, sample)}. "
        f"Nothing in the file says which one is meant.{after}",
        ask="mapping",
        field=name,
        choices=sample.choices(found),
        hint="Pick one: " + " or ".join(f'--map "{c}={name}"' for c in found) + ".",
    )


def _unknown_state_column(
    where: str, column: str, status_column: str | None, sample: Sample
) -> ShapeQuestion:
    also = (
        f" Column {status_column!r} already feeds the completion status." if status_column else ""
    )
    return ShapeQuestion(
        f"{where}: column {column!r} holds completion states (e.g. {sample.quoted(column)}) "
        "but its header is not one the tool knows, so the rows it marks as not completed "
        f"could be posted.{also} Say whether it is the completion status or not about "
        "completion.",
        ask="mapping",
        field="completion_status",
        column=column,
        choices=[
            Choice(column, f"{column} says whether each learner completed", sample.shown(column)),
            Choice(IGNORE, f"{column} is not about completion: ignore it"),
        ],
        suggested=None if status_column else column,
        hint=f'Use it: --map "{column}=completion_status"; or leave it out: '
        f'--ignore-column "{column}".',
    )


def _mapped_column_missing(
    where: str, header: str, name: str, usable: list[str], sample: Sample
) -> ShapeQuestion:
    return ShapeQuestion(
        f"{where}: the column chosen for {name}, {header!r}, is not in the file; columns found: "
        f"{', '.join(usable) or '(none)'}.",
        ask="mapping",
        field=name,
        choices=sample.choices(usable),
        hint=f'Name one of the columns found: --map "Header={name}".',
    )


# Header names shown in the missing-column message, as people write them.
_DISPLAY: dict[str, tuple[str, ...]] = {
    "email": ("Email", "Email Address", "Learner Email"),
    "course": ("Course", "Course Name", "Course ID"),
    "completion_date": ("Completion Date", "Completed On", "Date Completed"),
}


def missing_question(
    where: str, columns: list[str], missing: list[str], header_row: int, sample: Sample
) -> ShapeQuestion:
    """No column for a required field: what is missing, what was found, what was expected,
    and (when a column holds what is missing: addresses, dates) that column, suggested."""
    expected = "; ".join(
        f"{f} (e.g. {', '.join(repr(a) for a in _DISPLAY.get(f, (f,)))})" for f in missing
    )
    found = ", ".join(repr(c) for c in columns) or "(none)"
    first = missing[0]
    suggested = _holder(first, columns, sample)
    holds = f" Column {suggested!r} holds {_WHAT[first]}." if suggested else ""
    example = suggested or "Your Header"
    hint = f'Rename the column or add --map "{example}={first}"'
    if first == "completion_date":
        hint += " (or --completion-date YYYY-MM-DD for rows without a date)"
    return ShapeQuestion(
        f"{where}: no column for required field(s) {', '.join(missing)}. Columns found "
        f"(header row {header_row}): {found}. Expected: {expected}.{holds}",
        ask="mapping",
        field=first,
        choices=sample.choices(columns),
        suggested=suggested,
        hint=hint + ".",
    )


_WHAT = {"email": "email addresses", "completion_date": "dates", "course": "course names"}


def _holder(name: str, columns: list[str], sample: Sample) -> str | None:
    """The one column that holds what ``name`` needs (addresses, dates), or None."""
    tests: dict[str, Callable[[str], bool]] = {"email": _has_at, "completion_date": _is_date}
    test = tests.get(name)
    if test is None:
        return None
    holders = [c for c in columns if _mostly(sample.filled(c), test) and not _secondary(c)]
    return holders[0] if len(holders) == 1 else None


def _mostly(values: list[str], test: Callable[[str], bool]) -> bool:
    return bool(values) and sum(1 for v in values if test(v)) >= 0.8 * len(values)


def _has_at(text: str) -> bool:
    return "@" in text or "\uff20" in text


# A cell that reads as a date (ISO, d/m/yyyy either way, "1 March 2025"): only to suggest the
# column that holds dates; validation reads each cell for real.
_DATE_LIKE = re.compile(
    r"^\d{4}-\d{1,2}-\d{1,2}(?:[ T].*)?$|^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{4}(?:\s.*)?$"
    r"|^\d{1,2}\s+[A-Za-z]{3,}\.?,?\s+\d{4}$|^[A-Za-z]{3,}\.?\s+\d{1,2},?\s+\d{4}$"
)


def _is_date(text: str) -> bool:
    return _DATE_LIKE.match(text) is not None


# -- the email column -------------------------------------------------------------------------
# A manager's, a supervisor's or a personal address beside the learner's: never the learner.
_SECONDARY = re.compile(
    r"manager|supervisor|approver|reportsto|lead|personal|private|home|alternat|secondary|"
    r"emergency|hrbp|partner|parent|guardian",
    re.IGNORECASE,
)


def _without_names(where: str, cands: list[str], sample: Sample, out: Columns) -> list[str]:
    """Email candidates that hold no address at all (a "Learner" column of names beside
    "Learner Email") cannot be the learner's address: left out, and the warnings say so."""
    keep = [c for c in cands if len(sample.filled(c)) < 3 or any(map(_has_at, sample.filled(c)))]
    if not keep or len(keep) == len(cands):
        return cands
    for dropped in (c for c in cands if c not in keep):
        out.warnings.append(
            f"{where}: column {dropped!r} holds no email addresses (e.g. "
            f"{sample.quoted(dropped)}): {keep[0]!r} feeds email."
        )
    return keep


def _secondary(column: str) -> bool:
    key = header_key(column)
    return "mail" in key and _SECONDARY.search(key) is not None


def _check_email(
    where: str,
    result: dict[str, str],
    explicit: dict[str, str],
    usable: list[str],
    sample: Sample,
    out: Columns,
) -> None:
    """A column named like an email column but holding names (no @ in the sample) is not used:
    the run stops, naming the column that holds addresses. A manager's or a personal address
    beside the learner's column is left out, and the warnings name that rule."""
    header = result.get("email")
    if header is None:
        return
    others = [
        c for c in usable if c != header and c not in out.ignored and _secondary(c)
    ]  # fmt: skip
    others = [c for c in others if _mostly(sample.filled(c), _has_at)]
    if others:
        out.warnings.append(
            f"{where}: column {header!r} feeds email (the learner's address); "
            f"{', '.join(repr(c) for c in others)} hold{'s' if len(others) == 1 else ''} a "
            "manager's or a personal address and is not used."
        )
    if header in explicit.values():
        return  # the person's word: each row says what is wrong with its cell
    values = sample.filled(header)
    if len(values) < 3 or any(_has_at(v) for v in values):
        return
    if sum(1 for v in values if looks_like_person_name(v)) < 0.8 * len(values):
        return  # not names either: each row says what is wrong with its cell
    holders = [
        c
        for c in usable
        if c != header and c not in out.ignored and _mostly(sample.filled(c), _has_at)
    ]
    holders.sort(key=_secondary)  # the learner's own address before a manager's
    head = (
        f"{where}: column {header!r} is named like an email column but holds no addresses "
        f"(e.g. {shown_value(values[0])!r}, no @)"
    )
    if holders:
        raise ShapeQuestion(
            f"{head}; column {holders[0]!r} holds email addresses.",
            ask="mapping",
            field="email",
            choices=sample.choices(holders),
            suggested=holders[0],
            hint=f'Run again with --map "{holders[0]}=email".',
        )
    raise ShapeQuestion(
        f"{head}, and no other column holds email addresses: add the learners' emails.",
        ask="mapping",
        field="email",
        choices=sample.choices(usable),
        hint='Or map the column that has them with --map "Header=email".',
    )
