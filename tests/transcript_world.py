"""A larger account and file for comparing learner state read per learner with ALM's transcript.

``mixed_world`` extends the sample seed (its courses, the New Hire Onboarding program, the
Annual Compliance Certification, the recurring Fire Warden Certification) with generated
learners in every state the planner tells apart: not enrolled, enrolled in one instance or
another, some modules done, every module done, unenrolled, enrolled in a program or a
certification (or an earlier recurrence). Its completions file names courses by name, ID and
bare number, programs and certifications by name, with Module and Instance columns on some
rows and repeats. Deterministic from ``random_seed``.
"""

from __future__ import annotations

import copy
import csv
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from batch.sandbox import load_seed
from batch.sandbox.seed import SeedData, check_seed
from tests.e2e_support import SAMPLE_DIR

HEADER = ["Learner Email", "Course Name", "Completion Date", "Score", "Module", "Instance"]
PROGRAMS = ("learningProgram:131072", "certification:150001")
WARDEN = ("certification:170001", "certification:170002")


def mixed_world(folder: Path, *, learners: int = 120, rows: int = 400, random_seed: int = 11):
    """(seed, path of the completions CSV) in ``folder``."""
    rng = random.Random(random_seed)
    seed: SeedData = copy.deepcopy(load_seed(SAMPLE_DIR))
    by_id = {lo["id"]: lo for lo in seed["learningObjects"]}
    courses = [
        lo
        for lo in seed["learningObjects"]
        if lo["loType"] == "course" and lo["state"] == "Published"
    ]
    emails: list[str] = []
    for n in range(learners):
        user_id = str(30000000 + n * 11)
        email = f"learner{n:03d}@acme-corp.example"
        seed["users"].append(
            {
                "id": user_id,
                "email": email.capitalize() if n % 7 == 0 else email,
                "name": f"Learner {n:03d}",
                "state": "SUSPENDED" if n % 41 == 40 else "ACTIVE",
                "userType": "Internal",
                "roles": ["Learner"],
                "uniqueId": f"G{n:05d}",
                "dateCreated": "2024-06-03T09:00:00.000Z",
            }
        )
        emails.append(email)
        for course in rng.sample(courses, rng.randint(0, 4)):
            seed["enrollments"].append(_course_enrollment(rng, user_id, course))
        if rng.random() < 0.25:
            program = by_id[rng.choice(PROGRAMS)]
            instance = rng.choice(program["instances"])
            seed["enrollments"].append(
                {"userId": user_id, "instanceId": instance["id"], "dateEnrolled": _day(rng)}
            )
        if rng.random() < 0.15:
            first = {"userId": user_id, "instanceId": "certification:170001_170101",
                     "dateEnrolled": "2024-02-05T09:00:00.000Z"}  # fmt: skip
            if rng.random() < 0.5:
                first["dateCompleted"] = "2024-06-20T10:00:00.000Z"
            seed["enrollments"].append(first)
            if rng.random() < 0.5:
                seed["enrollments"].append(
                    {
                        "userId": user_id,
                        "instanceId": "certification:170002_170201",
                        "dateEnrolled": "2025-01-20T09:00:00.000Z",
                    }  # fmt: skip
                )
    check_seed(seed)
    path = folder / "mixed.csv"
    names = [lo for lo in seed["learningObjects"] if lo["state"] == "Published"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for _ in range(rows):
            lo = rng.choice(names) if rng.random() < 0.8 else by_id[rng.choice(PROGRAMS + WARDEN)]
            writer.writerow(_row(rng, rng.choice(emails), lo))
    return seed, path


def _day(rng: random.Random) -> str:
    day = date(2025, 1, 6) + timedelta(days=rng.randrange(60))
    return f"{day.isoformat()}T09:00:00.000Z"


def _course_enrollment(rng: random.Random, user_id: str, course: dict[str, Any]) -> dict[str, Any]:
    active = [i for i in course["instances"] if i.get("state", "Active") == "Active"]
    instance = rng.choice(active or course["instances"])
    content = [m for m in course["modules"] if m["loResourceType"] == "Content"]
    roll = rng.random()
    done = content if roll < 0.35 else rng.sample(content, rng.randint(0, len(content)))
    day = date(2025, 1, 10) + timedelta(days=rng.randrange(50))
    grades = [
        {"moduleId": m["id"], "dateCompleted": f"{day.isoformat()}T10:00:00.000Z",
         "score": rng.randint(60, 100)}
        for m in done
    ]  # fmt: skip
    enrollment: dict[str, Any] = {
        "userId": user_id,
        "instanceId": instance["id"],
        "dateEnrolled": "2025-01-06T09:00:00.000Z",
        "grades": grades,
    }
    if rng.random() < 0.08 and len(done) < len(content):
        enrollment["dateUnenrolled"] = "2025-02-20T09:00:00.000Z"
    return enrollment


def _row(rng: random.Random, email: str, lo: dict[str, Any]) -> list[str]:
    name = lo["localizedMetadata"][0]["name"].strip()
    roll = rng.random()
    if lo["loType"] != "course" or roll < 0.6:
        course = name
    elif roll < 0.85:
        course = lo["id"]
    else:
        course = lo["id"].split(":", 1)[1]
    module = instance = ""
    if lo["loType"] == "course" and rng.random() < 0.2:
        module = rng.choice(lo["modules"])["localizedMetadata"][0]["name"]
    if lo["loType"] == "course" and rng.random() < 0.15:
        instance = rng.choice(lo["instances"])["localizedMetadata"][0]["name"]
    day = date(2025, 3, 1) + timedelta(days=rng.randrange(60))
    score = "" if rng.random() < 0.4 else str(rng.randint(60, 100))
    return [email.upper() if rng.random() < 0.05 else email, course, day.isoformat(), score,
            module, instance]  # fmt: skip
