"""The run ledger (a SQLite journal of every write) and the state-directory lock.

Why a journal: ALM's ``userModuleGrade`` POST is assumed not idempotent (alm-api.md §5), and a
backfill runs for hours through 429 storms, crashes and Ctrl-C. Every write is recorded
``pending`` and committed *before* it is sent, then ``done`` / ``failed`` / ``unknown`` after
its answer. A ``pending`` row found later means "the process died mid-request": the executor
settles it by reading ALM's state before anything is re-sent. A ``done`` row means "posted by
run X on date D", so a re-run of the same (or an overlapping) file skips it.

Durability choice: WAL with ``synchronous=FULL``. WAL alone already survives ``kill -9`` of the
process (a committed transaction is in the OS page cache once ``commit()`` returns) and
``NORMAL`` would be enough for that. ``FULL`` also fsyncs the WAL on every commit, so a
``pending`` mark survives a power loss or an OS crash too (a laptop whose battery dies while
asleep). Writes to ALM are limited to tens per minute, so one fsync per journal entry costs
nothing measurable, while losing a ``pending`` mark could mean a blind re-send.

The lock: two runs on one state directory would race on the same keys, so ``StateLock``
takes an exclusive, non-blocking ``fcntl.flock`` on ``<state_dir>/alm-batch.lock``. The OS
releases it when the process dies, even on ``kill -9``, so a stale lock never blocks a re-run.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

from batch.alm.types import GradeRequest
from batch.errors import StateError, StateWriteFailed
from batch.settings import private_dir, private_file, without_credentials

LOCK_NAME = "alm-batch.lock"
LEDGER_NAME = "ledger.sqlite3"
SCHEMA_VERSION = 1


def utc_now() -> str:
    """ISO-8601 UTC with seconds and a ``Z``: sortable text, the form stored everywhere here."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WriteState(StrEnum):
    """Where one write stands in the journal."""

    PENDING = "pending"  # journaled, maybe sent, answer not recorded (process died?)
    DONE = "done"  # ALM accepted it (or reading ALM's state proved it landed)
    FAILED = "failed"  # ALM refused it: retried by the next run
    UNKNOWN = "unknown"  # the answer was lost and ALM could not be read: settle before re-sending


class WriteKind(StrEnum):
    ENROLL = "enroll"
    GRADE = "grade"


@dataclass(frozen=True, slots=True)
class WriteKey:
    """What one write is about. ``module_id`` is ``""`` for an enrollment."""

    base_url: str
    kind: WriteKind
    user_id: str
    course_id: str
    instance_id: str
    module_id: str = ""

    @classmethod
    def for_grade(cls, base_url: str, grade: GradeRequest) -> WriteKey:
        return cls(
            base_url,
            WriteKind.GRADE,
            grade.user_id,
            grade.course_id,
            grade.instance_id,
            grade.module_id,
        )

    @classmethod
    def for_enroll(cls, base_url: str, user_id: str, course_id: str, instance_id: str) -> WriteKey:
        return cls(base_url, WriteKind.ENROLL, user_id, course_id, instance_id, "")

    def params(self) -> tuple[str, str, str, str, str, str]:
        return (
            self.base_url,
            str(self.kind),
            self.user_id,
            self.course_id,
            self.instance_id,
            self.module_id,
        )


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One journaled write, as stored."""

    key: WriteKey
    state: WriteState
    run_id: str  # the run that last sent (or settled) it
    input_sha256: str
    row: int  # spreadsheet row number of the row that asked for it
    attempts: int  # sends over all runs
    http_status: int | None
    message: str
    created_at: str
    updated_at: str
    done_at: str | None  # when ALM accepted it (ISO UTC)

    @property
    def done_date(self) -> str:
        """``YYYY-MM-DD`` of acceptance, for messages ("posted by run X on 2026-11-26")."""
        return (self.done_at or self.updated_at)[:10]


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One live run as the ledger knows it, with what its writes became.

    Times are ISO-8601 UTC text (``2026-11-30T19:14:42Z``); ``ended_at`` and ``exit_status``
    are None while the run is going (or when it died without ending). The write counts are
    the journal entries this run sent or settled last, per state (an entry a later run
    settled counts for that later run); ``writes_pending`` are in flight (or left by a crash).
    """

    run_id: str
    started_at: str
    input_path: str
    input_sha256: str
    options: dict[str, Any]
    ended_at: str | None
    exit_status: int | None
    writes_done: int = 0
    writes_failed: int = 0
    writes_unknown: int = 0
    writes_pending: int = 0

    @property
    def writes_total(self) -> int:
        return self.writes_done + self.writes_failed + self.writes_unknown + self.writes_pending


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS writes (
    base_url TEXT NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT NOT NULL,
    course_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    module_id TEXT NOT NULL,
    state TEXT NOT NULL,
    run_id TEXT NOT NULL,
    input_sha256 TEXT NOT NULL,
    row INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    http_status INTEGER,
    message TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    done_at TEXT,
    PRIMARY KEY (base_url, kind, user_id, course_id, instance_id, module_id)
);
CREATE INDEX IF NOT EXISTS writes_by_user ON writes (base_url, user_id);
CREATE INDEX IF NOT EXISTS writes_by_state ON writes (base_url, state);
CREATE INDEX IF NOT EXISTS writes_by_run ON writes (run_id, state);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    input_path TEXT NOT NULL DEFAULT '',
    input_sha256 TEXT NOT NULL DEFAULT '',
    options TEXT NOT NULL DEFAULT '{}',
    ended_at TEXT,
    exit_status INTEGER
);
"""

_COLUMNS = (
    "base_url, kind, user_id, course_id, instance_id, module_id, state, run_id, input_sha256, "
    "row, attempts, http_status, message, created_at, updated_at, done_at"
)
_KEY_WHERE = (
    "base_url = ? AND kind = ? AND user_id = ? AND course_id = ? AND instance_id = ? "
    "AND module_id = ?"
)


# Runs with their write counts, in one statement (one consistent snapshot beside a live run).
# ``{where}`` selects the runs; the newest come first (rowid breaks ties within a second).
_RUNS_SQL = """
WITH picked AS (
    SELECT rowid AS seq, run_id, started_at, input_path, input_sha256, options, ended_at,
           exit_status
    FROM runs {where} ORDER BY started_at DESC, rowid DESC LIMIT ?
)
SELECT p.run_id, p.started_at, p.input_path, p.input_sha256, p.options, p.ended_at,
       p.exit_status,
       COALESCE(SUM(w.state = 'done'), 0), COALESCE(SUM(w.state = 'failed'), 0),
       COALESCE(SUM(w.state = 'unknown'), 0), COALESCE(SUM(w.state = 'pending'), 0)
FROM picked AS p LEFT JOIN writes AS w ON w.run_id = p.run_id
GROUP BY p.seq ORDER BY p.started_at DESC, p.seq DESC
"""


def _run_record(r: tuple[Any, ...]) -> RunRecord:
    try:
        options = json.loads(r[4] or "{}")
    except ValueError:
        options = {}
    return RunRecord(
        r[0], r[1], r[2], r[3], options if isinstance(options, dict) else {}, r[5], r[6],
        int(r[7]), int(r[8]), int(r[9]), int(r[10]),
    )  # fmt: skip


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a whole number of runs, 1 or more (got {limit!r})")
    return limit


def list_runs(path: Path, limit: int = 50) -> list[RunRecord]:
    """The newest ``limit`` runs of the ledger file at ``path``, read-only.

    For a process that only shows history (the upload page's History): it opens its own
    read-only connection, never creates the file or changes it, and reads beside a live run
    (WAL: readers never block the writer). No ledger yet means no runs: ``[]``.
    """
    _check_limit(limit)
    return _read_runs(Path(path), "", (limit,))


def read_run(path: Path, run_id: str) -> RunRecord | None:
    """One run of the ledger file at ``path`` with its write counts, read-only (as
    ``list_runs``); None when the ledger or the run is not there (a run that died before its
    first write may have no record)."""
    found = _read_runs(Path(path), "WHERE run_id = ?", (run_id, 1))
    return found[0] if found else None


def _read_runs(path: Path, where: str, args: tuple[Any, ...]) -> list[RunRecord]:
    if not path.is_file() or path.stat().st_size == 0:
        return []
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=30.0)
    except sqlite3.DatabaseError as exc:
        raise StateError(
            f"The run ledger {path} cannot be read: {exc}.",
            hint="Check the file's permissions, or use another --state-dir.",
        ) from exc
    try:
        if (
            db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'"
            ).fetchone()
            is None
        ):
            return []
        rows = db.execute(_RUNS_SQL.format(where=where), args).fetchall()
    except sqlite3.DatabaseError as exc:
        raise StateError(
            f"The run ledger {path} cannot be read: {exc}.",
            hint="Check the file, or use --state-dir to start a fresh state directory.",
        ) from exc
    finally:
        db.close()
    return [_run_record(r) for r in rows]


def _entry(r: tuple[Any, ...]) -> LedgerEntry:
    key = WriteKey(r[0], WriteKind(r[1]), r[2], r[3], r[4], r[5])
    return LedgerEntry(
        key, WriteState(r[6]), r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]
    )


class Ledger:
    """The journal of writes and runs in one SQLite file; safe to share between threads.

    One connection guarded by a lock: SQLite serialises writers anyway, and the journal is
    touched a few times per HTTP write, so contention is negligible next to ALM's pace.
    Every method commits before returning.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        # Things a person should know that do not stop the run.
        self.warnings: list[str] = []
        try:
            private_dir(self.path.parent)
            if self.path.is_file() and self.path.stat().st_size == 0:
                self.warnings.append(_EMPTY_LEDGER.format(path=self.path))
            private_file(self.path)
        except OSError as exc:
            raise StateError(
                f"The run ledger {self.path} cannot be created: {exc.strerror or exc}.",
                hint="Check the folder's permissions and free space, or use another --state-dir.",
            ) from exc
        try:
            self._db = sqlite3.connect(
                str(self.path), check_same_thread=False, isolation_level=None, timeout=30.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta (name, value) VALUES ('schema', ?)",
                (str(SCHEMA_VERSION),),
            )
            self._forget_credentials()
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"The run ledger {self.path} cannot be opened: {exc}.",
                hint="Check the file, or use --state-dir to start a fresh state directory.",
            ) from exc

    def _forget_credentials(self) -> None:
        """Ledgers written before ``ALM_BASE_URL`` was kept without a user name and password
        may hold one in their keys: rewrite those keys as the URL is kept now (the write they
        name is the same; a re-run finds it under the new key)."""
        old = [
            url
            for (url,) in self._db.execute(
                "SELECT DISTINCT base_url FROM writes WHERE base_url LIKE '%@%'"
            )
        ]
        if old:
            self._db.execute("PRAGMA secure_delete=ON")  # the old keys' bytes are overwritten
        for url in old:
            if (clean := without_credentials(url)) != url:
                self._db.execute(
                    "UPDATE OR REPLACE writes SET base_url = ? WHERE base_url = ?", (clean, url)
                )
        self._db.execute("PRAGMA secure_delete=OFF")

    # --- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        """Run one statement that changes the journal (the caller holds ``_lock``).

        A journal that cannot be written (disk full, a read-only or vanished folder) raises
        ``StateWriteFailed``: the executor stops before the next write instead of sending
        writes it cannot journal."""
        try:
            self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StateWriteFailed(_write_failed_message(self.path, exc)) from exc

    # --- writes --------------------------------------------------------------------------
    def begin(self, key: WriteKey, run_id: str, input_sha256: str, row: int) -> LedgerEntry:
        """Journal a write as ``pending`` (attempts + 1), committed before the request is sent.
        ``StateWriteFailed`` when the journal cannot be written: then nothing may be sent."""
        now = utc_now()
        with self._lock:
            self._write(
                f"INSERT INTO writes ({_COLUMNS}) VALUES "
                "(?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, 1, NULL, '', ?, ?, NULL) "
                "ON CONFLICT DO UPDATE SET state = 'pending', run_id = excluded.run_id, "
                "input_sha256 = excluded.input_sha256, row = excluded.row, "
                "attempts = attempts + 1, http_status = NULL, message = '', "
                "updated_at = excluded.updated_at",
                (*key.params(), run_id, input_sha256, row, now, now),
            )
            found = self._get(key)
        assert found is not None
        return found

    def finish(
        self,
        key: WriteKey,
        state: WriteState,
        *,
        status: int | None = None,
        message: str = "",
        run_id: str | None = None,
    ) -> None:
        """Record a write's outcome. ``done`` stamps ``done_at``; ``run_id`` (optional)
        re-attributes the entry (used when a settlement is made by a later run)."""
        now = utc_now()
        with self._lock:
            self._write(
                "UPDATE writes SET state = ?, http_status = ?, message = ?, updated_at = ?, "
                "done_at = CASE WHEN ? = 'done' THEN ? ELSE done_at END, "
                "run_id = COALESCE(?, run_id) WHERE " + _KEY_WHERE,
                (str(state), status, message, now, str(state), now, run_id, *key.params()),
            )

    def withdraw(self, key: WriteKey, previous: LedgerEntry | None) -> None:
        """Undo ``begin`` for a write that was never sent (the run stopped while it waited for
        its turn): the entry is as it was before (``previous``), or gone when there was none.
        A run that dies before this leaves it ``pending``: the next run reads ALM first."""
        with self._lock:
            if previous is None:
                self._write(f"DELETE FROM writes WHERE {_KEY_WHERE}", key.params())
                return
            p = previous
            self._write(
                "UPDATE writes SET state = ?, run_id = ?, input_sha256 = ?, row = ?, "
                "attempts = ?, http_status = ?, message = ?, updated_at = ?, done_at = ? "
                "WHERE " + _KEY_WHERE,
                (str(p.state), p.run_id, p.input_sha256, p.row, p.attempts, p.http_status,
                 p.message, p.updated_at, p.done_at, *key.params()),
            )  # fmt: skip

    def get(self, key: WriteKey) -> LedgerEntry | None:
        with self._lock:
            return self._get(key)

    def _get(self, key: WriteKey) -> LedgerEntry | None:
        r = self._db.execute(
            f"SELECT {_COLUMNS} FROM writes WHERE {_KEY_WHERE}", key.params()
        ).fetchone()
        return _entry(r) if r else None

    def done_at(self, key: WriteKey) -> str | None:
        """When ALM accepted this write, or None when it is not done."""
        entry = self.get(key)
        return entry.done_at if entry and entry.state is WriteState.DONE else None

    def pending(self, base_url: str) -> list[LedgerEntry]:
        """Writes journaled but never answered: the process died mid-request."""
        return self._by_state(base_url, (WriteState.PENDING,))

    def unsettled(self, base_url: str) -> list[LedgerEntry]:
        """Writes that must be settled by reading ALM before any re-send (pending, unknown)."""
        return self._by_state(base_url, (WriteState.PENDING, WriteState.UNKNOWN))

    def _by_state(self, base_url: str, states: Iterable[WriteState]) -> list[LedgerEntry]:
        wanted = [str(s) for s in states]
        marks = ",".join("?" * len(wanted))
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM writes WHERE base_url = ? AND state IN ({marks}) "
                "ORDER BY updated_at, row",
                (base_url, *wanted),
            ).fetchall()
        return [_entry(r) for r in rows]

    def for_users(self, base_url: str, user_ids: Iterable[str]) -> dict[WriteKey, LedgerEntry]:
        """Every entry of these users, in chunks: the ledger grows every month, so this reads
        only what a plan can touch instead of loading the whole history."""
        out: dict[WriteKey, LedgerEntry] = {}
        for chunk in _chunks(sorted(set(user_ids)), 500):
            marks = ",".join("?" * len(chunk))
            with self._lock:
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM writes WHERE base_url = ? AND user_id IN ({marks})",
                    (base_url, *chunk),
                ).fetchall()
            for r in rows:
                entry = _entry(r)
                out[entry.key] = entry
        return out

    def counts(self, base_url: str | None = None) -> dict[str, int]:
        """Entries per state (for doctor/diagnostics and tests)."""
        sql = "SELECT state, COUNT(*) FROM writes"
        args: tuple[str, ...] = ()
        if base_url is not None:
            sql += " WHERE base_url = ?"
            args = (base_url,)
        with self._lock:
            rows = self._db.execute(sql + " GROUP BY state", args).fetchall()
        return {state: n for state, n in rows}

    # --- runs ----------------------------------------------------------------------------
    def start_run(
        self,
        run_id: str,
        *,
        input_path: str = "",
        input_sha256: str = "",
        options: dict[str, Any] | None = None,
    ) -> None:
        """Record a run (idempotent: a second call fills in what the first left blank)."""
        with self._lock:
            self._write(
                "INSERT INTO runs (run_id, started_at, input_path, input_sha256, options) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                "input_path = CASE WHEN excluded.input_path != '' THEN excluded.input_path "
                "ELSE input_path END, "
                "input_sha256 = CASE WHEN excluded.input_sha256 != '' "
                "THEN excluded.input_sha256 ELSE input_sha256 END, "
                "options = CASE WHEN excluded.options != '{}' THEN excluded.options "
                "ELSE options END",
                (
                    run_id,
                    utc_now(),
                    input_path,
                    input_sha256,
                    json.dumps(options or {}, sort_keys=True, default=str),
                ),
            )

    def end_run(self, run_id: str, exit_status: int) -> None:
        with self._lock:
            self._write(
                "UPDATE runs SET ended_at = ?, exit_status = ? WHERE run_id = ?",
                (utc_now(), int(exit_status), run_id),
            )

    def get_run(self, run_id: str) -> RunRecord | None:
        """One run with its write counts, or None when the ledger has no such run."""
        with self._lock:
            r = self._db.execute(_RUNS_SQL.format(where="WHERE run_id = ?"), (run_id, 1)).fetchone()
        return _run_record(r) if r is not None else None

    def list_runs(self, limit: int = 50) -> list[RunRecord]:
        """The newest ``limit`` runs, newest first, each with its write counts (read-only).

        Through this ledger's connection and lock, so it is safe from any thread, beside the
        run that writes; another process reads with the module's ``list_runs(path)``.
        """
        _check_limit(limit)
        with self._lock:
            rows = self._db.execute(_RUNS_SQL.format(where=""), (limit,)).fetchall()
        return [_run_record(r) for r in rows]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class LockFile:
    """An exclusive, non-blocking ``flock`` on a file that says who holds it (``key=value``
    lines: the pid and what the holder adds), for the refusal message of whoever comes second.

    The OS drops the lock when the process dies, even on ``kill -9``, so a stale lock never
    blocks a re-run. The file is never deleted: removing a lock file while another process opens
    it is itself a race. It is this user's only (0600).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, **about: str) -> dict[str, str] | None:
        """Take the lock and write the pid and ``about`` into the file: None. When another
        holds it: what its file says (``{"pid": ..., ...}``). ``OSError`` when the file cannot
        be opened."""
        if self._fd is not None:
            return None
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                text = os.pread(fd, 1000, 0).decode("utf-8", "replace")
            except OSError:
                text = ""
            os.close(fd)
            return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        lines = {"pid": str(os.getpid()), **about}
        text = "".join(f"{key}={' '.join(value.split())}\n" for key, value in lines.items())
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode("utf-8"), 0)
        self._fd = fd
        return None

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing drops the flock


class StateLock:
    """Exclusive use of a state directory by one run (``LockFile``: pid and start time, for the
    refusal message)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / LOCK_NAME
        self._lock = LockFile(self.path)

    def acquire(self) -> None:
        started = datetime.now().astimezone().strftime("%H:%M")
        try:
            private_dir(self.state_dir)
            holder = self._lock.acquire(started=started)
        except OSError as exc:
            raise StateError(
                f"The state directory {self.state_dir} cannot be used: {exc.strerror}.",
                hint="Use --state-dir to choose another one.",
            ) from exc
        if holder is not None:
            raise StateError(
                f"Another alm-batch run is using the state directory {self.state_dir}"
                f"{_holder_text(holder)}. Wait for it to finish, or use --state-dir to run "
                "separately."
            )

    def release(self) -> None:
        self._lock.release()

    @property
    def held(self) -> bool:
        return self._lock.held

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _holder_text(fields: dict[str, str]) -> str:
    """`` (pid N, started HH:MM)`` from the lock file, or ``""`` when it says nothing usable."""
    pid, started = fields.get("pid", "").strip(), fields.get("started", "").strip()
    if pid and started:
        return f" (pid {pid}, started {started})"
    if pid:
        return f" (pid {pid})"
    return ""


_EMPTY_LEDGER = (
    "The run ledger {path} was an empty file (0 bytes): it is used as a new ledger. If earlier "
    "live runs used this state directory, their journal is lost (a disk that filled up, a "
    "copy that went wrong): what they wrote is known only from ALM, which this run reads "
    "before planning each learner."
)


def _write_failed_message(path: Path, exc: sqlite3.Error) -> str:
    """Why the journal could not be written, in the words a person acts on."""
    text = str(exc)
    full = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "full" in text
    if full:
        return (
            f"No space left in the state directory {path.parent}: the run ledger could not "
            "journal the next write, so the run stopped before sending it. What was journaled "
            "is kept; free some space and run again (writes whose answer was not recorded are "
            "checked in ALM before anything is sent again)."
        )
    return (
        f"The run ledger {path} could not be written ({text}), so the run stopped before "
        "sending the next write. What was journaled is kept; fix the state directory (its "
        "permissions, the disk) and run again."
    )


def already_posted_message(entry: LedgerEntry) -> str:
    return f"Already posted by run {entry.run_id} on {entry.done_date}; not posted again."
