"""Learner state from ALM's Learner Transcript: the file's rows as each learner's enrollments,
used only where the mapping is certain, and the snapshot kept in the state directory.

The transcript joins on email and names instances by name; ``Training ID`` may be a learning
object id (``course:123`` or ``123``) or a number per enrollment, and ``Module ID`` a loResource
id, a module number or a courseModule id (alm-api.md §9, [?]). Each row is matched to ALM's
objects the planner already knows (the catalogue and the course structures, cached):

- a ``type:N`` Training ID is the learning object's id;
- bare numbers are learning object ids only when every row whose name names exactly one
  learning object of its type agrees with that number; otherwise (a number per enrollment)
  the learning object is the one the row's name names, when it names exactly one;
- the instance is the one of that learning object with the row's instance name, when exactly
  one has it; a module the one of that instance whose id, module number or courseModule id is
  the row's, when exactly one is;
- Status ``Not Started`` / ``In Progress`` / ``Completed`` read as ENROLLED / STARTED /
  COMPLETED, ``Unenrolled`` as no enrollment; a module without a row has not started.

A learner with any row that matters to the file's rows (a course or program it names, a course
of such a program) and that cannot be matched with certainty, or with a status that is none of
those, gets no state from the snapshot: the planner reads that learner one by one, so a
snapshot never gives a wrong status. So does a learner with no row at all when the file holds
rows of emails no learner of the run has (an email changed in ALM since the lookup).
"""

from __future__ import annotations

import gzip
import os
import secrets
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from batch.alm.hostfile import HostFile
from batch.alm.payloads import derive_course_module_id
from batch.alm.transcript import UNENROLLED, TranscriptRow, fold
from batch.alm.types import CourseDetail, CourseSummary, Enrollment, Instance, Module, ModuleGrade
from batch.models import name_key

STATES = frozenset({"ENROLLED", "STARTED", "COMPLETED"})
_TYPES = {"course": "course", "learningpath": "learningProgram", "learningprogram":
          "learningProgram", "certification": "certification"}  # fmt: skip


class Lookups(Protocol):
    """What matching needs from the resolver (answers it already has: no new call)."""

    def name_index(self) -> dict[str, list[tuple[CourseSummary, str]]]: ...

    def course_detail(self, course_id: str) -> CourseDetail | None: ...


@dataclass(frozen=True, slots=True)
class LearnerState:
    courses: tuple[Enrollment, ...]
    programs: tuple[Enrollment, ...]  # learning programs and certifications


@dataclass
class Mapped:
    states: dict[str, LearnerState] = field(default_factory=dict)  # user id -> state
    uncertain: dict[str, str] = field(default_factory=dict)  # user id -> why


def map_rows(
    rows: Iterable[TranscriptRow],
    learners: Mapping[str, str],
    relevant: set[str],
    lookups: Lookups,
    *,
    only_them: bool = True,
) -> Mapped:
    """Each learner's state from ``rows``. ``learners``: email key -> user id (the learners
    wanted, by their file email and their ALM email); ``relevant``: the learning object ids the
    file's rows need; ``only_them``: the file was asked for these learners alone, so a row of
    another email means an email that changed (learners without rows are then uncertain)."""
    by_user: dict[str, list[TranscriptRow]] = defaultdict(list)
    strangers = 0
    for row in rows:
        user_id = learners.get(name_key(row.email))
        if user_id is None:
            strangers += 1
        else:
            by_user[user_id].append(row)
    matcher = _Matcher(lookups, relevant, [r for rs in by_user.values() for r in rs])
    out = Mapped()
    for user_id in dict.fromkeys(learners.values()):
        mine = by_user.get(user_id, [])
        if not mine and strangers and only_them:
            out.uncertain[user_id] = (
                "the transcript has no row for them but rows for emails no learner of this run "
                "has (an email changed in ALM?)"
            )
            continue
        try:
            out.states[user_id] = matcher.state(mine)
        except _Uncertain as exc:
            out.uncertain[user_id] = str(exc)
    return out


class _Uncertain(Exception):
    pass


class _Matcher:
    def __init__(self, lookups: Lookups, relevant: set[str], rows: list[TranscriptRow]) -> None:
        self.lookups = lookups
        self.relevant = relevant
        self._index: dict[str, list[CourseSummary]] | None = None
        self.bare = self._bare_ids(rows)

    @property
    def index(self) -> dict[str, list[CourseSummary]]:
        """Folded name -> learning objects (the catalogue: listed only when a row needs it)."""
        if self._index is None:
            self._index = {
                key: list({c.id: c for c, _ in pairs}.values())
                for key, pairs in self.lookups.name_index().items()
            }
        return self._index

    def _bare_ids(self, rows: list[TranscriptRow]) -> bool:
        """True when bare Training IDs are learning object ids: every row whose name names
        exactly one learning object has that object's number (and at least one does)."""
        agree = disagree = 0
        for row in rows:
            if row.is_module or not row.training_id.isdigit():
                continue
            found = self._named(row)
            if len(found) == 1:
                if found[0].id.split(":", 1)[-1] == row.training_id:
                    agree += 1
                else:
                    disagree += 1
        return agree > 0 and disagree == 0

    def _named(self, row: TranscriptRow) -> list[CourseSummary]:
        kind = _kind(row)
        name = row.course_name if row.course_name.strip() else row.lo_name
        found = self.index.get(name_key(name), []) if name.strip() else []
        return [c for c in found if kind is None or c.lo_type == kind]

    def _identify(self, row: TranscriptRow) -> str:
        """The row's learning object id; "" when it does not matter to the file's rows."""
        kind, tid = _kind(row), row.training_id
        if ":" in tid and (kind is None or tid.split(":", 1)[0] == kind):
            return tid if tid in self.relevant else ""
        if tid.isdigit() and self.bare and kind is not None:
            lo_id = f"{kind}:{tid}"
            return lo_id if lo_id in self.relevant else ""
        found = self._named(row)
        if len(found) == 1:
            return found[0].id if found[0].id in self.relevant else ""
        name = row.course_name.strip() or row.lo_name.strip()
        if found and not any(c.id in self.relevant for c in found):
            return ""  # several learning objects have the name, none of them matters here
        what = (
            f"names {len(found)} learning objects" if found else "matches nothing alm-batch knows"
        )
        raise _Uncertain(f"a row of its transcript ({row.type or '?'} '{name}') {what}")

    def state(self, rows: list[TranscriptRow]) -> LearnerState:
        courses: dict[tuple[str, str], list[tuple[TranscriptRow, Enrollment | None]]] = {}
        modules: list[tuple[str, Instance, TranscriptRow]] = []
        for row in rows:
            lo_id = self._identify(row)
            if not lo_id:
                continue
            detail = self.lookups.course_detail(lo_id)
            if detail is None:
                raise _Uncertain(f"{lo_id} of its transcript could not be read in ALM")
            instance = _instance(detail, row.instance_name)
            if row.is_module:
                modules.append((lo_id, instance, row))
                continue
            if row.status not in STATES and row.status != UNENROLLED:
                raise _Uncertain(f"its transcript shows {lo_id} as '{row.status}'")
            enrollment = None
            if row.status != UNENROLLED:
                enrollment = Enrollment(
                    f"transcript:{row.training_id}", lo_id, instance.id, row.status,
                    date_completed=row.date_completed,
                )  # fmt: skip
            courses.setdefault((lo_id, instance.id), []).append((row, enrollment))
        grades: dict[tuple[str, str], dict[str, ModuleGrade]] = defaultdict(dict)
        for lo_id, instance, row in modules:
            found = courses.get((lo_id, instance.id), [])
            if len(found) != 1 or found[0][1] is None:
                raise _Uncertain(f"module rows of {lo_id} do not belong to one enrollment")
            module = _module(instance, row.module_id)
            if row.status not in STATES:
                raise _Uncertain(f"its transcript shows a module of {lo_id} as '{row.status}'")
            done = row.status == "COMPLETED"
            grades[(lo_id, instance.id)][module.id] = ModuleGrade(
                module.id, done, row.date_completed if done else None
            )
        out_courses: list[Enrollment] = []
        out_programs: list[Enrollment] = []
        for key, found in courses.items():
            for _, enrollment in found:
                if enrollment is None:
                    continue
                enrollment = Enrollment(
                    enrollment.id, enrollment.lo_id, enrollment.instance_id, enrollment.state,
                    date_completed=enrollment.date_completed, grades=grades.get(key, {}),
                )  # fmt: skip
                kind = enrollment.lo_id.split(":", 1)[0]
                (out_courses if kind == "course" else out_programs).append(enrollment)
        return LearnerState(tuple(out_courses), tuple(out_programs))


def _kind(row: TranscriptRow) -> str | None:
    """What the row is about: a course (its Course column names one), else what Type says."""
    if row.course_name.strip():
        return "course"
    return _TYPES.get(fold(row.type))


def _instance(detail: CourseDetail, name: str) -> Instance:
    key = name_key(name)
    found = [i for i in detail.instances if any(name_key(n) == key for n in i.names.values())]
    if not key and len(detail.instances) == 1:
        found = list(detail.instances)
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise _Uncertain(f"{what} instance of {detail.id} is named '{name.strip()}'")
    return found[0]


def _module(instance: Instance, text: str) -> Module:
    """The module whose loResource id, module number or courseModule id is ``text``."""
    found = [m for m in instance.modules if text in _module_forms(m.id)]
    if len(found) != 1:
        raise _Uncertain(f"module '{text}' of {instance.id} is not one module of it")
    return found[0]


def _module_forms(lo_resource_id: str) -> set[str]:
    forms = {lo_resource_id, lo_resource_id.split(":", 1)[-1]}
    parts = lo_resource_id.split(":", 1)[-1].split("_")
    if len(parts) == 4:
        forms.add(parts[2])
        try:
            forms.add(derive_course_module_id(lo_resource_id))
        except ValueError:
            pass
    return forms


# --- the snapshot kept in the state directory ---------------------------------------------------
STORE = "transcripts"
INDEX = "index.json"
KEEP = 6  # snapshots kept per host


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One or more transcript files (one per window) of one moment, and what they cover."""

    files: tuple[bytes, ...]
    job_ids: tuple[str, ...]
    taken_at: datetime  # when the (first) job was submitted, UTC
    date_from: datetime
    users: frozenset[str]
    cached: bool = False


class SnapshotStore:
    """``<state_dir>/transcripts/``: each snapshot's files (gzip, owner-only) and an index per
    ALM host (``index.json``: jobs, time, window, learners; submissions of the last day; the
    generation time of the last job)."""

    def __init__(self, state_dir: Path | None, host: str) -> None:
        self.folder = state_dir / STORE if state_dir is not None else None
        self.index = HostFile(self.folder / INDEX if self.folder is not None else None)
        self.host = host

    def find(self, users: set[str], date_from: datetime, *, max_age: float) -> Snapshot | None:
        """The newest snapshot younger than ``max_age`` seconds that covers these learners and
        starts no later than ``date_from``; None when there is none (or it cannot be read)."""
        now = datetime.now(UTC)
        for record in reversed(self.index.entry(self.host).get("snapshots", [])):
            try:
                taken = datetime.fromisoformat(record["taken_at"])
                start = datetime.fromisoformat(record["from"])
                covered = frozenset(str(u) for u in record["users"])
                if (now - taken).total_seconds() >= max_age or start > date_from:
                    continue
                if not users <= covered or self.folder is None:
                    continue
                files = tuple(gzip.decompress((self.folder / f).read_bytes())
                              for f in record["files"])  # fmt: skip
                jobs = tuple(str(j) for j in record["jobs"])
            except (KeyError, TypeError, ValueError, OSError, EOFError):
                continue
            return Snapshot(files, jobs, taken, start, covered, cached=True)
        return None

    def save(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` (never raises: a snapshot not kept is taken again next time)."""
        if self.folder is None:
            return
        entry = self.index.entry(self.host)
        names = []
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for content in snapshot.files:
                name = f"{secrets.token_hex(8)}.csv.gz"
                _write_private(self.folder / name, gzip.compress(content, compresslevel=6))
                names.append(name)
        except OSError:
            return
        records: list[dict[str, Any]] = list(entry.get("snapshots", []))
        records.append({
            "jobs": list(snapshot.job_ids),
            "files": names,
            "taken_at": snapshot.taken_at.isoformat(),
            "from": snapshot.date_from.isoformat(),
            "users": sorted(snapshot.users),
        })  # fmt: skip
        for old in records[:-KEEP]:
            for name in old.get("files", []):
                (self.folder / str(name)).unlink(missing_ok=True)
        entry["snapshots"] = records[-KEEP:]
        self.index.update(self.host, entry)

    def submissions(self) -> list[datetime]:
        """Transcript jobs this state directory submitted to this host in the last 24 hours."""
        now = datetime.now(UTC)
        out = []
        for text in self.index.entry(self.host).get("submitted", []):
            try:
                when = datetime.fromisoformat(str(text))
            except ValueError:
                continue
            if (now - when).total_seconds() < 86400:
                out.append(when)
        return out

    def submitted(self, when: datetime, seconds: float | None) -> None:
        """Count a submission (the daily quota) and remember how long its job took."""
        entry = self.index.entry(self.host)
        entry["submitted"] = [w.isoformat() for w in self.submissions()] + [when.isoformat()]
        if seconds is not None:
            entry["generation_seconds"] = round(seconds, 3)
        self.index.update(self.host, entry)

    def generation_seconds(self) -> float | None:
        value = self.index.entry(self.host).get("generation_seconds")
        return float(value) if isinstance(value, int | float) and value > 0 else None


def _write_private(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".snapshot.", dir=path.parent)  # mode 0600
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
