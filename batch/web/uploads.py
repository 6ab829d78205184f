"""Uploaded files: streamed to the state directory under generated names, capped in size while
they arrive, deleted after ``--keep-days``; and the mappings remembered per set of headers."""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import IO, Any

from batch.errors import InputError
from batch.web.limits import BodyRules, paced

# The suffixes the CLI's reader is known for. The reader goes by the content, not the name (a
# web page saved as .xls gets its own explanation), so any file is accepted, as the CLI accepts
# any path; a known suffix is kept on the stored copy (messages name the kind it claims to be),
# any other becomes UNKNOWN_SUFFIX.
READER_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
UNKNOWN_SUFFIX = ".upload"


class TooLarge(Exception):
    """The request body passed the size cap: stop reading it."""


async def capped(
    stream: AsyncIterator[bytes], limit: int, rules: BodyRules | None = None
) -> AsyncGenerator[bytes, None]:
    """Pass ``stream`` through, raising ``TooLarge`` as soon as more than ``limit`` bytes came
    and ``TooSlow`` as soon as the bytes fall behind the pace of ``rules``."""
    rules = rules or BodyRules()
    seen, started = 0, time.monotonic()
    chunks = stream.__aiter__()
    while True:
        try:
            chunk = await paced(chunks.__anext__, rules, seen, started)
        except StopAsyncIteration:
            return
        seen += len(chunk)
        if seen > limit:
            raise TooLarge
        yield chunk


def stored_suffix(filename: str) -> str:
    """The suffix the stored copy of ``filename`` gets."""
    suffix = Path(filename).suffix.lower()
    return suffix if suffix in READER_SUFFIXES else UNKNOWN_SUFFIX


def unreadable(path: Path, exc: BaseException) -> InputError:
    """The command line's exit-2 answer for a file its reader failed on in an unforeseen way
    (the words of ``xlsx_source`` for a workbook it cannot open)."""
    return InputError(
        f"{path} could not be read ({type(exc).__name__}): open it in Excel and save it again "
        "as .xlsx, or export it as 'CSV UTF-8'."
    )


class UploadStore:
    """``<state>/web/uploads/<random>.<ext>``; never the person's file name on disk."""

    def __init__(self, state_dir: Path, keep_days: float) -> None:
        self.folder = state_dir / "web" / "uploads"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.jobs_folder = state_dir / "web" / "jobs"
        self.mappings_path = state_dir / "web" / "mappings.json"
        self.keep_seconds = keep_days * 86400
        self._lock = threading.Lock()

    def save(self, source: IO[bytes], suffix: str) -> Path:
        path = self.folder / f"{secrets.token_hex(12)}{suffix}"
        with path.open("wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
        return path

    def clean(self, now: float | None = None) -> int:
        """Delete uploads and job folders older than ``--keep-days``; returns how many."""
        cutoff = (now if now is not None else time.time()) - self.keep_seconds
        removed = 0
        for path in list(self.folder.iterdir()):
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        if self.jobs_folder.is_dir():
            for folder in list(self.jobs_folder.iterdir()):
                if folder.is_dir() and folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed += 1
        return removed

    # -- remembered mappings ------------------------------------------------------------------
    @staticmethod
    def shape_key(columns: list[str]) -> str:
        """Files with the same headers (in any order, any case) share a key."""
        names = sorted({c.strip().casefold() for c in columns})
        return hashlib.sha256("\n".join(names).encode()).hexdigest()[:24]

    def remember(
        self, columns: list[str], mapping: dict[str, str], extra: dict[str, object]
    ) -> None:
        with self._lock:
            data = self._read()
            data[self.shape_key(columns)] = {"mapping": mapping, **extra, "saved": time.time()}
            tmp = self.mappings_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
            tmp.replace(self.mappings_path)

    def remembered_choice(self, columns: list[str]) -> dict[str, Any] | None:
        """What was remembered for files with these headers: mapping, date_format."""
        entry = self._read().get(self.shape_key(columns))
        return dict(entry) if isinstance(entry, dict) else None

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.mappings_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}
