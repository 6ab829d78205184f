"""Sandbox profiles that disagree with the client, met by the real client over real HTTP.

Each strict profile accepts one grade body and answers every other one as ALM does (a 400
naming the relationship or field); the other profiles play the other undocumented answers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from batch.alm.api import AlmClient
from batch.alm.grade_shapes import all_shapes
from batch.alm.types import GradeRequest
from batch.errors import WriteScopeMissing
from batch.sandbox import Sandbox, SandboxConfig, load_seed
from batch.sandbox.api_grades import MODULE_TYPES
from batch.sandbox.profiles import PROFILES
from tests.e2e_support import SAMPLE_DIR, issued_access_token
from tests.test_api_sandbox import settings_for

GRADE_ENDPOINT = "POST /users/{id}/userModuleGrade"
# user 15263406 (ahmed.hassan) is enrolled in nothing in the sample seed
LEARNER, COURSE, INSTANCE = "15263406", "course:7968486", "course:7968486_8123456"
ENROLLED = ("15263405", COURSE, INSTANCE)  # the seed enrolls this learner already


def sandbox(profile: str, **config: Any) -> Sandbox:
    cfg = SandboxConfig(time_scale=600.0, profile=profile, **config)
    return Sandbox(seed=load_seed(SAMPLE_DIR), config=cfg).start()


def grade_for(alm: AlmClient, user_id: str = LEARNER) -> list[GradeRequest]:
    course = alm.get_course(COURSE)
    assert course is not None and course.default_instance is not None
    return [
        GradeRequest(user_id, COURSE, INSTANCE, m.id, datetime(2025, 3, 3, 9, tzinfo=UTC))
        for m in course.default_instance.content_modules
    ]


@pytest.mark.parametrize(
    "profile, accepted",
    [
        ("default", 0),
        ("lo-resource", 7),
        ("instance-attribute", 4),
        ("resource-index-1", 2),
    ],
)
def test_client_learns_each_profiles_grade_body(profile: str, accepted: int) -> None:
    with sandbox(profile) as sb, AlmClient(settings_for(sb), concurrency=4) as alm:
        alm.enroll(LEARNER, COURSE, INSTANCE)
        grades = grade_for(alm)
        for grade in grades:
            alm.post_grade(grade)
        assert alm.grade_shapes.current == all_shapes()[accepted]
        statuses = sb.books()["endpoint_statuses"][GRADE_ENDPOINT]
        assert statuses.get("400", 0) == accepted <= len(all_shapes()) - 1
        assert statuses["200"] == len(grades)
        enrollment = next(e for e in alm.get_enrollments(LEARNER) if e.lo_id == COURSE)
        assert enrollment.completed and all(
            enrollment.grades[g.module_id].completed for g in grades
        )


def test_profile_bodies_are_the_sandboxs_own() -> None:
    """lo-resource: the loResource id, no instance, learningObject; the rest is refused as ALM
    refuses it: 400 Field Type incorrect / Missing Param naming the field."""
    expected = {
        "lo-resource": ("learningObjectResource", "learningObject", None),
        "instance-attribute": ("courseModule", "course", "attribute"),
        "resource-index-1": ("courseModule", "course", "relationship"),
    }
    for profile, (module_type, course_type, instance) in expected.items():
        cfg = SandboxConfig(profile=profile)
        assert MODULE_TYPES[cfg.grade_module] == module_type
        assert cfg.grade_course_type == course_type
        assert cfg.grade_instance == (instance or "none")
    with sandbox("lo-resource") as sb:
        token = issued_access_token(sb.base_url, sb.credentials)
        headers = {
            "Authorization": f"oauth {token}",
            "Accept": "application/vnd.api+json",
            "Content-Type": "application/vnd.api+json",
        }
        body = {
            "data": {
                "type": "userModuleGrade",
                "attributes": {"dateCompleted": "2025-03-03T09:00:00.000Z"},
                "relationships": {
                    "learner": {"data": [{"id": ENROLLED[0], "type": "user"}]},
                    "module": {"data": [{"id": "7968486132104870", "type": "courseModule"}]},
                    "course": {"data": [{"id": "7968486", "type": "learningObject"}]},
                },
            }
        }
        url = f"{sb.api_root}/users/{ENROLLED[0]}/userModuleGrade"
        answer = requests.post(url, json=body, headers=headers, timeout=10)
        assert answer.status_code == 400
        assert answer.json() == {
            "status": "BAD_REQUEST",
            "title": "Field Type incorrect",
            "source": {"info": "incorrect relation type - module: 'courseModule'"},
        }
        body["data"]["relationships"]["module"]["data"] = [  # type: ignore[index]
            {"id": "course:7968486_8123456_13210487_0", "type": "learningObjectResource"}
        ]
        body["data"]["attributes"]["loInstanceId"] = INSTANCE  # type: ignore[index]
        answer = requests.post(url, json=body, headers=headers, timeout=10)
        assert answer.status_code == 400
        assert answer.json()["source"]["info"] == "unknown attribute - loInstanceId"


def test_resource_index_1_ids_end_in_1_and_the_client_keeps_it() -> None:
    with sandbox("resource-index-1") as sb, AlmClient(settings_for(sb)) as alm:
        course = alm.get_course(COURSE)
        assert course is not None and course.default_instance is not None
        ids = [m.id for m in course.default_instance.modules]
        assert ids and all(i.endswith("_1") for i in ids)
        done = next(e for e in alm.get_enrollments(ENROLLED[0]) if e.lo_id == COURSE)
        assert done.grades and all(k.endswith("_1") for k in done.grades)


@pytest.mark.parametrize("profile", ["enroll-409", "enroll-400", "enroll-200"])
def test_already_enrolled_counts_as_enrolled(profile: str) -> None:
    with sandbox(profile) as sb, AlmClient(settings_for(sb)) as alm:
        alm.enroll(*ENROLLED)  # no error, whatever the answer
        statuses = sb.books()["endpoint_statuses"]["POST /users/{id}/enrollments"]
        assert statuses == {profile.removeprefix("enroll-"): 1}
        assert sb.books()["enrollments_created"] == 0


def test_export_url_nested_is_found() -> None:
    with sandbox("export-url-nested", job_delay=0.0) as sb, AlmClient(settings_for(sb)) as alm:
        users = list(alm.export_users(poll_seconds=0.01))
        assert len(users) == len(load_seed(SAMPLE_DIR)["users"])
        assert sb.books()["calls"]["GET /_sandbox/downloads/{file}"] == 1


def test_read_only_token_gets_403_on_writes_only() -> None:
    with sandbox("read-only-token") as sb, AlmClient(settings_for(sb)) as alm:
        assert alm.find_user_by_email("ahmed.hassan@acme-corp.example") is not None
        assert "admin:write" not in str(alm.check_token().get("scope"))
        with pytest.raises(WriteScopeMissing):
            alm.enroll(LEARNER, COURSE, INSTANCE)
        with pytest.raises(WriteScopeMissing):
            alm.post_grade(grade_for(alm, ENROLLED[0])[0])
        assert alm.grade_shapes.rejected == 0


def test_grade_no_body_profile_answers_202_empty() -> None:
    with sandbox("grade-no-body") as sb, AlmClient(settings_for(sb)) as alm:
        alm.enroll(LEARNER, COURSE, INSTANCE)
        for grade in grade_for(alm):
            alm.post_grade(grade)
        assert set(sb.books()["endpoint_statuses"][GRADE_ENDPOINT]) == {"202"}


def test_unknown_profile_and_a_fixed_resource_index() -> None:
    with pytest.raises(ValueError, match="unknown sandbox profile 'nope'; known: default"):
        SandboxConfig(profile="nope")
    assert set(PROFILES) >= {"lo-resource", "instance-attribute", "resource-index-1"}
    with sandbox("default") as sb, pytest.raises(ValueError, match="resource_index"):
        sb.configure(profile="resource-index-1")
