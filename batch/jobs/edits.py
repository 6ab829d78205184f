"""The edit log of a job: cells a person changed before the run, and rows left out.

The file itself is never changed. The job reads it through its edits (``Table.edited``), every
report lists them (``RunSummary.edits``: row, column, old value, new value; an excluded row has
no column and ``(row excluded)``), and the page shows them. ``old`` is the file's own value:
editing a cell twice keeps the first ``old``, and editing it back drops the edit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

EXCLUDED = "(row excluded)"  # ``new`` of an excluded row in ``RunSummary.edits``


@dataclass(frozen=True, slots=True)
class Edit:
    row: int
    column: str
    old: str
    new: str


@dataclass
class EditLog:
    """Changed cells by (row, column), and the rows excluded from the run."""

    changes: dict[tuple[int, str], Edit] = field(default_factory=dict)
    excluded: set[int] = field(default_factory=set)

    @classmethod
    def from_cells(
        cls,
        cells: Mapping[int, Mapping[str, str]],
        exclude: Iterable[int],
        originals: Mapping[int, Mapping[str, str]],
    ) -> EditLog:
        """The log of ``JobOptions.edits`` / ``exclude``, with the file's values (``originals``:
        row -> {header: text}) as the old ones."""
        log = cls(excluded=set(exclude))
        for row, changed in cells.items():
            for column, new in changed.items():
                log.change(row, column, originals.get(row, {}).get(column, ""), new)
        return log

    @property
    def rows(self) -> set[int]:
        """Every row with an edit or an exclusion."""
        return {row for row, _ in self.changes} | self.excluded

    def change(self, row: int, column: str, current: str, new: str) -> None:
        """Set ``column`` of ``row`` to ``new``; ``current`` is its value now (the file's
        value unless an earlier edit changed it)."""
        earlier = self.changes.pop((row, column), None)
        old = earlier.old if earlier is not None else current
        if new != old:
            self.changes[(row, column)] = Edit(row, column, old, new)

    def exclude(self, row: int) -> None:
        self.excluded.add(row)

    def include(self, row: int) -> None:
        self.excluded.discard(row)

    def entries(self) -> list[Edit]:
        return sorted(self.changes.values(), key=lambda e: (e.row, e.column))

    def cells(self) -> dict[int, dict[str, str]]:
        """Row -> {header: new text}: what ``JobOptions.edits`` and ``Table.edited`` take."""
        out: dict[int, dict[str, str]] = {}
        for edit in self.entries():
            out.setdefault(edit.row, {})[edit.column] = edit.new
        return out

    def for_report(self) -> list[dict[str, str]]:
        """``RunSummary.edits``: every changed cell and excluded row, by row, all text."""
        out: list[dict[str, str]] = []
        by_row: dict[int, list[Edit]] = {}
        for edit in self.entries():
            by_row.setdefault(edit.row, []).append(edit)
        for row in sorted(set(by_row) | self.excluded):
            if row in self.excluded:
                out.append({"row": str(row), "column": "", "old": "", "new": EXCLUDED})
                continue
            out.extend(
                {"row": str(e.row), "column": e.column, "old": e.old, "new": e.new}
                for e in by_row[row]
            )
        return out
