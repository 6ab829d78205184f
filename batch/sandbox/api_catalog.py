"""``GET /learningObjects`` and ``GET /learningObjects/{id}`` (alm-api.md §3-§4).

Names live only in ``attributes.localizedMetadata`` (several locales, stray spaces kept).
``include=instances`` / ``instances.loResources`` put learningObjectInstance and
learningObjectResource objects in ``included``, linked through relationships. On the list
endpoint the deprecated ``instances.loResources.resources`` path answers 400 (March 2024).
Page size: 10 with include, 100 without; ``links.next`` carries an opaque ``page[cursor]``.
Sorted/filtered orders are computed once and cached: the catalogue does not change at runtime.

Learning programs and certifications carry ``attributes.sections`` and ``relationships.subLOs``;
their instances ``relationships.subLoInstances`` (``render``). The detail endpoint also takes
``include=subLOs`` and ``instances.subLoInstances``. ``GET /learningObjects/{id}/
applicableCertification`` (a recurring certification's current recurrence) is learner-scope
only in ALM, with no admin equivalent (alm-api.md §12): the sandbox's admin token gets a 403.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from batch.sandbox import render
from batch.sandbox.failures import ApiFailure, bad_request
from batch.sandbox.routing import Request, Response, includes, page_limit
from batch.sandbox.seed import LO_TYPES
from batch.sandbox.world import CourseRec, World

MAX_IDS = 10
LIST_INCLUDES = ("instances", "instances.loResources")
DETAIL_INCLUDES = (
    "instances",
    "instances.loResources",
    "instances.loResources.resources",
    "instances.subLoInstances",
    "subLOs",
)
SORTS = ("id", "name", "-name", "date", "-date")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def list_learning_objects(req: Request) -> Response:
    world = req.sandbox.world
    if (req.arg("include") or "").find("instances.loResources.resources") >= 0:
        raise bad_request(
            "Invalid include",
            "include=instances.loResources.resources is deprecated on GET /learningObjects "
            "(March 2024); use instances.loResources",
        )
    inc = includes(req, LIST_INCLUDES)
    limit = page_limit(
        req,
        default=10,
        cap=10 if inc else 100,
        why="when include is given" if inc else "(10 with include)",
    )
    types = _lo_types(req.arg("filter.loTypes"))
    sort = req.arg("sort") or "id"
    if sort not in SORTS:
        raise bad_request("Invalid sort", f"sort={sort!r} is not supported; use one of {SORTS}")
    ids_arg = req.arg("ids")
    with world.lock:
        if ids_arg is not None:
            courses = _by_ids(world, ids_arg, types)
            return _page(req, courses, inc, next_cursor=None)
        order = _ordered(world, sort, types)
        start = _position(req)
        page = order[start : start + limit]
        more = start + limit < len(order)
        return _page(req, page, inc, str(start + limit) if more else None)


def get_learning_object(req: Request) -> Response:
    world = req.sandbox.world
    inc = includes(req, DETAIL_INCLUDES)
    lo_id = req.params["id"]
    with world.lock:
        course = world.courses.get(lo_id)
        if course is None:
            hint = "" if ":" in lo_id else " (learning object ids look like course:123)"
            raise ApiFailure(404, "Not Found", f"learning object {lo_id} not found{hint}")
        body: dict[str, Any] = {
            "data": render.learning_object(course, req.sandbox.api_root),
            "links": {"self": req.url({})},
        }
        if inc:
            body["included"] = _included(world, [course], inc, req.sandbox.api_root)
        return Response(200, body)


def applicable_certification(req: Request) -> Response:
    """Learner scope only (ALM: "an admin-scoped equivalent is not currently available")."""
    raise ApiFailure(
        403,
        "FORBIDDEN",
        "applicableCertification is a learner-scope API; an admin token cannot call it. Find a "
        "learner's recurrence from their certification enrollments (rootCertificationId).",
        shape="meta",
    )


def _lo_types(text: str | None) -> tuple[str, ...]:
    if not text:
        return LO_TYPES
    types = tuple(t.strip() for t in text.split(",") if t.strip())
    for t in types:
        if t not in LO_TYPES:
            raise bad_request(
                "Invalid filter.loTypes", f"filter.loTypes value {t!r} must be one of {LO_TYPES}"
            )
    return types


def _by_ids(world: World, ids_arg: str, types: tuple[str, ...]) -> list[CourseRec]:
    parts = [p.strip() for p in ids_arg.split(",") if p.strip()]
    if len(parts) > MAX_IDS:
        raise bad_request("Invalid ids", f"at most {MAX_IDS} ids per call, got {len(parts)}")
    out: list[CourseRec] = []
    for part in parts:
        kind, sep, num = part.partition(":")
        if not sep or kind not in LO_TYPES or not num.isdigit():
            raise bad_request("Invalid ids", f"ids entry {part!r} must look like course:123")
        course = world.courses.get(part)
        if course is not None and course.lo_type in types and course not in out:
            out.append(course)
    return out


def _ordered(world: World, sort: str, types: tuple[str, ...]) -> list[CourseRec]:
    """The catalogue filtered by type and sorted, cached on the world (it never changes)."""
    cached = world.order_cache.get((sort, types))
    if cached is not None:
        return cached
    courses = [c for c in world.course_order if c.lo_type in types]
    if sort in ("name", "-name"):
        courses.sort(key=_en_name, reverse=sort == "-name")
    elif sort in ("date", "-date"):
        courses.sort(key=lambda c: c.date_created or _EPOCH, reverse=sort == "-date")
    world.order_cache[(sort, types)] = courses
    return courses


def _en_name(course: CourseRec) -> str:
    names = {m.get("locale"): m.get("name", "") for m in course.names}
    return (names.get("en-US") or next(iter(names.values()), "")).strip().casefold()


def _position(req: Request) -> int:
    for name in ("page[cursor]", "page[offset]"):
        text = req.arg(name)
        if text is not None:
            if not text.isdigit():
                raise bad_request(f"Invalid {name}", f"{name} {text!r} is not valid")
            return int(text)
    return 0


def _page(
    req: Request, courses: list[CourseRec], inc: set[str], next_cursor: str | None
) -> Response:
    links = {"self": req.url({})}
    if next_cursor is not None:
        links["next"] = req.url({"page[cursor]": next_cursor}, drop=("page[offset]",))
    body: dict[str, Any] = {
        "links": links,
        "data": [render.learning_object(c, req.sandbox.api_root) for c in courses],
    }
    if inc:
        body["included"] = _included(req.sandbox.world, courses, inc, req.sandbox.api_root)
    return Response(200, body)


def _included(
    world: World, courses: list[CourseRec], inc: set[str], api_root: str
) -> list[dict[str, Any]]:
    with_resources = any(p.startswith("instances.loResources") for p in inc)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for course in courses:
        if any(p.startswith("instances") for p in inc):
            for inst in course.instances:
                out.append(render.instance(course, inst, with_resources))
        if with_resources:
            for inst in course.instances:
                out.extend(render.lo_resource(world.resources[rid]) for rid in inst.resource_ids)
        if "instances.subLoInstances" in inc:
            for inst in course.instances:
                for sub_id in inst.sub_instances.values():
                    sub_course = world.courses[sub_id.rsplit("_", 1)[0]]
                    sub = sub_course.instance(sub_id)
                    if sub is not None and sub_id not in seen:
                        seen.add(sub_id)
                        out.append(render.instance(sub_course, sub, with_resources=False))
        if "subLOs" in inc:
            for cid in course.course_ids:
                if cid not in seen:
                    seen.add(cid)
                    out.append(render.learning_object(world.courses[cid], api_root))
    return out
