"""Header aliases and ``--map`` parsing: which spreadsheet column feeds which canonical field.

HR exports name the same thing a dozen ways ("E-mail Address", "Learner Email", "userEmail"),
so headers are compared after folding case and dropping spaces and punctuation. Ambiguous
headers such as "Status", "Result" or "Date" are deliberately *not* aliases: guessing wrong
would mark the wrong people complete, while an unmapped column only asks for one ``--map``.
"Status" and "Result" feed ``completion_status`` only when their values are completion states,
and "Completed" feeds it (not the completion date) when its values are states or its header
asks a question ("Completed?"): ``batch.reading.columns`` decides, from the values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from batch.errors import UsageError
from batch.models import FIELDS

_NOT_WORD = re.compile(r"[\W_]+")


def header_key(text: str) -> str:
    """Case-, space- and punctuation-insensitive key: 'E-mail Address' -> 'emailaddress'."""
    return _NOT_WORD.sub("", text.casefold())


# Field -> aliases, best first: when two columns match the same field, the earlier alias wins.
ALIASES: dict[str, tuple[str, ...]] = {
    "email": (
        "email",
        "e-mail",
        "email address",
        "e-mail address",
        "learner email",
        "learner email address",
        "user email",
        "useremail",
        "user email address",
        "employee email",
        "employee email address",
        "work email",
        "work email address",
        "business email",
        "email id",
        "mail",
        "learner",
        "participant email",
    ),
    "course": (
        "course",
        "course id",
        "lo id",
        "learning object id",
        "course name",
        "course title",
        "learning object",
        "learning object name",
        "lo name",
        "course code",
        "training",
        "training name",
        "training title",
        "loid",
    ),
    "completion_date": (
        "completion date",
        "completed on",
        "date completed",
        "completion",
        "completed",
        "completed date",
        "completed at",
        "completion time",
        "completion datetime",
        "date of completion",
        "end date",
        "finish date",
        "finished on",
        "datecompleted",
    ),
    "score": ("score", "grade", "percent", "percentage", "final score", "score %", "mark"),
    "min_score": (
        "min score",
        "minimum score",
        "passing score",
        "pass mark",
        "passing grade",
        "pass score",
        "minscore",
    ),
    "max_score": (
        "max score",
        "maximum score",
        "total score",
        "max points",
        "possible score",
        "out of",
        "maxscore",
    ),
    "start_date": (
        "start date",
        "started on",
        "date started",
        "started",
        "start",
        "started at",
        "enrollment date",
        "enrolled on",
        "datestarted",
    ),
    "passed": ("passed", "pass", "pass/fail", "pass fail", "success", "has passed"),
    "module": ("module", "module name", "module id", "lesson"),
    "instance": ("instance", "session", "instance name", "instance id", "session name", "cohort"),
    "completion_status": (
        "completion status",
        "transcript status",
        "training status",
        "lesson status",
        "status of completion",
        "is completed",
        "is complete",
        "done",
        "completion state",
        "course status",
        "learning status",
        "enrollment status",
        "enrolment status",
        "registration status",
        "attendance",
        "attendance status",
        "cmi.core.lesson_status",
        "cmi.completion_status",
        "has completed",
    ),
}

# Headers that feed ``completion_status`` only when their values are completion states.
STATUS_BY_VALUES = frozenset(
    map(header_key, ("status", "result", "results", "state", "outcome", "progress", "statut",
                     "estado", "resultado", "ergebnis", "risultato", "resultaat"))
)  # fmt: skip
# Headers that are a completion date or a completion state depending on their values; with a
# question mark ("Completed?") they are always a state, never a date.
STATE_OR_DATE = frozenset(
    map(header_key, ("completed", "complete", "finished", "course completed",
                     "training completed"))
)  # fmt: skip

# Computed once: header key -> (field, rank). Canonical names ("completion_date") rank first.
ALIAS_KEYS: dict[str, tuple[str, int]] = {}
for _field, _names in ALIASES.items():
    ALIAS_KEYS.setdefault(header_key(_field), (_field, -1))
    for _rank, _name in enumerate(_names):
        ALIAS_KEYS.setdefault(header_key(_name), (_field, _rank))

_FIELD_KEYS = {header_key(f): f for f in FIELDS}


def field_for_header(header: str) -> str | None:
    """The canonical field a header is an alias of, or None."""
    hit = ALIAS_KEYS.get(header_key(header))
    return hit[0] if hit else None


def parse_map_options(items: Iterable[str]) -> dict[str, str]:
    """Parse repeated ``--map "Header=field"`` options into header -> canonical field.

    The field may be written loosely ("Completion Date", "completion-date"). Raises
    ``UsageError`` with one line naming the bad option and the valid fields.
    """
    fields_hint = ", ".join(FIELDS)
    out: dict[str, str] = {}
    seen_fields: dict[str, str] = {}
    for item in items:
        header, sep, field = item.rpartition("=")
        header, field = header.strip(), field.strip()
        if not sep or not header or not field:
            raise UsageError(
                f'--map {item!r} is not of the form "Header=field": write e.g. '
                f'--map "Work Mail=email" (fields: {fields_hint}).'
            )
        canonical = _FIELD_KEYS.get(header_key(field))
        if canonical is None:
            raise UsageError(
                f"--map {item!r}: {field!r} is not a field; use one of: {fields_hint}."
            )
        if header in out and out[header] != canonical:
            raise UsageError(
                f"--map maps column {header!r} twice ({out[header]} and {canonical}): keep one."
            )
        if canonical in seen_fields and seen_fields[canonical] != header:
            raise UsageError(
                f"--map maps both {seen_fields[canonical]!r} and {header!r} to {canonical}: "
                "keep one."
            )
        out[header] = canonical
        seen_fields[canonical] = header
    return out


def recognised_count(cells: list[str], mapping: dict[str, str] | None) -> int:
    """How many distinct fields a candidate header row names (for finding the header row)."""
    return len(recognised_fields(cells, mapping))


def recognised_fields(cells: list[str], mapping: dict[str, str] | None) -> set[str]:
    """The fields a candidate header row names (``--map`` headers count as their field)."""
    mapped = {header_key(h): f for h, f in (mapping or {}).items()}
    found = set()
    for cell in cells:
        key = header_key(cell)
        if not key:
            continue
        if key in mapped:
            found.add(mapped[key])
        elif key in STATE_OR_DATE and "?" in cell:
            found.add("completion_status")
        elif key in ALIAS_KEYS:
            found.add(ALIAS_KEYS[key][0])
    return found
