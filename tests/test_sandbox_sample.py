"""sample_data is self-consistent: every row of completions.csv ends as sample_data/README.md says.

A deliberately naive walk over raw HTTP (no alm-batch code): it proves that the seed supports
each expected outcome, so a demo or end-to-end test that disagrees points at the tool.
"""

from __future__ import annotations

import csv
import re
from datetime import date
from typing import Any

from batch.models import name_key
from batch.sandbox import Sandbox, SandboxConfig, default_seed_dir, load_seed
from tests.test_sandbox_support import Api, grade_body

SAMPLE = default_seed_dir()
EMAIL = re.compile(r"^[^@\s()]+@[^@\s()]+\.[a-z]+$", re.IGNORECASE)


def expected_statuses() -> dict[int, tuple[str, str]]:
    """Row -> (learner cell, status) from the README's table."""
    out = {}
    for line in (SAMPLE / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].isdigit():
            out[int(cells[0])] = (cells[1], cells[3])
    return out


def catalogue(api: Api) -> list[dict[str, Any]]:
    types = "course,learningProgram,certification"
    body = api.get("/learningObjects", {"filter.loTypes": types, "page[limit]": "100"}).json()
    assert "next" not in body["links"]
    return list(body["data"])


def outcome(api: Api, row: dict[str, str], courses: list[dict[str, Any]]) -> str:
    email, cell = row["Learner Email"].strip(), row["Course Name"].strip()
    if not EMAIL.match(email):
        return "invalid"
    try:
        when = date.fromisoformat(row["Completion Date"])
    except ValueError:
        return "invalid"
    users = api.get("/users", {"ids": f"email:{email}"}).json()["data"]
    if not users:
        return "user_not_found"
    user = users[0]
    if user["attributes"]["state"] != "ACTIVE":
        return "rejected"
    if cell.removeprefix("course:").isdigit():
        matches = [c for c in courses if c["id"] == "course:" + cell.removeprefix("course:")]
    else:
        matches = [
            c
            for c in courses
            if any(
                name_key(m["name"]) == name_key(cell) for m in c["attributes"]["localizedMetadata"]
            )
        ]
    if not matches:
        return "course_not_found"
    if len(matches) > 1:
        return "ambiguous_course"
    course = matches[0]
    if course["attributes"]["state"] != "Published":
        return "rejected"
    if course["attributes"]["loType"] != "course":
        return program_outcome(api, user["id"], course, when)
    state = course_state(api, user["id"], course["id"])
    if state == "COMPLETED":
        return "already_completed"
    state = grade_course(api, user["id"], course["id"], when)
    return "completed" if state == "COMPLETED" else f"not completed ({state})"


def course_state(api: Api, uid: str, lo_id: str) -> str:
    for e in api.enrollments(uid)["data"]:
        if e["relationships"]["learningObject"]["data"]["id"] == lo_id:
            return str(e["attributes"]["state"])
    return ""


def grade_course(api: Api, uid: str, lo_id: str, when: date) -> str:
    """Enroll if needed, grade every Content module not graded yet; the course's state."""
    if not course_state(api, uid, lo_id):
        assert api.enroll(uid, lo_id).status_code == 200
    body = api.enrollments(uid)
    enr = next(
        e for e in body["data"] if e["relationships"]["learningObject"]["data"]["id"] == lo_id
    )
    instance = enr["relationships"]["loInstance"]["data"]["id"]
    detail = api.get(f"/learningObjects/{lo_id}", {"include": "instances.loResources"}).json()
    kinds = {
        o["id"]: o["attributes"]["loResourceType"]
        for o in detail["included"]
        if o["type"] == "learningObjectResource"
    }
    done = {
        g["relationships"]["loResource"]["data"]["id"]
        for g in body["included"]
        if g["attributes"]["completed"]
    }
    for rid, kind in kinds.items():
        if kind == "Content" and rid.startswith(instance + "_") and rid not in done:
            payload = grade_body(
                uid,
                lo_id.split(":")[1],
                rid,
                "learningObjectResource",
                date=f"{when.isoformat()}T00:00:00.000Z",
            )
            resp = api.grade(uid, payload)
            assert resp.status_code == 200, resp.text
    return course_state(api, uid, lo_id)


def program_state(api: Api, uid: str, lo_id: str) -> str:
    types = {"filter.loTypes": "learningProgram,certification"}
    for e in api.get(f"/users/{uid}/enrollments", types).json()["data"]:
        if e["relationships"]["learningObject"]["data"]["id"] == lo_id:
            return str(e["attributes"]["state"])
    return ""


def program_outcome(api: Api, uid: str, lo: dict[str, Any], when: date) -> str:
    """Naively: enroll in the program, then grade the first courses of each mandatory section
    until it holds ``mandatoryLOCount`` completed ones (the sample's rows leave no choice)."""
    state = program_state(api, uid, lo["id"])
    if state == "COMPLETED":
        return "already_completed"
    if not state:
        assert api.enroll(uid, lo["id"]).status_code == 200
    for section in lo["attributes"]["sections"]:
        if not section["mandatory"]:
            continue
        done = [c for c in section["loIds"] if course_state(api, uid, c) == "COMPLETED"]
        for course_id in section["loIds"]:
            if len(done) >= section["mandatoryLOCount"]:
                break
            if course_id not in done:
                assert grade_course(api, uid, course_id, when) == "COMPLETED"
                done.append(course_id)
    state = program_state(api, uid, lo["id"])
    return "completed" if state == "COMPLETED" else f"not completed ({state})"


def test_every_sample_row_ends_as_the_readme_says() -> None:
    expected = expected_statuses()
    with (SAMPLE / "completions.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(expected) == 39
    with Sandbox(seed=load_seed(SAMPLE), config=SandboxConfig(limits_enabled=False)) as sb:
        api = Api(sb)
        courses = catalogue(api)
        seen: set[tuple[str, str]] = set()
        got: dict[int, str] = {}
        for number, row in enumerate(rows, start=2):
            learner, _ = expected[number]
            assert learner.split("@")[0].lower() in row["Learner Email"].lower()
            key = (row["Learner Email"].strip().casefold(), name_key(row["Course Name"]))
            if key in seen:
                got[number] = "duplicate"
                continue
            seen.add(key)
            got[number] = outcome(api, row, courses)
        assert got == {n: status for n, (_, status) in expected.items()}
        books = sb.books()
        assert books["enrollments_created"] == 30
        assert len(books["grades"]) == 62
        assert books["double_grades"] == 0
        # A second pass finds everything done and posts nothing.
        sb.reset_books()
        seen.clear()
        for row in rows:
            key = (row["Learner Email"].strip().casefold(), name_key(row["Course Name"]))
            if key not in seen:
                seen.add(key)
                assert outcome(api, row, courses) != "completed"
        assert sb.books()["grades"] == []
