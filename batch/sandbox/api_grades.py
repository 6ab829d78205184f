"""``POST /users/{id}/userModuleGrade``: validate like ALM, record, roll up (alm-api.md §5).

Accepted payload (relationship ``data`` values are arrays, as in Adobe's sample):
- ``data.type`` "userModuleGrade"; ``attributes.dateCompleted`` (ISO 8601 date-time, required,
  not in the future), optional ``dateStarted`` (not after dateCompleted), ``dateSuccess``,
  ``score``/``minScore``/``maxScore`` (score within the bounds), ``started``/``completed``/
  ``success`` booleans (``completed`` defaults to true);
- ``learner``: ``[{"id": <the path user>, "type": "user"}]``;
- ``course``: ``[{"id": "7968486" or "course:7968486", "type": <grade_course_type>}]``;
- ``module``: ``[{"id": "<courseNum><moduleNum><n>", "type": "courseModule"}]`` (the sandbox's
  courseModule ids, built from its loResource ``course:<courseNum>_<inst>_<moduleNum>_<n>``) or
  the raw loResource id with type ``learningObjectResource``;
- the instance as ``relationships.loInstance`` ``[{"id": "course:1_2", "type":
  "learningObjectInstance"}]`` or ``attributes.loInstanceId``, or absent (the learner's
  enrollment).
Which of these this sandbox accepts is its config's (``grade_module``, ``grade_instance``,
``grade_course_type``, set by profiles): "any" accepts every form, as the default profile does.
Every refusal is a 400 whose ``source.info`` names the field ("Missing Param" / "Field Type
incorrect: incorrect relation type - ..." style), checked before any data. Success:
``grade_success_status`` (200/201 with the grade object, 202/204 without a body).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from batch.sandbox import render
from batch.sandbox.config import SandboxConfig
from batch.sandbox.failures import bad_request, field_type_incorrect, missing_param, not_found
from batch.sandbox.routing import Request, Response
from batch.sandbox.world import CourseRec, EnrollmentRec, GradeRec, World, iso, lo_resource_id

FUTURE_SKEW = timedelta(minutes=5)


def post_grade(req: Request) -> Response:
    sb = req.sandbox
    world = sb.world
    data = req.json().get("data")
    if not isinstance(data, dict):
        raise missing_param("data")
    if data.get("type") != "userModuleGrade":
        raise field_type_incorrect(f"data.type must be 'userModuleGrade', got {data.get('type')!r}")
    attrs = data.get("attributes")
    if not isinstance(attrs, dict):
        raise missing_param("attributes")
    rels = data.get("relationships")
    if not isinstance(rels, dict):
        raise missing_param("relationships")
    learner = _one(rels, "learner", required=True)
    course_ref = _one(rels, "course", required=True)
    module_ref = _one(rels, "module", required=True)
    instance_ref = _one(rels, "loInstance", required=False)
    if learner is None or course_ref is None or module_ref is None:  # pragma: no cover
        raise missing_param("relationships")
    _check_body(sb.config, module_ref, course_ref, instance_ref, attrs)
    grade = _grade_fields(attrs)
    user_id = req.params["id"]
    if learner["type"] != "user":
        raise field_type_incorrect(f"incorrect relation type - learner: {learner['type']!r}")
    if learner["id"] != user_id:
        raise bad_request(
            "Invalid learner",
            f"relationships.learner id {learner['id']} does not match user {user_id} in the path",
        )
    with world.lock:
        user = world.visible_user(user_id)
        if user is None:
            raise not_found(f"user {user_id} not found")
        if user.state != "ACTIVE":
            raise bad_request("User not active", f"user {user_id} is {user.state.lower()}")
        course = _course(world, course_ref, sb.config.grade_course_type)
        enrollment = _enrollment(world, user_id, course, instance_ref, attrs)
        resource_id = _module(world, course, enrollment, module_ref)
        record = GradeRec(resource_id=resource_id, user_id=user_id, stamp=sb.clock.now(), **grade)
        double = world.put_grade(enrollment, record)
        sb.bookkeeper.grade(
            user_id=user_id,
            course_id=course.id,
            instance_id=enrollment.instance_id,
            module_id=resource_id,
            date_completed=iso(record.date_completed),
            score=record.score,
            double=double,
        )
        status = sb.config.grade_success_status
        if status in (202, 204):
            return Response(status, None)
        return Response(status, {"data": render.grade(resource_id, user_id, record)})


MODULE_TYPES = {"courseModule": "courseModule", "loResource": "learningObjectResource"}


def _check_body(
    cfg: SandboxConfig,
    module_ref: dict[str, str],
    course_ref: dict[str, str],
    instance_ref: dict[str, str] | None,
    attrs: dict[str, Any],
) -> None:
    """Refuse a body this ALM does not take, as ALM does: a 400 naming the field."""
    if cfg.grade_module == "none" or (
        cfg.grade_module != "any" and module_ref["type"] != MODULE_TYPES[cfg.grade_module]
    ):
        raise field_type_incorrect(f"incorrect relation type - module: {module_ref['type']!r}")
    if course_ref["type"] != cfg.grade_course_type:
        raise field_type_incorrect(f"incorrect relation type - course: {course_ref['type']!r}")
    has_attribute = "loInstanceId" in attrs
    if cfg.grade_instance in ("none", "attribute") and instance_ref is not None:
        raise field_type_incorrect(
            "incorrect relation type - loInstance: not a relationship of userModuleGrade"
        )
    if cfg.grade_instance in ("none", "relationship") and has_attribute:
        raise field_type_incorrect("unknown attribute - loInstanceId")
    if cfg.grade_instance == "relationship" and instance_ref is None:
        raise missing_param("loInstance")
    if cfg.grade_instance == "attribute" and not has_attribute:
        raise missing_param("loInstanceId")


def _one(rels: dict[str, Any], name: str, *, required: bool) -> dict[str, str] | None:
    """The single ``{id, type}`` of ``relationships.<name>.data`` (which must be an array)."""
    rel = rels.get(name)
    if rel is None:
        if required:
            raise missing_param(name)
        return None
    data = rel.get("data") if isinstance(rel, dict) else None
    if not isinstance(data, list):
        raise field_type_incorrect(f"incorrect relation type - {name}: data must be an array")
    if len(data) != 1 or not isinstance(data[0], dict):
        raise field_type_incorrect(f"{name}: data must hold exactly one {{id, type}} object")
    item = data[0]
    if not item.get("id") or not item.get("type"):
        raise missing_param(f"{name}.id" if not item.get("id") else f"{name}.type")
    return {"id": str(item["id"]), "type": str(item["type"])}


def _date(attrs: dict[str, Any], name: str) -> datetime | None:
    value = attrs.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or "T" not in value:
        raise field_type_incorrect(
            f"{name}: {value!r} is not an ISO 8601 date-time such as 2025-03-14T09:00:00.000Z"
        )
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise field_type_incorrect(
            f"{name}: {value!r} is not an ISO 8601 date-time such as 2025-03-14T09:00:00.000Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _number(attrs: dict[str, Any], name: str) -> float | None:
    value = attrs.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise field_type_incorrect(f"{name}: {value!r} must be a number")
    return float(value)


def _flag(attrs: dict[str, Any], name: str) -> bool | None:
    value = attrs.get(name)
    if value is not None and not isinstance(value, bool):
        raise field_type_incorrect(f"{name}: {value!r} must be true or false")
    return value


def _grade_fields(attrs: dict[str, Any]) -> dict[str, Any]:
    completed_at = _date(attrs, "dateCompleted")
    if completed_at is None:
        raise missing_param("dateCompleted")
    if completed_at > datetime.now(UTC) + FUTURE_SKEW:
        raise bad_request(
            "Invalid dateCompleted", f"dateCompleted {attrs['dateCompleted']} is in the future"
        )
    started_at = _date(attrs, "dateStarted")
    if started_at is not None and started_at > completed_at:
        raise bad_request("Invalid dateStarted", "dateStarted is after dateCompleted")
    score, low, high = (_number(attrs, n) for n in ("score", "minScore", "maxScore"))
    if low is not None and high is not None and low > high:
        raise bad_request("Invalid minScore", f"minScore {low:g} is above maxScore {high:g}")
    if score is not None and (
        (low is not None and score < low) or (high is not None and score > high)
    ):
        raise bad_request(
            "Invalid score",
            f"score {score:g} is outside [minScore, maxScore] = [{low}, {high}]",
        )
    _flag(attrs, "started")
    completed = _flag(attrs, "completed")
    return {
        "completed": True if completed is None else completed,
        "date_completed": completed_at,
        "date_started": started_at,
        "date_success": _date(attrs, "dateSuccess"),
        "score": score,
        "min_score": low,
        "max_score": high,
        "success": _flag(attrs, "success"),
    }


def _course(world: World, ref: dict[str, str], course_type: str) -> CourseRec:
    other = world.courses.get(ref["id"])
    if other is not None and other.lo_type != "course":
        raise bad_request("Invalid course", _not_gradable(other))
    if ref["type"] != course_type:
        raise field_type_incorrect(f"incorrect relation type - course: {ref['type']!r}")
    num = ref["id"].removeprefix("course:")
    if not num.isdigit():
        raise field_type_incorrect(f"course: id {ref['id']!r} must be a course number like 7968486")
    course = world.courses.get(f"course:{num}")
    if course is None:
        raise bad_request("Invalid course", f"course: course:{num} not found")
    if course.state != "Published":
        raise bad_request("Course retired", f"course: course:{num} is {course.state}")
    return course


def _not_gradable(lo: CourseRec) -> str:
    """Why a program, certification or job aid takes no module grade of its own."""
    if lo.lo_type == "jobAid":
        return f"course: {lo.id} is a job aid; job aids have no completion"
    if lo.is_external:
        return (
            f"course: {lo.id} is an external certification; it completes when a manager approves "
            "the learner's proof, not by a module grade"
        )
    return f"course: {lo.id} is a {lo.lo_type}; grade the modules of its courses instead"


def _enrollment(
    world: World,
    user_id: str,
    course: CourseRec,
    instance_ref: dict[str, str] | None,
    attrs: dict[str, Any],
) -> EnrollmentRec:
    wanted = instance_ref["id"] if instance_ref else attrs.get("loInstanceId")
    if instance_ref and instance_ref["type"] != "learningObjectInstance":
        raise field_type_incorrect(
            f"incorrect relation type - loInstance: {instance_ref['type']!r}"
        )
    if wanted is not None and course.instance(str(wanted)) is None:
        raise bad_request(
            "Invalid loInstance", f"loInstance: {wanted} is not an instance of {course.id}"
        )
    enrollment = world.enrollment(user_id, course.id)
    if enrollment is None:
        raise bad_request(
            "Learner not enrolled",
            f"learner: user {user_id} is not enrolled in {course.id}; enroll first",
        )
    if wanted is not None and enrollment.instance_id != wanted:
        raise bad_request(
            "Learner not enrolled",
            f"loInstance: user {user_id} is enrolled in {enrollment.instance_id}, not {wanted}",
        )
    instance = course.instance(enrollment.instance_id)
    if instance is None or instance.state != "Active":
        raise bad_request("Instance retired", f"loInstance: {enrollment.instance_id} is retired")
    return enrollment


def _module(world: World, course: CourseRec, enrollment: EnrollmentRec, ref: dict[str, str]) -> str:
    """The loResource id the module reference names, within the learner's instance."""
    if ref["type"] == "courseModule":
        module = course.by_course_module_id.get(ref["id"])
        if module is None:
            raise bad_request(
                "Invalid module", f"module: {ref['id']} is not a module of {course.id}"
            )
        return lo_resource_id(enrollment.instance_id, module.id, world.resource_index)
    if ref["type"] == "learningObjectResource":
        resource = world.resources.get(ref["id"])
        if resource is None or resource.course.id != course.id:
            raise bad_request(
                "Invalid module", f"module: {ref['id']} is not a module of {course.id}"
            )
        if resource.instance.id != enrollment.instance_id:
            raise bad_request(
                "Invalid module",
                f"module: {ref['id']} belongs to instance {resource.instance.id}, but the learner "
                f"is enrolled in {enrollment.instance_id}",
            )
        return resource.id
    raise field_type_incorrect(f"incorrect relation type - module: {ref['type']!r}")
