"""Streaming CSV records with the row numbers Excel would show.

Row numbers count *records*, not physical lines: a quoted cell with line breaks is still one
spreadsheet row. Lines may end in CRLF, LF or a lone CR (old Mac exports); the csv module
handles all three when the file is opened with ``newline=""``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from batch.errors import InputError
from batch.reading.sniff import FileFacts, looks_binary, open_text, sniff_delimiter

_SAMPLE_CHARS = 64 * 1024


class CsvSource:
    """Re-iterable source of ``(row_number, cells)`` for one CSV file."""

    def __init__(self, path: Path, facts: FileFacts) -> None:
        self.path = path
        self.facts = facts
        self.encoding = facts.encoding
        sample = self._sample()
        if looks_binary(sample):
            raise InputError(
                f"{path} does not look like a text CSV (it holds control characters): give a "
                "CSV exported from the spreadsheet, or the .xlsx itself."
            )
        _refuse_markup(path, sample)
        first_line = sample.split("\n", 1)[0].split("\r", 1)[0].strip()
        # Excel honours a first line "sep=;" and hides it; so do we.
        self.skip_sep_line = first_line.lower().startswith("sep=") and len(first_line) == 5
        if self.skip_sep_line:
            self.delimiter = first_line[4]
            sample = sample.split("\n", 1)[1] if "\n" in sample else ""
        else:
            self.delimiter = sniff_delimiter(sample)

    def _sample(self) -> str:
        try:
            with open_text(self.path, self.facts) as fh:
                text = fh.read(_SAMPLE_CHARS)
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{self.path} cannot be decoded as {self.encoding} (byte {exc.start}): give "
                "the right --encoding (e.g. utf-8, cp1252, utf-16) or save it as 'CSV UTF-8'."
            ) from None
        if len(text) == _SAMPLE_CHARS:
            # Cut at the last line end so sniffing never sees half a record.
            cut = max(text.rfind("\n"), text.rfind("\r"))
            if cut > 0:
                text = text[:cut]
        return text

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """Every record, numbered from 1 (a ``sep=`` line is not counted, as in Excel)."""
        number = 0
        try:
            with open_text(self.path, self.facts) as fh:
                if self.skip_sep_line:
                    fh.readline()
                for number, rec in enumerate(csv.reader(fh, delimiter=self.delimiter), 1):  # noqa: B007
                    yield number, rec
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{self.path}, row {number + 1}: text cannot be decoded as {self.encoding} "
                f"(byte {exc.start} of a block): give the right --encoding (e.g. cp1252) or "
                "save the file as 'CSV UTF-8'."
            ) from None
        except csv.Error as exc:
            if "field limit" in str(exc):
                raise InputError(
                    f"{self.path}, row {number + 1}: the CSV is malformed: a cell is longer "
                    f"than {csv.field_size_limit():,} characters, or a quote opened there is "
                    "never closed (so the rest of the file reads as one cell): fix that row "
                    "and save again."
                ) from None
            raise InputError(
                f"{self.path}, row {number + 1}: the CSV is malformed ({exc}); an opening quote "
                "is probably never closed: fix the quotes in that row and save again."
            ) from None


def _refuse_markup(path: Path, sample: str) -> None:
    """HR systems often save HTML or Excel 2003 XML under an .xls/.csv name: say so."""
    head = sample.lstrip("\ufeff \t\r\n")[:300].lower()
    if head.startswith(("<!doctype html", "<html", "<table")):
        raise InputError(
            f"{path} is a web page (HTML) saved with a spreadsheet name: open it in Excel and "
            "save it as .xlsx or as 'CSV UTF-8'."
        )
    if head.startswith("<?xml") and "urn:schemas-microsoft-com:office:spreadsheet" in sample[:2000]:
        raise InputError(
            f"{path} is an Excel 2003 XML spreadsheet: open it in Excel and save it as .xlsx "
            "or as 'CSV UTF-8'."
        )
