"""Streaming workbook rows as text, with the real spreadsheet row numbers.

Each workbook kind has its own bounded reader (``book.Book``): ``.xlsx`` / ``.xlsm`` (Transitional
or Strict Open XML) ``xlsx_book``, ``.xlsb`` ``xlsb_book``, ``.ods`` ``ods_book``, all three
streaming; ``.xls`` (Excel 97-2003) ``xls_book`` through xlrd. Every one checks a sheet's extent
and row order as it reads (``limits``), and any failure to read becomes one ``InputError``
(exit 2) that says what is wrong and how to fix the file.

Values are the ones the spreadsheet cached for formulas; a formula never calculated (e.g.
written by a script) has no cached value and reads as an empty cell: validation then says the
cell is empty and suggests opening and saving the file in Excel.

Sheet choice without ``--sheet`` (``decide_sheet``, the one rule for the CLI and the page): the
visible sheets that have a column for every required field are the candidates. One candidate is
read (with a warning when it is not the first sheet with data, e.g. behind a Summary tab);
several stop the run with a ``ShapeQuestion`` naming each with its row count and a few values
(the tab the workbook opens on is named as the likely one, never picked silently); none fall
back to the first sheet with headers, whose missing columns are then named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from batch.errors import BatchError, Choice, InputError, ShapeQuestion
from batch.reading.book import Book, BookError, SheetInfo, SheetLimitError

_HEADER_SCAN_ROWS = 30
_SAMPLES = 3
KIND_LABEL = {
    "xlsx": "Excel workbook",
    "xls": "Excel 97-2003 workbook (.xls)",
    "xlsb": "Excel binary workbook (.xlsb)",
    "ods": "OpenDocument spreadsheet (.ods)",
}
# The column whose values tell candidate sheets apart best (month tabs differ by their dates).
_SAMPLE_FIELDS = ("completion_date", "email", "course")

# Probe: the first rows of a sheet -> the fields its best header row names.
HeaderProbe = Callable[[list[list[str]]], set[str]]


def open_book(path: Path, kind: str, *, list_sheets: bool = True) -> Book:
    """The bounded reader for this kind of workbook, its sheets listed unless told not to;
    ``InputError`` when it cannot open."""
    book: Book
    try:
        if kind == "xls":
            from batch.reading.xls_book import XlsBook

            book = XlsBook(path)
        elif kind == "xlsb":
            from batch.reading.xlsb_book import XlsbBook

            book = XlsbBook(path)
        elif kind == "ods":
            from batch.reading.ods_book import OdsBook

            book = OdsBook(path)
        else:
            from batch.reading.xlsx_book import XlsxBook

            book = XlsxBook(path)
        if list_sheets:
            try:
                book.sheets  # noqa: B018 - an .ods lists them on first use
            except BookError:
                book.close()
                raise
        return book
    except BookError as exc:
        label = KIND_LABEL.get(kind, "workbook")
        raise InputError(
            f"{path} could not be read as an {label} ({exc}): open it in Excel and "
            "save it again as .xlsx, or export it as 'CSV UTF-8'."
        ) from None


def read_failure(path: Path, exc: BaseException) -> InputError:
    """Any failure while reading a workbook, as the one line a person gets (exit 2)."""
    if isinstance(exc, SheetLimitError):
        return InputError(f"{path}: cannot be read: {exc}.")
    return InputError(
        f"{path} could not be read ({_failure_words(exc)}): open the file in Excel or "
        "LibreOffice and save it again as .xlsx."
    )


def _failure_words(exc: BaseException) -> str:
    """What went wrong, in a person's words (the exception's type only when nothing better)."""
    if isinstance(exc, LookupError) and not isinstance(exc, (IndexError, KeyError)):
        return "a sheet declares a text encoding that does not exist"
    if isinstance(exc, UnicodeError):
        return "a sheet holds text that is not in the encoding it declares"
    if isinstance(exc, SyntaxError):  # xml.etree's ParseError, expat's errors
        return "a sheet's XML is damaged"
    if isinstance(exc, BookError):
        return f"damaged: {str(exc)[:120]}"
    return f"damaged: {type(exc).__name__}"


@dataclass(frozen=True)
class SheetCandidate:
    """A visible sheet that has a column for every required field."""

    name: str
    rows: int  # data rows below its header (blank rows not counted); -1 when not counted
    samples: tuple[str, ...] = ()


@dataclass
class SheetDecision:
    """Which sheet a run reads when no sheet is named, and why (module docstring)."""

    sheets: list[str]  # every sheet, in workbook order (hidden ones too)
    candidates: list[SheetCandidate]
    chosen: str | None  # the sheet read; None when the person must choose (``question``)
    active: str | None = None  # the tab the workbook opens on
    warnings: list[str] = field(default_factory=list)
    question: ShapeQuestion | None = None


def decide_sheet(
    book: Book, path: Path, header_probe: HeaderProbe, required: tuple[str, ...]
) -> SheetDecision:
    """The sheet choice rule (module docstring); raises ``InputError`` when no sheet holds data."""
    names = [s.name for s in book.sheets]
    first_with_data: str | None = None
    first_with_headers: str | None = None
    complete: list[tuple[SheetInfo, list[tuple[int, list[str]]]]] = []
    need = set(required)
    for info in book.sheets:
        if info.state != "visible":
            continue
        head = _head_rows(book, info)
        if not any(any(c.strip() for c in cells) for _, cells in head):
            continue
        first_with_data = first_with_data or info.name
        found = header_probe([cells for _, cells in head])
        if found and first_with_headers is None:
            first_with_headers = info.name
        if need and need <= found:
            complete.append((info, head))
    if first_with_data is None:
        raise InputError(
            f"{path}: no visible sheet holds any data (sheets: "
            f"{', '.join(repr(n) for n in names) or 'none'}); put the rows on the first "
            "sheet, or name the sheet to read (--sheet NAME)."
        )
    decision = SheetDecision(names, [], None, _active(book))
    if len(complete) == 1:
        info, _ = complete[0]
        decision.candidates = [SheetCandidate(info.name, -1)]
        decision.chosen = info.name
        if info.name != first_with_data:
            first = next(s for s in book.sheets if s.name == first_with_data)
            lacking = need - header_probe([cells for _, cells in _head_rows(book, first)])
            decision.warnings.append(
                f"{path}: the first sheet, {first_with_data!r}, has no column for "
                f"{', '.join(sorted(lacking))}; read sheet {info.name!r}, the only sheet that "
                "has them."
            )
        return decision
    if not complete:
        decision.chosen = first_with_headers or first_with_data
        return decision
    decision.candidates = [_candidate(book, info, head, header_probe) for info, head in complete]
    decision.question = _which_sheet(path, decision)
    return decision


def _active(book: Book) -> str | None:
    try:
        return book.active
    except Exception:  # noqa: BLE001 - which tab is active is a hint, never a reason to fail
        return None


def _candidate(
    book: Book, info: SheetInfo, head: list[tuple[int, list[str]]], header_probe: HeaderProbe
) -> SheetCandidate:
    """Count the sheet's data rows and take a few values of its most telling column."""
    header_number, header = max(head, key=lambda nc: (len(header_probe([nc[1]])), -nc[0]))
    column = next(
        (
            i
            for f in _SAMPLE_FIELDS
            for i, cell in enumerate(header)
            if cell.strip() and f in header_probe([[cell]])
        ),
        0,
    )
    rows, samples = 0, list[str]()
    for number, cells in book.rows(info):
        if number <= header_number or not "".join(cells).strip():
            continue
        rows += 1
        value = cells[column].strip() if column < len(cells) else ""
        if value and len(samples) < _SAMPLES and value not in samples:
            samples.append(value[:40])
    return SheetCandidate(info.name, rows, tuple(samples))


def _which_sheet(path: Path, decision: SheetDecision) -> ShapeQuestion:
    shown = ", ".join(repr(c.name) for c in decision.candidates)
    details = "; ".join(
        f"{c.name!r}: {c.rows:,} data row{'s' if c.rows != 1 else ''}"
        + (f" (e.g. {', '.join(c.samples)})" if c.samples else "")
        for c in decision.candidates
    )
    names = [c.name for c in decision.candidates]
    likely = decision.active if decision.active in names else None
    message = (
        f"{path}: several sheets have them ({shown}), all the columns this run needs, so "
        f"which one holds the rows to post cannot be told: {details}."
    )
    if likely:
        message += f" The workbook opens on {likely!r}, likely the one: say so to read it."
    return ShapeQuestion(
        message,
        ask="sheet",
        hint=f'Pick one with --sheet "{likely or names[0]}".',
        choices=[
            Choice(c.name, f"{c.name} ({c.rows:,} data rows)", c.samples)
            for c in decision.candidates
        ],
        suggested=likely,
    )


def _head_rows(book: Book, info: SheetInfo) -> list[tuple[int, list[str]]]:
    out = []
    for number, cells in book.rows(info):
        if number > _HEADER_SCAN_ROWS:
            break
        out.append((number, cells))
    return out


def _named_sheet(book: Book, path: Path, sheet: str) -> str:
    chosen = next((s for s in book.sheets if s.name == sheet), None) or next(
        (s for s in book.sheets if s.name.casefold() == sheet.strip().casefold()), None
    )
    if chosen is None:
        names = [s.name for s in book.sheets]
        raise ShapeQuestion(
            f"{path}: there is no sheet named {sheet!r}; sheets: "
            f"{', '.join(repr(n) for n in names)}.",
            ask="sheet",
            hint="Pass one of them to --sheet.",
            choices=[Choice(s.name, s.name) for s in book.sheets],
        )
    return chosen.name


class XlsxSource:
    """Re-iterable source of ``(row_number, cells)`` for one worksheet of any workbook kind."""

    def __init__(
        self,
        path: Path,
        sheet: str | None,
        header_probe: HeaderProbe,
        *,
        kind: str = "xlsx",
        required: tuple[str, ...] = (),
    ) -> None:
        """Open the workbook once to pick the sheet (``decide_sheet``); a named sheet may be
        hidden. ``header_probe(rows)`` names the fields the first rows of a sheet hold;
        ``required`` are the fields a usable sheet must have."""
        self.path = path
        self.kind = kind
        self.warnings: list[str] = []
        book = open_book(path, kind)
        try:
            self.strict = bool(getattr(book, "strict", False))
            self.formats_seen = book.formats_seen
            if sheet is not None:
                self.sheet = _named_sheet(book, path, sheet)
            else:
                decision = decide_sheet(book, path, header_probe, required)
                if decision.question is not None:
                    raise decision.question
                assert decision.chosen is not None
                self.sheet = decision.chosen
                self.warnings.extend(decision.warnings)
            # Where the sheet is in the file stays the same between opens: each pass reads
            # it directly (an .ods need not list its sheets again).
            self._info = next(s for s in book.sheets if s.name == self.sheet)
        except BatchError:
            raise
        except Exception as exc:  # noqa: BLE001 - any reader failure is the file's, exit 2
            raise read_failure(path, exc) from None
        finally:
            book.close()

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """Every row of the chosen sheet, numbered as the spreadsheet numbers them."""
        book = open_book(self.path, self.kind, list_sheets=False)
        try:
            yield from book.rows(self._info)
        except BatchError:
            raise
        except Exception as exc:  # noqa: BLE001 - any reader failure is the file's, exit 2
            raise read_failure(self.path, exc) from None
        finally:
            book.close()
