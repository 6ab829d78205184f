"""Typed calls against a scripted server: URLs, pagination, parsing tolerance, write outcomes."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from scripted_server import Canned, FakeClock, ScriptedServer

from batch.alm.api import AlmClient
from batch.alm.types import GradeRequest
from batch.errors import ApiError, WriteScopeMissing, WriteUncertain
from batch.settings import Settings

API = "/primeapi/v2"


@pytest.fixture
def srv() -> Any:
    with ScriptedServer() as server:
        yield server


def client(srv: ScriptedServer, clock: FakeClock | None = None) -> AlmClient:
    clock = clock or FakeClock()
    sets = Settings(
        _env_file=None,
        base_url=srv.base_url,  # type: ignore[call-arg]
        access_token="tok-abcdefgh",
    )  # type: ignore[arg-type]
    return AlmClient(sets, clock=clock, sleep=clock.sleep, give_up_after=30.0)


def user(uid: Any, email: str, state: str = "ACTIVE") -> dict[str, Any]:
    return {"id": uid, "type": "user", "attributes": {"email": email, "state": state, "name": "N"}}


def test_find_user_by_email_encodes_and_matches_case_insensitively(srv: ScriptedServer) -> None:
    srv.script(
        "GET",
        f"{API}/users",
        Canned(200, {"data": user(15263401, "Jo+X@Acme.example")}),
        Canned(200, {"data": []}),
    )
    with client(srv) as alm:
        found = alm.find_user_by_email("jo+x@acme.EXAMPLE")
        assert found is not None and found.id == "15263401" and found.active
        assert alm.find_user_by_email("nobody@acme.example") is None
        assert alm.stats.calls["GET /users"] == 2
    seen = srv.requests_to("GET", f"{API}/users")[0]
    assert seen.query["ids"] == ["email:jo+x@acme.EXAMPLE"]
    # the paging parameters every public example sends with ids=email: (alm-api.md §11)
    assert seen.query["page[offset]"] == ["0"] and seen.query["page[limit]"] == ["10"]
    assert seen.query["sort"] == ["id"]
    assert "%2B" in seen.raw_query and "%40" in seen.raw_query  # '+' must not become a space


def test_get_user_404_is_none(srv: ScriptedServer) -> None:
    srv.script("GET", f"{API}/users/9", Canned(404, {"status": "NOT_FOUND", "title": "x"}))
    srv.script("GET", f"{API}/users/8", Canned(200, {"data": user("8", "a@b.c", "suspended")}))
    with client(srv) as alm:
        assert alm.get_user("9") is None
        got = alm.get_user("8")
        assert got is not None and got.state == "SUSPENDED" and not got.active


def lo(num: int, name: str, state: str = "Published") -> dict[str, Any]:
    return {
        "id": f"course:{num}",
        "type": "learningObject",
        "attributes": {
            "loType": "course",
            "state": state,
            "localizedMetadata": [
                {"locale": "en-US", "name": name},
                {"locale": "fr-FR", "name": name + " FR"},
            ],
        },
    }


def test_catalogue_follows_relative_and_absolute_next_links(srv: ScriptedServer) -> None:
    pages = {
        None: {
            "data": [lo(1, " Fire Safety")],
            "links": {"next": f"{API}/learningObjects?page[cursor]=a&page[limit]=100"},
        },
        "a": {
            "data": [lo(2, "B")],
            "links": {"next": f"{srv.base_url}{API}/learningObjects?page[cursor]=b"},
        },
        "b": {"data": [lo(3, "C", "Retired")], "links": {"self": "x"}},
    }
    srv.handle(
        "GET",
        f"{API}/learningObjects",
        lambda seen: Canned(200, pages[seen.query.get("page[cursor]", [None])[0]]),
    )
    with client(srv) as alm:
        courses = list(alm.iter_catalogue())
    assert [c.id for c in courses] == ["course:1", "course:2", "course:3"]
    assert courses[0].names == {"en-US": " Fire Safety", "fr-FR": " Fire Safety FR"}
    assert courses[2].state == "Retired"
    first = srv.requests_to("GET", f"{API}/learningObjects")[0]
    assert first.query["page[limit]"] == ["100"] and first.query["filter.loTypes"] == ["course"]
    assert all("page[offset]" not in s.query for s in srv.seen)


def test_page_size_falls_back_to_10_once_and_remembers(srv: ScriptedServer) -> None:
    def handler(seen: Any) -> Canned:
        if seen.query["page[limit]"] != ["10"]:
            return Canned(400, {"status": "BAD_REQUEST", "title": "page limit max 10"})
        return Canned(200, {"data": [lo(1, "A")]})

    srv.handle("GET", f"{API}/learningObjects", handler)
    with client(srv) as alm:
        assert len(list(alm.iter_catalogue())) == 1
        assert len(list(alm.iter_catalogue())) == 1
    limits = [s.query["page[limit]"][0] for s in srv.requests_to("GET", f"{API}/learningObjects")]
    assert limits == ["100", "10", "10"]


COURSE_DOC = {
    "data": {
        "id": "course:7968486",
        "type": "learningObject",
        "attributes": {
            "state": "Published",
            "loType": "course",
            "localizedMetadata": [{"locale": "en-US", "name": "Fire"}],
        },
        "relationships": {
            "instances": {
                "data": [
                    {"id": "course:7968486_1", "type": "learningObjectInstance"},
                    {"id": "course:7968486_2", "type": "learningObjectInstance"},
                ]
            }
        },
    },
    "included": [
        {
            "id": "course:7968486_1",
            "type": "learningObjectInstance",
            "attributes": {
                "state": "Active",
                "isDefault": True,
                "localizedMetadata": [{"locale": "en-US", "name": "Default"}],
            },
            "relationships": {
                "loResources": {
                    "data": [
                        {"id": "course:7968486_1_100_0", "type": "learningObjectResource"},
                        {"id": "course:7968486_1_200_0", "type": "learningObjectResource"},
                    ]
                }
            },
        },
        {
            "id": "course:7968486_2",
            "type": "learningObjectInstance",
            "attributes": {"state": "Retired"},
        },  # no loResources relationship: by id prefix
        {
            "id": "course:7968486_1_100_0",
            "type": "learningObjectResource",
            "attributes": {
                "loResourceType": "Content",
                "resourceType": "Elearning",
                "mandatory": True,
            },
        },
        {
            "id": "course:7968486_1_200_0",
            "type": "learningObjectResource",
            "attributes": {"loResourceType": "Pre Work"},
        },
        {"id": "course:7968486_2_100_0", "type": "learningObjectResource"},
    ],
}


def test_get_course_parses_instances_and_modules(srv: ScriptedServer) -> None:
    srv.script("GET", f"{API}/learningObjects/course:7968486", Canned(200, COURSE_DOC))
    srv.script("GET", f"{API}/learningObjects/course:404", Canned(404, {"message": "nope"}))
    with client(srv) as alm:
        course = alm.get_course("7968486")
        assert alm.get_course("course:404") is None
    assert course is not None and course.published and course.names == {"en-US": "Fire"}
    default = course.default_instance
    assert default is not None and default.id == "course:7968486_1" and default.active
    assert [m.id for m in default.content_modules] == ["course:7968486_1_100_0"]
    retired = course.instance("course:7968486_2")
    assert retired is not None and not retired.active
    assert [(m.id, m.lo_resource_type) for m in retired.modules] == [
        ("course:7968486_2_100_0", "Content")
    ]
    seen = srv.requests_to("GET", f"{API}/learningObjects/course:7968486")[0]
    assert seen.query["include"] == ["instances.loResources"]


def test_get_enrollments_maps_grades_over_pages(srv: ScriptedServer) -> None:
    page1 = {
        "data": [
            {
                "id": "e1",
                "type": "enrollment",
                "attributes": {"state": "STARTED", "dateEnrolled": "2024-01-02T03:04:05Z"},
                "relationships": {
                    "learningObject": {"data": {"id": "course:1"}},
                    "loInstance": {"data": {"id": "course:1_2"}},
                    "loResourceGrades": {"data": [{"id": "course:1_2_3_0_77"}, {"id": "g-rel"}]},
                },
            }
        ],
        "included": [
            {
                "id": "course:1_2_3_0_77",
                "type": "learningObjectResourceGrade",
                "attributes": {
                    "completed": True,
                    "score": 90,
                    "hasPassed": True,
                    "dateCompleted": "2024-02-01T10:00:00.123+0000",
                },
            },
            {
                "id": "g-rel",
                "type": "learningObjectResourceGrade",
                "attributes": {"progressPercent": 40},
                "relationships": {"loResource": {"data": {"id": "course:1_2_4_0"}}},
            },
        ],
        "links": {"next": f"{API}/users/77/enrollments?page[cursor]=2"},
    }
    page2 = {
        "data": {
            "id": 5,
            "type": "enrollment",
            "attributes": {"state": "completed", "dateCompleted": "2023-05-06"},
            "relationships": {"loInstance": {"data": {"id": "course:9_8"}}},
        }
    }
    srv.handle(
        "GET",
        f"{API}/users/77/enrollments",
        lambda seen: Canned(200, page2 if "page[cursor]" in seen.query else page1),
    )
    with client(srv) as alm:
        first, second = alm.get_enrollments("77")
    assert (first.lo_id, first.instance_id, first.state) == ("course:1", "course:1_2", "STARTED")
    grade = first.grades["course:1_2_3_0"]
    assert grade.completed and grade.score == 90 and grade.has_passed
    assert grade.date_completed == datetime(2024, 2, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert not first.grades["course:1_2_4_0"].completed
    assert (second.id, second.lo_id, second.completed) == ("5", "course:9", True)
    assert second.date_completed == datetime(2023, 5, 6, tzinfo=UTC)
    q = srv.requests_to("GET", f"{API}/users/77/enrollments")[0].query
    assert q["include"] == ["loResourceGrades"] and q["page[limit]"] == ["10"]


def test_enroll_outcomes(srv: ScriptedServer) -> None:
    path = f"{API}/users/5/enrollments"
    srv.script(
        "POST",
        path,
        Canned(
            200,
            {"data": {"id": "enr-1", "type": "enrollment", "attributes": {"state": "ENROLLED"}}},
        ),
        Canned(409, {"status": "CONFLICT", "title": "Already enrolled"}),
        Canned(400, {"status": "BAD_REQUEST", "title": "Learner is already enrolled"}),
        Canned(400, {"status": "BAD_REQUEST", "title": "Course retired"}),
        Canned(503, {"message": "unavailable"}),
    )
    with client(srv) as alm:
        new = alm.enroll("5", "course:1", "course:1_2")
        assert new is not None and (new.id, new.lo_id, new.instance_id) == (
            "enr-1",
            "course:1",
            "course:1_2",
        )
        assert alm.enroll("5", "course:1", "course:1_2") is None
        assert alm.enroll("5", "course:1", "course:1_2") is None
        with pytest.raises(ApiError, match="Course retired"):
            alm.enroll("5", "course:1", "course:1_2")
        with pytest.raises(WriteUncertain):
            alm.enroll("5", "course:1", "course:1_2")
        assert alm.stats.writes == 1
    seen = srv.requests_to("POST", path)[0]
    assert seen.query == {"loId": ["course:1"], "loInstanceId": ["course:1_2"]}


def test_post_grade_sends_the_payload(srv: ScriptedServer) -> None:
    srv.script("POST", f"{API}/users/13/userModuleGrade", Canned(204))
    grade = GradeRequest(
        user_id="13",
        course_id="course:7",
        instance_id="course:7_8",
        module_id="course:7_8_9_0",
        date_completed=datetime(2024, 1, 1, tzinfo=UTC),
    )
    with client(srv) as alm:
        alm.post_grade(grade)
        assert alm.stats.writes == 1 and alm.stats.calls == {"POST /users/{id}/userModuleGrade": 1}
    body = srv.requests_to("POST", f"{API}/users/13/userModuleGrade")[0].json()
    assert body["data"]["relationships"]["module"]["data"] == [
        {"id": "790", "type": "courseModule"}
    ]


def test_export_users_polls_and_downloads_without_auth(srv: ScriptedServer) -> None:
    csv_text = (
        "\ufeffInternal User ID,User Email,Name,State,Date Deleted\r\n"
        "1,a@x.example,A,Active,\r\n2,b@x.example,B,ACTIVE,2024-01-01\r\n"
        "3,c@x.example,C,Suspended,\r\n"
    )
    srv.script(
        "POST",
        f"{API}/jobs",
        Canned(
            200,
            {
                "data": {
                    "id": "job-1",
                    "type": "job",
                    "attributes": {"status": {"code": "Submitted"}},
                }
            },
        ),
    )
    srv.script(
        "GET",
        f"{API}/jobs/job-1",
        Canned(200, {"data": {"id": "job-1", "attributes": {"status": {"code": "Processing"}}}}),
        Canned(
            200,
            {
                "data": {
                    "id": "job-1",
                    "attributes": {
                        "status": {"code": "Completed"},
                        "url": f"{srv.base_url}/s3/export.csv?X-Amz-Signature=abc",
                    },
                }
            },
        ),
    )
    srv.script("GET", "/s3/export.csv", Canned(200, csv_text.encode()))
    with client(srv) as alm:
        users = list(alm.export_users(poll_seconds=1.0))
    assert [(u.id, u.email, u.state) for u in users] == [
        ("1", "a@x.example", "ACTIVE"),
        ("2", "b@x.example", "DELETED"),
        ("3", "c@x.example", "SUSPENDED"),
    ]
    body = srv.requests_to("POST", f"{API}/jobs")[0].json()
    assert body["data"]["attributes"]["jobType"] == "generateUsers"
    download = srv.requests_to("GET", "/s3/export.csv")[0]
    assert "authorization" not in download.headers


def test_export_job_failure_is_a_clear_error(srv: ScriptedServer) -> None:
    srv.script("POST", f"{API}/jobs", Canned(200, {"data": {"id": 42, "type": "job"}}))
    srv.script(
        "GET",
        f"{API}/jobs/42",
        Canned(200, {"data": {"id": 42, "attributes": {"status": "Failed"}}}),
    )
    with client(srv) as alm, pytest.raises(ApiError, match="job failed"):
        list(alm.export_users())


@pytest.mark.parametrize(
    "job",
    [
        {"attributes": {"status": {"code": "Completed"}, "downloadUrl": "URL"}},
        {"attributes": {"status": "Completed", "result": {"files": [{"href": "URL"}]}}},
        {"attributes": {"status": {"code": "Completed", "output": {"s3": {"location": "URL"}}}}},
        {
            "attributes": {"status": {"code": "Completed"}},
            "links": {"self": "SELF", "download": "URL"},
        },
    ],
)
def test_export_job_file_url_is_found_wherever_it_sits(
    srv: ScriptedServer, job: dict[str, Any]
) -> None:
    url = f"{srv.base_url}/s3/users.csv?X-Amz-Signature=abc"
    text = json.dumps({"data": {"id": "7", "type": "job", **job}})
    text = text.replace('"URL"', json.dumps(url))
    text = text.replace('"SELF"', json.dumps(f"{srv.base_url}{API}/jobs/7"))
    srv.script("POST", f"{API}/jobs", Canned(200, {"data": {"id": "7", "type": "job"}}))
    srv.script("GET", f"{API}/jobs/7", Canned(200, json.loads(text)))
    srv.script(
        "GET", "/s3/users.csv", Canned(200, b"userEmail,internalUserID\r\na@x.example,1\r\n")
    )
    with client(srv) as alm:
        users = list(alm.export_users(poll_seconds=1.0))
    assert [(u.id, u.email) for u in users] == [("1", "a@x.example")]


@pytest.mark.parametrize("status, body", [(200, None), (201, ""), (202, None), (204, None)])
def test_any_2xx_accepts_a_grade_with_or_without_a_body(
    srv: ScriptedServer, status: int, body: Any
) -> None:
    srv.script("POST", f"{API}/users/13/userModuleGrade", Canned(status, body))
    grade = GradeRequest("13", "course:7", "course:7_8", "course:7_8_9_1", datetime(2024, 1, 1))
    with client(srv) as alm:
        alm.post_grade(grade)
        assert alm.grade_shapes.confirmed and alm.stats.writes == 1


def test_a_shape_400_is_reposted_with_the_next_shape(srv: ScriptedServer) -> None:
    refusal = {
        "status": "BAD_REQUEST",
        "title": "Field Type incorrect",
        "source": {"info": "incorrect relation type - course: 'course'"},
    }
    srv.script(
        "POST", f"{API}/users/13/userModuleGrade", Canned(400, refusal), Canned(200, {"data": {}})
    )
    grade = GradeRequest("13", "course:7", "course:7_8", "course:7_8_9_1", datetime(2024, 1, 1))
    with client(srv) as alm:
        alm.post_grade(grade)
        assert "course type learningObject" in alm.grade_body_description
    sent = [
        s.json()["data"]["relationships"]
        for s in srv.requests_to("POST", f"{API}/users/13/userModuleGrade")
    ]
    assert [r["course"]["data"][0]["type"] for r in sent] == ["course", "learningObject"]
    assert all(r["module"]["data"] == [{"id": "791", "type": "courseModule"}] for r in sent)


def test_a_data_400_fails_the_grade_without_trying_other_shapes(srv: ScriptedServer) -> None:
    srv.script(
        "POST",
        f"{API}/users/13/userModuleGrade",
        Canned(400, {"status": "BAD_REQUEST", "title": "Learner not enrolled", "source": {}}),
    )
    grade = GradeRequest("13", "course:7", "course:7_8", "course:7_8_9_0", datetime(2024, 1, 1))
    with client(srv) as alm, pytest.raises(ApiError, match="Learner not enrolled"):
        alm.post_grade(grade)
    assert len(srv.requests_to("POST", f"{API}/users/13/userModuleGrade")) == 1


@pytest.mark.parametrize("write", ["grade", "enroll"])
def test_403_on_a_write_stops_the_run_naming_the_write_scope(
    srv: ScriptedServer, write: str
) -> None:
    forbidden = Canned(403, {"status": "FORBIDDEN", "title": "Forbidden", "source": {}})
    srv.script("POST", f"{API}/users/13/userModuleGrade", forbidden)
    srv.script("POST", f"{API}/users/13/enrollments", forbidden)
    grade = GradeRequest("13", "course:7", "course:7_8", "course:7_8_9_0", datetime(2024, 1, 1))
    with client(srv) as alm, pytest.raises(WriteScopeMissing) as err:
        if write == "grade":
            alm.post_grade(grade)
        else:
            alm.enroll("13", "course:7", "course:7_8")
    assert "admin:write" in err.value.message and err.value.exit_status == 3
    assert len(srv.seen) == 1  # no retry, no other shape


def test_post_latency_is_alms_api_not_the_token_endpoint_or_a_429(srv: ScriptedServer) -> None:
    """The write pool is sized from the POST latency: the token refresh (a fast POST to another
    endpoint) and a gateway's instant 429 must not make ALM look faster than it is."""
    srv.script("POST", "/oauth/token/refresh", Canned(200, {"access_token": "tok-abcdefgh"}))
    srv.script(
        "POST",
        f"{API}/users/13/userModuleGrade",
        Canned(429, {"message": "429 Too many requests"}, {"retry-after": "0"}),
        Canned(204, delay=0.2),
    )
    sets = Settings(
        _env_file=None,
        base_url=srv.base_url,  # type: ignore[call-arg]
        client_id="id",
        client_secret="secret-1",
        refresh_token="refresh-1",
    )  # type: ignore[arg-type]
    with AlmClient(sets, give_up_after=30.0) as alm:
        when = datetime(2026, 10, 1, tzinfo=UTC)
        alm.post_grade(GradeRequest("13", "course:1", "course:1_1", "course:1_1_10_0", when))
        latency = alm.latency_seconds("POST")
    assert latency is not None and latency >= 0.2
    assert len(srv.requests_to("POST", "/oauth/token/refresh")) == 1


def test_a_write_slot_is_held_only_while_the_request_is_out(srv: ScriptedServer) -> None:
    """``limit_writes(1)``: one write on the wire at a time. A worker held back by the grade
    body's probe (its enrollment waits for the first learner's grade) holds no slot, so the
    first learner's grade goes at once instead of after the hold's 3 s."""
    api = "/primeapi/v2"
    for uid in ("1", "2"):
        srv.script("POST", f"{api}/users/{uid}/enrollments", Canned(200, {"data": []}, delay=0.2))
    srv.script("POST", f"{api}/users/1/userModuleGrade", Canned(204, delay=0.1))
    with AlmClient(
        Settings(_env_file=None, base_url=srv.base_url, access_token="tok-abcdefgh"),  # type: ignore[call-arg]
        give_up_after=30.0,
    ) as alm:
        gate = alm.limit_writes(1)
        when = datetime(2026, 10, 1, tzinfo=UTC)
        done: dict[str, float] = {}
        start = time.monotonic()

        def first() -> None:
            alm.enroll("1", "course:1", "course:1_1")
            alm.post_grade(GradeRequest("1", "course:1", "course:1_1", "course:1_1_10_0", when))
            done["grade"] = time.monotonic() - start

        one = threading.Thread(target=first)
        one.start()
        time.sleep(0.05)  # learner 1 is enrolling: learner 2 must wait for its grade's verdict
        two = threading.Thread(target=alm.enroll, args=("2", "course:1", "course:1_1"))
        two.start()
        one.join(timeout=10)
        two.join(timeout=10)
    assert done["grade"] < 1.5  # not held back by a slot that the waiting enrollment kept
    assert gate.peak == 1
    grade_at = srv.requests_to("POST", f"{api}/users/1/userModuleGrade")[0].at
    assert grade_at < srv.requests_to("POST", f"{api}/users/2/enrollments")[0].at


PROGRAM_DOC = {
    "data": {
        "id": "learningProgram:9",
        "type": "learningObject",
        "attributes": {
            "loType": "learningProgram",
            "state": "Published",
            "localizedMetadata": [{"locale": "en-US", "name": "Onboarding"}],
            "sections": [
                {"sectionId": "1", "loIds": ["course:1", "course:2"], "mandatory": True,
                 "mandatoryLOCount": 1, "localizedMetadata": [{"locale": "en-US", "name": "A"}]},
                {"loIds": ["3"], "mandatory": False},
            ],
        },
        "relationships": {
            "instances": {"data": [{"id": "learningProgram:9_1", "type": "learningObjectInstance"}]},
            "subLOs": {"data": [{"id": "course:1"}, {"id": "course:2"}, {"id": "course:3"}]},
        },
    },
    "included": [
        {"id": "learningProgram:9_1", "type": "learningObjectInstance",
         "attributes": {"isDefault": True, "state": "Active"},
         "relationships": {"subLoInstances": {"data": [{"id": "course:1_11"}, {"id": "course:2_22"}]}}},
        {"id": "course:1_11", "type": "learningObjectInstance", "attributes": {"state": "Active"},
         "relationships": {"learningObject": {"data": {"id": "course:1"}}}},
    ],
}  # fmt: skip


def test_get_program_reads_sections_and_mapped_instances_and_falls_back_on_400(
    srv: ScriptedServer,
) -> None:
    """ALM documents ``subLoInstances`` but no include path naming it: a 400 to the path asks
    for the instances alone, whose relationships still carry the mapping."""
    path = f"{API}/learningObjects/learningProgram:9"
    srv.handle(
        "GET",
        path,
        lambda seen: (
            Canned(400, {"title": "Invalid include"})
            if seen.query.get("include") == ["instances.subLoInstances"]
            else Canned(200, PROGRAM_DOC)
        ),
    )
    with client(srv) as alm:
        program = alm.get_program("learningProgram:9")
    assert [s.query["include"] for s in srv.requests_to("GET", path)] == [
        ["instances.subLoInstances"], ["instances"],
    ]  # fmt: skip
    assert program is not None and program.is_container and program.published
    assert [i.id for i in program.instances] == ["learningProgram:9_1"]  # not the course's
    (instance,) = program.instances
    assert instance.is_default and instance.sub_instance("course:2") == "course:2_22"
    assert instance.sub_instance("course:3") == ""
    first, optional = program.sections
    assert (first.lo_ids, first.needed, first.names) == (
        ("course:1", "course:2"),
        1,
        {"en-US": "A"},
    )
    assert (optional.lo_ids, optional.needed) == (("course:3",), 0)
    assert program.sub_lo_ids == ("course:1", "course:2", "course:3")


def test_program_enrollments_ask_for_both_types_then_one_at_a_time_after_a_400(
    srv: ScriptedServer,
) -> None:
    path = f"{API}/users/7/enrollments"

    def answer(seen: Any) -> Canned:
        types = seen.query["filter.loTypes"][0]
        if "," in types:
            return Canned(400, {"title": "Invalid filter.loTypes"})
        lo = "learningProgram:9" if types == "learningProgram" else "certification:5"
        return Canned(200, {"data": [{
            "id": f"{lo}_1_7", "type": "learningObjectInstanceEnrollment",
            "attributes": {"state": "COMPLETED" if lo.startswith("cert") else "STARTED"},
            "relationships": {"learningObject": {"data": {"id": lo}},
                              "loInstance": {"data": {"id": f"{lo}_1"}}},
        }]})  # fmt: skip

    srv.handle("GET", path, answer)
    with client(srv) as alm:
        first = alm.get_program_enrollments("7")
        second = alm.get_program_enrollments("7")
    assert [(e.lo_id, e.completed) for e in first] == [
        ("learningProgram:9", False), ("certification:5", True),
    ]  # fmt: skip
    assert second == first
    asked = [s.query["filter.loTypes"][0] for s in srv.requests_to("GET", path)]
    assert asked == [
        "learningProgram,certification", "learningProgram", "certification",
        "learningProgram", "certification",  # remembered: no second 400
    ]  # fmt: skip
