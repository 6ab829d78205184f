"""Sandbox: enrollments, userModuleGrade validation, completion roll-up and the books."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from batch.sandbox import Sandbox, SandboxConfig, load_seed
from batch.sandbox.seed import default_seed_dir
from tests.test_sandbox_support import Api, error_of, grade_body

SEED = load_seed(default_seed_dir())
FIRE = "course:7968486"  # Pre Work 13210480, Content 13210487 + 13210488
FIRE_DEFAULT = "course:7968486_8123456"
FIRE_BERLIN = "course:7968486_8123457"
EXPORT = "course:7968604"  # one Content module 13220401
BEN, MARIA, AVA, LUCAS = "15263420", "15263401", "15263411", "15263410"


@pytest.fixture()
def api() -> Iterator[Api]:
    with Sandbox(seed=SEED, config=SandboxConfig(limits_enabled=False)) as sb:
        yield Api(sb)


def enrollment_of(api: Api, user_id: str, lo_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(enrollment, {loResource id: grade attributes}) for one learner and course."""
    body = api.enrollments(user_id)
    enr = next(
        e for e in body["data"] if e["relationships"]["learningObject"]["data"]["id"] == lo_id
    )
    grades = {
        g["relationships"]["loResource"]["data"]["id"]: g["attributes"]
        for g in body.get("included", [])
        if g["type"] == "learningObjectResourceGrade" and g["id"].endswith("_" + user_id)
    }
    return enr, grades


# --- enrollments ------------------------------------------------------------------------------
def test_enroll_returns_the_enrollment_and_a_second_time_409(api: Api) -> None:
    resp = api.enroll(BEN, FIRE, FIRE_DEFAULT)
    assert resp.status_code == 200
    enr = resp.json()["data"]
    assert enr["attributes"]["state"] == "ENROLLED"
    assert enr["attributes"]["dateEnrolled"].endswith("Z")
    assert enr["relationships"]["learner"]["data"] == {"id": BEN, "type": "user"}
    assert enr["relationships"]["loInstance"]["data"]["id"] == FIRE_DEFAULT
    again = api.enroll(BEN, FIRE, FIRE_BERLIN)
    assert again.status_code == 409
    code, title, info = error_of(again)
    assert (code, title) == ("CONFLICT", "Already enrolled") and FIRE_DEFAULT in info
    assert api.sb.books()["enrollments_created"] == 1


def test_already_enrolled_can_be_configured_to_answer_200(api: Api) -> None:
    api.sb.configure(already_enrolled_status=200)
    resp = api.enroll(AVA, FIRE)
    assert resp.status_code == 200
    assert resp.json()["data"]["relationships"]["loInstance"]["data"]["id"] == FIRE_BERLIN
    assert api.sb.books()["enrollments_created"] == 0


def test_enroll_without_instance_uses_the_default_one(api: Api) -> None:
    resp = api.enroll(BEN, FIRE)
    assert resp.json()["data"]["relationships"]["loInstance"]["data"]["id"] == FIRE_DEFAULT


@pytest.mark.parametrize(
    ("user_id", "params", "status", "title"),
    [
        ("15263436", {"loId": FIRE}, 400, "User not active"),  # suspended
        (BEN, {"loId": "course:7968582"}, 400, "Learning object retired"),
        (
            BEN,
            {"loId": "course:7968559", "loInstanceId": "course:7968559_8123558"},
            400,
            "Instance retired",
        ),
        (
            BEN,
            {"loId": FIRE, "loInstanceId": "course:7968501_8123501"},
            400,
            "Invalid loInstanceId",
        ),
        (BEN, {"loId": "course:1"}, 404, "Not Found"),
        ("99999", {"loId": FIRE}, 404, "Not Found"),
        ("15263438", {"loId": FIRE}, 404, "Not Found"),  # deleted
        (BEN, {}, 400, "Missing Param"),
    ],
)
def test_enroll_refusals_have_clear_titles(
    api: Api, user_id: str, params: dict[str, str], status: int, title: str
) -> None:
    resp = api.post(f"/users/{user_id}/enrollments", params=params)
    assert resp.status_code == status
    assert error_of(resp)[1] == title
    assert api.sb.books()["enrollments_created"] == 0


def test_enrollment_listing_shows_module_grades(api: Api) -> None:
    enr, grades = enrollment_of(api, LUCAS, "course:7968501")
    assert enr["attributes"]["state"] == "STARTED"
    assert enr["attributes"]["progressPercent"] == 33
    rid = "course:7968501_8123501_13211001_0"
    assert grades[rid]["completed"] is True and grades[rid]["score"] == 80
    assert grades[rid]["dateCompleted"] == "2025-02-18T16:00:00.000Z"
    assert grades["course:7968501_8123501_13211002_0"]["completed"] is False
    assert grades["course:7968501_8123501_13211009_0"]["completed"] is False  # Test Out
    ids = [r["id"] for r in enr["relationships"]["loResourceGrades"]["data"]]
    assert f"{rid}_{LUCAS}" in ids
    done, _ = enrollment_of(api, "15263405", FIRE)  # Sofia
    assert done["attributes"]["state"] == "COMPLETED"
    assert done["attributes"]["dateCompleted"] == "2025-02-10T14:45:00.000Z"
    assert done["attributes"]["hasPassed"] is True


def test_enrollment_listing_pages_and_filters(api: Api) -> None:
    for lo in (FIRE, EXPORT, "course:7968501", "course:7968563", "course:7968517"):
        assert api.enroll(BEN, lo).status_code == 200
    first = api.get(f"/users/{BEN}/enrollments", {"page[limit]": "3"}).json()
    assert len(first["data"]) == 3
    rest = api.get(first["links"]["next"]).json()
    assert len(rest["data"]) == 2 and "next" not in rest["links"]
    assert api.enroll(BEN, "learningProgram:131072").status_code == 200
    lps = api.get(f"/users/{BEN}/enrollments", {"filter.loTypes": "learningProgram"}).json()
    assert [e["relationships"]["learningObject"]["data"]["id"] for e in lps["data"]] == [
        "learningProgram:131072"
    ]
    too_many = api.get(f"/users/{BEN}/enrollments", {"page[limit]": "11"})
    assert too_many.status_code == 400 and "page[limit]" in error_of(too_many)[1]
    assert api.get("/users/99999/enrollments").status_code == 404


# --- grades -----------------------------------------------------------------------------------
def test_grading_every_content_module_completes_the_enrollment(api: Api) -> None:
    api.enroll(BEN, FIRE)
    first = api.grade(
        BEN,
        grade_body(
            BEN,
            "7968486",
            "7968486132104870",
            date="2025-03-03T10:00:00.000Z",
            attributes={"score": 80, "minScore": 0, "maxScore": 100},
        ),
    )
    assert first.status_code == 200, first.text
    assert first.json()["data"]["type"] == "learningObjectResourceGrade"
    assert first.json()["data"]["id"] == f"{FIRE_DEFAULT}_13210487_0_{BEN}"
    enr, _ = enrollment_of(api, BEN, FIRE)
    assert enr["attributes"]["state"] == "STARTED"
    second = api.grade(
        BEN,
        grade_body(
            BEN,
            "course:7968486",
            f"{FIRE_DEFAULT}_13210488_0",
            "learningObjectResource",
            date="2025-03-04T11:30:00Z",
        ),
    )
    assert second.status_code == 200, second.text
    enr, grades = enrollment_of(api, BEN, FIRE)
    assert enr["attributes"]["state"] == "COMPLETED"  # Pre Work never graded
    assert enr["attributes"]["dateCompleted"] == "2025-03-04T11:30:00.000Z"
    assert enr["attributes"]["progressPercent"] == 100
    assert grades[f"{FIRE_DEFAULT}_13210480_0"]["completed"] is False
    books = api.sb.books()
    assert sorted(books["grades"], key=lambda g: g["module_id"]) == [
        {
            "user_id": BEN,
            "course_id": FIRE,
            "instance_id": FIRE_DEFAULT,
            "module_id": f"{FIRE_DEFAULT}_13210487_0",
            "count": 1,
            "date_completed": "2025-03-03T10:00:00.000Z",
            "score": 80.0,
        },
        {
            "user_id": BEN,
            "course_id": FIRE,
            "instance_id": FIRE_DEFAULT,
            "module_id": f"{FIRE_DEFAULT}_13210488_0",
            "count": 1,
            "date_completed": "2025-03-04T11:30:00.000Z",
            "score": None,
        },
    ]
    assert books["double_grades"] == 0


def test_grades_land_in_the_learners_own_instance(api: Api) -> None:
    """Ava is enrolled in the Berlin instance: courseModule ids resolve there."""
    for module in ("7968486132104870", "7968486132104880"):
        assert api.grade(AVA, grade_body(AVA, "7968486", module)).status_code == 200
    enr, _ = enrollment_of(api, AVA, FIRE)
    assert enr["attributes"]["state"] == "COMPLETED"
    assert {g["instance_id"] for g in api.sb.books()["grades"]} == {FIRE_BERLIN}


def test_instance_given_as_relationship_or_attribute_must_match_the_enrollment(api: Api) -> None:
    wrong = {"loInstance": {"data": [{"id": FIRE_DEFAULT, "type": "learningObjectInstance"}]}}
    resp = api.grade(AVA, grade_body(AVA, "7968486", "7968486132104870", relationships=wrong))
    assert resp.status_code == 400 and "loInstance" in error_of(resp)[2]
    right = {"loInstance": {"data": [{"id": FIRE_BERLIN, "type": "learningObjectInstance"}]}}
    resp = api.grade(AVA, grade_body(AVA, "7968486", "7968486132104870", relationships=right))
    assert resp.status_code == 200
    resp = api.grade(
        AVA,
        grade_body(AVA, "7968486", "7968486132104880", attributes={"loInstanceId": FIRE_BERLIN}),
    )
    assert resp.status_code == 200
    resp = api.grade(
        AVA,
        grade_body(
            AVA,
            "7968486",
            "7968486132104880",
            attributes={"loInstanceId": "course:7968501_8123501"},
        ),
    )
    assert resp.status_code == 400 and "loInstance" in error_of(resp)[2]


def _rel_not_array(user: str) -> dict[str, Any]:
    return {"learner": {"data": {"id": user, "type": "user"}}}


GRADE_ERRORS: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "learner mismatch",
        {"relationships": {"learner": {"data": [{"id": MARIA, "type": "user"}]}}},
        "Invalid learner",
        "learner",
    ),
    (
        "learner not an array",
        {"relationships": _rel_not_array(BEN)},
        "Field Type incorrect",
        "learner",
    ),
    ("no dateCompleted", {"attributes": {"dateCompleted": None}}, "Missing Param", "dateCompleted"),
    (
        "bad date",
        {"attributes": {"dateCompleted": "31/02/2025"}},
        "Field Type incorrect",
        "dateCompleted",
    ),
    (
        "impossible date",
        {"attributes": {"dateCompleted": "2025-02-30T10:00:00Z"}},
        "Field Type incorrect",
        "dateCompleted",
    ),
    (
        "date without time",
        {"attributes": {"dateCompleted": "2025-03-03"}},
        "Field Type incorrect",
        "dateCompleted",
    ),
    (
        "future date",
        {"attributes": {"dateCompleted": "2099-01-01T00:00:00Z"}},
        "Invalid dateCompleted",
        "future",
    ),
    (
        "start after completion",
        {"attributes": {"dateStarted": "2025-03-05T00:00:00Z"}},
        "Invalid dateStarted",
        "dateStarted",
    ),
    (
        "score above max",
        {"attributes": {"score": 120, "minScore": 0, "maxScore": 100}},
        "Invalid score",
        "score",
    ),
    (
        "score below min",
        {"attributes": {"score": 5, "minScore": 10, "maxScore": 20}},
        "Invalid score",
        "score",
    ),
    ("score not a number", {"attributes": {"score": "90"}}, "Field Type incorrect", "score"),
    (
        "wrong course type",
        {"relationships": {"course": {"data": [{"id": "7968604", "type": "learningProgram"}]}}},
        "Field Type incorrect",
        "course",
    ),
    (
        "unknown course",
        {"relationships": {"course": {"data": [{"id": "1", "type": "course"}]}}},
        "Invalid course",
        "course",
    ),
    (
        "unknown module",
        {"relationships": {"module": {"data": [{"id": "796860499990", "type": "courseModule"}]}}},
        "Invalid module",
        "module",
    ),
    (
        "module of another course",
        {
            "relationships": {
                "module": {"data": [{"id": "7968486132104870", "type": "courseModule"}]}
            }
        },
        "Invalid module",
        "module",
    ),
    (
        "foreign loResource",
        {
            "relationships": {
                "module": {
                    "data": [
                        {
                            "id": "course:7968486_8123456_13210487_0",
                            "type": "learningObjectResource",
                        }
                    ]
                }
            }
        },
        "Invalid module",
        "module",
    ),
    (
        "module type",
        {"relationships": {"module": {"data": [{"id": "7968604132204010", "type": "module"}]}}},
        "Field Type incorrect",
        "module",
    ),
    ("no module", {"relationships": {"module": None}}, "Missing Param", "module"),
    ("wrong data type", {"type": "grade"}, "Field Type incorrect", "data.type"),
]


@pytest.mark.parametrize(
    ("case", "change", "title", "named"), GRADE_ERRORS, ids=[c[0] for c in GRADE_ERRORS]
)
def test_grade_validation_errors_name_the_field(
    api: Api, case: str, change: dict[str, Any], title: str, named: str
) -> None:
    assert api.enroll(BEN, EXPORT).status_code == 200
    body = grade_body(
        BEN,
        "7968604",
        "7968604132204010",
        attributes={"dateStarted": "2025-03-01T09:00:00Z"},
        date="2025-03-03T10:00:00Z",
    )
    data = body["data"]
    for key, value in change.get("attributes", {}).items():
        data["attributes"][key] = value
    for key, value in change.get("relationships", {}).items():
        if value is None:
            del data["relationships"][key]
        else:
            data["relationships"][key] = value
    if "type" in change:
        data["type"] = change["type"]
    resp = api.grade(BEN, body)
    assert resp.status_code == 400, resp.text
    code, got_title, info = error_of(resp)
    assert code == "BAD_REQUEST" and got_title == title
    assert named in info
    assert api.sb.books()["grades"] == []


def test_a_valid_base_payload_is_accepted(api: Api) -> None:
    """The base of the parametrized error cases is itself valid (so each case tests one thing)."""
    api.enroll(BEN, EXPORT)
    body = grade_body(
        BEN,
        "7968604",
        "7968604132204010",
        attributes={"dateStarted": "2025-03-01T09:00:00Z"},
        date="2025-03-03T10:00:00Z",
    )
    assert api.grade(BEN, body).status_code == 200
    assert enrollment_of(api, BEN, EXPORT)[0]["attributes"]["state"] == "COMPLETED"


def test_grades_need_an_enrollment_an_active_user_and_a_live_course(api: Api) -> None:
    not_enrolled = api.grade(BEN, grade_body(BEN, "7968604", "7968604132204010"))
    assert not_enrolled.status_code == 400
    assert error_of(not_enrolled)[1] == "Learner not enrolled"
    thomas = "15263436"  # suspended, enrolled in Fire Safety
    suspended = api.grade(thomas, grade_body(thomas, "7968486", "7968486132104870"))
    assert suspended.status_code == 400 and error_of(suspended)[1] == "User not active"
    grace = "15263419"  # enrolled in the retired course
    retired = api.grade(grace, grade_body(grace, "7968582", "7968582132182010"))
    assert retired.status_code == 400 and error_of(retired)[1] == "Course retired"
    sarah = "15263440"  # enrolled in a retired instance
    old = api.grade(sarah, grade_body(sarah, "7968559", "7968559132159010"))
    assert old.status_code == 400 and error_of(old)[1] == "Instance retired"
    missing_user = api.grade("99999", grade_body("99999", "7968604", "7968604132204010"))
    assert missing_user.status_code == 404


def test_grading_a_graded_module_again_counts_a_double_grade(api: Api) -> None:
    sofia = "15263405"  # completed Fire Safety in the seed
    resp = api.grade(sofia, grade_body(sofia, "7968486", "7968486132104870"))
    assert resp.status_code == 200
    api.enroll(BEN, EXPORT)
    for _ in range(2):
        api.grade(BEN, grade_body(BEN, "7968604", "7968604132204010"))
    books = api.sb.books()
    assert books["double_grades"] == 2
    counts = {g["user_id"]: g["count"] for g in books["grades"]}
    assert counts == {sofia: 1, BEN: 2}
    enr, _ = enrollment_of(api, sofia, FIRE)
    assert enr["attributes"]["dateCompleted"] == "2025-02-10T14:45:00.000Z"  # unchanged


def test_grade_success_can_be_204_without_a_body(api: Api) -> None:
    api.sb.configure(grade_success_status=204)
    api.enroll(BEN, EXPORT)
    resp = api.grade(BEN, grade_body(BEN, "7968604", "7968604132204010"))
    assert resp.status_code == 204 and resp.content == b""
    assert len(api.sb.books()["grades"]) == 1


def test_completed_false_is_recorded_but_does_not_complete(api: Api) -> None:
    api.enroll(BEN, EXPORT)
    resp = api.grade(
        BEN, grade_body(BEN, "7968604", "7968604132204010", attributes={"completed": False})
    )
    assert resp.status_code == 200
    assert enrollment_of(api, BEN, EXPORT)[0]["attributes"]["state"] == "STARTED"


def test_an_enrollment_and_a_module_grade_can_be_read_by_id(api: Api) -> None:
    listed, _ = enrollment_of(api, LUCAS, "course:7968501")
    one = api.get(listed["links"]["self"], {"include": "loResourceGrades"})
    assert one.status_code == 200
    assert one.json()["data"]["id"] == listed["id"]
    assert len(one.json()["included"]) == 4  # 3 Content + Test Out
    grade_ids = [r["id"] for r in listed["relationships"]["loResourceGrades"]["data"]]
    graded = api.get(f"/loResourceGrades/{grade_ids[0]}").json()["data"]
    assert graded["type"] == "learningObjectResourceGrade"
    assert graded["attributes"]["completed"] is True and graded["attributes"]["score"] == 80
    assert (
        api.get(f"/loResourceGrades/{grade_ids[1]}").json()["data"]["attributes"]["completed"]
        is False
    )
    assert api.get(f"/users/{LUCAS}/enrollments/course:1_2_{LUCAS}").status_code == 404
    assert api.get(f"/loResourceGrades/course:7968501_8123501_13211001_0_{BEN}").status_code == 404
