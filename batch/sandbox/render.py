"""JSON:API renderings of sandbox objects, in the shapes of alm-api.md §2-§6.

Every object carries the attributes a client might read (and a few it should ignore, as ALM's
do), ids exactly as ALM spells them and relationships as ``{"data": {...}}`` or lists.
"""

from __future__ import annotations

from typing import Any

from batch.sandbox import programs
from batch.sandbox.world import (
    CourseRec,
    EnrollmentRec,
    GradeRec,
    InstanceRec,
    ResourceRef,
    UserRec,
    World,
    iso,
)


def ref(obj_id: str, obj_type: str) -> dict[str, str]:
    return {"id": obj_id, "type": obj_type}


def user(u: UserRec, world: World, api_root: str) -> dict[str, Any]:
    relationships: dict[str, Any] = {"account": {"data": ref(world.account_id, "account")}}
    if u.manager_id:
        relationships["manager"] = {"data": ref(u.manager_id, "user")}
    return {
        "id": u.id,
        "type": "user",
        "attributes": {
            "avatarUrl": f"https://cdn.example/avatars/{u.id}.png",
            "binUserId": None,
            "bio": "",
            "contentLocale": "en-US",
            "email": u.email,
            "enrollOnClick": True,
            "fields": {},
            "gamificationEnabled": True,
            "lastLoginDate": iso(u.date_created),
            "metadata": {},
            "name": u.name,
            "pointsEarned": 0,
            "pointsRedeemed": 0,
            "preferredResolution": "auto",
            "profile": "",
            "roles": list(u.roles),
            "state": u.state,
            "timeZoneCode": "Europe/London",
            "uiLocale": "en-US",
            "userType": u.user_type,
            "userUniqueId": u.unique_id,
        },
        "relationships": relationships,
        "links": {"self": f"{api_root}/users/{u.id}"},
    }


def account(world: World) -> dict[str, Any]:
    return {"id": world.account_id, "type": "account", "attributes": {"name": world.account_name}}


def learning_object(c: CourseRec, api_root: str) -> dict[str, Any]:
    relationships: dict[str, Any] = {
        "instances": {"data": [ref(i.id, "learningObjectInstance") for i in c.instances]},
        "authors": {"data": []},
    }
    if c.is_container:
        relationships["subLOs"] = {"data": [ref(cid, "learningObject") for cid in c.course_ids]}
    return {
        "id": c.id,
        "type": "learningObject",
        "attributes": {
            "authorNames": ["Learning & Development"],
            "dateCreated": iso(c.date_created),
            "datePublished": iso(c.date_created),
            "duration": 1800 * max(1, len(c.modules)),
            "effectiveModifiedDate": iso(c.date_created),
            "enrollmentType": c.enrollment_type,
            "hasOptionalLoResources": any(m.lo_resource_type != "Content" for m in c.modules),
            "imageUrl": f"https://cdn.example/lo/{c.num}.jpg",
            "isEnhancedLP": False,
            "isExternal": c.is_external,
            "isSubLoOrderEnforced": False,
            "loFormat": c.lo_format,
            "loResourceCompletionCount": sum(
                1 for m in c.modules if m.lo_resource_type == "Content"
            ),
            "loType": c.lo_type,
            "localizedMetadata": [dict(m) for m in c.names],
            "moduleResetEnabled": False,
            "multienrollmentEnabled": False,
            "state": c.state,
            "tags": [],
            "uniqueId": f"{c.lo_type}_{c.num}",
            **_container_attributes(c),
        },
        "relationships": relationships,
        "links": {"self": f"{api_root}/learningObjects/{c.id}"},
    }


def _container_attributes(c: CourseRec) -> dict[str, Any]:
    """``sections`` of programs and certifications; what certifications say of themselves."""
    out: dict[str, Any] = {}
    if c.is_container:
        out["sections"] = [
            {
                "sectionId": s.id,
                "loIds": list(s.lo_ids),
                "mandatory": s.mandatory,
                "mandatoryLOCount": s.required if s.mandatory else 0,
                "localizedMetadata": [dict(m) for m in s.names],
            }
            for s in c.sections
        ]
    if c.lo_type == "certification":
        out["isExternal"] = c.is_external
        out["rootCertificationId"] = programs.root_of(c)
    return out


def instance(c: CourseRec, i: InstanceRec, with_resources: bool) -> dict[str, Any]:
    relationships: dict[str, Any] = {"learningObject": {"data": ref(c.id, "learningObject")}}
    if with_resources:
        relationships["loResources"] = {
            "data": [ref(rid, "learningObjectResource") for rid in i.resource_ids]
        }
    if c.is_container:
        relationships["subLoInstances"] = {
            "data": [ref(sub, "learningObjectInstance") for sub in i.sub_instances.values()]
        }
    return {
        "id": i.id,
        "type": "learningObjectInstance",
        "attributes": {
            "completionDeadline": None,
            "dateCreated": iso(i.date_created),
            "enrollmentDeadline": None,
            "isDefault": i.is_default,
            "isFlexible": False,
            "localizedMetadata": [dict(m) for m in i.names],
            "seatLimit": None,
            "state": i.state,
        },
        "relationships": relationships,
    }


def lo_resource(r: ResourceRef) -> dict[str, Any]:
    return {
        "id": r.id,
        "type": "learningObjectResource",
        "attributes": {
            "externalReporting": False,
            "loResourceType": r.module.lo_resource_type,
            "localizedMetadata": [dict(m) for m in r.module.names],
            "mandatory": r.module.mandatory,
            "multipleAttemptEnabled": False,
            "previewEnabled": False,
            "resourceSubType": None,
            "resourceType": r.module.resource_type,
            "submissionEnabled": False,
            "version": 1,
        },
        "relationships": {
            "learningObject": {"data": ref(r.course.id, "learningObject")},
            "loInstance": {"data": ref(r.instance.id, "learningObjectInstance")},
        },
    }


def grade_id(resource_id: str, user_id: str) -> str:
    """loResourceGrade ids are the loResource id plus ``_<userId>`` (alm-api.md §4)."""
    return f"{resource_id}_{user_id}"


def grade(resource_id: str, user_id: str, g: GradeRec | None) -> dict[str, Any]:
    """A learningObjectResourceGrade; an ungraded module renders as not completed, 0 %."""
    completed = bool(g and g.completed)
    return {
        "id": grade_id(resource_id, user_id),
        "type": "learningObjectResourceGrade",
        "attributes": {
            "completed": completed,
            "dateCompleted": iso(g.date_completed) if g else None,
            "dateStarted": iso(g.date_started or g.date_completed) if g else None,
            "dateSuccess": iso(g.date_success) if g else None,
            "duration": 0,
            "hasPassed": bool(completed and (g.success is not False if g else False)),
            "maxScore": g.max_score if g else None,
            "progressPercent": 100 if completed else 0,
            "score": g.score if g and g.score is not None else 0,
        },
        "relationships": {"loResource": {"data": ref(resource_id, "learningObjectResource")}},
    }


def enrollment(e: EnrollmentRec, world: World, api_root: str) -> dict[str, Any]:
    """Any enrollment; a program's or certification's state is rolled up from its courses."""
    resource_ids = [r.id for r in world.resources_of(e.instance_id)]
    scores = [g.score for g in e.grades.values() if g.completed and g.score is not None]
    now = programs.state_now(world, e)
    completed = now.state == "COMPLETED"
    return {
        "id": e.id,
        "type": "learningObjectInstanceEnrollment",
        "attributes": {
            "completionDeadline": None,
            "dateCompleted": iso(now.date_completed),
            "dateEnrolled": iso(e.date_enrolled),
            "dateStarted": iso(now.date_started),
            "enrollmentSource": "ADMIN_ENROLL",
            "hasPassed": completed,
            "lastAccessDate": iso(now.date_completed or now.date_started or e.date_enrolled),
            "progressPercent": now.progress,
            "rating": None,
            "score": round(sum(scores) / len(scores), 2) if scores else 0,
            "state": now.state,
            "url": None,
        },
        "relationships": {
            "learner": {"data": ref(e.user_id, "user")},
            "learningObject": {"data": ref(e.course_id, "learningObject")},
            "loInstance": {"data": ref(e.instance_id, "learningObjectInstance")},
            "loResourceGrades": {
                "data": [
                    ref(grade_id(rid, e.user_id), "learningObjectResourceGrade")
                    for rid in resource_ids
                ]
            },
        },
        "links": {"self": f"{api_root}/users/{e.user_id}/enrollments/{e.id}"},
    }
