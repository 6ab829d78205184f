"""The page accepts the files the CLI reads and says what the CLI says about them: every format
the reader knows (.xls, .xlsb, .ods and .xlsm, .csv, .tsv, .txt beside .xlsx), the CLI's own
explanation for a file that is not what its name claims, and a JSON 400 (never a 500 or a
traceback) with the upload removed when a reader fails in any way."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from batch.cli import CliEnv, main
from batch.web.app import HERE
from batch.web.registry import Registry
from tests.fixtures.make_legacy import HEADER, ROWS
from tests.fixtures.make_xlsb import write_xlsb
from tests.web_support import H, site, upload

FIXTURES = Path(__file__).parent / "fixtures"
TEXT = "Email,Course,Completion Date\njane.doe@acme.com,Fire Safety,2025-03-14\n"


def cli_message(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """What ``alm-batch validate FILE --offline`` says about ``path`` (exit 2), without the
    ``alm-batch:`` prefix."""
    code = main(["validate", str(path), "--offline"], CliEnv(stdout=io.StringIO()))
    err = capsys.readouterr().err
    assert code == 2, err
    return err.strip().removeprefix("alm-batch: ")


def stored(s: Any) -> list[Path]:
    return list((s.state_dir / "web" / "uploads").iterdir())


def make(name: str, tmp_path: Path) -> Path:
    path = tmp_path / name
    suffix = path.suffix
    if suffix in (".xls", ".ods"):
        shutil.copy(FIXTURES / f"legacy{suffix}", path)
    elif suffix == ".xlsb":
        write_xlsb(path, [HEADER, *ROWS])
    elif suffix == ".xlsm":
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        for row in [HEADER, *ROWS]:
            sheet.append(row)
        book.save(path)
    else:
        path.write_text(TEXT.replace(",", "\t") if suffix == ".tsv" else TEXT, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["hr.xls", "hr.xlsb", "hr.ods", "hr.xlsm", "hr.tsv", "hr.txt"])
def test_every_format_the_cli_reads_is_accepted(name: str, tmp_path: Path) -> None:
    path = make(name, tmp_path)
    with site(tmp_path) as s:
        up = upload(s.client, path)
        assert up["file"] == name and up["missing"] == []
        assert up["rows"] == (1 if path.suffix in (".tsv", ".txt") else len(ROWS))
        assert [p.suffix for p in stored(s)] == [path.suffix]  # the stored copy keeps its kind


def test_the_file_dialog_offers_every_format() -> None:
    index = (HERE / "templates" / "index.html").read_text(encoding="utf-8")
    for suffix in (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"):
        assert suffix in index.split('accept="', 1)[1].split('"', 1)[0], suffix


def not_what_it_claims(tmp_path: Path) -> dict[str, Path]:
    files = {
        "export.xls": b"<!DOCTYPE html><html><body><table><tr><td>Email</td></tr></table>",
        "report.xlsx": b"%PDF-1.7 a report",
        "scan.csv": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        "data.ods": b"",  # an empty file
        "sheet.xls": (
            b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:'
            b'spreadsheet"><Worksheet/></Workbook>'
        ),
    }
    out = {}
    for name, data in files.items():
        out[name] = tmp_path / name
        out[name].write_bytes(data)
    word = tmp_path / "letter.xlsx"
    with zipfile.ZipFile(word, "w") as zf:
        zf.writestr("word/document.xml", "<w:document/>")
    out["letter.xlsx"] = word
    return out


def test_a_file_that_is_not_what_its_name_claims_gets_the_clis_explanation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = not_what_it_claims(tmp_path)
    with site(tmp_path) as s:
        for name, path in files.items():
            with path.open("rb") as fh:
                r = s.client.post("/api/uploads", files={"file": (name, fh)}, headers=H)
            assert r.status_code == 400, name
            expected = cli_message(path, capsys).replace(str(path), name)
            assert r.json()["error"] == expected, name
            assert stored(s) == []
    assert "web page (HTML)" in cli_message(files["export.xls"], capsys)


def bad_encoding_xlsx(path: Path) -> Path:
    """A workbook whose sheet declares an encoding Python does not know."""
    source = path.with_name("source.xlsx")
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Email", "Course", "Completion Date"])
    sheet.append(["jane.doe@acme.com", "Fire Safety", "2025-03-14"])
    book.save(source)
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = b'<?xml version="1.0" encoding="x-no-such"?>' + data.split(b"?>", 1)[-1]
            out.writestr(info, data)
    return path


def test_an_unknown_encoding_in_a_workbook_is_a_json_400_and_the_upload_is_removed(
    tmp_path: Path,
) -> None:
    path = bad_encoding_xlsx(tmp_path / "odd.xlsx")
    with site(tmp_path) as s:
        with path.open("rb") as fh:
            r = s.client.post("/api/uploads", files={"file": ("odd.xlsx", fh)}, headers=H)
        assert r.status_code == 400 and r.headers["content-type"] == "application/json"
        assert r.json()["error"].startswith("odd.xlsx ")
        assert "uploads" not in r.json()["error"] and "Traceback" not in r.text
        assert stored(s) == []


class PanicException(BaseException):  # noqa: N818 - named as pyo3's, which calamine raises
    """A BaseException from a reader (as pyo3 panics were): not an ``Exception``."""


# StopIteration: a reader's bare next() (raised into the awaiting request it left it hanging).
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "failure", [PanicException("index out of bounds"), StopIteration(), LookupError("x")]
)
def test_any_reader_failure_is_a_json_400_on_every_route_that_reads(
    failure: BaseException, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with site(tmp_path) as s:
        c = s.client
        ok = upload(c, make("hr.csv", tmp_path))
        original = Registry.shape

        def failing(self: Registry, up: Any, choice: Any) -> Any:
            raise failure

        monkeypatch.setattr(Registry, "shape", failing)
        r = c.post("/api/uploads", files={"file": ("crash.ods", b"PK\x03\x04")}, headers=H)
        assert r.status_code == 400, r.text
        message = r.json()["error"]
        assert message.startswith("crash.ods could not be read (")
        assert "save it again as .xlsx" in message
        assert [p.suffix for p in stored(s)] == [".csv"]  # only the earlier, good upload
        uid = ok["upload_id"]
        assert c.get(f"/api/uploads/{uid}", params={"sheet": "x"}).status_code == 400
        dry = c.post(f"/api/uploads/{uid}/dry-run", json={}, headers=H)
        assert dry.status_code == 400 and "could not be read" in dry.json()["error"]
        page = c.get(f"/uploads/{uid}", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "could not be read" in page.text
        monkeypatch.setattr(Registry, "shape", original)
        assert c.get(f"/api/uploads/{uid}").status_code == 200  # the server carries on
