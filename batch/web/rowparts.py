"""Parts of a row as the results table shows them: the fixes a row's message offers (a "did you
mean" name, the candidates of an ambiguous course), and what a learning program or
certification row does with each of its courses (``courses`` of the row's JSON)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape


def breakable(text: str) -> Markup:
    """``text`` escaped, with a line-break opportunity after each "@", so a long address wraps
    between its name and its domain rather than anywhere."""
    return Markup("@<wbr>").join(escape(part) for part in str(text).split("@"))


MAX_SUGGESTIONS = 3  # names offered per row: the best first; the Edit form takes any other
_SUGGEST = re.compile(r"Did you mean (.+)\?\s*$")
_QUOTED = re.compile(r"'([^']+)'")
# "'Safety Basics' matches 2 courses: course:1 'Safety Basics' (en-US, ...), course:2 ..."
_CANDIDATE = re.compile(
    r"(?P<id>(?:course|learningProgram|certification|jobAid):\d+) '(?P<name>[^']*)'"
    r"(?: \((?P<facts>[^()]*)\))?"
)


def suggestions(row: dict[str, Any]) -> list[str]:
    """The names in "Did you mean 'A', 'B' or 'C'?" at the end of a row's message (at most
    ``MAX_SUGGESTIONS``, in the message's order: the closest first)."""
    match = _SUGGEST.search(row.get("message", ""))
    return _QUOTED.findall(match.group(1))[:MAX_SUGGESTIONS] if match else []


@dataclass(frozen=True)
class Candidate:
    """One learning object an ambiguous name matches: its ID (what the fix writes in the
    course cell), its name and the facts that tell it apart."""

    id: str
    name: str
    facts: str


def candidates(row: dict[str, Any]) -> list[Candidate]:
    """The learning objects an ``ambiguous_course`` row's name matches, from its message."""
    if row.get("status") != "ambiguous_course":
        return []
    head, _, listed = str(row.get("message", "")).partition(": ")
    return [Candidate(m["id"], m["name"], m["facts"] or "") for m in _CANDIDATE.finditer(listed)]


_STATES = {
    "grade": "graded by this row",
    "completed": "already completed in ALM",
    "other_row": "graded by row {row} of the file",
    "not_needed": "not needed: its section is complete without it",
    "optional": "in an optional section: not graded",
    "choose": "its section needs only some of its courses, and the file does not say which",
    "unavailable": "cannot be graded",
}


@dataclass(frozen=True)
class ProgramCourse:
    name: str
    course_id: str
    section: str
    state: str  # the row JSON's state: grade, completed, other_row, ...
    words: str  # what the row does with it, for people


def program_courses(row: dict[str, Any]) -> list[ProgramCourse]:
    """A learning program or certification row's courses, each with what the row does with
    it (in the order of the program's sections); [] for a course row."""
    out = []
    for course in row.get("courses") or []:
        state = str(course.get("state", ""))
        words = _STATES.get(state, state).format(row=course.get("row"))
        if state == "grade" and course.get("enroll"):
            words = "enrolled, then graded by this row"
        note = str(course.get("note") or "")
        if state == "unavailable" and note:
            words = f"cannot be graded: {note}"
        elif note:
            words = f"{words} ({note})"
        name = str(course.get("name") or course.get("course_id") or "")
        out.append(
            ProgramCourse(
                name, str(course.get("course_id", "")), str(course.get("section", "")), state, words
            )  # fmt: skip
        )
    return out


def program_summary(courses: list[ProgramCourse]) -> str:
    """ "3 courses: 2 graded by this row, 1 already completed" (the expansion's one line)."""
    if not courses:
        return ""
    counts: dict[str, int] = {}
    for course in courses:
        key = {"grade": "graded by this row", "completed": "already completed",
               "other_row": "graded by other rows"}.get(course.state, "not graded")  # fmt: skip
        counts[key] = counts.get(key, 0) + 1
    parts = ", ".join(f"{n} {what}" for what, n in counts.items())
    return f"{len(courses)} course{'s' if len(courses) != 1 else ''}: {parts}"
