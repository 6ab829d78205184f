"""Scores between 0 and 1: a percent-formatted cell read without its format, or a real 0.87?

A workbook cell formatted as a percentage holds 0.87 and shows "87 %". Where the reader sees
the format, the cell reads as "87%"; where it cannot (``Table.formats_seen`` is False), every
such cell reads as a fraction, and posting 0.87 for a score of 87 is a false record. So when
every score of the column is between 0 and 1 and formats were not seen, the run stops and asks
(``score_scale``): ``fraction`` (0.87 means 87: those columns are multiplied by 100) or
``as-written`` (0.87 is the score). The option may also be given for a file whose formats were
seen (a CSV written by a script that stores fractions).
"""

from __future__ import annotations

from typing import Any

from batch.dates import DateProblem
from batch.errors import Choice, ShapeQuestion, UsageError
from batch.reading.table import Table
from batch.validation.cells import parse_number
from batch.validation.meaning import MEMO_LIMIT

SCORE_FIELDS = ("score", "min_score", "max_score")
FRACTION, AS_WRITTEN = "fraction", "as-written"
SCORE_SCALES = (FRACTION, AS_WRITTEN)
_KIND_LABEL = {"xls": ".xls workbook", "xlsb": ".xlsb workbook", "ods": ".ods spreadsheet"}


def parse_score_scale(text: str | None) -> str | None:
    """``--score-scale``: fraction, as-written (also "as written", "percent"), or None."""
    if text is None or not str(text).strip():
        return None
    key = str(text).strip().casefold().replace("_", "-").replace(" ", "-")
    if key in SCORE_SCALES:
        return key
    raise UsageError(
        f"--score-scale {text!r} is not understood: use fraction (0.87 means 87) or "
        "as-written (0.87 is the score)."
    )


def decide_score_scale(table: Table, scale: str | None, where: str) -> set[str]:
    """The score fields to multiply by 100 (``fraction``): those whose every value is between
    0 and 1. Raises ``ShapeQuestion`` when formats were not seen and nothing says how to read
    a score column that is all between 0 and 1."""
    fields = [f for f in SCORE_FIELDS if f in table.mapping]
    if "score" not in fields or scale == AS_WRITTEN or (scale is None and table.formats_seen):
        return set()
    unit = dict.fromkeys(fields, True)
    seen = dict.fromkeys(fields, 0)
    samples: list[str] = []
    for _number, cells in table.iter_cells(fields):
        for f, text in zip(fields, cells, strict=True):
            if not unit[f] or not text.strip():
                continue
            try:
                value, percent = parse_number(text)
            except DateProblem:
                continue  # the row says what is wrong with it
            if percent or value > 1:
                unit[f] = False
            else:
                seen[f] += 1
                if f == "score" and len(samples) < 3 and text.strip() not in samples:
                    samples.append(text.strip())
        if not unit["score"]:
            return set()
    within = {f for f in fields if unit[f] and seen[f]}
    if "score" not in within:
        return set()
    if scale is None:
        column = table.mapping["score"]
        shown = ", ".join(repr(s) for s in samples)
        kind = _KIND_LABEL.get(table.kind, "file")
        raise ShapeQuestion(
            f"{where}: every score in column {column!r} is between 0 and 1 (e.g. {shown}), and "
            f"this {kind} does not say whether its cells are formatted as percentages: is "
            "0.87 a score of 87 (a percentage stored as a fraction) or a score of 0.87?",
            ask="score_scale",
            field="score",
            choices=[
                Choice(FRACTION, "0.87 means 87 (percentages stored as fractions)", tuple(samples)),
                Choice(AS_WRITTEN, "0.87 is the score itself"),
            ],
            hint="Say which: --score-scale fraction (0.87 means 87) or --score-scale as-written.",
        )
    return within


def scaled(data: dict[str, Any], fields: set[str], memo: dict[Any, Any]) -> dict[str, Any]:
    """The row's cells with the score fields in ``fields`` multiplied by 100 (a cell that is
    not a number stays as it is: validation says what is wrong with it)."""
    out = dict(data)
    for f in fields:
        text = out.get(f)
        if not isinstance(text, str) or not text.strip():
            continue
        key = ("scaled", text)
        value = memo.get(key)
        if value is None:
            try:
                number, percent = parse_number(text)
            except DateProblem:
                continue
            value = number if percent else round(number * 100, 10)
            if len(memo) < MEMO_LIMIT:
                memo[key] = value
        out[f] = value
    return out
