"""Single-cell parsers: text in, typed value out, or a ``CellProblem`` saying what and how to fix.

Each problem carries two parts, ``problem`` ("is not an email address") and ``fix`` ("write it
as jane.doe@example.com"), that ``validate`` joins with the column name and the value into the
sentence a person reads in the report.
"""

from __future__ import annotations

import math
import re
import unicodedata

from batch.dates import DateProblem
from batch.models import CourseRef, looks_like_person_name

CellProblem = DateProblem  # one exception type for every cell problem


_EMAIL = re.compile(
    r"^[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
    r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}$"
)
_ANGLE = re.compile(r"^[^<>]*<([^<>]+)>\s*$")


def parse_email(text: str) -> str:
    """Trimmed email address (``Jane <jane@x.com>`` and ``mailto:`` are unwrapped)."""
    value = _clean_email(text)
    m = _ANGLE.match(value)
    if m:
        value = m[1].strip()
    if value.lower().startswith("mailto:"):
        value = value[7:].strip()
    if _EMAIL.match(value):
        return value
    example = "write it as name@company.com"
    if "@" not in value and looks_like_person_name(value):
        raise CellProblem(
            "looks like a name, not an email address",
            "put the learner's email address in this column (name@company.com)",
        )
    if " " in value or "\t" in value:
        raise CellProblem("contains spaces", "remove them; one address per cell")
    if value.count("@") == 0:
        raise CellProblem("is not an email address (no @)", example)
    if value.count("@") > 1:
        raise CellProblem("holds more than one @", "give one address per cell")
    raise CellProblem("is not a valid email address", example)


_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"))
_ODD_SPACES = re.compile("[\u00a0\u2007\u202f\u2000-\u200a\u205f\u3000]")


def _clean_email(text: str) -> str:
    """An address as pasted: NFKC (full-width @ and letters made plain, a Mac's decomposed
    accents composed), zero-width characters dropped, odd spaces made plain, trimmed."""
    if text.isascii():
        return text.strip()
    value = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    return _ODD_SPACES.sub(" ", value).strip()


_COURSE_ID = re.compile(r"^(?:course\s*:\s*)?(\d+)$", re.IGNORECASE)
# An ID a spreadsheet or a script stored as a number: "1009221.0", "1.009221E+6".
_DECIMAL_ID = re.compile(r"^(\d+)[.,]0+$")
_EXPONENT_ID = re.compile(r"^(\d)(?:[.,](\d+))?[eE]\+?(\d{1,2})$")
SHORTENED_ID = "Excel shortened this ID: format the column as Text and export again"
_LO_ID = re.compile(r"^(course|learningProgram|certification|jobAid)\s*:\s*(\d+)$", re.IGNORECASE)
# An ALM link names the object in its path or fragment (Adobe's own client builds
# ".../app/learner#/learningProgram/131072"), or as an id in its query (loId=course%3A123).
_LINKED_LO = re.compile(
    r"(?:^|[/#?&=])(course|learningProgram|certification|jobAid)(?:/|:|%3A)(\d+)", re.IGNORECASE
)
_LO_TYPES = {t.casefold(): t for t in ("course", "learningProgram", "certification", "jobAid")}
_WS = re.compile(r"\s+")


def parse_course(text: str) -> CourseRef:
    """A course, learning program or certification: a name, ``course:123`` or ``123``
    (normalised to ``course:123``), ``learningProgram:123``, ``certification:123``, or a link
    to it in ALM. A job aid's ID is kept too: resolving says why it has no completion."""
    value = _WS.sub(" ", text if text.isascii() else unicodedata.normalize("NFC", text)).strip()
    plain = value if value.isascii() else unicodedata.normalize("NFKC", value)
    m = _COURSE_ID.match(plain)
    if m:
        return CourseRef(text=value, course_id=f"course:{int(m[1])}")
    number = number_form_id(value)
    if number is not None:
        return CourseRef(text=value, course_id=f"course:{number}")
    m = _LO_ID.match(plain)
    if m:
        return CourseRef(text=value, course_id=f"{_LO_TYPES[m[1].casefold()]}:{int(m[2])}")
    if plain.casefold().startswith(("http://", "https://")):
        return CourseRef(text=value, course_id=_linked_id(plain))
    return CourseRef(text=value)


def number_form_id(value: str) -> int | None:
    """The whole number an ID stored as a number holds ("1009221.0", "1.009221E+6"), or None
    when the text is not such a number. An exponent form with fewer digits than the number
    has (Excel's "1.00922E+15") lost the rest: a ``CellProblem``, never a guess."""
    m = _DECIMAL_ID.match(value)
    if m:
        return int(m[1])
    m = _EXPONENT_ID.match(value)
    if m is None:
        return None
    fraction, exponent = m[2] or "", int(m[3])
    if len(fraction) < exponent:
        raise CellProblem("has lost digits in exponent form; " + SHORTENED_ID.split(":")[0],
                          SHORTENED_ID.split(": ", 1)[1])  # fmt: skip
    if fraction[exponent:].strip("0"):
        return None  # not a whole number: not an ID (then it is read as a name)
    return int(m[1] + fraction[:exponent])


def is_number_form_id(ref: CourseRef) -> bool:
    """True for a course ID that was written as a number ("1009221.0"), not as typed digits."""
    return ref.course_id is not None and _COURSE_ID.match(ref.text) is None


def _linked_id(url: str) -> str:
    """The learning object an ALM link points at; a link elsewhere is a problem, not a name."""
    host, _, rest = url.split("//", 1)[-1].partition("/")
    name = host.casefold().rsplit("@", 1)[-1].split(":", 1)[0]
    in_alm = "/app/" in f"/{rest}" or name == "adobe.com" or name.endswith(".adobe.com")
    found = _LINKED_LO.search(rest) if in_alm else None
    if found is None:
        raise CellProblem(
            "is a link, but not to a course, learning program or certification in ALM",
            "paste the link of its page in ALM (.../app/learner#/course/123) or its ID",
        )
    return f"{_LO_TYPES[found[1].casefold()]}:{int(found[2])}"


def parse_number(text: str) -> tuple[float, bool]:
    """A score-like number: '85', '85.5', '85,5', '85 %', '1 234,5'. Returns (value, had_percent)."""
    value = text.strip().replace("\u00a0", "").replace(" ", "").replace("\u202f", "")
    percent = value.endswith("%") or value.startswith("%")
    value = value.strip("%")
    if "," in value and "." in value:
        # The last separator is the decimal one; the other groups thousands.
        if value.rfind(",") > value.rfind("."):
            value = value.replace(".", "").replace(",", ".")
        else:
            value = value.replace(",", "")
    elif value.count(",") == 1:
        value = value.replace(",", ".")
    try:
        number = float(value)
    except ValueError:
        raise CellProblem("is not a number", "write a number such as 85 or 85.5") from None
    if not math.isfinite(number):
        raise CellProblem("is not a number", "write a number such as 85 or 85.5")
    if number < 0:
        raise CellProblem("is negative", "scores are 0 or more")
    return number, percent


_TRUE = frozenset({"yes", "y", "true", "t", "1", "pass", "passed", "p", "oui", "ja", "si", "sí"})
_FALSE = frozenset({"no", "n", "false", "f", "0", "fail", "failed", "non", "nein"})


def parse_passed(text: str) -> bool:
    """yes/no, true/false, 1/0, pass/fail (any case)."""
    value = text.strip().casefold()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise CellProblem("is not yes or no", "write yes or no (or true/false, 1/0)")


def parse_text(text: str) -> str | None:
    """Module / instance: trimmed, internal whitespace collapsed; blank is None (the default)."""
    value = _WS.sub(" ", text).strip()
    return value or None
