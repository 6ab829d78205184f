"""Work out what a file is before reading it: format, text encoding and delimiter.

Users rename files freely ("report.csv" that is really an .xlsx, a PDF saved as .csv), so the
format comes from the first bytes, not the extension. Each unreadable case gets one line that
says what the file is and how to turn it into something readable.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch.errors import InputError, UsageError

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
DELIMITERS = (",", ";", "\t", "|")
_CHUNK = 1 << 20
_ENCRYPTED_MARK = "EncryptionInfo".encode("utf-16-le")


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What one pass over the bytes learned: digest, format and (for text) the encoding."""

    sha256: str
    format: str  # "csv" or "xlsx" (any workbook: reports and failed rows are written as .xlsx)
    encoding: str | None  # None for workbooks
    bom_length: int  # bytes of BOM to skip (0 when the codec strips it itself)
    kind: str = ""  # "csv", "xlsx", "xls", "xlsb", "ods": what the file really is
    lenient: bool = False  # UTF-8 with a few bad bytes: decoded with U+FFFD, cells flagged
    nul_padded: bool = False  # text padded with NUL bytes (some system exports): NULs dropped


def inspect_file(path: Path, encoding: str | None) -> FileFacts:
    """Hash the file and classify it; raise ``InputError`` for anything we cannot read."""
    where = str(path)
    if not path.exists():
        raise InputError(f"{where}: file not found; check the path and the current directory.")
    if path.is_dir():
        raise InputError(f"{where} is a folder, not a file: give the path of a CSV or .xlsx file.")
    if encoding is not None:
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            raise UsageError(
                f"--encoding {encoding!r} is not a known encoding; try utf-8, cp1252 or utf-16."
            ) from None
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            head = fh.read(_CHUNK)
            digest.update(head)
            kind = _kind_from_head(head, path)
            utf8 = codecs.getincrementaldecoder("utf-8")()
            utf8_ok = kind == "text" and encoding is None
            has_nul = b"\x00" in head
            encrypted = _ENCRYPTED_MARK in head
            first = True
            chunk = head
            while chunk:
                if utf8_ok:
                    try:
                        utf8.decode(
                            chunk[3:] if first and chunk.startswith(codecs.BOM_UTF8) else chunk
                        )
                    except UnicodeDecodeError:
                        utf8_ok = False
                first = False
                chunk = fh.read(_CHUNK)
                if chunk:
                    digest.update(chunk)
                    if kind == "ole" and not encrypted:
                        encrypted = _ENCRYPTED_MARK in chunk
                    has_nul = has_nul or b"\x00" in chunk
            if utf8_ok:
                try:
                    utf8.decode(b"", final=True)
                except UnicodeDecodeError:
                    utf8_ok = False
    except PermissionError:
        raise InputError(f"{where}: permission denied; check the file's permissions.") from None
    except OSError as exc:
        raise InputError(f"{where}: cannot be read ({exc.strerror or exc}).") from None
    sha = digest.hexdigest()
    if kind == "empty":
        raise InputError(
            f"{where} is empty: export the spreadsheet again with a header row and data rows."
        )
    if kind == "ole":
        if encrypted:
            raise InputError(
                f"{where} is a password-protected (encrypted) workbook: open it in Excel, remove "
                "the password (File > Info > Protect Workbook) or save an unprotected copy as .xlsx."
            )
        return FileFacts(sha, "xlsx", None, 0, "xls")  # Excel 97-2003: read by xlrd
    if kind in ("xlsx", "xlsb", "ods"):
        return FileFacts(sha, "xlsx", None, 0, kind)
    # Text: pick the encoding.
    lenient = False
    nul_padded = has_nul and encoding is None and _nul_padded(head)
    if nul_padded:
        head = head.replace(b"\x00", b"")
        has_nul = False
    if encoding is None:
        encoding, bom = _detect_encoding(head, utf8_ok, has_nul, where)
        if not utf8_ok and not encoding.startswith("utf-16") and mostly_utf8(path):
            encoding, bom, lenient = "utf-8", _bom_length(head, "utf-8"), True
    else:
        bom = _bom_length(head, encoding)
    return FileFacts(sha, "csv", encoding, bom, "csv", lenient, nul_padded)


def _nul_padded(head: bytes) -> bool:
    """NUL bytes that are padding, not UTF-16 and not binary data: without them the bytes
    read as text (few control characters)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    sample = head[:4096]
    half = len(sample) // 2
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if (odd > half * 0.3 and even < half * 0.05) or (even > half * 0.3 and odd < half * 0.05):
        return False  # the UTF-16 pattern: one byte of each pair is NUL
    text = head.replace(b"\x00", b"")[:65536]
    if not text.strip():
        return False
    control = sum(1 for b in text if b < 32 and b not in (9, 10, 13))
    return control <= max(2, len(text) // 100)


_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_ASCII = bytes(range(128))


def mostly_utf8(path: Path) -> bool:
    """True when most non-ASCII bytes form valid UTF-8 sequences: a UTF-8 file with a few bad
    bytes (a pasted Windows-1252 "é"), which is read as UTF-8 with those cells flagged, not
    re-decoded as Windows-1252, which would garble every accented name."""
    valid = invalid = 0
    carry = b""
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            data = carry + chunk
            cut = len(data)
            while cut > 0 and len(data) - cut < 3 and data[cut - 1] >= 0x80:
                cut -= 1  # keep a sequence split by the chunk edge for the next round
            data, carry = data[:cut], data[cut:]
            high = len(data.translate(None, _ASCII))
            seq_bytes = sum(len(m) for m in _UTF8_SEQUENCE.findall(data))
            valid += seq_bytes
            invalid += high - seq_bytes
    invalid += len(carry)
    return valid > 0 and valid >= 2 * invalid


def _kind_from_head(head: bytes, path: Path) -> str:
    where = str(path)
    if not head:
        return "empty"
    if head.startswith(OLE_MAGIC):
        return "ole"
    if head.startswith(b"%PDF"):
        raise InputError(
            f"{where} is a PDF document, not a spreadsheet: export the data from its source "
            "as CSV or .xlsx."
        )
    if head.startswith(ZIP_MAGIC):
        return _zip_kind(path)
    for magic, what in (
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"\x1f\x8b", "a gzip archive"),
        (b"7z\xbc\xaf", "a 7-Zip archive"),
        (b"{\\rtf", "an RTF document"),
    ):
        if head.startswith(magic):
            raise InputError(f"{where} is {what}, not a spreadsheet: give a CSV or .xlsx file.")
    if not head.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        return "empty"
    return "text"


def _zip_kind(path: Path) -> str:
    """A zip is an .xlsx/.xlsm, an .ods, a Word file or just a zip: tell them apart."""
    where = str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "mimetype" in names:
                with zf.open("mimetype") as member:  # read(): a bomb would unpack it all
                    mime = member.read(100)
                if b"opendocument.spreadsheet" in mime:
                    return "ods"
    except zipfile.BadZipFile:
        raise InputError(
            f"{where} looks like a damaged Excel/zip file: open it in Excel and save it again "
            "as .xlsx."
        ) from None
    if "xl/workbook.bin" in names:
        return "xlsb"
    if "xl/workbook.xml" in names or any(n.startswith("xl/workbook") for n in names):
        return "xlsx"
    if "word/document.xml" in names:
        raise InputError(f"{where} is a Word document, not a spreadsheet: give a CSV or .xlsx.")
    raise InputError(
        f"{where} is a zip archive, not a spreadsheet: unzip it and give the CSV or .xlsx inside."
    )


def _bom_length(head: bytes, encoding: str) -> int:
    if encoding == "utf-8" and head.startswith(codecs.BOM_UTF8):
        return 3
    return 0


def _detect_encoding(head: bytes, utf8_ok: bool, has_nul: bool, where: str) -> tuple[str, int]:
    if head.startswith(codecs.BOM_UTF8):
        if utf8_ok:
            return "utf-8-sig", 0
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", 0
    if has_nul:
        sample = head[:4096]
        even_nul = sample[0::2].count(0)
        odd_nul = sample[1::2].count(0)
        half = len(sample) // 2
        if odd_nul > half * 0.3 and even_nul < half * 0.05:
            return "utf-16-le", 0
        if even_nul > half * 0.3 and odd_nul < half * 0.05:
            return "utf-16-be", 0
        raise InputError(
            f"{where} contains binary data, not text: give a CSV (comma, semicolon or tab "
            "separated) or an .xlsx workbook."
        )
    if utf8_ok:
        return "utf-8", 0
    # Not UTF-8: Windows "Save as CSV" writes the ANSI code page, nearly always cp1252 in
    # the markets ALM serves. Only when cp1252 cannot even decode it do we ask for a guess.
    try:
        head.decode("cp1252")
        return "cp1252", 0
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(head).best()
    if best is not None and best.encoding:
        return codecs.lookup(best.encoding).name, 0
    return "latin-1", 0


def open_text(path: Path, facts: FileFacts) -> io.TextIOWrapper:
    """Open the file as text with universal newline *recognition* but no translation.

    ``newline=""`` lets the csv module see CR, LF and CRLF (and quoted newlines) itself.
    """
    raw: io.BufferedReader = path.open("rb")
    if facts.nul_padded:
        raw = io.BufferedReader(_WithoutNul(raw))
    if facts.bom_length:
        raw.read(facts.bom_length)
    assert facts.encoding is not None
    errors = "replace" if facts.lenient else "strict"
    return io.TextIOWrapper(raw, encoding=facts.encoding, errors=errors, newline="")


class _WithoutNul(io.RawIOBase):
    """A byte stream with its NUL bytes dropped (a NUL-padded export read as the text it is)."""

    def __init__(self, inner: io.BufferedIOBase) -> None:
        self.inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while True:
            chunk = self.inner.read(len(view))
            if not chunk:
                return 0
            chunk = chunk.replace(b"\x00", b"")
            if chunk:
                view[: len(chunk)] = chunk
                return len(chunk)

    def close(self) -> None:
        self.inner.close()
        super().close()


def looks_binary(text: str) -> bool:
    """Control characters (other than tab/CR/LF) in decoded text mean junk, not a CSV."""
    if not text:
        return False
    bad = sum(1 for ch in text if ch < " " and ch not in "\t\r\n")
    return bad > max(2, len(text) // 100)


def sniff_delimiter(sample: str) -> str:
    """Pick the delimiter among , ; tab | that splits the sample's records most consistently.

    csv.Sniffer guesses from any character and is easily fooled by commas inside names or
    dates; here each candidate parses the sample with real quoting rules, and the one whose
    most common field count (> 1) covers the most records wins (ties: more fields).
    """
    best = (",", (0, 0, 0))
    for delim in DELIMITERS:
        counts: dict[int, int] = {}
        try:
            for i, rec in enumerate(csv.reader(io.StringIO(sample), delimiter=delim)):
                if i >= 50:
                    break
                if any(cell.strip() for cell in rec):
                    counts[len(rec)] = counts.get(len(rec), 0) + 1
        except csv.Error:
            continue
        multi = {n: c for n, c in counts.items() if n > 1}
        if not multi:
            continue
        fields, freq = max(multi.items(), key=lambda kv: (kv[1], kv[0]))
        score = (freq, fields, -DELIMITERS.index(delim))
        if score > best[1]:
            best = (delim, score)
    return best[0]
