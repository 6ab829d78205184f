"""Hostile input: generated and crafted files never crash ``alm-batch validate FILE --offline``.

Each file runs in a subprocess bounded to 60 s and 2 GB of address space. The contract: exit 0
or 1 with a complete, formula-safe CSV report, or exit 2 with exactly one line on stderr; never
a traceback, a hang or a blown memory limit. Hypothesis generates tables (random encodings,
delimiters, quoting, line ends, huge cells, control characters, formula-looking cells) rendered
as CSV or as hand-written XLSX; the crafted cases are the files people (or attackers) really send.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from batch.reporting.layout import needs_neutralising
from bench.soak import craft
from bench.soak.runner import MEMORY_LIMIT, CliResult, run_cli

TIME_LIMIT = 60.0
# No shrinking: each example is a subprocess, and a shrink could take longer than the suite.
# A failure shows the file as generated (the assertion messages carry the evidence).
PHASES = (Phase.explicit, Phase.reuse, Phase.generate)
STATUSES = {"valid", "would_complete", "duplicate", "invalid"}  # --offline: "valid"
HEADER = ["Email", "Course", "Completion Date", "Score"]


@dataclass
class Tally:
    runs: int = 0
    exits: dict[int, int] = field(default_factory=dict)
    slowest: float = 0.0
    peak_mb: float = 0.0
    checked_rows: int = 0

    def add(self, result: CliResult) -> None:
        self.runs += 1
        code = -1 if result.returncode is None else result.returncode
        self.exits[code] = self.exits.get(code, 0) + 1
        self.slowest = max(self.slowest, result.seconds)
        self.peak_mb = max(self.peak_mb, result.peak_rss_mb)

    def line(self, name: str, ok: bool) -> str:
        exits = ", ".join(f"exit {k}: {v}" for k, v in sorted(self.exits.items()))
        return (
            f"SOAK {name}: {'PASS' if ok else 'FAIL'} {self.runs} files ({exits}), "
            f"{self.checked_rows} report rows checked, slowest {self.slowest:.1f} s, "
            f"peak {self.peak_mb:.0f} MB"
        )


def validate(path: Path) -> tuple[CliResult, Path]:
    report = path.with_name(path.name + ".report.csv")
    result = run_cli(
        ["validate", str(path), "--offline", "--report", str(report)],
        cwd=path.parent,
        timeout=TIME_LIMIT,
        memory_limit=MEMORY_LIMIT,
    )
    return result, report


def check_contract(result: CliResult, report: Path) -> list[dict[str, str]]:
    """The contract every file must meet; returns the report rows (empty on exit 2)."""
    assert not result.timed_out, f"no answer in {TIME_LIMIT:.0f} s"
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode in (0, 1, 2), (result.returncode, result.stderr[-2000:])
    if result.returncode == 2:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("alm-batch: "), result.stderr[-2000:]
        assert len(lines[0]) < 2000, "the one line should be readable"
        return []
    assert report.exists(), result.stderr[-2000:]
    csv.field_size_limit(1 << 30)  # messages may quote a whole long cell
    with report.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [dict(zip(header, rec, strict=True)) for rec in reader]
    assert not [c for c in header if needs_neutralising(c)]
    for row in rows:
        assert row["status"] in STATUSES, row
        unsafe = [c for c in row.values() if needs_neutralising(c)]
        assert not unsafe, unsafe
    numbers = [int(r["row"]) for r in rows]
    assert numbers == sorted(set(numbers)), "rows repeated or out of order"
    return rows


# --------------------------------------------------------------------- generated tables
TRICKY = st.sampled_from(
    [
        "",
        " ",
        "=1+1",
        "+SUM(A1)",
        "-2",
        "@cmd",
        '=HYPERLINK("x")',
        '"',
        '""',
        ",",
        ";",
        "\t",
        "|",
        "\r\n",
        "\n",
        "\r",
        "\x00",
        "\x07",
        "\x1b[31m",
        "\u2028",
        "\ufeff",
        "é",
        "ß",
        "€",
        "日本",
        "sep=;",
        "a@b.example",
        "2025-02-30",
        "45000",
        "1e9",
        "NaN",
    ]
)
CELL = st.one_of(
    st.text(max_size=30),
    TRICKY,
    st.lists(TRICKY, min_size=1, max_size=5).map("".join),
    st.integers(1_000, 300_000).map(lambda n: "x" * n),  # huge cells, some past the CSV limit
)
EMAIL = st.one_of(st.sampled_from(["ann@acme.example", "Bob.Lee@acme.example"]), CELL)
DATE = st.one_of(st.sampled_from(["2025-01-31", "31/01/2025", "01/31/2025", "45678"]), CELL)
ROW = st.tuples(EMAIL, st.one_of(st.just("Fire Safety"), CELL), DATE, CELL).map(list)
TABLE = st.lists(ROW, min_size=0, max_size=25)


def render_csv(
    rows: list[list[str]], encoding: str, delimiter: str, quoting: int, eol: str
) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=delimiter, quoting=quoting, lineterminator=eol)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buf.getvalue().encode(encoding, errors="replace")


def expected_rows(rows: list[list[str]]) -> list[int]:
    """Spreadsheet row numbers of the data rows that are not blank (the reader skips those)."""
    return [n for n, r in enumerate(rows, 2) if any(c and not c.isspace() for c in r)]


def xml_safe(text: str) -> str:
    return "".join(
        ch for ch in text if ch in "\t\n\r" or " " <= ch < "\ud800" or "\ue000" <= ch < "\ufffe"
    )


pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def tallies() -> dict[str, Tally]:
    return {"csv": Tally(), "xlsx": Tally()}


@settings(max_examples=70, deadline=None, suppress_health_check=list(HealthCheck), phases=PHASES)
@given(
    rows=TABLE,
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]),
    eol=st.sampled_from(["\r\n", "\n", "\r"]),
)
def test_generated_csv(
    tallies: dict[str, Tally],
    rows: list[list[str]],
    encoding: str,
    delimiter: str,
    quoting: int,
    eol: str,
) -> None:
    with tempfile.TemporaryDirectory(prefix="soak-csv-") as tmp:
        path = Path(tmp) / "generated.csv"
        path.write_bytes(render_csv(rows, encoding, delimiter, quoting, eol))
        result, report = validate(path)
        tallies["csv"].add(result)
        got = check_contract(result, report)
        if got and set(HEADER) <= set(got[0]) and encoding != "cp1252":
            # Header and delimiter read as written: every non-blank data row is reported once.
            want = expected_rows([[c.replace("\r\n", "\n") for c in r] for r in rows])
            assert [int(r["row"]) for r in got] == want
            tallies["csv"].checked_rows += len(got)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), phases=PHASES)
@given(rows=TABLE, strip_illegal=st.booleans())
def test_generated_xlsx(
    tallies: dict[str, Tally], rows: list[list[str]], strip_illegal: bool
) -> None:
    with tempfile.TemporaryDirectory(prefix="soak-xlsx-") as tmp:
        path = Path(tmp) / "generated.xlsx"
        table = [[xml_safe(c) for c in r] for r in rows] if strip_illegal else rows
        # Illegal XML characters go in raw: the sheet is then broken XML (exit 2 expected).
        raw_sheet = (
            craft.SHEET_HEAD
            + "".join(
                craft.row_xml(n, cells, raw=False) for n, cells in enumerate([HEADER, *table], 1)
            )
            + craft.SHEET_TAIL
        )
        craft.write_xlsx(path, raw_sheet)
        result, report = validate(path)
        tallies["xlsx"].add(result)
        got = check_contract(result, report)
        if got and strip_illegal:
            want = expected_rows([[c.replace("\r", "\n") for c in r] for r in table])
            assert [int(r["row"]) for r in got] == want
            tallies["xlsx"].checked_rows += len(got)


def test_generated_summary(tallies: dict[str, Tally], soak_line: Callable[[str], None]) -> None:
    """One line per generator (runs after the two property tests in this module)."""
    for name, tally in tallies.items():
        assert tally.runs, f"{name}: the property test did not run first"
        soak_line(tally.line(f"hostile-generated-{name}", True))


# --------------------------------------------------------------------- crafted files
def _text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _good_xlsx() -> str:
    return craft.sheet_xml([craft.HEADER, ("a@b.example", "X", "2025-01-01", "")])


_FAR = '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'


CRAFTED: dict[str, Callable[[Path], Path]] = {
    "10mb-single-line.csv": lambda p: (
        _text(p, "Email,Course,Completion Date\na@b.example,C," + "x" * 10_000_000 + "\n"),
        p,
    )[1],
    "10mb-line-of-commas.csv": lambda p: (
        _text(
            p, "Email,Course,Completion Date\na@b.example,C,2025-01-01" + "," * 10_000_000 + "\n"
        ),
        p,
    )[1],
    "2m-empty-columns.csv": lambda p: (
        _text(p, "Email,Course,Completion Date" + "," * 2_000_000 + "\na@b.example,C,2025-01-01\n"),
        p,
    )[1],
    "500k-filled-columns.csv": lambda p: (
        _text(p, "Email,Course,Completion Date\na@b.example,C,2025-01-01" + ",v" * 500_000 + "\n"),
        p,
    )[1],
    "unclosed-quote.csv": lambda p: (
        _text(p, 'Email,Course,Completion Date\n"a@b.example,C,2025-01-01\n' * 50_000),
        p,
    )[1],
    "pdf-renamed.csv": lambda p: (p.write_bytes(b"%PDF-1.7\n" + os.urandom(50_000)), p)[1],
    "random-binary.csv": lambda p: (p.write_bytes(os.urandom(1_000_000)), p)[1],
    "empty.csv": lambda p: (p.write_bytes(b""), p)[1],
    "ole-encrypted.xlsx": lambda p: (
        p.write_bytes(
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
            + b"\0" * 4096
            + "EncryptionInfo".encode("utf-16-le")
        ),
        p,
    )[1],
    "truncated-zip.xlsx": lambda p: (
        p.write_bytes(craft.write_xlsx(p, _good_xlsx()).read_bytes()[:400]),
        p,
    )[1],
    "zip-bomb-3gb-rows.xlsx": lambda p: craft.write_xlsx_stream(p, craft.bomb_rows(3 * 1024**3)),
    "zip-bomb-1gb-one-row.xlsx": lambda p: craft.write_xlsx_stream(p, craft.bomb_one_row(1024**3)),
    "zip-bomb-3gb-workbook.xlsx": lambda p: craft.write_xlsx_stream(
        p, (b" " * (1 << 20) for _ in range(3072)), part="xl/workbook.xml"
    ),
    "zip-bomb-1gb-shared-strings.xlsx": lambda p: craft.write_xlsx_stream(
        p, (b"<si><t>x</t></si>" * 60_000 for _ in range(1000)), part="xl/sharedStrings.xml"
    ),
    "30mb-one-row-under-ratio.xlsx": lambda p: craft.write_xlsx_stream(
        p, craft.bomb_one_row(30 * 1024**2)
    ),
    "cell-ref-past-xfd.xlsx": lambda p: craft.write_xlsx(
        p,
        craft.SHEET_HEAD
        + craft.row_xml(1, craft.HEADER)
        + '<row r="2"><c r="ZZZZZZZZZZ2" t="inlineStr"><is><t>x</t></is></c></row>'
        + craft.SHEET_TAIL,
    ),
    "20000-columns.xlsx": lambda p: craft.write_xlsx(
        p, craft.sheet_xml([craft.HEADER, ["a@b.example", "X", "2025-01-01"] + ["v"] * 20_000])
    ),
    "100000-rows.xlsx": lambda p: craft.write_xlsx(
        p,
        craft.sheet_xml(
            [craft.HEADER]
            + [[f"u{n}@b.example", "X", "2025-01-01", "=1+1"] for n in range(100_000)]
        ),
    ),
    "control-chars.xlsx": lambda p: craft.write_xlsx(
        p, craft.sheet_xml([craft.HEADER, ("a@b\x01.example", "X\x07", "2025-01-01", "")], raw=True)
    ),
    "plain-zip.xlsx": lambda p: (zipfile.ZipFile(p, "w").writestr("notes.txt", "hello"), p)[1],
    # A value far from the data: python-calamine allocated rows x columns and aborted (134).
    "far-cell-XFD1048576.xlsx": lambda p: craft.write_xlsx(
        p, craft.sheet_xml([craft.HEADER]).replace(craft.SHEET_TAIL, _FAR + craft.SHEET_TAIL)
    ),
    "far-cell-XFD6000.xlsx": lambda p: craft.write_xlsx(
        p,
        craft.sheet_xml([craft.HEADER]).replace(
            craft.SHEET_TAIL, _FAR.replace("1048576", "6000") + craft.SHEET_TAIL
        ),
    ),
    "far-cell-XFD1048576.xlsb": lambda p: craft.write_xlsb(
        p, [*((0, c, v) for c, v in enumerate(craft.HEADER)), (1_048_575, 16_383, "x")]
    ),
    "far-cell-XFD1048576.ods": lambda p: craft.write_ods(
        p,
        craft.ODS_HEAD
        + craft.ods_row(craft.HEADER)
        + '<table:table-row table:number-rows-repeated="1048574"><table:table-cell/>'
        "</table:table-row><table:table-row>"
        '<table:table-cell table:number-columns-repeated="16383"/>'
        + craft.ods_row(["x"])[len("<table:table-row>") :]
        + craft.ODS_TAIL,
    ),
    "897-byte-repeats.ods": lambda p: craft.write_ods(
        p,
        craft.ODS_HEAD
        + craft.ods_row(craft.HEADER)
        + craft.ods_row(["x"], repeat=1_000_000, cell_repeat=16_384)
        + craft.ODS_TAIL,
    ),
    "zip-bomb-1gb-content.ods": lambda p: craft.write_ods(
        p, (b" " * (1 << 20) for _ in range(1024))
    ),
    "zip-bomb-1gb-sheet.xlsb": lambda p: craft.write_xlsb(
        p, ((0, c, v) for c, v in enumerate(craft.HEADER)), pad=1024**3
    ),
    "1.8m-shared-strings.xlsx": lambda p: craft.write_xlsx(
        p,
        craft.SHEET_HEAD + '<row r="1"><c r="A1" t="s"><v>0</v></c></row>' + craft.SHEET_TAIL,
        extra={
            "xl/sharedStrings.xml": b'<sst xmlns="http://schemas.openxmlformats.org/'
            b'spreadsheetml/2006/main">' + b"<si><t>x</t></si>" * 1_800_000 + b"</sst>"
        },
    ),
    "row-2-twice.xlsx": lambda p: craft.write_xlsx(
        p,
        craft.sheet_xml([craft.HEADER, ("a@b.example", "X", "2025-01-01", "")]).replace(
            craft.SHEET_TAIL,
            craft.row_xml(2, ("c@b.example", "X", "2025-01-01")) + craft.SHEET_TAIL,
        ),
    ),
    "unknown-xml-encoding.xlsx": lambda p: craft.write_xlsx(
        p, _good_xlsx().replace('encoding="UTF-8"', 'encoding="x-no-such-codec"')
    ),
}
# Exit 2 with these words, for the files that once crashed the process or lost a row.
EXPECTED_MESSAGE = {
    "far-cell-XFD1048576.xlsx": "has a value in cell XFD1048576",
    "far-cell-XFD6000.xlsx": "has a value in cell XFD6000",
    "far-cell-XFD1048576.xlsb": "has a value in cell XFD1048576",
    "far-cell-XFD1048576.ods": "has a value in cell XFD1048576",
    "897-byte-repeats.ods": "has a value in cell XFD",
    "zip-bomb-1gb-content.ods": "unpacks to 1,024 MB",
    "zip-bomb-1gb-sheet.xlsb": "unpacks to",
    "1.8m-shared-strings.xlsx": "shared-string table holds more than",
    "row-2-twice.xlsx": "row 2 appears twice in sheet 'Sheet1'",
}


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted(name: str, tmp_path: Path, soak_line: Callable[[str], None]) -> None:
    path = CRAFTED[name](tmp_path / name)
    size = path.stat().st_size
    result, report = validate(path)
    try:
        rows = check_contract(result, report)
    except AssertionError:
        soak_line(f"SOAK hostile/{name}: FAIL exit {result.returncode} in {result.seconds:.1f} s")
        raise
    message = result.stderr.strip().replace(str(path), path.name)
    if name in EXPECTED_MESSAGE:
        assert result.returncode == 2 and EXPECTED_MESSAGE[name] in message, message
    what = f"{len(rows)} report rows" if result.returncode != 2 else message[:140]
    soak_line(
        f"SOAK hostile/{name}: PASS exit {result.returncode} in {result.seconds:.1f} s, "
        f"{result.peak_rss_mb:.0f} MB peak, file {size / 1024**2:.1f} MB: {what}"
    )
