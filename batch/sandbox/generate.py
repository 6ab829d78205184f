"""Large synthetic seeds and completion files for benchmarks and soak tests.

``generate_seed`` builds the same shapes as ``sample_data/alm_seed.json`` at any size (thousands of
users, hundreds of courses), deterministically from ``random_seed``. ``generate_completions``
writes an HR-style CSV that references a chosen number of distinct users and courses, so a
benchmark can show that lookups grow with distinct users/courses, never with rows.
"""

from __future__ import annotations

import csv
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from batch.sandbox.seed import SEED_FORMAT, SeedData, check_seed

FIRST = (
    "Maria James Priya Liam Sofia Ahmed Emma Noah Olivia Lucas Ava Mateo Chloe Ethan Isabella "
    "Yuki Hannah Daniel Grace Benjamin Zoe Samuel Mia Oliver Amelia Lukas Charlotte Henry Nora "
    "Jack Leah Gabriel Ines Ryan Fatima Thomas Karen Peter Alex Sarah Wei Aisha Diego Elena Omar "
    "Freya Kofi Ingrid Rahul Camille"
).split()
LAST = (
    "Gonzalez OConnor Raman Chen Rossi Hassan Schmidt Williams Dubois Martin Johnson Fernandez "
    "Lefevre Brown Nowak Tanaka Mueller Kim Okafor Clarke Papadopoulos Andersson Kowalski Bennett "
    "Patel Becker Evans Walker Lindqvist Thompson Cohen Silva Moreau Murphy Amrani Wright Doyle "
    "Novak Rivera Mitchell Zhang Haddad Alvarez Petrova Nasser Olsen Mensah Berg Sharma Laurent"
).split()
TOPICS = (
    "Fire Safety",
    "Data Privacy",
    "Code of Conduct",
    "Information Security",
    "First Aid",
    "Anti-Bribery",
    "Export Controls",
    "Workplace Harassment Prevention",
    "Manual Handling",
    "Cybersecurity",
    "Diversity and Inclusion",
    "Conflict of Interest",
    "Records Management",
    "Health and Safety",
    "Customer Data Handling",
    "Phishing Awareness",
    "Ergonomics",
    "Incident Reporting",
    "Environmental Compliance",
    "Anti-Money Laundering",
    "Sanctions",
    "Insider Trading",
    "Competition Law",
    "Modern Slavery",
    "Business Continuity",
    "Lone Working",
    "Driving at Work",
    "Hazardous Substances",
    "Mental Health Awareness",
    "Accessibility",
    "Cloud Security",
    "Password Hygiene",
    "Remote Working",
    "Fraud Prevention",
    "Whistleblowing",
    "Quality Management",
    "Food Hygiene",
    "Electrical Safety",
    "Working at Height",
    "Performance Reviews",
)
LEVELS = (
    "Essentials",
    "Fundamentals",
    "Advanced",
    "for Managers",
    "Refresher",
    "Basics",
    "in Practice",
    "Certification Prep",
    "Awareness",
    "Deep Dive",
    "Foundations",
    "Update",
)
MODULE_NAMES = ("Introduction", "Core concepts", "Case studies", "Assessment", "Scenarios")
COMPLETION_HEADERS = ("Learner Email", "Course", "Completion Date", "Score")


def generate_seed(
    users: int,
    courses: int,
    *,
    random_seed: int = 0,
    suspended_share: float = 0.02,
    deleted_share: float = 0.01,
    retired_share: float = 0.03,
    enrollments_per_user: float = 0.5,
    completed_share: float = 0.3,
    domain: str = "acme-corp.example",
) -> SeedData:
    """A seed with ``users`` users and ``courses`` courses, same shapes as the sample seed."""
    rng = random.Random(random_seed)
    base_day = datetime(2024, 1, 8, 9, tzinfo=UTC)
    seed_users: list[dict[str, Any]] = []
    seen_emails: set[str] = set()
    for n in range(users):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        local = f"{first}.{last}".lower()
        email = f"{local}@{domain}"
        k = 2
        while email in seen_emails:
            email, k = f"{local}{k}@{domain}", k + 1
        seen_emails.add(email)
        if rng.random() < 0.15:  # ALM keeps whatever case the HR import used
            email = email[0].upper() + email[1:]
        roll = rng.random()
        state = (
            "DELETED"
            if roll < deleted_share
            else "SUSPENDED"
            if roll < deleted_share + suspended_share
            else "ACTIVE"
        )
        user: dict[str, Any] = {
            "id": str(20000000 + n * 7 + 3),
            "email": email,
            "name": f"{first} {last}",
            "state": state,
            "userType": "Internal",
            "roles": ["Learner"],
            "uniqueId": f"E{100000 + n}",
            "dateCreated": _iso(base_day + timedelta(hours=n)),
        }
        if state == "DELETED":
            user["dateDeleted"] = _iso(base_day + timedelta(days=300, hours=n))
        if seed_users and rng.random() < 0.9:
            user["managerId"] = seed_users[rng.randrange(min(len(seed_users), 50))]["id"]
        seed_users.append(user)
    los: list[dict[str, Any]] = []
    names = [f"{t} {lv}" for lv in LEVELS for t in TOPICS]
    for n in range(courses):
        num = 8000000 + n * 13
        name = names[n % len(names)]
        if n >= len(names):
            name = f"{name} {2025 + n // len(names)}"
        modules = []
        for m in range(rng.randint(1, 3)):
            modules.append(_module(num * 10 + m, "Content", MODULE_NAMES[m]))
        if rng.random() < 0.3:
            modules.insert(0, _module(num * 10 + 7, "Pre Work", "Pre-course survey"))
        if rng.random() < 0.2:
            modules.append(_module(num * 10 + 8, "Test Out", "Test out"))
        instances = [_instance(f"course:{num}_{num + 1}", True, "Active", "Self-paced")]
        if rng.random() < 0.15:
            instances.append(_instance(f"course:{num}_{num + 2}", False, "Active", "Cohort B"))
        lo: dict[str, Any] = {
            "id": f"course:{num}",
            "loType": "course",
            "state": "Retired" if rng.random() < retired_share else "Published",
            "loFormat": "Self Paced",
            "dateCreated": _iso(base_day + timedelta(days=n % 365)),
            "localizedMetadata": [{"locale": "en-US", "name": name, "description": name}],
            "modules": modules,
            "instances": instances,
        }
        los.append(lo)
    enrollments: list[dict[str, Any]] = []
    published = [lo for lo in los if lo["state"] == "Published"]
    for user in seed_users:
        if user["state"] != "ACTIVE" or not published:
            continue
        count = int(enrollments_per_user) + (rng.random() < enrollments_per_user % 1)
        for course in rng.sample(published, min(count, len(published))):
            inst = course["instances"][0]
            content = [m for m in course["modules"] if m["loResourceType"] == "Content"]
            grades = []
            if rng.random() < completed_share:
                day = date(2024, 6, 1) + timedelta(days=rng.randrange(300))
                grades = [
                    {
                        "moduleId": m["id"],
                        "dateCompleted": f"{day.isoformat()}T10:00:00.000Z",
                        "score": rng.randint(60, 100),
                    }
                    for m in content
                ]
            enrollments.append(
                {
                    "userId": user["id"],
                    "instanceId": inst["id"],
                    "dateEnrolled": "2024-05-06T09:00:00.000Z",
                    "grades": grades,
                }
            )
    seed: SeedData = {
        "format": SEED_FORMAT,
        "account": {"id": "104510", "name": "Acme Corp (generated)"},
        "users": seed_users,
        "learningObjects": los,
        "enrollments": enrollments,
    }
    check_seed(seed)
    return seed


def generate_completions(
    seed: SeedData,
    rows: int,
    *,
    distinct_users: int,
    distinct_courses: int,
    path: str | Path,
    random_seed: int = 0,
) -> Path:
    """Write a completions CSV of ``rows`` rows over the chosen distinct users and courses.

    Courses are written as their en-US name (70 %), ``course:N`` (20 %) or the bare number
    (10 %); dates are 2025-01-01..2025-06-30; scores 60-100 or blank. Users and courses are
    taken from the active users and published courses so every row can succeed; pairs repeat
    only when ``rows`` exceeds ``distinct_users * distinct_courses``.
    """
    rng = random.Random(random_seed)
    active = [u for u in seed["users"] if u.get("state", "ACTIVE") == "ACTIVE"]
    usable = [
        lo
        for lo in seed["learningObjects"]
        if lo.get("loType", "course") == "course"
        and lo.get("state", "Published") == "Published"
        and any(m.get("loResourceType", "Content") == "Content" for m in lo.get("modules", []))
    ]
    if distinct_users > len(active) or distinct_courses > len(usable):
        raise ValueError(
            f"seed has {len(active)} active users and {len(usable)} usable courses; asked for "
            f"{distinct_users} and {distinct_courses}"
        )
    users = rng.sample(active, distinct_users)
    courses = rng.sample(usable, distinct_courses)
    pairs = [(u, c) for u in range(distinct_users) for c in range(distinct_courses)]
    rng.shuffle(pairs)
    chosen = [pairs[i % len(pairs)] for i in range(rows)]
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COMPLETION_HEADERS)
        for u, c in chosen:
            lo = courses[c]
            writer.writerow(
                [users[u]["email"], _course_cell(lo, rng), _date_cell(rng), _score_cell(rng)]
            )
    return path


def _course_cell(lo: dict[str, Any], rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.7:
        names = {m["locale"]: m["name"] for m in lo["localizedMetadata"]}
        return str(names.get("en-US") or next(iter(names.values()))).strip()
    return str(lo["id"]) if roll < 0.9 else str(lo["id"]).split(":", 1)[1]


def _date_cell(rng: random.Random) -> str:
    return (date(2025, 1, 1) + timedelta(days=rng.randrange(181))).isoformat()


def _score_cell(rng: random.Random) -> str:
    return "" if rng.random() < 0.3 else str(rng.randint(60, 100))


def _module(module_id: int, kind: str, name: str) -> dict[str, Any]:
    return {
        "id": str(module_id),
        "loResourceType": kind,
        "resourceType": "Elearning",
        "localizedMetadata": [{"locale": "en-US", "name": name}],
    }


def _instance(inst_id: str, default: bool, state: str, name: str) -> dict[str, Any]:
    return {
        "id": inst_id,
        "isDefault": default,
        "state": state,
        "localizedMetadata": [{"locale": "en-US", "name": name}],
    }


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")
