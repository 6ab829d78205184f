"""Sandbox: learning programs, certifications and job aids over raw HTTP (alm-api.md §12).

Sections and mapped instances in the catalogue, enrolling in a program (its courses come with
it), roll-up from courses (N of M, optional sections, a delay), external certifications, job
aids and recurring certifications.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batch.sandbox import ManualClock, Sandbox, SandboxConfig, load_seed, save_seed
from batch.sandbox.seed import default_seed_dir
from tests.test_sandbox_support import Api, error_of, grade_body

SEED = load_seed(default_seed_dir())
LP = "learningProgram:131072"
LP_DEFAULT, LP_BERLIN = f"{LP}_140001", f"{LP}_140002"
CERT, EXTERNAL, JOB_AID = "certification:150001", "certification:150002", "jobAid:160001"
WARDEN_2024, WARDEN_2025 = "certification:170001", "certification:170002"
BEN, INES, GRACE, SARAH = "15263420", "15263433", "15263419", "15263440"
# course -> (number, Content module numbers): grading these completes the course
CONTENT = {
    "course:7968486": ("7968486", ["13210487", "13210488"]),  # Fire Safety 2025 (+ Pre Work)
    "course:7968563": ("7968563", ["13216301", "13216302"]),  # Info Security (+ Test Out)
    "course:7968501": ("7968501", ["13211001", "13211002", "13211003"]),  # Data Privacy
    "course:7968578": ("7968578", ["13217801"]),  # Workplace Harassment Prevention
    "course:7968604": ("7968604", ["13220401"]),  # Export Controls Fundamentals
    "course:7968559": ("7968559", ["13215901", "13215902"]),  # Anti-Bribery
}


@pytest.fixture()
def api() -> Iterator[Api]:
    clock = ManualClock(60.0)
    cfg = SandboxConfig(time_scale=60.0, limits_enabled=False)
    with Sandbox(seed=SEED, config=cfg, clock=clock) as sb:
        yield Api(sb)


def complete(api: Api, user_id: str, course_id: str, day: str) -> None:
    """Grade every Content module of the course (the courseModule id form)."""
    num, modules = CONTENT[course_id]
    for module in modules:
        body = grade_body(user_id, num, f"{num}{module}0", date=f"{day}T10:00:00.000Z")
        resp = api.grade(user_id, body)
        assert resp.status_code == 200, resp.text


def enrollments(api: Api, user_id: str, types: str = "course") -> dict[str, dict[str, Any]]:
    """learning object id -> the learner's enrollment (one page is enough here)."""
    body = api.get(f"/users/{user_id}/enrollments", {"filter.loTypes": types}).json()
    assert "next" not in body["links"]
    return {e["relationships"]["learningObject"]["data"]["id"]: e for e in body["data"]}


def state(api: Api, user_id: str, lo_id: str) -> tuple[str, int, str | None]:
    kind = lo_id.split(":")[0]
    attrs = enrollments(api, user_id, kind)[lo_id]["attributes"]
    return attrs["state"], attrs["progressPercent"], attrs["dateCompleted"]


# --- the catalogue -----------------------------------------------------------------------------
def test_programs_certifications_and_job_aids_in_the_catalogue(api: Api) -> None:
    body = api.get("/learningObjects", {"filter.loTypes": "learningProgram,certification,jobAid"})
    types = {lo["id"]: lo["attributes"]["loType"] for lo in body.json()["data"]}
    assert types == {
        LP: "learningProgram",
        CERT: "certification",
        EXTERNAL: "certification",
        WARDEN_2024: "certification",
        WARDEN_2025: "certification",
        JOB_AID: "jobAid",
    }
    detail = api.get(f"/learningObjects/{LP}", {"include": "instances.loResources"}).json()
    attrs = detail["data"]["attributes"]
    names = {m["locale"]: m["name"] for m in attrs["localizedMetadata"]}
    assert names["en-US"] == "New Hire Onboarding" and "de-DE" in names
    sections = [(s["loIds"], s["mandatory"], s["mandatoryLOCount"]) for s in attrs["sections"]]
    assert sections == [
        (["course:7968486", "course:7968563", "course:7968501"], True, 3),
        (["course:7968578", "course:7968604", "course:7968597"], True, 2),
        (["course:7968559"], False, 0),
    ]
    sub_los = [r["id"] for r in detail["data"]["relationships"]["subLOs"]["data"]]
    assert len(sub_los) == 7 and sub_los[0] == "course:7968486"
    instances = {i["id"]: i for i in detail["included"] if i["type"] == "learningObjectInstance"}
    berlin = [r["id"] for r in instances[LP_BERLIN]["relationships"]["subLoInstances"]["data"]]
    assert "course:7968486_8123457" in berlin  # Fire Safety's Berlin classroom
    default = [r["id"] for r in instances[LP_DEFAULT]["relationships"]["subLoInstances"]["data"]]
    assert "course:7968486_8123456" in default and len(default) == 7
    cert = api.get(f"/learningObjects/{CERT}").json()["data"]["attributes"]
    assert cert["isExternal"] is False and cert["rootCertificationId"] == CERT
    assert api.get(f"/learningObjects/{EXTERNAL}").json()["data"]["attributes"]["isExternal"]


def test_sub_los_and_mapped_instances_can_be_included(api: Api) -> None:
    body = api.get(f"/learningObjects/{LP}", {"include": "subLOs,instances.subLoInstances"})
    included = body.json()["included"]
    courses = {i["id"] for i in included if i["type"] == "learningObject"}
    assert len(courses) == 7 and "course:7968559" in courses
    mapped = {i["id"] for i in included if i["type"] == "learningObjectInstance"}
    assert {"course:7968486_8123457", "course:7968486_8123456", LP_BERLIN} <= mapped


# --- enrolling ---------------------------------------------------------------------------------
def test_enrolling_in_a_program_enrolls_in_its_courses_mapped_instances(api: Api) -> None:
    assert api.enroll(BEN, "course:7968604").status_code == 200  # before the program
    resp = api.enroll(BEN, LP, LP_BERLIN)
    assert resp.status_code == 200
    assert resp.json()["data"]["relationships"]["loInstance"]["data"]["id"] == LP_BERLIN
    courses = enrollments(api, BEN)
    instances = {lo: e["relationships"]["loInstance"]["data"]["id"] for lo, e in courses.items()}
    assert len(instances) == 7
    assert instances["course:7968486"] == "course:7968486_8123457"  # mapped by the intake
    assert instances["course:7968597"] == "course:7968597_8123597"  # the default otherwise
    assert state(api, BEN, LP) == ("ENROLLED", 0, None)
    books = api.sb.books()
    assert books["enrollments_by_type"] == {"course": 7, "learningProgram": 1}
    again = api.enroll(BEN, LP, LP_DEFAULT)
    assert again.status_code == 409 and error_of(again)[1] == "Already enrolled"


def test_program_rolls_up_from_mandatory_courses_and_n_of_m_sections(api: Api) -> None:
    api.enroll(BEN, LP)
    for course in ("course:7968486", "course:7968563", "course:7968501"):
        complete(api, BEN, course, "2025-03-03")
    complete(api, BEN, "course:7968578", "2025-03-04")
    assert state(api, BEN, LP) == ("STARTED", 80, None)  # core 3 + 1 of the 2 electives
    complete(api, BEN, "course:7968604", "2025-03-05")
    assert state(api, BEN, LP) == ("COMPLETED", 100, "2025-03-05T10:00:00.000Z")
    # The optional section (Anti-Bribery) and the third elective were never needed.
    assert enrollments(api, BEN)["course:7968559"]["attributes"]["state"] == "ENROLLED"


def test_roll_up_shows_after_the_configured_delay(api: Api) -> None:
    api.sb.configure(rollup_delay=300.0)
    clock = api.sb.clock
    assert isinstance(clock, ManualClock)
    # Ines is enrolled in Anti-Bribery through the certification (the seed).
    complete(api, INES, "course:7968559", "2025-03-10")
    assert state(api, INES, CERT)[0] == "STARTED"
    clock.advance(299)
    assert state(api, INES, CERT)[0] == "STARTED"
    clock.advance(1)
    assert state(api, INES, CERT) == ("COMPLETED", 100, "2025-03-10T10:00:00.000Z")


def test_internal_certification_completes_through_its_courses(api: Api) -> None:
    assert state(api, INES, CERT) == ("STARTED", 50, None)  # Code of Conduct done in the seed
    complete(api, INES, "course:7968559", "2025-03-10")
    assert state(api, INES, CERT) == ("COMPLETED", 100, "2025-03-10T10:00:00.000Z")


def test_external_certification_is_enrolled_but_never_graded(api: Api) -> None:
    resp = api.enroll(BEN, EXTERNAL)
    assert resp.status_code == 200 and resp.json()["data"]["attributes"]["state"] == "ENROLLED"
    assert enrollments(api, BEN) == {}  # no courses come with it
    refused = api.grade(BEN, grade_body(BEN, EXTERNAL, "1"))
    assert refused.status_code == 400
    assert "external certification" in error_of(refused)[2]
    assert state(api, SARAH, EXTERNAL) == ("COMPLETED", 100, "2024-07-15T12:00:00.000Z")


def test_job_aid_has_no_enrollment_and_no_completion(api: Api) -> None:
    refused = api.enroll(BEN, JOB_AID)
    assert refused.status_code == 400 and "job aids have no enrollment" in error_of(refused)[2]
    graded = api.grade(BEN, grade_body(BEN, JOB_AID, "1"))
    assert graded.status_code == 400 and "job aid" in error_of(graded)[2]
    assert api.sb.books()["enrollments_created"] == 0


def test_program_is_graded_through_its_courses_not_by_its_own_id(api: Api) -> None:
    api.enroll(BEN, LP)
    refused = api.grade(BEN, grade_body(BEN, LP, "1"))
    assert refused.status_code == 400
    assert "grade the modules of its courses" in error_of(refused)[2]


# --- recurring certifications ------------------------------------------------------------------
def test_each_recurrence_has_its_own_id_and_the_same_root(api: Api) -> None:
    body = api.get("/learningObjects", {"ids": f"{WARDEN_2024},{WARDEN_2025}"}).json()
    attrs = {lo["id"]: lo["attributes"] for lo in body["data"]}
    assert {a["rootCertificationId"] for a in attrs.values()} == {WARDEN_2024}
    assert {a["localizedMetadata"][0]["name"] for a in attrs.values()} == {
        "Fire Warden Certification"
    }
    old = api.enroll(BEN, WARDEN_2024)
    assert old.status_code == 400 and WARDEN_2025 in error_of(old)[2]
    assert api.enroll(BEN, WARDEN_2025).status_code == 200


def test_a_learners_current_recurrence_is_found_from_their_enrollments(api: Api) -> None:
    mine = api.get(
        f"/users/{GRACE}/enrollments",
        {"filter.loTypes": "certification", "include": "learningObject"},
    ).json()
    roots = {
        lo["id"]: lo["attributes"]["rootCertificationId"]
        for lo in mine["included"]
        if lo["type"] == "learningObject"
    }
    states = {e["relationships"]["learningObject"]["data"]["id"]: e for e in mine["data"]}
    assert roots == {WARDEN_2024: WARDEN_2024, WARDEN_2025: WARDEN_2024}
    assert states[WARDEN_2024]["attributes"]["state"] == "COMPLETED"  # the 2024 recurrence
    assert states[WARDEN_2025]["attributes"]["state"] == "ENROLLED"  # the current one
    learner_only = api.get(f"/learningObjects/{WARDEN_2024}/applicableCertification")
    assert learner_only.status_code == 403
    assert "learner-scope" in learner_only.json()["meta"]["detail"]


# --- unenrolling -------------------------------------------------------------------------------
def test_unenrolling_from_a_program_takes_its_unfinished_courses(api: Api) -> None:
    api.enroll(BEN, LP)
    complete(api, BEN, "course:7968578", "2025-03-04")
    courses = enrollments(api, BEN)
    alone = api.http.delete(
        f"{api.sb.api_root}/users/{BEN}/enrollments/{courses['course:7968486']['id']}",
        headers=api.headers,
        timeout=5,
    )
    assert alone.status_code == 400 and LP in error_of(alone)[2]
    program = enrollments(api, BEN, "learningProgram")[LP]["id"]
    gone = api.http.delete(
        f"{api.sb.api_root}/users/{BEN}/enrollments/{program}", headers=api.headers, timeout=5
    )
    assert gone.status_code == 204
    assert enrollments(api, BEN, "learningProgram") == {}
    assert list(enrollments(api, BEN)) == ["course:7968578"]  # the completed course stays


# --- seeds -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        ("section names a program", "not a course here"),
        ("mapped instance of another course", "subLoInstances"),
        ("recurrence of a non-root", "not a root certification"),
        ("external with courses", "external certification has no courses"),
        ("program without mandatory section", "mandatory section"),
    ],
)
def test_inconsistent_program_seeds_are_refused(tmp_path: Path, mutate: str, message: str) -> None:
    seed = json.loads(json.dumps(SEED))
    los = {lo["id"]: lo for lo in seed["learningObjects"]}
    if mutate == "section names a program":
        los[CERT]["sections"][0]["loIds"].append(LP)
    elif mutate == "mapped instance of another course":
        los[LP]["instances"][1]["subLoInstances"] = ["course:7968582_8123582"]
    elif mutate == "recurrence of a non-root":
        los[WARDEN_2024]["rootCertificationId"] = WARDEN_2025
    elif mutate == "external with courses":
        los[EXTERNAL]["sections"] = los[CERT]["sections"]
    else:
        for section in los[LP]["sections"]:
            section["mandatory"] = False
    with pytest.raises(ValueError, match=message):
        load_seed(save_seed(seed, tmp_path / "seed.json"))
