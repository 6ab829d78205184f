"""ALM's Learner Transcript job: its payload and its CSV, read by header name (alm-api.md §9).

``POST /jobs`` with ``jobType: generateLearnerTranscript`` and a payload of comma-separated
strings (``users``: internal ids; ``fromDate`` / ``toDate`` at most five years apart; booleans
as the strings "true" / "false"). The file has one row per learner and enrollment (course,
learning program, certification) and, with module details, one per module started or
completed. Columns are renamed between releases, so each is found by its header, folded
(case, spaces and punctuation ignored), against the names seen in Adobe's documentation and
releases. What the file leaves unknown is said, never guessed:

- no internal user id column is documented: rows are joined on the learner's email;
- ``Training ID`` may be ``course:123``, ``123`` or a number per enrollment, and ``Module ID``
  a loResource id, a module number or a courseModule id: kept as written here, matched to ALM's
  objects by ``batch.snapshot`` (which uses a row only when the match is certain);
- dates are in the account's report time zone, named in each date header
  (``Completion Date (UTC TimeZone)``): a header without a zone we know makes the file
  unusable (``TranscriptUnusable``), since a date shifted by a zone would be a wrong date.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

JOB_TYPE = "generateLearnerTranscript"
MAX_YEARS = 5  # fromDate and toDate at most five years apart (whats-new-december-2020)
MAX_BYTES = 512 * 1024 * 1024  # a transcript larger than this is not read (memory bound)
MAX_CELL = 64 * 1024  # a longer cell is not a transcript's

# What the Status column says -> the enrollment state the API would show (alm-api.md §6).
STATES = {
    "notstarted": "ENROLLED",
    "enrolled": "ENROLLED",
    "inprogress": "STARTED",
    "started": "STARTED",
    "completed": "COMPLETED",
    "unenrolled": "UNENROLLED",
}
UNENROLLED = "UNENROLLED"

# field -> folded header names (the current release's, the renamed release's, plausible others)
COLUMNS: dict[str, tuple[str, ...]] = {
    "email": ("email", "learneremail", "useremail", "emailaddress", "emailid"),
    "training_id": ("trainingid", "learningobjectid", "loid"),
    "type": ("type", "learningobjecttype", "lotype", "trainingtype"),
    "lo_name": ("lpcertificationcourse", "learningobject", "learningobjectname", "trainingname"),
    "course_name": ("course", "coursename"),
    "instance_name": ("instance", "instancename", "courseinstance", "loinstance"),
    "module_id": ("moduleid", "loresourceid"),
    "module_name": ("module", "modulename"),
    "status": ("status", "enrollmentstatus", "trainingstatus", "learnerstatus"),
}
DATES: dict[str, tuple[str, ...]] = {  # date columns: folded header without its zone
    "completed": ("completiondate", "completedon", "dateofcompletion", "completeddate"),
}
NEEDED = ("email", "type", "status", "instance_name", "module_id")

_ZONE = re.compile(r"^(?P<name>.*?)\s*\((?P<zone>[^()]*)\)\s*$")
_OFFSET = re.compile(r"^(?:utc|gmt)?\s*(?P<sign>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?$", re.I)


class TranscriptUnusable(Exception):
    """The file cannot be read with certainty (missing columns, an unknown time zone, too big);
    the message says why, for the run's warning."""


@dataclass(frozen=True, slots=True)
class TranscriptRow:
    """One row of the transcript, as written (names with their stray spaces, ids as given)."""

    email: str
    type: str  # "Course", "Learning Path", "Certification" (what the learner enrolled in)
    lo_name: str  # the learning object the row belongs to (a program, or the course itself)
    course_name: str  # the course, on course rows ("" on a program's own row)
    instance_name: str
    module_id: str  # "" on an enrollment's own row
    module_name: str
    training_id: str
    status: str  # ENROLLED, STARTED, COMPLETED, UNENROLLED, or the text as written
    date_completed: datetime | None  # in UTC

    @property
    def is_module(self) -> bool:
        return bool(self.module_id or self.module_name)


def fold(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def payload(user_ids: Iterable[str], date_from: datetime, date_to: datetime) -> dict[str, str]:
    """The documented payload for these learners and this window, module details on."""
    return {
        "users": ",".join(user_ids),
        "fromDate": _iso(date_from),
        "toDate": _iso(date_to),
        "includeModuleLevelDetails": "true",
        "includeDeletedLearners": "false",
    }


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def years_later(when: datetime, years: int) -> datetime:
    try:
        return when.replace(year=when.year + years)
    except ValueError:  # 29 February
        return when.replace(year=when.year + years, day=28)


def windows(date_from: datetime, date_to: datetime) -> list[tuple[datetime, datetime]]:
    """[from, to] cut into windows of at most five years, the newest last (each one job)."""
    out: list[tuple[datetime, datetime]] = []
    end = date_to
    while True:
        start = years_later(end, -MAX_YEARS)
        if start <= date_from:
            out.append((date_from, end))
            return out[::-1]
        out.append((start, end))
        end = start - timedelta(milliseconds=1)


def zone_of(text: str) -> tzinfo | None:
    """The zone a date header names ("UTC TimeZone", "America/Los_Angeles", "GMT+05:30")."""
    name = re.sub(r"\s*time\s*zone\s*$", "", text.strip(), flags=re.I).strip()
    if name.casefold() in ("utc", "gmt", "z"):
        return UTC
    offset = _OFFSET.match(name)
    if offset:
        delta = timedelta(hours=int(offset["h"]), minutes=int(offset["m"] or 0))
        return timezone(-delta if offset["sign"] == "-" else delta)
    try:
        return ZoneInfo(name) if "/" in name else None
    except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
        return None


def read_transcript(
    content: bytes, keep: Callable[[str], bool] | None = None
) -> Iterator[TranscriptRow]:
    """The rows of a transcript file (only the learners whose email ``keep`` accepts).

    Raises ``TranscriptUnusable`` when a column the state needs is missing, when a date column
    names no zone we know, when a cell or the file is too large, or the file is not a CSV."""
    if len(content) > MAX_BYTES:
        raise TranscriptUnusable(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    text = content.decode("utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise TranscriptUnusable("the file is empty")
        where, dates = _columns(header)
        for number, row in enumerate(reader, start=2):
            if any(len(cell) > MAX_CELL for cell in row):
                raise TranscriptUnusable(f"row {number} has a cell longer than {MAX_CELL} bytes")
            email = _cell(row, where.get("email")).strip()
            if not email or (keep is not None and not keep(email)):
                continue
            yield _row(row, where, dates, email, number)
    except csv.Error as exc:
        raise TranscriptUnusable(f"the file is not a readable CSV ({exc})") from None


def _columns(header: list[str]) -> tuple[dict[str, int], dict[str, tuple[int, tzinfo]]]:
    where: dict[str, int] = {}
    dates: dict[str, tuple[int, tzinfo]] = {}
    folded = [fold(h) for h in header]
    for name, aliases in COLUMNS.items():
        found = next((folded.index(a) for a in aliases if a in folded), None)
        if found is not None:
            where[name] = found
    for index, raw in enumerate(header):
        zoned = _ZONE.match(raw.strip())
        base = fold(zoned["name"]) if zoned else fold(raw)
        for name, aliases in DATES.items():
            if base in aliases and name not in dates:
                zone = zone_of(zoned["zone"]) if zoned else None
                if zone is None:
                    raise TranscriptUnusable(
                        f"its column {raw.strip()!r} does not name a time zone alm-batch knows, "
                        "so its dates cannot be read"
                    )
                dates[name] = (index, zone)
    missing = [n for n in NEEDED if n not in where] + [n for n in DATES if n not in dates]
    if "training_id" not in where and "course_name" not in where:
        missing.append("training_id")
    if missing:
        shown = ", ".join(repr(h) for h in header[:30])
        raise TranscriptUnusable(
            f"it lacks the column(s) {', '.join(missing)} (its columns: {shown})"
        )
    return where, dates


def _cell(row: list[str], index: int | None) -> str:
    return row[index] if index is not None and index < len(row) else ""


def _row(
    row: list[str],
    where: dict[str, int],
    dates: dict[str, tuple[int, tzinfo]],
    email: str,
    number: int,
) -> TranscriptRow:
    status_text = _cell(row, where.get("status")).strip()
    index, zone = dates["completed"]
    return TranscriptRow(
        email=email,
        type=_cell(row, where.get("type")).strip(),
        lo_name=_cell(row, where.get("lo_name")),
        course_name=_cell(row, where.get("course_name")),
        instance_name=_cell(row, where.get("instance_name")),
        module_id=_cell(row, where.get("module_id")).strip(),
        module_name=_cell(row, where.get("module_name")).strip(),
        training_id=_cell(row, where.get("training_id")).strip(),
        status=STATES.get(fold(status_text), status_text),
        date_completed=_date(_cell(row, index), zone, number),
    )


def _date(text: str, zone: tzinfo, number: int) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("/", "-"))
    except ValueError:
        raise TranscriptUnusable(
            f"row {number} has a completion date alm-batch cannot read: {text[:40]!r}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)
