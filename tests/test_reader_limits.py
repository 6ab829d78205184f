"""Hostile and damaged workbooks of every kind stop with one clear line (exit 2), fast and in
bounded memory: far cells, ODS repeats, zip bombs, repeated rows, shared-string floods, unknown
encodings and broken XML. Files that once killed the process run the CLI in a subprocess with
a memory limit, so a regression fails a test instead of killing pytest."""

from __future__ import annotations

import io
import struct
import time
import zipfile
from pathlib import Path

import pytest

from batch.cli import CliEnv, main
from batch.errors import InputError
from batch.reader import open_table
from bench.soak.runner import run_cli
from tests.fixtures.make_xlsb import record, wide
from tests.workbook_craft import (
    HEADER,
    ROW,
    letters,
    ods_cell,
    ods_row,
    ods_text_row,
    write_ods,
    write_xlsb,
    write_xlsx,
    xlsb_cells,
    xlsx_row,
)


def _far_cell(tmp_path: Path, kind: str, ref: tuple[int, int]) -> Path:
    """A header, one data row and one value at (row, 0-based column)."""
    row, col = ref
    path = tmp_path / f"far.{kind}"
    if kind == "xlsx":
        far = f'<row r="{row}"><c r="{letters(col)}{row}" t="inlineStr"><is><t>x</t></is></c></row>'
        return write_xlsx(path, xlsx_row(1, HEADER) + xlsx_row(2, ROW) + far)
    if kind == "xlsb":
        cells = [(0, list(enumerate(HEADER))), (1, list(enumerate(ROW))), (row - 1, [(col, "x")])]
        return write_xlsb(path, xlsb_cells(cells))
    rows = ods_text_row(HEADER) + ods_text_row(ROW)
    rows += ods_row(ods_cell(repeat=1)) if row > 3 else ""
    rows = rows.replace(
        ods_row(ods_cell(repeat=1)), ods_row(ods_cell(repeat=1), repeat=row - 3)
    )  # empty rows down to the far one, as LibreOffice writes them
    rows += ods_row(ods_cell(repeat=col), ods_cell("x", value_type="string"))
    return write_ods(path, {"Sheet1": rows})


@pytest.mark.parametrize("kind", ["xlsx", "xlsb", "ods"])
@pytest.mark.parametrize(
    ("ref", "name"), [((1_048_576, 16_383), "XFD1048576"), ((6000, 16_383), "XFD6000")]
)
def test_a_value_far_from_the_data_is_refused_by_its_cell(
    tmp_path: Path, kind: str, ref: tuple[int, int], name: str
) -> None:
    path = _far_cell(tmp_path, kind, ref)
    assert path.stat().st_size < 5_000
    started = time.monotonic()
    with pytest.raises(InputError) as err:
        list(open_table(path).iter_rows())
    message = str(err.value)
    assert f"sheet 'Sheet1' has a value in cell {name}" in message, message
    assert "past the 20,000,000 cells this tool reads" in message
    assert "delete the rows and columns past the data" in message
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("kind", ["xlsx", "xlsb", "ods"])
def test_a_value_a_little_right_of_the_data_is_read(tmp_path: Path, kind: str) -> None:
    path = _far_cell(tmp_path, kind, (40, 30))
    rows = list(open_table(path).iter_rows())
    assert [r.row for r in rows] == [2, 40]
    assert rows[1].values["Column AE"] == "x"


def test_the_far_cell_file_that_aborted_the_process_exits_2(tmp_path: Path) -> None:
    """A 5 KB .xlsx with one value in XFD1048576 made python-calamine allocate 512 GiB and
    abort (exit 134). In a subprocess with 1 GB of address space: exit 2 and the message."""
    path = _far_cell(tmp_path, "xlsx", (1_048_576, 16_383))
    result = run_cli(
        ["validate", path.name, "--offline"], cwd=tmp_path, timeout=60, memory_limit=1024**3
    )
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "has a value in cell XFD1048576" in lines[0], result.stderr


def test_an_ods_that_repeats_one_value_without_end_is_refused_small(tmp_path: Path) -> None:
    """An 897-byte .ods with repeated rows and columns grew past 12 GB through calamine."""
    rows = ods_text_row(HEADER) + ods_row(
        ods_cell("x", value_type="string", repeat=16_384), repeat=1_000_000
    )
    path = write_ods(tmp_path / "repeats.ods", {"Sheet1": rows})
    assert path.stat().st_size < 1_500
    result = run_cli(
        ["validate", path.name, "--offline"], cwd=tmp_path, timeout=60, memory_limit=1024**3
    )
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "sheet 'Sheet1' has a value in cell XFD" in result.stderr
    assert result.peak_rss_mb < 300, result.peak_rss_mb


def test_libreoffice_style_empty_repeats_to_the_last_row_and_column_cost_nothing(
    tmp_path: Path,
) -> None:
    rows = (
        ods_row(*(ods_cell(v, value_type="string") for v in HEADER), ods_cell(repeat=16_381))
        + ods_row(*(ods_cell(v, value_type="string") for v in ROW), ods_cell(repeat=16_381))
        + ods_row(ods_cell(repeat=16_384), repeat=1_048_574)
    )
    path = write_ods(tmp_path / "calc.ods", {"Sheet1": rows})
    table = open_table(path)
    assert table.columns == list(HEADER)
    assert [(r.row, r.fields["email"]) for r in table.iter_rows()] == [(2, ROW[0])]


def _bomb(size: int) -> bytes:
    return b" " * size  # deflates about 1,000 times


@pytest.mark.parametrize("kind", ["ods", "xlsb", "xlsx"])
def test_every_zip_based_kind_is_checked_for_bombs_before_reading(
    tmp_path: Path, kind: str
) -> None:
    """A part that unpacks more than 100 times its packed size (past 32 MB) is refused from
    the zip's directory; a 4.7 MB .ods whose content.xml is 1 GB was read unchecked."""
    path = tmp_path / f"bomb.{kind}"
    if kind == "ods":
        write_ods(path, {}, content=_bomb(40 * 1024**2))
    elif kind == "xlsb":
        write_xlsb(
            path,
            xlsb_cells([(0, list(enumerate(HEADER)))]),
            extra={"xl/x.bin": _bomb(40 * 1024**2)},
        )
    else:
        write_xlsx(path, xlsx_row(1, HEADER) + " " * (40 * 1024**2))
    with pytest.raises(InputError, match=r"unpacks to 40 MB, [\d,]+ times its packed size"):
        open_table(path)


@pytest.mark.parametrize("kind", ["xlsx", "xlsb"])
def test_a_row_that_appears_twice_is_refused_not_dropped(tmp_path: Path, kind: str) -> None:
    """Two <row r="2">: one data row disappeared from the run and the report without a word."""
    path = tmp_path / f"twice.{kind}"
    other = ("b@acme.example", "Fire Safety", "2025-03-02")
    if kind == "xlsx":
        write_xlsx(path, xlsx_row(1, HEADER) + xlsx_row(2, ROW) + xlsx_row(2, other))
    else:
        rows = [
            (0, list(enumerate(HEADER))),
            (1, list(enumerate(ROW))),
            (1, list(enumerate(other))),
        ]
        write_xlsb(path, xlsb_cells(rows))
    err = io.StringIO()
    code = main(["validate", str(path), "--offline"], CliEnv(stdout=io.StringIO(), stderr=err))
    assert code == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and "row 2 appears twice in sheet 'Sheet1'" in lines[0], lines


def test_rows_out_of_order_are_refused(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "order.xlsx", xlsx_row(1, HEADER) + xlsx_row(5, ROW) + xlsx_row(3, ROW)
    )
    with pytest.raises(InputError, match="row 3 comes after row 5 in sheet 'Sheet1'"):
        list(open_table(path).iter_rows())


def test_a_flood_of_shared_strings_is_refused_without_holding_them(tmp_path: Path) -> None:
    """An 81 KB .xlsx with 1.8 M shared strings cost about 400 MB per upload."""
    sst = b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    sst += b"<si><t>x</t></si>" * 1_800_000 + b"</sst>"
    sheet = '<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
    path = write_xlsx(tmp_path / "sst.xlsx", sheet, shared_strings=sst)
    assert path.stat().st_size < 200_000
    result = run_cli(
        ["validate", path.name, "--offline"], cwd=tmp_path, timeout=60, memory_limit=1024**3
    )
    assert result.returncode == 2, result.stderr
    assert "its shared-string table holds more than 10,0" in result.stderr  # 10,000 + sheet
    assert result.peak_rss_mb < 200, result.peak_rss_mb


@pytest.mark.parametrize("kind", ["xlsx", "ods"])
def test_an_unknown_xml_encoding_is_one_line_not_a_traceback(tmp_path: Path, kind: str) -> None:
    head = '<?xml version="1.0" encoding="x-no-such-codec"?>'
    path = tmp_path / f"enc.{kind}"
    if kind == "xlsx":
        write_xlsx(path, xlsx_row(1, HEADER) + xlsx_row(2, ROW), xml_head=head)
    else:
        write_ods(path, {}, content=(head + "<office:document-content/>").encode())
    err = io.StringIO()
    code = main(["validate", str(path), "--offline"], CliEnv(stdout=io.StringIO(), stderr=err))
    assert code == 2, err.getvalue()
    assert "Traceback" not in err.getvalue() and len(err.getvalue().strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("kind", "broken"),
    [
        ("ods", b"<office:document-content><table:table"),
        ("xlsb", record(0x0081) + b"\x91\x01\xff\xff\xff\x7f"),  # a record claiming 256 MB
        ("xlsb", record(0x0081) + record(0x0000, b"\x01")),  # a row header cut short
    ],
)
def test_malformed_parts_are_an_input_error(tmp_path: Path, kind: str, broken: bytes) -> None:
    path = tmp_path / f"broken.{kind}"
    if kind == "ods":
        write_ods(path, {}, content=broken)
    else:
        write_xlsb(path, broken)
    with pytest.raises(InputError, match="could not be read"):
        list(open_table(path).iter_rows())


def test_an_xlsb_string_that_runs_past_its_record_is_an_input_error(tmp_path: Path) -> None:
    cell = struct.pack("<II", 0, 0) + struct.pack("<I", 1000) + "ab".encode("utf-16-le")
    sheet = record(0x0081) + record(0x0091) + record(0x0000, bytes(17)) + record(0x0006, cell)
    path = write_xlsb(tmp_path / "cut.xlsb", sheet + record(0x0092))
    with pytest.raises(InputError, match="could not be read"):
        list(open_table(path).iter_rows())
    assert wide("x")  # the fixture's string writer is the one the reader's test files use


def test_a_plain_zip_named_ods_is_not_a_spreadsheet(tmp_path: Path) -> None:
    path = tmp_path / "notes.ods"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", "<x/>")
    with pytest.raises(InputError, match="content.xml holds no spreadsheet"):
        open_table(path)


def test_the_page_answers_400_to_a_far_cell_upload_and_keeps_serving(tmp_path: Path) -> None:
    """One such upload killed the server together with the live run it was writing."""
    from tests.web_support import H, site

    path = _far_cell(tmp_path, "xlsx", (1_048_576, 16_383))
    with site(tmp_path) as s:
        with path.open("rb") as fh:
            r = s.client.post("/api/uploads", files={"file": (path.name, fh)}, headers=H)
        assert r.status_code == 400, r.text
        assert "sheet 'Sheet1' has a value in cell XFD1048576" in r.json()["error"]
        assert s.client.get("/").status_code == 200


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


@pytest.mark.parametrize("kind", ["xlsx", "xlsb", "ods", "xls"])
def test_mutated_workbooks_read_or_fail_as_input_errors_only(tmp_path: Path, kind: str) -> None:
    """Mutated .xlsb and .ods files raised pyo3's PanicException (past ``except Exception``)
    or aborted inside python-calamine. Bytes of each part are flipped, cut or repeated (the zip
    itself stays sound, so the parsers see the damage): every file reads or is an InputError."""
    import random

    rows = [list(HEADER), list(ROW), ["b@acme.example", "Fire Safety", "2025-03-02"]]
    if kind == "xls":
        original = (Path(__file__).parent / "fixtures" / "legacy.xls").read_bytes()
    elif kind == "xlsb":
        original = b""
        parts = _parts(write_xlsb(tmp_path / "ok.xlsb", xlsb_cells(
            (r, list(enumerate(cells))) for r, cells in enumerate(rows)
        )))  # fmt: skip
    elif kind == "ods":
        original = b""
        parts = _parts(
            write_ods(tmp_path / "ok.ods", {"Data": "".join(ods_text_row(r) for r in rows)})
        )
    else:
        original = b""
        parts = _parts(
            write_xlsx(tmp_path / "ok.xlsx", "".join(xlsx_row(n, r) for n, r in enumerate(rows, 1)))
        )
    rng = random.Random(f"mutate-{kind}")
    outcomes = {"read": 0, "refused": 0}
    for i in range(300):
        path = tmp_path / f"m{i}.{kind}"
        if kind == "xls":
            path.write_bytes(_mutate(rng, original))
        else:
            victim = rng.choice([n for n in parts if n != "mimetype"])
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
                for name, data in parts.items():
                    zf.writestr(name, _mutate(rng, data) if name == victim else data)
        try:
            list(open_table(path, require=()).iter_rows())
            outcomes["read"] += 1
        except InputError as exc:
            assert "\n" not in str(exc)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0, outcomes  # the mutations did reach the parsers


def _mutate(rng: object, data: bytes) -> bytes:
    import random

    assert isinstance(rng, random.Random)
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(out))
        action = rng.random()
        if action < 0.6:
            out[at] = rng.randrange(256)
        elif action < 0.8:
            del out[at : at + rng.randint(1, 64)]
        else:
            out[at:at] = out[at : at + rng.randint(1, 64)] * rng.randint(2, 50)
    return bytes(out)
