"""What every workbook reader offers (``xlsx_book``, ``xlsb_book``, ``xls_book``, ``ods_book``).

A reader opens the file, lists its ``sheets`` (with their visibility), names the ``active`` tab
(the one the file opens on) and streams ``rows(sheet)`` as ``(row number, texts)``, each cell
as the text a person sees (``cells``). ``formats_seen`` says whether the reader could see the
cells' number formats (a percent-formatted 0.87 reads "87%" only when it could).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format

from batch.reading.limits import BookError, SheetLimitError

__all__ = ["Book", "BookError", "NumberStyles", "SheetInfo", "SheetLimitError", "number_styles"]


@dataclass(frozen=True, slots=True)
class SheetInfo:
    name: str
    state: str  # "visible", "hidden", "veryHidden"
    part: str  # where the sheet is in the file (a zip member for .xlsx/.xlsb)


@dataclass(frozen=True, slots=True)
class NumberStyles:
    """Which cell-style indexes show a number as a date, a duration or a percent."""

    dates: frozenset[int]
    timedeltas: frozenset[int]
    percents: frozenset[int]


NO_STYLES = NumberStyles(frozenset(), frozenset(), frozenset())


def number_styles(custom: Mapping[int, str], style_formats: Iterable[int]) -> NumberStyles:
    """From the custom number formats (id -> code) and each cell style's format id, in style
    order: Excel's built-in formats and openpyxl's rules decide what is a date."""
    dates, timedeltas, percents = set(), set(), set()
    for index, fmt_id in enumerate(style_formats):
        code = custom.get(fmt_id) or BUILTIN_FORMATS.get(fmt_id, "General")
        if is_date_format(code):
            dates.add(index)
        if is_timedelta_format(code):
            timedeltas.add(index)
        if "%" in code:
            percents.add(index)
    return NumberStyles(frozenset(dates), frozenset(timedeltas), frozenset(percents))


class Book(Protocol):
    formats_seen: bool

    @property
    def sheets(self) -> list[SheetInfo]: ...

    @property
    def active(self) -> str | None: ...

    def rows(self, sheet: SheetInfo) -> Iterator[tuple[int, list[str]]]: ...

    def close(self) -> None: ...
