"""The one place a ``POST /users/{id}/userModuleGrade`` body is built (alm-api.md §5).

The only public sample of this body is Adobe's 2023 community article; three of its details are
unconfirmed (docs/alm-api.md), so the body is built for one ``GradeShape`` (module id form,
instance field, course type): ``batch.alm.grade_shapes`` learns which one ALM accepts.

``duration`` is always 1, as in Adobe's sample: its unit is undocumented, the sample's value is
not derived from its own dates, and the only body known to be accepted carries it. Sending a
computed value in a guessed unit could distort ALM's time-spent reports; 1 is the known-good value.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from batch.alm.grade_shapes import GradeShape
from batch.alm.types import GradeRequest

GRADE_DURATION = 1

_LO_RESOURCE = re.compile(r"^\s*(?:[A-Za-z]+:)?(\d+)_(\d+)_(\d+)_(\d+)\s*$")


def derive_course_module_id(lo_resource_id: str) -> str:
    """``course:<courseNum>_<inst>_<moduleNum>_<n>`` -> ``<courseNum><moduleNum><n>``.

    The hypothesis from Adobe's sample (``7968486`` + ``13210487`` + ``0``), alm-api.md §5.
    Raises ``ValueError`` for an id that does not have the four numeric parts.
    """
    match = _LO_RESOURCE.match(lo_resource_id)
    if not match:
        raise ValueError(
            f"cannot derive a courseModule id from {lo_resource_id!r}: expected a loResource id "
            "like course:<course>_<instance>_<module>_<n>"
        )
    course, _instance, module, index = match.groups()
    return f"{course}{module}{index}"


def bare_course_number(course_id: str) -> str:
    """``course:7968486`` -> ``7968486`` (the sample's course relationship uses the bare number)."""
    return course_id.strip().split(":", 1)[-1]


def alm_datetime(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``: ``2023-09-20T09:36:36.000Z``.

    A naive datetime is taken as UTC (validation makes dates aware; this is a safety net).
    """
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    utc = aware.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _number(value: float) -> int | float:
    """Scores as ``20`` rather than ``20.0`` when whole, as in the sample."""
    return int(value) if float(value).is_integer() else value


def grade_payload(grade: GradeRequest, shape: GradeShape) -> dict[str, Any]:
    """The JSON:API body for one module grade of one learner, in ``shape``."""
    passed = grade.passed is not False
    completed = alm_datetime(grade.date_completed)
    attributes: dict[str, Any] = {"duration": GRADE_DURATION}
    if grade.score is not None:
        attributes["score"] = _number(grade.score)
    if grade.min_score is not None:
        attributes["minScore"] = _number(grade.min_score)
    if grade.max_score is not None:
        attributes["maxScore"] = _number(grade.max_score)
    attributes["dateCompleted"] = completed
    if passed:
        attributes["dateSuccess"] = completed
    attributes["dateStarted"] = alm_datetime(grade.date_started or grade.date_completed)
    attributes.update({"started": True, "completed": True, "success": passed})

    if shape.module_form == "course_module":
        module = {"id": derive_course_module_id(grade.module_id), "type": "courseModule"}
    else:
        module = {"id": grade.module_id, "type": "learningObjectResource"}
    relationships: dict[str, Any] = {
        "learner": {"data": [{"id": str(grade.user_id), "type": "user"}]},
        "module": {"data": [module]},
        "course": {
            "data": [{"id": bare_course_number(grade.course_id), "type": shape.course_type}]
        },
    }
    if shape.instance_field == "relationship" and grade.instance_id:
        relationships["loInstance"] = {
            "data": [{"id": grade.instance_id, "type": "learningObjectInstance"}]
        }
    elif shape.instance_field == "attribute" and grade.instance_id:
        attributes["loInstanceId"] = grade.instance_id
    return {
        "data": {
            "type": "userModuleGrade",
            "attributes": attributes,
            "relationships": relationships,
        }
    }
