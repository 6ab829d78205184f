"""SQLite lookup cache in the state directory: users by email, the catalogue, course structures.

Why: admin ``GET /users`` and ``GET /learningObjects`` are limited to about 500 calls an hour,
so a monthly re-run of the same file must resolve from disk, not from ALM. Everything is keyed
by the ALM base URL, so a sandbox and a production account never share entries.

Rules:
- An entry is fresh while ``now - fetched_at < ttl_seconds``; ``refresh=True`` ignores every
  entry this cache object did not write itself (entries written during the run still count).
- Misses ("no user has this email", "no course has this ID") are kept in memory for this run
  only: a user added to ALM tomorrow must be found tomorrow.
- ``path=None`` (``--no-cache``) keeps everything in memory for the run.
- A file that is not a cache (not SQLite, wrong schema) is moved aside to ``.corrupt-<ts>`` and
  rebuilt, with a note in ``warnings``; a file locked by another process beyond ``lock_timeout``
  raises ``StateError``. A failure later in the run turns persistence off with a warning rather
  than stopping the run: the cache only ever saves calls, it is never needed for correctness.
- One connection, guarded by a lock: safe to share between worker threads.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from batch.alm.types import CourseDetail, CourseSummary, User
from batch.errors import StateError
from batch.models import email_key
from batch.settings import private_file, without_credentials

T = TypeVar("T")
SCHEMA_VERSION = "3"
# Schema 2 keys users by ``models.email_key`` (Unicode-folded); schema-1 rows were keyed by a
# plain case-fold, so they are dropped on open (a one-off re-lookup) rather than mis-keyed.
# Schema 3's catalogue lists every learning-object type (programs, certifications, job aids),
# and its details of programs and certifications carry their sections: a schema-2 catalogue
# (courses only) would hide a program's name until the TTL ran out, so it is dropped, with
# every detail that is not a course's.
_PROGRAMS = (
    "DELETE FROM catalogue",
    "DELETE FROM courses WHERE course_id NOT LIKE 'course:%'",
)
_MIGRATIONS = {"1": ("DELETE FROM users", *_PROGRAMS), "2": _PROGRAMS}
CACHE_FILENAME = "cache.sqlite3"

_SCHEMA = {
    "meta": "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "users": (
        "CREATE TABLE IF NOT EXISTS users (base_url TEXT NOT NULL, email_key TEXT NOT NULL, "
        "payload TEXT NOT NULL, fetched_at REAL NOT NULL, PRIMARY KEY (base_url, email_key))"
    ),
    "catalogue": (
        "CREATE TABLE IF NOT EXISTS catalogue (base_url TEXT PRIMARY KEY, "
        "payload TEXT NOT NULL, fetched_at REAL NOT NULL)"
    ),
    "courses": (
        "CREATE TABLE IF NOT EXISTS courses (base_url TEXT NOT NULL, course_id TEXT NOT NULL, "
        "payload TEXT NOT NULL, fetched_at REAL NOT NULL, PRIMARY KEY (base_url, course_id))"
    ),
}
_COLUMNS = {
    "meta": ["key", "value"],
    "users": ["base_url", "email_key", "payload", "fetched_at"],
    "catalogue": ["base_url", "payload", "fetched_at"],
    "courses": ["base_url", "course_id", "payload", "fetched_at"],
}


def cache_path(state_dir: Path) -> Path:
    """Where the lookup cache lives inside a state directory."""
    return state_dir / CACHE_FILENAME


# --- serialisation: the batch.alm.types dataclasses through pydantic ----------------------------
# One mechanism for every payload: pydantic reads the dataclasses' own field types, so a field
# added to a type is stored and read back without code here. The JSON shape is the dataclass
# fields by name (the same shape the hand-written serialisers of schema "1" wrote, so existing
# cache files still load); a payload that no longer validates is a miss, looked up again.
_USER: TypeAdapter[User] = TypeAdapter(User)
_CATALOGUE: TypeAdapter[list[CourseSummary]] = TypeAdapter(list[CourseSummary])
_COURSE: TypeAdapter[CourseDetail] = TypeAdapter(CourseDetail)


def _dump(adapter: TypeAdapter[T], value: T) -> str:
    return adapter.dump_json(value).decode("utf-8")


# --- the cache ---------------------------------------------------------------------------------


class LookupCache:
    """Users by email, the catalogue and course details for one ALM base URL, with a TTL.

    ``get_*`` return ``(found, value)``: ``found`` is False on a miss (ask ALM), True when the
    cache knows the answer, where ``value`` may be None for a miss recorded during this run.
    """

    def __init__(
        self,
        path: Path | None,
        base_url: str,
        *,
        ttl_seconds: float = 86400.0,
        refresh: bool = False,
        clock: Callable[[], float] = time.time,
        lock_timeout: float = 5.0,
    ) -> None:
        self.path = path
        self.base_url = without_credentials(base_url.strip().rstrip("/")).lower()
        self.ttl_seconds = ttl_seconds
        self.refresh = refresh
        self.clock = clock
        self.lock_timeout = lock_timeout
        self.warnings: list[str] = []
        self._lock = threading.RLock()
        self._missing_users: set[str] = set()
        self._missing_courses: set[str] = set()
        self._written: set[tuple[str, str]] = set()  # (kind, key) stored by this run
        self._persistent = path is not None
        self._conn = self._open()

    # -- opening, rebuilding --------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        if self.path is None:
            return self._connect(":memory:")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"Cannot create the state directory {self.path.parent}: {exc.strerror or exc}.",
                hint="Choose another one with --state-dir or ALM_BATCH_STATE_DIR.",
            ) from exc
        try:
            return self._connect(str(self.path))
        except sqlite3.OperationalError as exc:
            if _is_locked(exc):
                raise self._locked_error() from exc
            return self._rebuild(exc)
        except sqlite3.DatabaseError as exc:
            return self._rebuild(exc)

    def _connect(self, target: str) -> sqlite3.Connection:
        if target != ":memory:":
            try:
                private_file(Path(target))  # learners' emails: this user only (before SQLite)
            except OSError as exc:
                raise StateError(
                    f"The lookup cache {target} cannot be created: {exc.strerror or exc}.",
                    hint="Choose another state directory with --state-dir or "
                    "ALM_BATCH_STATE_DIR, or run with --no-cache.",
                ) from exc
        conn = sqlite3.connect(
            target, timeout=self.lock_timeout, check_same_thread=False, isolation_level=None
        )
        try:
            if target != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            for ddl in _SCHEMA.values():
                conn.execute(ddl)
            for table, columns in _COLUMNS.items():
                found = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
                if found != columns:
                    raise sqlite3.DatabaseError(f"table {table} has columns {found}")
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,)
                )
            elif row[0] in _MIGRATIONS:
                for statement in _MIGRATIONS[row[0]]:
                    conn.execute(statement)
                conn.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"schema version {row[0]}")
            # Caches written before ALM_BASE_URL was kept without a user name and password may
            # hold one in their keys: drop those entries (they are looked up again).
            conn.execute("PRAGMA secure_delete=ON")  # the old keys' bytes are overwritten
            for table in ("users", "catalogue", "courses"):
                conn.execute(f"DELETE FROM {table} WHERE base_url LIKE '%@%'")
            conn.execute("DELETE FROM meta WHERE key LIKE 'users_export:%@%'")
            conn.execute("PRAGMA secure_delete=OFF")
        except BaseException:
            conn.close()
            raise
        return conn

    def _locked_error(self) -> StateError:
        return StateError(
            f"The lookup cache {self.path} is locked by another alm-batch run.",
            hint="Wait for it to finish, use another --state-dir, or run with --no-cache.",
        )

    def _rebuild(self, cause: Exception) -> sqlite3.Connection:
        """Move the unusable file aside (kept for inspection) and start an empty cache."""
        assert self.path is not None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                extra = Path(f"{self.path}{suffix}")
                if extra.exists():
                    os.replace(extra, Path(f"{aside}{suffix}"))
        except OSError as exc:
            self._persistent = False
            self.warnings.append(
                f"The lookup cache {self.path} is unreadable ({cause}) and could not be moved "
                f"aside ({exc.strerror or exc}); this run keeps its lookups in memory only."
            )
            return self._connect(":memory:")
        self.warnings.append(
            f"The lookup cache {self.path} was unreadable ({cause}); it was moved to "
            f"{aside.name} and rebuilt. This run looks everything up again."
        )
        try:
            return self._connect(str(self.path))
        except sqlite3.Error as exc:
            self._persistent = False
            self.warnings.append(
                f"The lookup cache could not be recreated ({exc}); lookups stay in memory."
            )
            return self._connect(":memory:")

    def _degrade(self, exc: sqlite3.Error) -> None:
        """A failure mid-run: keep going without the disk, say so once."""
        if self._persistent:
            self._persistent = False
            self.warnings.append(
                f"The lookup cache {self.path} failed during the run ({exc}); the rest of this "
                "run does not save lookups to disk."
            )
        try:
            self._conn.close()
        except sqlite3.Error:
            pass
        self._conn = self._connect(":memory:")

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass

    def __enter__(self) -> LookupCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- freshness ---------------------------------------------------------------------------------
    def _fresh(self, kind: str, key: str, fetched_at: float) -> bool:
        if self.refresh:
            with self._lock:
                if (kind, key) not in self._written:
                    return False
        return self.clock() - fetched_at < self.ttl_seconds

    def _read(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                self._degrade(exc)
                return []

    def _write(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.executemany(sql, rows)
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._degrade(exc)

    # -- users ---------------------------------------------------------------------------------------
    def get_user(self, email: str) -> tuple[bool, User | None]:
        key = email_key(email)
        with self._lock:
            if key in self._missing_users:
                return True, None
        rows = self._read(
            "SELECT payload, fetched_at FROM users WHERE base_url = ? AND email_key = ?",
            (self.base_url, key),
        )
        for payload, fetched_at in rows:
            if self._fresh("user", key, fetched_at):
                try:
                    return True, _USER.validate_json(payload)
                except ValidationError:
                    return False, None
        return False, None

    def put_user(self, email: str, user: User | None) -> None:
        self.put_users({email: user})

    def put_users(self, users: Mapping[str, User | None]) -> None:
        """Store found users (persisted) and misses (memory, this run only)."""
        now = self.clock()
        rows = []
        with self._lock:
            for email, user in users.items():
                key = email_key(email)
                if user is None:
                    self._missing_users.add(key)
                else:
                    self._missing_users.discard(key)
                    self._written.add(("user", key))
                    rows.append((self.base_url, key, _dump(_USER, user), now))
        if rows:
            self._write("INSERT OR REPLACE INTO users VALUES (?, ?, ?, ?)", rows)

    def users_export_fresh(self) -> bool:
        """True while a users export (every user, deleted ones included) is within the TTL:
        an email it did not list, and that a lookup by email misses, belongs to nobody."""
        rows = self._read("SELECT value FROM meta WHERE key = ?", (self._export_key(),))
        for (value,) in rows:
            try:
                return self._fresh("users_export", "", float(value))
            except ValueError:
                return False
        return False

    def mark_users_export(self) -> None:
        with self._lock:
            self._written.add(("users_export", ""))
        self._write(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)", [(self._export_key(), str(self.clock()))]
        )

    def _export_key(self) -> str:
        return f"users_export:{self.base_url}"

    # -- catalogue ---------------------------------------------------------------------------------
    def get_catalogue(self) -> list[CourseSummary] | None:
        rows = self._read(
            "SELECT payload, fetched_at FROM catalogue WHERE base_url = ?", (self.base_url,)
        )
        for payload, fetched_at in rows:
            if self._fresh("catalogue", "", fetched_at):
                try:
                    return _CATALOGUE.validate_json(payload)
                except ValidationError:
                    return None
        return None

    def put_catalogue(self, courses: Iterable[CourseSummary]) -> None:
        payload = _dump(_CATALOGUE, list(courses))
        with self._lock:
            self._written.add(("catalogue", ""))
        self._write(
            "INSERT OR REPLACE INTO catalogue VALUES (?, ?, ?)",
            [(self.base_url, payload, self.clock())],
        )

    # -- course details ---------------------------------------------------------------------------
    def get_course(self, course_id: str) -> tuple[bool, CourseDetail | None]:
        with self._lock:
            if course_id in self._missing_courses:
                return True, None
        rows = self._read(
            "SELECT payload, fetched_at FROM courses WHERE base_url = ? AND course_id = ?",
            (self.base_url, course_id),
        )
        for payload, fetched_at in rows:
            if self._fresh("course", course_id, fetched_at):
                try:
                    return True, _COURSE.validate_json(payload)
                except ValidationError:
                    return False, None
        return False, None

    def put_course(self, course_id: str, course: CourseDetail | None) -> None:
        if course is None:
            with self._lock:
                self._missing_courses.add(course_id)
            return
        with self._lock:
            self._missing_courses.discard(course_id)
            self._written.add(("course", course_id))
        self._write(
            "INSERT OR REPLACE INTO courses VALUES (?, ?, ?, ?)",
            [(self.base_url, course_id, _dump(_COURSE, course), self.clock())],
        )


def _is_locked(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text
