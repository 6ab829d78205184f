"""A job's rows, kept on disk and read a page at a time (``rows.sqlite3`` in the job's folder).

Why a store: the page lists, filters, searches and sorts a job's rows long after the job ended,
for every job of the server's life. Held in memory, 100,000 rows cost about 230 MB per job and
stayed for the life of the server; here they cost a page's worth while one is shown. SQLite
does what the page needs with indexes: a status filter, a sort by learner, course, message or
status, a search over every cell, counts per status, all a page at a time.

Each row is its ``RowResult`` (as JSON, through pydantic, as the lookup cache stores ALM's
objects) plus what the indexes need: the status, the folded learner, course and message, and
the text searched (in a table of its own). A row excluded on the page keeps its last result and is listed as
``excluded``. Rows are recorded as they finish during a live run, so a run whose process dies
still shows the rows it finished.

Thread-safe (one connection behind a lock): the job's threads write while the page reads.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from batch.models import RowResult, RowStatus
from batch.settings import private_file

log = logging.getLogger(__name__)

ROWS_FILE = "rows.sqlite3"
EXCLUDED = "excluded"  # how an excluded row is listed and filtered
PROBLEMS = "problems"  # the filter for rows that did not end well
SORTS = ("row", "status", "email", "course", "message")
# Statuses in the order a person reads them (the product's order), then the page's "excluded".
STATUS_ORDER: tuple[str, ...] = (*(s.value for s in RowStatus), EXCLUDED)
_RANK = {status: i for i, status in enumerate(STATUS_ORDER)}
_NOT_OK = tuple(s.value for s in RowStatus if not s.ok)
_RESULT: TypeAdapter[RowResult] = TypeAdapter(RowResult)
_CHUNK = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    row INTEGER PRIMARY KEY,
    status TEXT NOT NULL,
    rank INTEGER NOT NULL,
    excluded INTEGER NOT NULL DEFAULT 0,
    finished INTEGER NOT NULL DEFAULT 0,
    writes INTEGER NOT NULL DEFAULT 0,
    email TEXT NOT NULL DEFAULT '',
    course TEXT NOT NULL DEFAULT '',
    course_cell TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL DEFAULT '',
    result TEXT NOT NULL
);
-- apart from the rows: a search reads these few bytes a row, not the whole result
CREATE TABLE IF NOT EXISTS search (row INTEGER PRIMARY KEY, text TEXT NOT NULL);
"""
# The filters and sorts, built after a bulk load (``bulk``): five times faster than keeping
# them up to date row by row.
_INDEXES = {
    "rows_by_status": "rows (excluded, status, row)",
    "rows_by_rank": "rows (rank, row)",
    "rows_by_email": "rows (email, row)",
    "rows_by_course": "rows (course, row)",
    "rows_by_message": "rows (message, row)",
    "rows_by_course_cell": "rows (course_cell)",
}
_SORT_SQL = {
    "row": "row",
    "status": "rank, row",
    "email": "email, row",
    "course": "course, row",
    "message": "message, row",
}


@dataclass(frozen=True, slots=True)
class StoredRow:
    result: RowResult
    excluded: bool

    @property
    def status(self) -> str:
        """The row's status as listed: its ``RowStatus``, or ``excluded``."""
        return EXCLUDED if self.excluded else self.result.status.value


def finished(result: RowResult) -> bool:
    """True when a later run of the same file has nothing to do for this row: it ended well
    (written, or nothing to write), or only a person can fix it. A retryable failure and a row
    the run never reached are not finished."""
    return result.status.ok or result.needs_person


class ResultStore:
    """The rows of one job (see the module's docstring). ``path=None`` keeps them in memory."""

    def __init__(self, path: Path | None, fields: Mapping[str, str] | None = None) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._broken = False
        self._loading = False
        self._counts: dict[str, int] | None = None  # until the next write
        db = self._db()
        stored = dict(db.execute("SELECT name, value FROM meta").fetchall())
        self.fields: dict[str, str] = json.loads(stored.get("fields", "{}"))
        if fields is not None and dict(fields) != self.fields:
            self.fields = dict(fields)
            db.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES ('fields', ?)",
                (json.dumps(self.fields),),
            )

    def _db(self) -> sqlite3.Connection:
        """The connection, opened again after ``close`` (the page closes the stores of jobs
        nobody looks at, so only a few page caches stay in memory)."""
        if self._conn is not None:
            return self._conn
        path = self.path
        if path is not None:
            private_file(path)
        conn = sqlite3.connect(
            str(path) if path is not None else ":memory:",
            check_same_thread=False,
            isolation_level=None,
            timeout=30.0,
        )
        if path is not None:
            # A row recorded survives a crash of the process (WAL); the ledger, not this
            # store, is what protects ALM, so a power loss may lose the last rows shown.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-1024")  # 1 MB of pages: a page of rows needs little
        conn.executescript(_SCHEMA)
        self._conn = conn
        if not self._loading:
            self._index(conn)
        return conn

    @staticmethod
    def _index(conn: sqlite3.Connection) -> None:
        for name, on in _INDEXES.items():
            conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {on}")

    @contextmanager
    def bulk(self) -> Iterator[None]:
        """Many rows at once (a job's report): one transaction, and the indexes built once at
        the end."""
        with self._lock:
            self._loading = True
            db = self._db()
            for name in _INDEXES:
                db.execute(f"DROP INDEX IF EXISTS {name}")
            db.execute("BEGIN")
        try:
            yield
        finally:
            with self._lock:
                self._loading = False
                try:
                    if self._db().in_transaction:
                        self._db().execute("COMMIT")
                    self._index(self._db())
                except sqlite3.Error as exc:
                    self._broken = True
                    log.warning("the job's rows cannot be indexed in %s: %s", self.path, exc)

    def close(self) -> None:
        """Release the connection (a store in memory keeps its rows until dropped)."""
        with self._lock:
            if self._conn is not None and self.path is not None:
                self._conn.close()
                self._conn = None

    # -- writing ------------------------------------------------------------------------------
    def put(self, results: Iterable[RowResult]) -> None:
        """Record these results (a row recorded before is replaced and included again)."""
        batch: list[tuple[Any, ...]] = []
        for result in results:
            batch.append(self._record(result, excluded=False))
            if len(batch) >= _CHUNK:
                self._insert(batch)
                batch = []
        if batch:
            self._insert(batch)

    def exclude(self, row: int, placeholder: RowResult | None = None) -> None:
        """List ``row`` as excluded, keeping its last result (or ``placeholder`` when the
        store has none: a row left out before the job ran)."""
        with self._lock:
            self._counts = None
            changed = (
                self._db()
                .execute(
                    "UPDATE rows SET excluded = 1, rank = ? WHERE row = ?", (_RANK[EXCLUDED], row)
                )
                .rowcount
            )
        if not changed and placeholder is not None:
            self._insert([self._record(placeholder, excluded=True)])

    def _insert(self, batch: list[tuple[Any, ...]]) -> None:
        if self._broken:
            return
        try:
            with self._lock:
                self._counts = None
                db = self._db()
                if not db.in_transaction:
                    db.execute("BEGIN")
                db.executemany(
                    "INSERT OR REPLACE INTO rows (row, status, rank, excluded, finished, "
                    "writes, email, course, course_cell, message, result) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [record[:-1] for record in batch],
                )
                db.executemany(
                    "INSERT OR REPLACE INTO search (row, text) VALUES (?, ?)",
                    [(record[0], record[-1]) for record in batch],
                )
                if not self._loading:
                    db.execute("COMMIT")
        except sqlite3.Error as exc:
            # The page's copy of the rows; the report and the ledger hold the truth. A full
            # disk must not stop a run that can still journal its writes.
            self._broken = True
            log.warning("the job's rows are no longer recorded in %s: %s", self.path, exc)
            try:
                with self._lock:
                    self._db().execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def _record(self, result: RowResult, *, excluded: bool) -> tuple[Any, ...]:
        values = result.values
        email = values.get(self.fields.get("email", ""), "")
        course = values.get(self.fields.get("course", ""), "")
        status = result.status.value
        search = "\n".join((str(result.row), status, result.message, *values.values()))
        return (
            result.row,
            status,
            _RANK[EXCLUDED if excluded else status],
            int(excluded),
            int(finished(result)),
            result.writes_planned if result.status is RowStatus.WOULD_COMPLETE else 0,
            email.casefold(),
            course.casefold(),
            course,
            result.message.casefold(),
            _RESULT.dump_json(result).decode("utf-8"),
            search.casefold(),  # last: the search table's
        )

    # -- reading ------------------------------------------------------------------------------
    def get(self, row: int) -> StoredRow | None:
        with self._lock:
            found = (
                self._db()
                .execute("SELECT result, excluded FROM rows WHERE row = ?", (row,))
                .fetchone()
            )
        return _stored(found) if found else None

    def results(self, *, excluded: bool = False) -> Iterator[RowResult]:
        """Every result in row order (the excluded rows too with ``excluded``), read in
        chunks: a report of 100,000 rows is written without holding them."""
        last = -1
        while True:
            with self._lock:
                chunk = (
                    self._db()
                    .execute(
                        "SELECT row, result FROM rows WHERE row > ? AND (excluded = 0 OR ?) "
                        "ORDER BY row LIMIT ?",
                        (last, int(excluded), _CHUNK),
                    )
                    .fetchall()
                )
            if not chunk:
                return
            for _row, text in chunk:
                yield _RESULT.validate_json(text)
            last = chunk[-1][0]

    def query(
        self,
        *,
        status: str = "",
        text: str = "",
        sort: str = "row",
        desc: bool = False,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[int, list[StoredRow]]:
        """(rows matching, one page of them): ``status`` is a ``RowStatus`` value,
        ``excluded``, ``problems`` (rows that did not end well) or "" for all; ``text`` is
        searched in every cell, the status and the message, ignoring case."""
        where: list[str] = ["1"]
        args: list[Any] = []
        if status == PROBLEMS:
            where.append(f"excluded = 0 AND status IN ({','.join('?' * len(_NOT_OK))})")
            args.extend(_NOT_OK)
        elif status == EXCLUDED:
            where.append("excluded = 1")
        elif status:
            where.append("excluded = 0 AND status = ?")
            args.append(status)
        if text:
            where.append("instr(search.text, ?) > 0")
            args.append(text.casefold())
        order = _SORT_SQL.get(sort, "row")
        if desc:
            order = ", ".join(f"{column} DESC" for column in order.split(", "))
        condition = " AND ".join(where)
        with self._lock:
            db = self._db()
            # Counted and picked through the indexes (and the narrow search table), then the
            # results of just that page are read.
            source = "rows JOIN search USING (row)" if text else "rows"
            (total,) = db.execute(
                f"SELECT COUNT(*) FROM {source} WHERE {condition}", args
            ).fetchone()
            wanted = [
                row
                for (row,) in db.execute(
                    f"SELECT row FROM {source} WHERE {condition} ORDER BY {order} LIMIT ? OFFSET ?",
                    [*args, limit, offset],
                )
            ]
            found = db.execute(
                f"SELECT row, result, excluded FROM rows WHERE row IN "
                f"({','.join('?' * len(wanted))})",
                wanted,
            ).fetchall()
        by_row = {row: _stored((result, excluded)) for row, result, excluded in found}
        return int(total), [by_row[row] for row in wanted if row in by_row]

    def counts(self) -> dict[str, int]:
        """Rows per status as listed (``excluded`` for rows left out)."""
        with self._lock:
            if self._counts is None:
                found = (
                    self._db()
                    .execute(
                        "SELECT CASE WHEN excluded THEN ? ELSE status END, COUNT(*) FROM rows "
                        "GROUP BY 1",
                        (EXCLUDED,),
                    )
                    .fetchall()
                )
                self._counts = {status: int(n) for status, n in found}
            return dict(self._counts)

    def __len__(self) -> int:
        return sum(self.counts().values())

    def writes_planned(self) -> int:
        """Writes a live run of these rows needs (rows that would complete, not excluded)."""
        with self._lock:
            (n,) = (
                self._db()
                .execute("SELECT COALESCE(SUM(writes), 0) FROM rows WHERE excluded = 0")
                .fetchone()
            )
        return int(n)

    def finished_rows(self) -> frozenset[int]:
        """Rows a later run of the same file need not run again (``finished``)."""
        with self._lock:
            found = self._db().execute("SELECT row FROM rows WHERE finished = 1").fetchall()
        return frozenset(row for (row,) in found)

    def rows_with(self, cells: Mapping[str, str], *, excluded: bool = False) -> list[int]:
        """Rows whose cells hold these values (the course column through its index; any
        other column by reading the rows)."""
        course = self.fields.get("course")
        if course is not None and set(cells) == {course}:
            with self._lock:
                found = (
                    self._db()
                    .execute(
                        "SELECT row FROM rows WHERE course_cell = ? AND (excluded = 0 OR ?) "
                        "ORDER BY row",
                        (cells[course], int(excluded)),
                    )
                    .fetchall()
                )
            return [row for (row,) in found]
        return [
            result.row
            for result in self.results(excluded=excluded)
            if all(result.values.get(h) == v for h, v in cells.items())
        ]


def _stored(found: tuple[Any, ...]) -> StoredRow:
    return StoredRow(_RESULT.validate_json(found[0]), bool(found[1]))
