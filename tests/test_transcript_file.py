"""The Learner Transcript file read by header name, its rows matched to learners' enrollments
only where the match is certain, its windows, and the snapshot kept in the state directory.
Crafted files and course structures, no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from batch.alm.transcript import (
    TranscriptRow,
    TranscriptUnusable,
    payload,
    read_transcript,
    windows,
    years_later,
    zone_of,
)
from batch.alm.types import CourseDetail, CourseSummary, Instance, Module, Section
from batch.snapshot import Snapshot, SnapshotStore, map_rows

CURRENT = (
    "Name,Email,User Unique ID,LP/Certification/Course,Type,Course,Instance,Module,Module ID,"
    "Training ID,Status,Progress %,Enrollment Date (UTC TimeZone),Started Date (UTC TimeZone),"
    "Completion Date (UTC TimeZone),Unenrollment Date (UTC TimeZone),Grade,Quiz_score,"
    "Completion Method,Root Training ID"
)
FIRE, NHO = "course:7968486", "learningProgram:131072"
SELF, BERLIN = "course:7968486_8123456", "course:7968486_8123457"
VIDEO, QUIZ = f"{SELF}_13210487_0", f"{SELF}_13210488_0"


def csv_of(header: str, *rows: str, bom: bool = False) -> bytes:
    return (("\ufeff" if bom else "") + "\r\n".join([header, *rows]) + "\r\n").encode()


def leah(**cells: str) -> str:
    """A current-release row for Leah; cells by field name."""
    values = {
        "name": "Leah Cohen", "email": "Leah.Cohen@acme.example", "uid": "E1031",
        "lo": "Fire Safety 2025", "type": "Course", "course": "Fire Safety 2025",
        "instance": "Self-paced 2025", "module": "", "module_id": "", "tid": FIRE,
        "status": "In Progress", "progress": "50", "enrolled": "2025-02-03 09:00:00",
        "started": "", "completed": "", "unenrolled": "", "grade": "", "score": "",
        "method": "", "root": FIRE,
    }  # fmt: skip
    values.update(cells)
    return ",".join(values.values())


# --------------------------------------------------------------------------- reading
def test_columns_are_found_by_name_in_either_release_and_dates_made_utc() -> None:
    current = list(read_transcript(csv_of(CURRENT, leah(status="Completed",
                                                        completed="2025-02-04 10:00:00"))))  # fmt: skip
    renamed = read_transcript(
        csv_of(
            "Training Id,Learner Email,Learner Name,Learning Object Type,Learning Object,"
            "Course Name,Instance Name,Module Name,Module Id,Status,"
            "Completion Date (America/Los_Angeles)",
            f"{FIRE},leah.cohen@acme.example,Leah Cohen,Course,Fire Safety 2025,"
            "Fire Safety 2025,Self-paced 2025,,,Completed,2025-02-04 02:00:00",
            bom=True,
        )
    )
    (a,), (b,) = current, list(renamed)
    assert (a.training_id, a.status, a.instance_name, a.course_name) == (
        FIRE, "COMPLETED", "Self-paced 2025", "Fire Safety 2025"
    )  # fmt: skip
    assert a.date_completed == b.date_completed == datetime(2025, 2, 4, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "label, offset",
    [("UTC TimeZone", 0), ("GMT", 0), ("Asia/Kolkata TimeZone", 330), ("GMT+05:30", 330),
     ("UTC-08:00", -480)],
)  # fmt: skip
def test_date_headers_name_their_zone(label: str, offset: int) -> None:
    zone = zone_of(label)
    assert zone is not None
    moment = datetime(2025, 2, 4, 12).replace(tzinfo=zone)
    assert moment.utcoffset() == timedelta(minutes=offset)


@pytest.mark.parametrize(
    "header, why",
    [
        (CURRENT.replace("Module ID,", ""), "module_id"),
        (CURRENT.replace(",Status,", ",Result,"), "status"),
        (CURRENT.replace("(UTC TimeZone)", "(PST)"), "time zone"),
        (CURRENT.replace("Completion Date (UTC TimeZone)", "Completion Date"), "time zone"),
        (CURRENT.replace("Training ID,", "").replace("Course,Instance", "Instance"), "training"),
    ],
)
def test_a_file_without_what_the_state_needs_is_unusable_and_says_why(
    header: str, why: str
) -> None:
    with pytest.raises(TranscriptUnusable, match=why):
        list(read_transcript(csv_of(header, leah())))


def test_oversized_cells_and_unreadable_dates_are_unusable_not_a_crash() -> None:
    with pytest.raises(TranscriptUnusable, match="longer than"):
        list(read_transcript(csv_of(CURRENT, leah(name="x" * 70_000))))
    with pytest.raises(TranscriptUnusable, match="completion date"):
        list(read_transcript(csv_of(CURRENT, leah(completed="yesterday"))))
    with pytest.raises(TranscriptUnusable, match="empty"):
        list(read_transcript(b""))


def test_the_payload_is_documented_strings_and_windows_are_at_most_five_years() -> None:
    start = datetime(2013, 2, 28, tzinfo=UTC)
    end = datetime(2026, 12, 6, 15, 4, 5, 120000, tzinfo=UTC)
    cut = windows(start, end)
    assert len(cut) == 3 and cut[0][0] == start and cut[-1][1] == end
    for a, b in cut:
        assert b <= years_later(a, 5)
    for (_, end_a), (start_b, _) in zip(cut, cut[1:], strict=False):
        assert start_b - end_a == timedelta(milliseconds=1)  # contiguous, no gap
    body = payload(["3", "1"], start, end)
    assert body == {
        "users": "3,1",
        "fromDate": "2013-02-28T00:00:00.000Z",
        "toDate": "2026-12-06T15:04:05.120Z",
        "includeModuleLevelDetails": "true",
        "includeDeletedLearners": "false",
    }


# --------------------------------------------------------------------------- matching
def module(mid: str, instance: str) -> Module:
    return Module(mid, instance, "Content", {"en-US": mid})


FIRE_DETAIL = CourseDetail(
    FIRE, "Published", {"en-US": "Fire Safety 2025"},
    instances=(
        Instance(SELF, "Active", True, {"en-US": "Self-paced 2025"},
                 (module(VIDEO, SELF), module(QUIZ, SELF))),
        Instance(BERLIN, "Active", False, {"en-US": "Classroom – Berlin"},
                 (module(f"{BERLIN}_13210487_0", BERLIN),)),
    ),
    date_created=datetime(2024, 11, 4, tzinfo=UTC),
)  # fmt: skip
NHO_DETAIL = CourseDetail(
    NHO, "Published", {"en-US": "New Hire Onboarding"},
    instances=(Instance(f"{NHO}_140001", "Active", True, {"en-US": "2025 intake"}),),
    lo_type="learningProgram", sections=(Section("1", (FIRE,)),),
)  # fmt: skip


class Known:
    """What the resolver would answer: two learning objects, and a second course named like
    the program to make a name ambiguous when asked."""

    def __init__(self, *extra: CourseSummary) -> None:
        self.details = {FIRE: FIRE_DETAIL, NHO: NHO_DETAIL}
        self.summaries = [
            CourseSummary(FIRE, "Published", {"en-US": "Fire Safety 2025"}),
            CourseSummary(NHO, "Published", {"en-US": "New Hire Onboarding"}, "learningProgram"),
            *extra,
        ]

    def name_index(self) -> dict[str, list[tuple[CourseSummary, str]]]:
        out: dict[str, list[tuple[CourseSummary, str]]] = {}
        for c in self.summaries:
            for locale, name in c.names.items():
                out.setdefault(name.strip().casefold(), []).append((c, locale))
        return out

    def course_detail(self, course_id: str) -> CourseDetail | None:
        return self.details.get(course_id)


def row(**cells: str) -> TranscriptRow:
    values = {
        "email": "leah.cohen@acme.example", "type": "Course", "lo_name": "Fire Safety 2025",
        "course_name": "Fire Safety 2025", "instance_name": "Self-paced 2025", "module_id": "",
        "module_name": "", "training_id": FIRE, "status": "STARTED", "date_completed": None,
    }  # fmt: skip
    values.update(cells)
    return TranscriptRow(**values)  # type: ignore[arg-type]


LEARNERS = {"leah.cohen@acme.example": "31", "ines.moreau@acme.example": "33"}
RELEVANT = {FIRE, NHO}


def state(*rows: TranscriptRow, known: Known | None = None, **kw: bool) -> tuple[dict, dict]:
    found = map_rows(rows, LEARNERS, RELEVANT, known or Known(), **kw)
    return found.states, found.uncertain


def test_a_course_its_modules_and_a_program_become_enrollments() -> None:
    done = datetime(2025, 2, 4, 10, tzinfo=UTC)
    states, uncertain = state(
        row(),
        row(module_id=VIDEO, module_name="Fire safety video", status="COMPLETED",
            date_completed=done),
        row(module_id="13210488", status="STARTED"),  # a module number
        row(type="Learning Path", lo_name="New Hire Onboarding", course_name="",
            instance_name="2025 intake", training_id=NHO, status="ENROLLED"),
    )  # fmt: skip
    assert not uncertain
    leah_state = states["31"]
    (course,) = leah_state.courses
    assert (course.lo_id, course.instance_id, course.state) == (FIRE, SELF, "STARTED")
    assert {k: g.completed for k, g in course.grades.items()} == {VIDEO: True, QUIZ: False}
    assert [(p.lo_id, p.state) for p in leah_state.programs] == [(NHO, "ENROLLED")]
    assert states["33"].courses == ()  # asked for, no row: not enrolled in anything


@pytest.mark.parametrize(
    "rows, why",
    [
        ([row(status="Pending Approval")], "as 'Pending Approval'"),
        ([row(), row(module_id="99999999", status="COMPLETED")], "is not one module"),
        ([row(instance_name="Somewhere else")], "no instance of course:7968486"),
        ([row(training_id="90000017", course_name="Brand New Course",
              lo_name="Brand New Course")], "matches nothing"),
        ([row(status="UNENROLLED"), row(), row(module_id=VIDEO, status="COMPLETED")],
         "do not belong to one enrollment"),
    ],
)  # fmt: skip
def test_a_row_that_matters_and_cannot_be_matched_makes_its_learner_uncertain(
    rows: list[TranscriptRow], why: str
) -> None:
    states, uncertain = state(*rows)
    assert "31" not in states and why in uncertain["31"]
    assert "33" in states  # the other learner is not held back


def test_rows_that_do_not_matter_are_ignored_and_unenrolled_is_no_enrollment() -> None:
    other = CourseSummary("course:555", "Published", {"en-US": "Other"})
    states, uncertain = state(
        row(training_id="course:555", course_name="Other", status="Pending Approval"),
        row(status="UNENROLLED"),
        known=Known(other),
    )
    assert not uncertain and states["31"].courses == ()


def test_bare_numbers_are_ids_only_when_every_named_row_agrees() -> None:
    twin = CourseSummary("course:7968499", "Published", {"en-US": "Fire Safety 2025"})
    bare = row(training_id="7968486")
    assert state(bare)[0]["31"].courses[0].lo_id == FIRE
    # A number per enrollment: it matches no course number, so names decide; a name two
    # courses carry cannot.
    per_enrollment = row(training_id="90000017")
    assert state(per_enrollment)[0]["31"].courses[0].lo_id == FIRE
    assert "names 2 learning objects" in state(per_enrollment, known=Known(twin))[1]["31"]


def test_a_row_of_an_email_no_learner_has_makes_learners_without_rows_uncertain() -> None:
    stranger = row(email="leah.cohen@new-domain.example")
    states, uncertain = state(stranger, row(email="ines.moreau@acme.example"))
    assert "33" in states and "email changed" in uncertain["31"]
    states, uncertain = state(stranger, only_them=False)  # a kept file of more learners
    assert not uncertain and states["31"].courses == ()


# --------------------------------------------------------------------------- the store
def test_the_store_finds_a_fresh_snapshot_of_the_same_or_more_learners(tmp_path) -> None:
    store = SnapshotStore(tmp_path, "alm.example")
    now = datetime.now(UTC)
    start = now - timedelta(days=400)
    store.save(Snapshot((b"a,b\r\n",), ("42",), now, start, frozenset({"1", "2"})))
    found = store.find({"1"}, start + timedelta(days=1), max_age=3600)
    assert found is not None and found.cached and found.files == (b"a,b\r\n",)
    assert store.find({"1", "3"}, start, max_age=3600) is None  # a learner it lacks
    assert store.find({"1"}, start - timedelta(days=1), max_age=3600) is None  # older dates
    assert store.find({"1"}, start, max_age=0) is None  # too old
    assert SnapshotStore(tmp_path, "other.example").find({"1"}, start, max_age=3600) is None
    for n in range(8):
        store.save(Snapshot((b"x",), (str(n),), now, start, frozenset({"1"})))
    assert len(list((tmp_path / "transcripts").glob("*.csv.gz"))) == 6
    (tmp_path / "transcripts" / "index.json").write_text("{not json", encoding="utf-8")
    assert store.find({"1"}, start, max_age=3600) is None  # unreadable: taken again


def test_the_store_counts_the_days_submissions_and_remembers_the_last_jobs_time(
    tmp_path,
) -> None:
    store = SnapshotStore(tmp_path, "alm.example")
    now = datetime.now(UTC)
    store.submitted(now - timedelta(hours=30), 80.0)
    store.submitted(now, 95.5)
    assert store.submissions() == [now] and store.generation_seconds() == 95.5
    assert SnapshotStore(None, "alm.example").generation_seconds() is None
