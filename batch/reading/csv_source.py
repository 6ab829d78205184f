"""Streaming CSV records with the row numbers Excel would show.

Row numbers count *records*, not physical lines: a quoted cell with line breaks is still one
spreadsheet row. Lines may end in CRLF, LF or a lone CR (old Mac exports); the csv module
handles all three when the file is opened with ``newline=""``.

Memory stays bounded whatever the file holds: a record (one row, all its cells) is read up to
``MAX_RECORD_CHARS`` characters. A longer one (a pasted document in a cell, or a quote opened
and never closed) is skipped, line piece by line piece, and comes out as an ``OversizeRecord``:
that row is ``invalid``, the rest of the file is read as usual.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from batch.errors import InputError
from batch.reading.sniff import FileFacts, looks_binary, open_text, sniff_delimiter

_SAMPLE_CHARS = 64 * 1024
MAX_RECORD_CHARS = 8 * 1024 * 1024  # one row's text: a 300,000-character cell reads fine
_PIECE = 1 << 16  # an overlong line is skipped in pieces of this many characters


class OversizeRecord(list[str]):
    """A record longer than ``MAX_RECORD_CHARS``: no cells, only why (``problem``)."""

    def __init__(self, problem: str) -> None:
        super().__init__()
        self.problem = problem


class _TooLong(Exception):
    """Raised from the line feed, inside the csv reader, when a record passes the bound."""


class _BoundedLines:
    """The lines the csv reader asks for, never more than ``limit`` characters per record.

    The reader takes lines until a record is complete and never reads ahead, so the count
    restarts when it hands out a record (``record_done``). ``skip_record`` discards the rest of
    an overlong record: it follows the quotes (a quoted cell may span lines) to its end.
    """

    def __init__(self, fh: io.TextIOBase, limit: int) -> None:
        self.fh = fh
        self.limit = limit
        self.used = 0
        self.quotes = 0
        self.ended = False  # the file ended while the csv reader asked for more

    def __iter__(self) -> _BoundedLines:
        return self

    def __next__(self) -> str:
        line = self.fh.readline(self.limit - self.used + 1)
        if not line:
            self.ended = True
            raise StopIteration
        self.used += len(line)
        self.quotes += line.count('"')
        if self.used > self.limit:
            raise _TooLong
        return line

    def record_done(self) -> None:
        self.used = 0
        self.quotes = 0

    def skip_record(self) -> int:
        """Read on to the end of the overlong record; returns the characters skipped.
        Raises ``_Unclosed`` when the file ends inside a quote that spans lines."""
        skipped = self.used
        breaks = 0
        while True:
            piece = self.fh.readline(_PIECE)
            if not piece:
                if self.quotes % 2 and breaks:
                    raise _Unclosed
                break
            skipped += len(piece)
            self.quotes += piece.count('"')
            if piece.endswith(("\n", "\r")):
                breaks += 1
                if self.quotes % 2 == 0:
                    break
        self.record_done()
        return skipped

    def swallowed(self, record: list[str]) -> bool:
        """The last record of the file, when a quote opened in it is never closed: the rest
        of the file (line breaks included) became its last cell, and those rows are lost."""
        return (
            self.ended
            and self.quotes % 2 == 1
            and bool(record)
            and ("\n" in record[-1] or "\r" in record[-1])
        )


class _Unclosed(Exception):
    """A quote opened in a record is never closed: the rest of the file is one cell."""


class CsvSource:
    """Re-iterable source of ``(row_number, cells)`` for one CSV file."""

    def __init__(self, path: Path, facts: FileFacts) -> None:
        if csv.field_size_limit() < MAX_RECORD_CHARS:
            csv.field_size_limit(MAX_RECORD_CHARS)  # the record bound above is the real one
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
                f"{self.path} cannot be decoded as {self.encoding} (byte {exc.start}): save it "
                "as 'CSV UTF-8', or give its encoding (--encoding cp1252, utf-16 ...)."
            ) from None
        if len(text) == _SAMPLE_CHARS:
            # Cut at the last line end so sniffing never sees half a record.
            cut = max(text.rfind("\n"), text.rfind("\r"))
            if cut > 0:
                text = text[:cut]
        return text

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """Every record, numbered from 1 (a ``sep=`` line is not counted, as in Excel); a
        record past the bound comes as an ``OversizeRecord`` (see the module docstring)."""
        number = 0
        try:
            with open_text(self.path, self.facts) as fh:
                if self.skip_sep_line:
                    fh.readline()
                lines = _BoundedLines(fh, MAX_RECORD_CHARS)
                while True:
                    try:
                        for rec in csv.reader(lines, delimiter=self.delimiter):
                            number += 1
                            if lines.swallowed(rec):
                                raise _Unclosed
                            lines.record_done()
                            yield number, rec
                        return
                    except _TooLong:
                        number += 1
                        skipped = lines.skip_record()
                        yield number, OversizeRecord(_oversize(number, skipped))
        except _Unclosed:
            raise InputError(
                f"{self.path}, row {number}: the CSV is malformed: a quote opened in that row is "
                "never closed, so the rest of the file reads as one cell and its rows would be "
                "lost: close the quote (or remove it) in that row and save again."
            ) from None
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{self.path}, row {number + 1}: text cannot be decoded as {self.encoding} "
                f"(byte {exc.start} of a block): save the file as 'CSV UTF-8', or give its "
                "encoding (--encoding cp1252)."
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


def _oversize(number: int, chars: int) -> str:
    return (
        f"Row {number} holds {chars:,} characters, more than the {MAX_RECORD_CHARS:,} a row may "
        "hold (a cell far too long for a completion record, or a quote opened in it and never "
        "closed, which makes the rest of the file one cell): shorten that cell or close the "
        "quote, and run again."
    )


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
