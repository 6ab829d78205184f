"""Names that look identical match, resolved duplicates post once, deleted users are
named as such, and the dry run shows the exact date and score the live run posts."""

from __future__ import annotations

import csv
import json
import sqlite3
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest

from batch.alm.types import User
from batch.cache import SCHEMA_VERSION, LookupCache, cache_path
from batch.models import CheckedRow, Completion, CourseRef, InputRow, RowStatus, name_key
from batch.plan import PlanOptions, build_plan
from batch.resolve import Resolver, not_found_message
from batch.sandbox import Sandbox
from batch.validation.cells import parse_course, parse_email
from tests.e2e_support import posts, run_cli, sandbox_env
from tests.fake_alm import FakeAlm, make_course

BASE = "http://alm.test"
WHEN = datetime(2025, 5, 6, tzinfo=UTC)


def test_lookalike_names_fold_to_one_key() -> None:
    decomposed = unicodedata.normalize("NFD", "Sécurité Incendie")
    assert decomposed != "Sécurité Incendie"
    same = [
        "Sécurité Incendie",
        decomposed,  # typed on a Mac
        "  sécurité\u00a0\u00a0INCENDIE ",  # non-breaking spaces
        "Sécu\u200brité Incendie",  # zero-width space
    ]
    assert len({name_key(s) for s in same}) == 1
    assert name_key("Manager\u2019s Guide \u2013 Part 1") == name_key("Manager's Guide - Part 1")
    assert name_key("Manager\u02bcs Guide \u2212 Part\u20091") == name_key(
        "manager's guide - part 1"
    )
    assert name_key("\u201cQuoted\u201d") == name_key('"quoted"')
    assert name_key("Ｆｕｌｌ ｗｉｄｔｈ") == "full width"
    assert name_key("Straße") == name_key("STRASSE")


def test_emails_fold_too_and_parse_clean() -> None:
    assert parse_email("\u200bjane.doe@acme.com\u00a0") == "jane.doe@acme.com"
    assert parse_email("jane.doe＠acme.com") == "jane.doe@acme.com"  # full-width @
    nfd = unicodedata.normalize("NFD", "renée@acme.com")
    assert parse_email(nfd) == "renée@acme.com"  # composed before it is sent to ALM
    ref = parse_course("course:１２３")
    assert ref.course_id == "course:123"


def _row(n: int, email: str, course: CourseRef) -> CheckedRow:
    completion = Completion(email=email, course=course, completion_date=WHEN, score=90.0)
    return CheckedRow(InputRow(n, {"Email": email}, {}), completion)


def _alm() -> FakeAlm:
    return FakeAlm(
        users=[User("1", "renée@acme.com"), User("4", "gone@acme.com", state="DELETED")],
        courses=[
            make_course(10, {"en-US": "Manager's Guide - Part 1", "fr-FR": "Guide du manager"}),
            make_course(20, {"en-US": "Sécurité Incendie", "de-DE": "Brandschutz"}),
            make_course(
                30,
                {
                    "en-US": "Fire Safety 2025",
                    "fr-FR": "Sécurité incendie 2025",
                    "de-DE": "Brandschutz 2025",
                },
            ),  # fmt: skip
        ],
    )


def test_a_mac_name_and_a_word_apostrophe_match_their_course() -> None:
    rows = [
        _row(2, unicodedata.normalize("NFD", "Renée@acme.com"), CourseRef("Manager\u2019s Guide \u2013 Part 1")),
        _row(3, "renée@acme.com", CourseRef(unicodedata.normalize("NFD", "Sécurité\u00a0Incendie"))),
    ]  # fmt: skip
    plan = build_plan(iter(rows), Resolver(_alm(), LookupCache(None, BASE)), PlanOptions())
    assert [(r.status, r.course_id) for r in plan.rows] == [
        (RowStatus.WOULD_COMPLETE, "course:10"),
        (RowStatus.WOULD_COMPLETE, "course:20"),
    ]


def test_a_suggestion_lists_each_course_once_in_the_files_language() -> None:
    courses = [
        make_course(40, {"en-US": "Information Security Awareness",
                         "en-GB": "Information Security Awareness (UK)"}),
        make_course(41, {"en-US": "Data Privacy", "en-GB": "Data Privacy (UK)"}),
    ]  # fmt: skip
    alm = FakeAlm(users=[User("1", "a@acme.com")], courses=courses)
    # Row 2 names a course in en-GB; row 3 misses, close to both names of course 40.
    rows = [
        _row(2, "a@acme.com", CourseRef("Data Privacy (UK)")),
        _row(3, "a@acme.com", CourseRef("Information Securty Awareness")),
    ]
    plan = build_plan(iter(rows), Resolver(alm, LookupCache(None, BASE)), PlanOptions())
    miss = plan.rows[1]
    assert miss.status is RowStatus.COURSE_NOT_FOUND
    assert miss.message == (
        "No course named 'Information Securty Awareness'. "
        "Did you mean 'Information Security Awareness (UK)'?"
    )


def test_a_suggestion_never_offers_the_input_itself() -> None:
    course = make_course(30, {"en-US": "Securite incendie 2025", "fr-FR": "Sécurité incendie 2025"})
    summary = list(FakeAlm(courses=[course]).iter_catalogue())
    text = unicodedata.normalize("NFD", "SÉCURITÉ  incendie 2025")
    for locale in (None, "fr-FR"):
        message = not_found_message(text, summary, locale)
        assert message.endswith("Did you mean 'Securite incendie 2025'?"), message


def test_rows_that_resolve_to_the_same_learner_and_course_are_duplicates() -> None:
    rows = [
        _row(2, "renée@acme.com", CourseRef("Sécurité Incendie")),
        _row(3, "RENÉE@ACME.COM", CourseRef("20", "course:20")),  # other case, by ID
        _row(4, "renée@acme.com", CourseRef("course:20", "course:20")),
    ]
    plan = build_plan(iter(rows), Resolver(_alm(), LookupCache(None, BASE)), PlanOptions())
    assert [r.status for r in plan.rows] == [
        RowStatus.WOULD_COMPLETE,
        RowStatus.DUPLICATE,
        RowStatus.DUPLICATE,
    ]
    assert plan.rows[1].message.startswith("Duplicate of row 2 ")
    assert plan.writes_needed == plan.rows[0].writes == 2  # enroll + one module, once


def test_a_deleted_user_is_deleted_in_alm_whichever_lookup_found_it() -> None:
    rows = [_row(2, "gone@acme.com", CourseRef("Sécurité Incendie"))]
    messages = set()
    for lookup, per_email_limit in (("auto", 50), ("auto", 0), ("export", 50)):
        alm = _alm()
        alm.find_user_by_email = lambda email: None  # type: ignore[method-assign]  # ALM hides deleted users
        resolver = Resolver(
            alm, LookupCache(None, BASE), user_lookup=lookup, per_email_limit=per_email_limit
        )
        plan = build_plan(iter(rows), resolver, PlanOptions())
        assert plan.rows[0].status is RowStatus.REJECTED, (lookup, plan.rows[0].message)
        messages.add(plan.rows[0].message)
    assert messages == {"gone@acme.com is deleted in ALM; restore the user or remove the row."}


def test_after_one_export_a_warm_run_needs_no_second_export(tmp_path: Path) -> None:
    rows = [_row(2, "ghost@acme.com", CourseRef("Sécurité Incendie"))]
    for expected in (1, 0):
        alm = _alm()
        with LookupCache(cache_path(tmp_path), BASE) as cache:
            plan = build_plan(iter(rows), Resolver(alm, cache), PlanOptions())
        assert plan.rows[0].status is RowStatus.USER_NOT_FOUND
        assert alm.calls["export_users"] == expected


def test_an_old_cache_is_migrated_not_mismatched(tmp_path: Path) -> None:
    path = cache_path(tmp_path)
    with LookupCache(path, BASE) as cache:
        cache.put_user("renée@acme.com", User("1", "renée@acme.com"))
    with sqlite3.connect(path) as conn:  # what schema 1 left: a plain case-folded key
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
        conn.execute(
            "UPDATE users SET email_key = ?", (unicodedata.normalize("NFD", "renée@acme.com"),)
        )
    with LookupCache(path, BASE) as cache:
        assert cache.warnings == []
        assert cache.get_user("renée@acme.com") == (False, None)  # dropped, looked up again
    with sqlite3.connect(path) as conn:
        current = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        assert current == (SCHEMA_VERSION,)


# -- dry run and live run against the sandbox: the same rows, the same writes -------------------
def _report(path: Path) -> dict[int, dict[str, str]]:
    return {r["row"]: r for r in json.loads(path.read_text(encoding="utf-8"))["rows"]}


@pytest.mark.timeout(120)
def test_dry_run_and_live_run_agree_on_duplicates_dates_and_scores(
    sb: Sandbox, tmp_path: Path
) -> None:
    src = tmp_path / "hr.csv"
    with src.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Email", "Course", "Completion Date", "Score"])
        w.writerow(["maria.gonzalez@acme-corp.example", "Fire Safety 2025", "14/03/2025", "92.5"])
        w.writerow(["MARIA.GONZALEZ@acme-corp.example", "7968486", "2025-03-14", "92.5"])
        w.writerow(
            ["james.oconnor@acme-corp.example", "Sécurité incendie 2025", "2025-03-02", "88"]
        )
        w.writerow(["peter.novak@acme-corp.example", "Fire Safety 2025", "2025-03-02", "88"])
    alm = sandbox_env(sb, tmp_path / "state")
    dry = run_cli(["validate", src.name, "--report", "dry.json", "--timezone", "Europe/Paris"],
                  cwd=tmp_path, alm=alm)  # fmt: skip
    assert dry.code == 1, dry  # the deleted user needs a person
    live = run_cli(["run", src.name, "--yes", "--report", "live.json", "--json-summary",
                    "--timezone", "Europe/Paris"], cwd=tmp_path, alm=alm)  # fmt: skip
    assert live.code == 1, live
    d, v = _report(tmp_path / "dry.json"), _report(tmp_path / "live.json")
    assert d[3]["status"] == v[3]["status"] == "duplicate"
    assert "Duplicate of row 2" in d[3]["message"]
    assert d[5]["status"] == v[5]["status"] == "rejected" and "deleted in ALM" in d[5]["message"]
    # Midnight in Paris is 23:00 UTC the day before: shown in the dry run as it is posted.
    assert d[2]["date_completed"] == "2025-03-13T23:00:00.000Z" and d[2]["score"] == "92.5"
    books = sb.books()
    posted = {g["user_id"]: g for g in books["grades"] if g["date_completed"] and g["count"]}
    for row in (2, 4):
        assert d[row]["date_completed"] == v[row]["date_completed"]
        assert d[row]["score"] == v[row]["score"]
        grade = posted[v[row]["user_id"]]
        assert grade["date_completed"] == d[row]["date_completed"]
        assert f"{grade['score']:g}" == d[row]["score"]
    summary = json.loads(live.stdout)
    dry_writes = sum(1 for r in d.values() if r["status"] == "would_complete")
    assert dry_writes == 2
    assert summary["writes_made"] == summary["writes_planned"]
    assert (
        sum(int(g["count"]) for g in books["grades"]) + books.get("enrollments_created", 0)
        == (summary["writes_made"])
    )
    assert posts(books).get("POST /users/{id}/userModuleGrade", 0) >= 1
