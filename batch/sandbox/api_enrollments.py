"""``GET``/``POST``/``DELETE /users/{id}/enrollments``, one enrollment, one loResourceGrade.

alm-api.md §4, §6. Enrolling answers 200 with the enrollment. Choices where ALM is
undocumented [?]:
- already enrolled in any instance of the learning object: 409 ``CONFLICT`` "Already enrolled"
  (``already_enrolled_status=400``: a 400 saying so; ``200``: the existing enrollment);
- ``loInstanceId`` omitted: the default instance;
- unknown user or learning object: 404; suspended user, retired course or instance, an
  instance of another learning object, a job aid (no enrollment), an earlier recurrence of a
  recurring certification (enroll in its latest): 400;
- a learning program or internal certification: its courses too (``programs.enroll_container``);
- ``DELETE``: 204; the enrollment leaves the lists and shows "Unenrolled" in the transcript. A
  program's or certification's own course enrollments that are not complete go with it; a
  course enrolled through a program cannot be unenrolled alone (400).
Listing: ``page[limit]`` at most 10, opaque ``page[cursor]``, ``filter.loTypes`` (default
course), ``include=loResourceGrades`` (one grade object per loResource of the instance;
ungraded modules show ``completed: false``), ``learningObject``, ``loInstance``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from batch.sandbox import programs, render
from batch.sandbox.failures import ApiFailure, bad_request, missing_param, not_found
from batch.sandbox.routing import Request, Response, includes, page_limit
from batch.sandbox.seed import LO_TYPES
from batch.sandbox.world import EnrollmentRec, UserRec, World

ENROLLMENT_INCLUDES = ("loResourceGrades", "learningObject", "loInstance", "learner")


def _user(world: World, user_id: str) -> UserRec:
    user = world.visible_user(user_id)
    if user is None:
        raise not_found(f"user {user_id} not found")
    return user


def list_enrollments(req: Request) -> Response:
    world = req.sandbox.world
    inc = includes(req, ENROLLMENT_INCLUDES)
    limit = page_limit(req, default=10, cap=10, why="on enrollments")
    types_text = req.arg("filter.loTypes") or "course"
    types = tuple(t.strip() for t in types_text.split(",") if t.strip())
    for t in types:
        if t not in LO_TYPES:
            raise bad_request(
                "Invalid filter.loTypes", f"filter.loTypes value {t!r} must be one of {LO_TYPES}"
            )
    sort = req.arg("sort")
    if sort not in (None, "dateEnrolled", "-dateEnrolled"):
        raise bad_request("Invalid sort", "sort must be dateEnrolled or -dateEnrolled")
    cursor_text = req.arg("page[cursor]") or "0"
    if not cursor_text.isdigit():
        raise bad_request("Invalid page[cursor]", f"page[cursor] {cursor_text!r} is not valid")
    start = int(cursor_text)
    with world.lock:
        user = _user(world, req.params["id"])
        mine = [
            e
            for e in world.enrollments_by_user.get(user.id, [])
            if world.courses[e.course_id].lo_type in types
        ]
        if sort is not None:
            mine.sort(key=lambda e: e.date_enrolled, reverse=sort.startswith("-"))
        page = mine[start : start + limit]
        links = {"self": req.url({})}
        if start + limit < len(mine):
            links["next"] = req.url({"page[cursor]": str(start + limit)})
        body: dict[str, Any] = {
            "links": links,
            "data": [render.enrollment(e, world, req.sandbox.api_root) for e in page],
        }
        if inc:
            body["included"] = _included(req, page, inc)
        return Response(200, body)


def _included(req: Request, page: list[EnrollmentRec], inc: set[str]) -> list[dict[str, Any]]:
    world = req.sandbox.world
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for e in page:
        course = world.courses[e.course_id]
        if "learningObject" in inc and course.id not in seen:
            seen.add(course.id)
            out.append(render.learning_object(course, req.sandbox.api_root))
        inst = course.instance(e.instance_id)
        if "loInstance" in inc and inst is not None and inst.id not in seen:
            seen.add(inst.id)
            out.append(render.instance(course, inst, with_resources=True))
        if "loResourceGrades" in inc:
            for r in world.resources_of(e.instance_id):
                out.append(render.grade(r.id, e.user_id, e.grades.get(r.id)))
    if "learner" in inc and page:
        user = world.visible_user(page[0].user_id)
        if user is not None:
            out.append(render.user(user, world, req.sandbox.api_root))
    return out


def enroll(req: Request) -> Response:
    sb = req.sandbox
    world = sb.world
    lo_id = req.arg("loId")
    if not lo_id:
        raise missing_param("loId")
    instance_id = req.arg("loInstanceId")
    with world.lock:
        user = _user(world, req.params["id"])
        if user.state != "ACTIVE":
            raise bad_request("User not active", f"user {user.id} is {user.state.lower()}")
        course = world.courses.get(lo_id)
        if course is None:
            raise not_found(f"learning object {lo_id} not found")
        if course.state != "Published":
            raise bad_request(
                "Learning object retired", f"{lo_id} is {course.state}; it cannot be enrolled"
            )
        if course.lo_type == "jobAid":
            raise bad_request("Invalid loId", f"{lo_id} is a job aid; job aids have no enrollment")
        latest = programs.latest_version(world, course)
        if latest.id != course.id:
            raise bad_request(
                "Invalid loId",
                f"{lo_id} has recurred: enroll in its current recurrence {latest.id}",
            )
        if instance_id:
            instance = course.instance(instance_id)
            if instance is None:
                raise bad_request(
                    "Invalid loInstanceId",
                    f"loInstanceId {instance_id} is not an instance of {lo_id}",
                )
        else:
            instance = course.default_instance
        if instance.state != "Active":
            raise bad_request(
                "Instance retired", f"instance {instance.id} is {instance.state}; pick another"
            )
        existing = world.enrollment(user.id, course.id)
        if existing is not None:
            if sb.config.already_enrolled_status == 409:
                raise ApiFailure(
                    409,
                    "Already enrolled",
                    f"user {user.id} is already enrolled in {course.id} "
                    f"(instance {existing.instance_id})",
                )
            if sb.config.already_enrolled_status == 400:
                raise bad_request(
                    "Bad Request",
                    f"User is already enrolled in the learning object {course.id}",
                )
            return Response(200, {"data": render.enrollment(existing, world, sb.api_root)})
        now, stamp = datetime.now(UTC), sb.clock.now()
        if course.is_container:
            enrollment = programs.enroll_container(world, user.id, course, instance, now, stamp)
            made = [enrollment, *programs.created_through(world, enrollment)]
        else:
            enrollment = world.add_enrollment(user.id, course, instance, now, stamp=stamp)
            made = [enrollment]
        for e in made:
            sb.bookkeeper.enrolled(world.courses[e.course_id].lo_type)
        return Response(200, {"data": render.enrollment(enrollment, world, sb.api_root)})


def unenroll(req: Request) -> Response:
    """``DELETE /users/{id}/enrollments/{enrollmentId}``: 204, or 404 / 400 saying why not."""
    sb = req.sandbox
    world = sb.world
    with world.lock:
        user = _user(world, req.params["id"])
        found = _find(world, user, req.params["enrollmentId"])
        if found.parent_id is not None and world.enrollment(user.id, found.parent_id):
            raise bad_request(
                "Enrolled through a program",
                f"{found.course_id} was enrolled through {found.parent_id}; unenroll from it",
            )
        now, stamp = datetime.now(UTC), sb.clock.now()
        for sub in programs.created_through(world, found):
            if sub.state == "COMPLETED":
                sub.parent_id = None  # a completed course stays on the learner's record
            else:
                world.unenroll(sub, now, stamp)
        world.unenroll(found, now, stamp)
        return Response(204, None)


def _find(world: World, user: UserRec, enrollment_id: str) -> EnrollmentRec:
    found = next(
        (e for e in world.enrollments_by_user.get(user.id, []) if e.id == enrollment_id), None
    )
    if found is None:
        raise not_found(f"enrollment {enrollment_id} not found for user {user.id}")
    return found


def get_enrollment(req: Request) -> Response:
    """``GET /users/{id}/enrollments/{enrollmentId}`` (the enrollment's ``links.self``)."""
    world = req.sandbox.world
    inc = includes(req, ENROLLMENT_INCLUDES)
    with world.lock:
        user = _user(world, req.params["id"])
        found = _find(world, user, req.params["enrollmentId"])
        body: dict[str, Any] = {
            "data": render.enrollment(found, world, req.sandbox.api_root),
            "links": {"self": req.url({})},
        }
        if inc:
            body["included"] = _included(req, [found], inc)
        return Response(200, body)


def get_grade(req: Request) -> Response:
    """``GET /loResourceGrades/{id}``: id is ``<loResource id>_<userId>`` (alm-api.md §4)."""
    world = req.sandbox.world
    resource_id, _, user_id = req.params["id"].rpartition("_")
    with world.lock:
        resource = world.resources.get(resource_id)
        enrollment = world.enrollment(user_id, resource.course.id) if resource else None
        if resource is None or enrollment is None or enrollment.instance_id != resource.instance.id:
            raise not_found(f"loResourceGrade {req.params['id']} not found")
        grade = render.grade(resource_id, user_id, enrollment.grades.get(resource_id))
        return Response(200, {"data": grade, "links": {"self": req.url({})}})
