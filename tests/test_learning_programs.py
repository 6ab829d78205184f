"""Learning programs and certifications in the course column, through the CLI in-process against
the sandbox: resolved by name (any locale), ID or ALM link; expanded into one program enrollment
and the grades of the courses the program still needs; N-of-M sections that need a person;
courses already complete; a program and its courses in one file; recurring, external
certifications and job aids; the roll-up checked by ``--verify``.

The sample seed (sample_data/README.md): New Hire Onboarding (NHO) = Core (Fire Safety 2025,
Information Security Awareness, Data Privacy Essentials: all 3) + Electives (Workplace
Harassment Prevention, Export Controls Fundamentals, First Aid at Work: any 2) + an optional
section; the Annual Compliance Certification = Code of Conduct + Anti-Bribery and Corruption.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from batch import verify
from batch.demo import settings_for_sandbox
from batch.jobs import Job, JobOptions
from batch.models import RowStatus
from batch.sandbox import Sandbox
from batch.validation.cells import CellProblem, parse_course
from tests.e2e_support import (
    SandboxCli,
    graded,
    ledger_states,
    read_report,
    sample_sandbox,
    seed_grades,
    statuses,
)

pytestmark = pytest.mark.timeout(120)

HEADER = ["Learner Email", "Course Name", "Completion Date", "Score"]
ACME = "@acme-corp.example"
SAMUEL, DANIEL, LEAH, INES, SOFIA = "15263422", "15263418", "15263431", "15263433", "15263405"
GRACE, LUKAS, GABRIEL = "15263419", "15263426", "15263432"
NHO, CERT = "learningProgram:131072", "certification:150001"
WARDEN_2025 = "certification:170002"
CORE = {  # course -> its Content modules in the default instance (the 2025 intake's mapping)
    "course:7968486": ["course:7968486_8123456_13210487_0", "course:7968486_8123456_13210488_0"],
    "course:7968563": ["course:7968563_8123563_13216301_0", "course:7968563_8123563_13216302_0"],
    "course:7968501": [f"course:7968501_8123501_1321100{n}_0" for n in (1, 2, 3)],
}
FIRST_AID = [f"course:7968597_8123597_1321970{n}_0" for n in (1, 2, 3)]
EXPORT = ["course:7968604_8123604_13220401_0"]
HARASSMENT = ["course:7968578_8123578_13217801_0"]
BRIBERY = ["course:7968559_8123559_13215901_0", "course:7968559_8123559_13215902_0"]
CONDUCT = ["course:7968517_8123517_13211701_0"]
ENROLL = "POST /users/{id}/enrollments"
GRADE = "POST /users/{id}/userModuleGrade"


start = sample_sandbox  # the sample's sandbox, time-scaled, with these settings


class Cli(SandboxCli):
    """The command line on a sandbox, and the rows of the reports it wrote."""

    def rows(self, name: str) -> dict[int, dict[str, Any]]:
        return {r["row"]: r for r in read_report(self.folder / name)}


@pytest.fixture()
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    return Cli(monkeypatch, tmp_path)


def write(folder: Path, rows: list[tuple[str, str]], name: str = "hr.csv") -> str:
    """A file of (learner, course cell) rows, each completed on 2025-03-28 with a score of 90
    (learners without "@" are at acme-corp.example)."""
    with (folder / name).open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        for who, course in rows:
            out.writerow([who if "@" in who else who + ACME, course, "2025-03-28", "90"])
    return name


def posted(sb: Sandbox, user_id: str) -> set[str]:
    """The modules the tool graded for one learner (each once: asserted)."""
    mine = {m: n for (u, m), n in graded(sb.books()).items() if u == user_id}
    assert all(n == 1 for n in mine.values()), mine
    return set(mine)


def core() -> set[str]:
    return {m for modules in CORE.values() for m in modules}


# --------------------------------------------------------------------------- by name, ID, link
def test_programs_and_certifications_by_name_id_and_link_expand_then_complete(
    sb: Sandbox, cli: Cli
) -> None:
    name = write(
        cli.folder,
        [
            ("samuel.andersson", "Intégration des nouveaux arrivants"),  # NHO in fr-FR
            ("samuel.andersson", "First Aid at Work"),  # the electives he took
            ("samuel.andersson", "course:7968604"),
            ("daniel.kim", "learningProgram:131072"),  # enrolled in NHO already
            ("daniel.kim", "Workplace Harassment Prevention"),
            ("daniel.kim", "First Aid at Work"),
            ("ines.moreau", "https://learningmanager.adobe.com/app/learner#/certification/150001"),
            ("sofia.rossi", "Certification annuelle de conformité"),  # fr-FR, not enrolled
        ],
    )
    dry = cli(sb, "run", name, "--dry-run", "--report", "dry.json")
    assert dry.code == 0, dry
    rows = cli.rows("dry.json")
    assert {r: v["status"] for r, v in rows.items()} == dict.fromkeys(
        range(2, 10), "would_complete"
    )
    assert rows[2]["message"].startswith(
        f"Would enroll samuel.andersson{ACME} in the learning program 'New Hire Onboarding' "
        "(instance '2025 intake' (learningProgram:131072_140001)) and grade 7 modules in 3 "
        "courses: 'Fire Safety 2025' (2), 'Information Security Awareness' (2), 'Data Privacy "
        "Essentials' (3)."
    )
    assert "Graded by other rows: 'Export Controls Fundamentals' (row 4), 'First Aid at Work' " \
        "(row 3)." in rows[2]["message"]  # fmt: skip
    assert "Not needed: 'Workplace Harassment Prevention'" in rows[2]["message"]
    assert rows[2]["cells"]["action"] == "enroll + grade 7 modules in 3 courses"
    assert rows[2]["cells"]["course_id"] == NHO
    assert rows[2]["cells"]["instance_id"] == "learningProgram:131072_140001"
    assert set(rows[2]["module_ids"]) == core()
    assert rows[5]["message"].startswith(  # already enrolled in the program: no enrollment
        f"Would grade 7 modules in 3 courses of the learning program 'New Hire Onboarding' for "
        f"daniel.kim{ACME}"
    )
    assert rows[8]["message"] == (
        f"Would grade 2 modules in 1 course of the certification 'Annual Compliance "
        f"Certification' for ines.moreau{ACME}: 'Anti-Bribery and Corruption' (2). ALM already "
        "shows 'Code of Conduct' completed."
    )
    assert rows[9]["cells"]["action"] == "enroll + grade 3 modules in 2 courses"
    # samuel: 1 + 7, then 3 + 1 (his electives, enrolled through the program); daniel: 7 + 1
    # + 3 (enrolled in all); ines: 2; sofia: 1 + 3
    assert "the live run needs 29 writes" in dry.stderr
    assert not [k for k in sb.books()["calls"] if k.startswith("POST /users")]

    live = cli(sb, "run", name, "--yes", "--report", "live.json")
    assert live.code == 0, live
    rows = cli.rows("live.json")
    assert {r: v["status"] for r, v in rows.items()} == dict.fromkeys(range(2, 10), "completed")
    assert rows[4]["message"] == "Posted 1 module grade."  # enrolled through the program
    assert rows[2]["message"].startswith(
        "Enrolled the learner in the learning program 'New Hire Onboarding' and posted 7 module "
        "grades in 3 courses."
    )
    assert rows[2]["message"].endswith("ALM shows the learning program completed.")
    books = sb.books()
    assert books["calls"][GRADE] + books["calls"][ENROLL] == 29  # exactly the writes counted
    # samuel's program enrolls him in its 7 courses, sofia's certification in its 2
    assert books["enrollments_by_type"] == {"learningProgram": 1, "certification": 1, "course": 9}
    assert posted(sb, SAMUEL) == core() | set(FIRST_AID) | set(EXPORT)
    assert posted(sb, DANIEL) == core() | set(HARASSMENT) | set(FIRST_AID)
    assert posted(sb, INES) == set(BRIBERY)
    assert posted(sb, SOFIA) == set(CONDUCT) | set(BRIBERY)
    assert books["double_grades"] == 0

    sb.reset_books()
    again = cli(sb, "run", name, "--yes", "--report", "again.json")
    assert again.code == 0, again
    assert set(statuses(read_report(cli.folder / "again.json")).values()) == {"already_completed"}
    assert cli.rows("again.json")[2]["message"] == (
        f"ALM already shows samuel.andersson{ACME} completed the learning program 'New Hire "
        "Onboarding' on 2025-03-28."
    )
    assert sb.books()["grades"] == [] and ENROLL not in sb.books()["calls"]


def test_the_row_results_carry_the_expansion_a_front_end_shows(sb: Sandbox, tmp_path: Path) -> None:
    name = write(
        tmp_path,
        [("samuel.andersson", "First Aid at Work"), ("samuel.andersson", "New Hire Onboarding")],
    )
    job = Job(
        JobOptions(
            path=tmp_path / name, state_dir=tmp_path / "state", dry_run=True, keep_results=True
        ),
        settings_for_sandbox(sb),
    )
    outcome = job.run()
    course_row, program_row = job.results
    assert (course_row.planned_enrollments, course_row.planned_grades) == (1, 3)
    assert program_row.status is RowStatus.INVALID  # 1 elective named, 2 needed
    assert program_row.writes_planned == 0
    states = {s.name: (s.state, s.section) for s in program_row.courses}
    assert states == {
        "Fire Safety 2025": ("grade", "Core"),  # once the electives are settled
        "Information Security Awareness": ("grade", "Core"),
        "Data Privacy Essentials": ("grade", "Core"),
        "Workplace Harassment Prevention": ("choose", "Electives (any 2 of 3)"),
        "Export Controls Fundamentals": ("choose", "Electives (any 2 of 3)"),
        "First Aid at Work": ("other_row", "Electives (any 2 of 3)"),
        "Anti-Bribery and Corruption": ("optional", "Further reading"),
    }
    assert outcome.summary.writes_planned == sum(r.writes_planned for r in job.results) == 4

    name = write(tmp_path, [("ines.moreau", "Annual Compliance Certification")], "cert.csv")
    job = Job(
        JobOptions(
            path=tmp_path / name, state_dir=tmp_path / "state", dry_run=True, keep_results=True
        ),
        settings_for_sandbox(sb),
    )
    outcome = job.run()
    (row,) = job.results
    assert (row.status, row.planned_enrollments, row.planned_grades) == (
        RowStatus.WOULD_COMPLETE, 0, 2,
    )  # fmt: skip
    by_name = {s.name: s for s in row.courses}
    assert by_name["Code of Conduct"].state == "completed"
    assert by_name["Code of Conduct"].note == "completed on 2025-01-20"
    bribery = by_name["Anti-Bribery and Corruption"]
    assert (bribery.state, bribery.module_ids, bribery.enroll) == ("grade", tuple(BRIBERY), False)
    assert bribery.instance_id == "course:7968559_8123559"
    assert outcome.summary.writes_planned == 2


# --------------------------------------------------------------------------- N of M sections
def test_a_section_that_needs_some_of_its_courses_asks_which_unless_the_file_or_alm_says(
    sb: Sandbox, cli: Cli
) -> None:
    name = write(
        cli.folder,
        [
            ("daniel.kim", "New Hire Onboarding"),  # no elective done, none named
            ("leah.cohen", "New Hire Onboarding"),  # core done, 1 of the 2 electives done
            ("gabriel.silva", "New Hire Onboarding"),  # completed it (Berlin intake)
        ],
    )
    run = cli(sb, "run", name, "--yes", "--report", "out.json")
    assert run.code == 1, run  # two rows need a person
    rows = cli.rows("out.json")
    assert statuses(list(rows.values())) == {2: "invalid", 3: "invalid", 4: "already_completed"}
    assert rows[2]["message"] == (
        "The course cell names the learning program 'New Hire Onboarding', but its section "
        "'Electives (any 2 of 3)' needs 2 of its 3 courses (ALM shows none complete) and the "
        f"file does not say which 2 more daniel.kim{ACME} completed. Could count: 'Workplace "
        "Harassment Prevention', 'Export Controls Fundamentals', 'First Aid at Work'. Add a row "
        f"for each course daniel.kim{ACME} completed (this row then grades the rest), or list "
        "the courses instead of the learning program."
    )
    assert "(ALM shows 1 complete) and the file does not say which 1 more" in rows[3]["message"]
    assert "Could count: 'Export Controls Fundamentals', 'First Aid at Work'." in rows[3]["message"]
    assert rows[4]["message"] == (
        f"ALM already shows gabriel.silva{ACME} completed the learning program 'New Hire "
        "Onboarding' on 2025-01-16."
    )
    assert sb.books()["grades"] == [] and ENROLL not in sb.books()["calls"]

    # The file says which: Leah's second elective in a row of its own. The program row then has
    # nothing left to post (ALM shows the rest): it says which row does the work.
    name = write(
        cli.folder,
        [("leah.cohen", "New Hire Onboarding"), ("leah.cohen", "First Aid at Work")],
        "leah.csv",
    )
    run = cli(sb, "run", name, "--yes", "--verify", "--report", "leah.json")
    assert run.code == 0, run
    rows = cli.rows("leah.json")
    assert statuses(list(rows.values())) == {2: "duplicate", 3: "completed"}
    assert rows[2]["message"] == (
        "Nothing left for this row: the learning program 'New Hire Onboarding' needs no more than "
        "what row 3 grades and what ALM shows completed."
    )
    assert posted(sb, LEAH) == set(FIRST_AID)


# --------------------------------------------------------------------------- a program and its courses
def test_a_program_and_its_courses_in_one_file_grade_each_module_once(
    sb: Sandbox, cli: Cli
) -> None:
    name = write(
        cli.folder,
        [
            ("samuel.andersson", "Fire Safety 2025"),  # a core course, before the program row
            ("samuel.andersson", "New Hire Onboarding"),
            ("samuel.andersson", "Export Controls Fundamentals"),  # electives, after it
            ("samuel.andersson", "Workplace Harassment Prevention"),
            ("samuel.andersson", "Fire Warden Certification"),  # shares Fire Safety, First Aid
            ("samuel.andersson", "First Aid at Work"),
            ("ines.moreau", "Anti-Bribery and Corruption"),
            ("ines.moreau", "Annual Compliance Certification"),
        ],
    )
    dry = cli(sb, "run", name, "--dry-run", "--report", "dry.json")
    rows = cli.rows("dry.json")
    assert dry.code == 0, dry
    assert statuses(list(rows.values())) == {
        2: "would_complete", 3: "would_complete", 4: "would_complete", 5: "would_complete",
        6: "would_complete", 7: "would_complete", 8: "would_complete", 9: "duplicate",
    }  # fmt: skip
    assert "Graded by other rows: 'Fire Safety 2025' (row 2)" in rows[3]["message"]
    assert "'Export Controls Fundamentals' (row 4)" in rows[3]["message"]
    assert rows[3]["cells"]["action"] == "enroll + grade 5 modules in 2 courses"
    # The certification's courses: Fire Safety by row 2, First Aid by row 7; nothing of its own
    # but the enrollment (samuel is not enrolled in it).
    assert rows[6]["cells"]["action"] == "enroll"
    assert rows[6]["message"].startswith(
        f"Would enroll samuel.andersson{ACME} in the certification 'Fire Warden Certification' "
        "(certification:170002, the learner's current recurrence)"
    )
    assert rows[9]["message"].startswith("Nothing left for this row")
    assert "what row 8 grades" in rows[9]["message"]

    live = cli(sb, "run", name, "--yes", "--verify", "--report", "live.json")
    assert live.code == 0, live
    rows = cli.rows("live.json")
    assert [rows[r]["status"] for r in range(2, 9)] == ["completed"] * 7
    assert rows[9]["status"] == "duplicate"
    # rows 4 and 5 come after the program row: enrolled through it, no enrollment of their own
    assert rows[4]["message"] == rows[5]["message"] == "Posted 1 module grade."
    assert posted(sb, SAMUEL) == core() | set(EXPORT) | set(HARASSMENT) | set(FIRST_AID)
    assert posted(sb, INES) == set(BRIBERY)
    books = sb.books()
    assert books["double_grades"] == 0
    # row 2 enrolls in Fire Safety; the program in its 6 other courses; the certification in none
    assert books["enrollments_by_type"] == {"course": 7, "learningProgram": 1, "certification": 1}
    assert Counter(books["endpoint_statuses"][ENROLL]) == Counter({"200": 3})  # rows 2, 3, 6


def test_a_row_naming_one_module_and_the_program_grade_that_module_once(
    sb: Sandbox, cli: Cli
) -> None:
    path = cli.folder / "hr.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow([*HEADER, "Module"])
        out.writerow(
            [
                f"daniel.kim{ACME}",
                "Data Privacy Essentials",
                "2025-03-20",
                "",
                CORE["course:7968501"][1],
            ]
        )
        for course in ("New Hire Onboarding", "Export Controls Fundamentals", "First Aid at Work"):
            out.writerow([f"daniel.kim{ACME}", course, "2025-03-28", "", ""])
    run = cli(sb, "run", "hr.csv", "--yes", "--report", "out.json")
    assert run.code == 0, run
    rows = cli.rows("out.json")
    assert statuses(list(rows.values())) == dict.fromkeys(range(2, 6), "completed")
    assert rows[3]["cells"]["action"] == "grade 6 modules in 3 courses"  # 7 core less row 2's
    assert posted(sb, DANIEL) == core() | set(EXPORT) | set(FIRST_AID)


# --------------------------------------------------------------------------- what cannot be posted
def test_external_certifications_and_job_aids_are_rejected_with_what_to_do(
    sb: Sandbox, cli: Cli
) -> None:
    name = write(
        cli.folder,
        [
            ("samuel.andersson", "Forklift Operator Licence"),
            ("samuel.andersson", "certification:150002"),
            ("samuel.andersson", "Emergency Contacts Quick Reference"),
            ("ines.moreau", "jobAid:160001"),
            ("ines.moreau", "New Hire Onboardin"),  # a near miss suggests the program
        ],
    )
    run = cli(sb, "run", name, "--yes", "--report", "out.json")
    assert run.code == 1, run
    rows = cli.rows("out.json")
    assert statuses(list(rows.values())) == {
        2: "rejected", 3: "rejected", 4: "rejected", 5: "rejected", 6: "course_not_found",
    }  # fmt: skip
    assert rows[2]["message"] == (
        "certification:150002 'Forklift Operator Licence' is an external certification: ALM "
        "completes it only when the learner uploads proof and a manager or administrator "
        "approves it, which no API call can do. Have the proof uploaded and approved in ALM, "
        "then remove the row."
    )
    assert (
        rows[4]["message"]
        == rows[5]["message"]
        == (
            "jobAid:160001 'Emergency Contacts Quick Reference' is a job aid: ALM keeps no "
            "enrollment or completion for job aids, so there is nothing to record. Remove the row, "
            "or name the course the learner completed instead."
        )
    )
    assert rows[6]["message"] == (
        "No course named 'New Hire Onboardin'. Did you mean 'New Hire Onboarding' (learning "
        "program)?"
    )
    assert not [k for k in sb.books()["calls"] if k.startswith("POST /users")]


# --------------------------------------------------------------------------- recurring certifications
def test_a_recurring_certification_is_completed_in_the_learners_current_recurrence(
    sb: Sandbox, cli: Cli
) -> None:
    name = write(
        cli.folder,
        [
            ("grace.okafor", "Fire Warden Certification"),  # 2024 done, enrolled in 2025
            ("lukas.becker", "certification:170001"),  # completed the 2025 recurrence
            ("ines.moreau", "Fire Warden Certification"),  # never enrolled: the latest
        ],
    )
    run = cli(sb, "run", name, "--yes", "--report", "out.json")
    assert run.code == 0, run
    rows = cli.rows("out.json")
    assert statuses(list(rows.values())) == {2: "completed", 3: "already_completed", 4: "completed"}
    assert {rows[r]["cells"]["course_id"] for r in (2, 3, 4)} == {WARDEN_2025}
    assert rows[3]["message"] == (
        f"ALM already shows lukas.becker{ACME} completed the certification 'Fire Warden "
        "Certification' on 2025-02-12 (certification:170002, the learner's current recurrence)."
    )
    warden = {*CORE["course:7968486"], *FIRST_AID}
    assert posted(sb, GRACE) == warden
    assert posted(sb, INES) == warden
    assert sb.books()["enrollments_by_type"]["certification"] == 1  # ines, in 170002
    assert "certification:170001" not in str(sb.books()["endpoint_statuses"].get(ENROLL, {}))


# --------------------------------------------------------------------------- roll-up and --verify
def test_verify_waits_for_the_roll_up_and_says_when_alm_never_shows_it(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows_in = [("ines.moreau", "Annual Compliance Certification")]
    with start(profile="slow-rollup") as sb:  # 5 sandbox minutes: half a second here
        name = write(cli.folder, rows_in)
        run = cli(sb, "run", name, "--yes", "--verify", "--report", "slow.json")
        assert run.code == 0, run
        (row,) = cli.rows("slow.json").values()
        assert row["status"] == "completed"
        assert (
            "ALM does not show the certification completed yet (started): it rolls a "
            "certification up from its courses, which can take a moment; verifying the run "
            "waits for it. Verified: ALM now shows the certification completed."
        ) in row["message"]
    monkeypatch.setattr(verify, "ROLLUP_WAIT_SECONDS", 0.3)
    with start(rollup_delay=86400.0) as sb:  # a day: never within the wait
        name = write(cli.folder, rows_in, "never.csv")
        run = cli(sb, "run", name, "--yes", "--verify", "--report", "never.json")
        assert run.code == 0, run  # the grades landed: a note, not a failure
        (row,) = cli.rows("never.json").values()
        assert row["status"] == "completed"
        assert row["message"].endswith(
            "ALM still does not show the certification completed after 0.3 s of waiting: check "
            "its sections' completion rules in ALM, or look again later (ALM rolls a "
            "certification up from its courses)."
        )


# --------------------------------------------------------------------------- the course cell
@pytest.mark.parametrize(
    ("cell", "lo_id"),
    [
        ("learningProgram:131072", NHO),
        ("LEARNINGPROGRAM : 131072", NHO),
        ("certification:150001", CERT),
        ("jobAid:160001", "jobAid:160001"),
        ("https://learningmanager.adobe.com/app/learner#/learningProgram/131072", NHO),
        ("https://learningmanagereu.adobe.com/app/admin#/certification/150001/overview", CERT),
        ("https://learn.acme.example/app/learner?loId=course%3A7968486", "course:7968486"),
        ("https://learningmanager.adobe.com/app/learner#/course/7968486/instance/8123456", "course:7968486"),
    ],
)  # fmt: skip
def test_a_course_cell_names_a_program_or_certification_by_id_or_alm_link(
    cell: str, lo_id: str
) -> None:
    ref = parse_course(cell)
    assert ref.course_id == lo_id and ref.key == lo_id


@pytest.mark.parametrize(
    "cell", ["https://lms.example.com/course/12", "https://learningmanager.adobe.com/app/learner"]
)
def test_a_link_that_names_nothing_in_alm_is_a_cell_problem(cell: str) -> None:
    with pytest.raises(CellProblem):
        parse_course(cell)


def test_the_sample_seed_grades_are_not_reposted_by_a_program_row(sb: Sandbox, cli: Cli) -> None:
    """Leah's seed grades (core, one elective) stay as they are: only the named elective."""
    name = write(
        cli.folder,
        [("leah.cohen", "Export Controls Fundamentals"), ("leah.cohen", "New Hire Onboarding")],
    )
    run = cli(sb, "run", name, "--yes", "--report", "out.json")
    assert run.code == 0, run
    assert posted(sb, LEAH) == set(EXPORT)
    assert not {m for (u, m) in seed_grades() if u == LEAH} & posted(sb, LEAH)
    assert ledger_states(cli.folder / "state") == {"done": 1}


# --------------------------------------------------------------------------- an ALM that differs
def test_courses_alm_did_not_enroll_through_the_program_are_enrolled_before_their_grades(
    tmp_path: Path,
) -> None:
    """The plan counts on a program's enrollment enrolling the learner in its courses (ALM shows
    courses "enrolled through" a program, but does not document the answer). An ALM that does
    not: one read after the program's enrollment finds it, and the course is enrolled directly
    (journaled) before its grades, which would otherwise be refused."""
    from batch.execute import ExecuteOptions, execute_plan
    from batch.ledger import LEDGER_NAME, Ledger
    from batch.models import SubCourse
    from batch.programs import ProgramPlan
    from tests.fake_writer import FakeWriter, make_plan, module_ids, row_plan

    rp = row_plan(2, "u1", course="course:1", modules=2)
    rp.course_id, rp.instance_id, rp.enroll = "learningProgram:9", "learningProgram:9_1", True
    graded = SubCourse("course:1", "Course 1", "Core", "grade", "course:1_1", tuple(module_ids()))
    rp.program = ProgramPlan("learningProgram:9", "Onboarding", "learningProgram",
                             "learningProgram:9_1", [graded])  # fmt: skip
    fake = FakeWriter(modules={"course:1_1": module_ids()}, require_enrollment=True)
    with Ledger(tmp_path / LEDGER_NAME) as ledger:
        options = ExecuteOptions(run_id="r1", base_url="http://alm.test", input_sha256="x")
        out = execute_plan(make_plan(rp), fake, ledger, options)
        assert ledger.counts("http://alm.test") == {"done": 4}
    (result,) = out.results
    assert result.status is RowStatus.COMPLETED, result.message
    assert result.message.startswith(
        "Enrolled the learner in the learning program 'Onboarding' and posted 2 module grades "
        "in 1 course."
    )
    assert "ALM did not enroll the learner in 'Course 1' through the program: enrolled " \
        "directly, a write more than planned each." in result.message  # fmt: skip
    assert [kind for kind, _, _ in fake.log] == ["enroll", "enroll", "grade", "grade"]
    assert fake.double_grades == 0


def test_the_instance_column_picks_the_programs_instance_and_its_course_instances(
    sb: Sandbox, cli: Cli
) -> None:
    """The Berlin intake maps Fire Safety 2025 to its Classroom - Berlin instance: its grades go
    there; the other courses keep their default instances."""
    path = cli.folder / "hr.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow([*HEADER, "Instance"])
        out.writerow(
            [f"samuel.andersson{ACME}", "New Hire Onboarding", "2025-03-28", "", "Berlin intake"]
        )
        for course in ("First Aid at Work", "Export Controls Fundamentals"):
            out.writerow([f"samuel.andersson{ACME}", course, "2025-03-28", "", ""])
        out.writerow(
            [f"leah.cohen{ACME}", "New Hire Onboarding", "2025-03-28", "", "Berlin intake"]
        )
    run = cli(sb, "run", "hr.csv", "--yes", "--report", "out.json")
    assert run.code == 1, run
    rows = cli.rows("out.json")
    assert statuses(list(rows.values())) == {2: "completed", 3: "completed", 4: "completed",
                                             5: "rejected"}  # fmt: skip
    assert rows[2]["cells"]["instance_id"] == "learningProgram:131072_140002"
    berlin = {"course:7968486_8123457_13210487_0", "course:7968486_8123457_13210488_0"}
    assert berlin <= posted(sb, SAMUEL)
    assert not set(CORE["course:7968486"]) & posted(sb, SAMUEL)
    instances = {
        g["instance_id"] for g in sb.books()["grades"] if g["course_id"] == "course:7968486"
    }
    assert instances == {"course:7968486_8123457"}
    assert rows[5]["message"].startswith(  # Leah is in the 2025 intake: no second enrollment
        f"leah.cohen{ACME} is enrolled in instance learningProgram:131072_140001 of the learning "
        "program 'New Hire Onboarding', not 'Berlin intake' (learningProgram:131072_140002)"
    )
