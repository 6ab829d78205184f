"""Live runs (the CLI in-process) on sandbox profiles that disagree with the client.

On each grade-body profile a realistic file completes with at most (shapes - 1) rejected grade
posts for the whole run, a second run on the same state directory starts on the learned body
with none, and nothing is graded twice, faults or not. A profile that accepts no body and a
token without write scope stop the run with exit 3 and the report; the other undocumented
answers (already enrolled, the export file URL, a grade answered without a body) are tolerated.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from batch.alm.grade_shapes import SHAPES_FILE, all_shapes
from batch.models import name_key
from batch.sandbox import Sandbox, SandboxConfig, generate_completions, load_seed
from tests.e2e_support import (
    EXPECTED_LIVE,
    OK_STATUSES,
    SAMPLE_CSV,
    SAMPLE_DIR,
    TIME_SCALE,
    CliRun,
    SandboxCli,
    read_report,
    statuses,
)

GRADE = "POST /users/{id}/userModuleGrade"
ENROLL = "POST /users/{id}/enrollments"
SHAPES = len(all_shapes())
# where each grade-body profile's accepted body sits in the client's list (0 = first choice)
SHAPE_PROFILES = {
    "default": 0,
    "lo-resource": 7,
    "instance-attribute": 4,
    "resource-index-1": 2,
    "grade-no-body": 0,
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~100 rows over 20 learners and 6 courses of the sample seed (names unambiguous)."""
    seed = load_seed(SAMPLE_DIR)
    names = Counter(name_key(lo["localizedMetadata"][0]["name"]) for lo in seed["learningObjects"])
    seed["learningObjects"] = [
        lo
        for lo in seed["learningObjects"]
        if names[name_key(lo["localizedMetadata"][0]["name"])] == 1
    ]
    path = tmp_path_factory.mktemp("gen") / "generated.csv"
    return generate_completions(
        seed, 100, distinct_users=20, distinct_courses=6, path=path, random_seed=7
    )


def start(profile: str, **config: Any) -> Sandbox:
    cfg = SandboxConfig(time_scale=TIME_SCALE, profile=profile, **config)
    return Sandbox(seed=load_seed(SAMPLE_DIR), config=cfg).start()


@pytest.fixture()
def folder(tmp_path: Path, generated: Path) -> Path:
    shutil.copyfile(SAMPLE_CSV, tmp_path / "completions.csv")
    shutil.copyfile(generated, tmp_path / "generated.csv")
    return tmp_path


@pytest.fixture()
def cli(monkeypatch: pytest.MonkeyPatch, folder: Path) -> Iterator[SandboxCli]:
    yield SandboxCli(monkeypatch, folder)


def grade_answers(sb: Sandbox) -> dict[str, int]:
    return dict(sb.books()["endpoint_statuses"].get(GRADE, {}))


def run_live(
    cli: SandboxCli, sb: Sandbox, name: str, report: str, *extra: str, **env: str
) -> CliRun:
    return cli(sb, "run", name, "--yes", "--concurrency", "4", "--report", report, *extra, **env)


@pytest.mark.parametrize("profile", list(SHAPE_PROFILES))
def test_profile_learns_the_body_once_and_a_second_run_starts_on_it(
    profile: str, cli: SandboxCli, folder: Path
) -> None:
    expected_rejections = SHAPE_PROFILES[profile]
    with start(profile) as sb:
        first = run_live(cli, sb, "generated.csv", "first.csv")
        assert first.code == 0, first
        rows = read_report(folder / "first.csv")
        assert len(rows) == 100 and {r["status"] for r in rows} <= OK_STATUSES
        assert Counter(r["status"] for r in rows)["completed"] >= 70
        answers = grade_answers(sb)
        assert answers.get("400", 0) == expected_rejections <= SHAPES - 1
        success = {"grade-no-body": "202"}.get(profile, "200")
        assert answers[success] > 100
        books = sb.books()
        assert books["double_grades"] == 0 and all(g["count"] == 1 for g in books["grades"])
        assert "grade body: module id: " in first.stderr and "learned on" in first.stderr
        stored = json.loads((folder / "state" / SHAPES_FILE).read_text())
        assert stored[sb.base_url.removeprefix("http://")]["shape"] == (
            all_shapes()[expected_rejections].key
        )

        sb.reset_books()
        second = run_live(cli, sb, "completions.csv", "second.xlsx")
        assert second.code == 1, second  # the sample's rows that fail on purpose
        final = statuses(read_report(folder / "second.xlsx"))
        for row, wanted in EXPECTED_LIVE.items():
            ok = ("completed", "already_completed") if wanted == "completed" else (wanted,)
            assert final[row] in ok, (row, final[row])
        answers = grade_answers(sb)
        assert "400" not in answers and answers[success] > 0
        assert sb.books()["double_grades"] == 0
        sheet = openpyxl.load_workbook(folder / "second.xlsx")["Summary"]
        cells = {r[0]: r[1] for r in sheet.iter_rows(values_only=True) if len(r) > 1 and r[0]}
        assert str(cells["grade body"]).startswith(all_shapes()[expected_rejections].describe())
        assert "learned on" in str(cells["grade body"])


def test_faults_while_learning_grade_nothing_twice(cli: SandboxCli, folder: Path) -> None:
    faults = {"error_rate": 0.05, "drop_rate": 0.03, "lost_response_rate": 0.15, "random_seed": 5}
    with start("lo-resource", **faults) as sb:
        first = run_live(cli, sb, "generated.csv", "first.csv")
        assert first.code in (0, 1, 3), first
        assert sb.books()["lost_responses"] >= 10  # many answers lost while the body is learned
        rejected = grade_answers(sb).get("400", 0)
        sb.configure(error_rate=0.0, drop_rate=0.0, lost_response_rate=0.0)
        again = run_live(cli, sb, "generated.csv", "again.csv")
        assert again.code == 0, again
        assert {r["status"] for r in read_report(folder / "again.csv")} <= OK_STATUSES
        books = sb.books()
        assert books["double_grades"] == 0
        assert all(g["count"] == 1 for g in books["grades"])
        total_rejected = grade_answers(sb).get("400", 0)
        assert rejected <= total_rejected <= SHAPES - 1


def test_no_accepted_body_stops_the_run_with_exit_3_and_the_report(
    cli: SandboxCli, folder: Path
) -> None:
    with start("no-grade-body") as sb:
        run = run_live(cli, sb, "generated.csv", "report.csv")
        assert run.code == 3, run
        assert "ALM refused every known grade body (12 tried)" in run.stderr
        assert "incorrect relation type - module" in run.stderr
        assert grade_answers(sb) == {"400": SHAPES}
        assert sb.books()["grades"] == []
        assert sb.books()["enrollments_created"] <= 1  # one learner at a time until a body works
        rows = read_report(folder / "report.csv")
        assert len(rows) == 100 and "completed" not in {r["status"] for r in rows}
        stopped = [r for r in rows if r["status"] == "not_run"]
        assert len(stopped) > 60
        assert all("refused every known grade body" in r["message"] for r in stopped)
        not_attempted = [r for r in stopped if r["message"].startswith("Not run")]
        assert len(not_attempted) >= len(stopped) - 4  # rows in flight say how far they got
        assert not (folder / "state" / SHAPES_FILE).exists()


def test_a_token_without_write_scope_stops_at_the_first_refused_write(
    cli: SandboxCli, folder: Path
) -> None:
    with start("read-only-token") as sb:
        run = run_live(cli, sb, "generated.csv", "report.csv")
        assert run.code == 3, run
        assert "admin:write" in run.stderr
        statuses_seen = sb.books()["endpoint_statuses"]
        refused = statuses_seen.get(ENROLL, {}).get("403", 0) + statuses_seen.get(GRADE, {}).get(
            "403", 0
        )
        assert 1 <= refused <= 4  # at most one per worker, not one per row
        rows = read_report(folder / "report.csv")
        assert len(rows) == 100 and "completed" not in {r["status"] for r in rows}
        assert sum(r["message"].startswith("Not run") for r in rows) > 60


class EnrollEveryoneThenYes:
    """Answers the confirmation after someone else (the ALM UI, say) enrolled every learner
    in every course: the planned enrollments all meet "already enrolled"."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb

    def readline(self) -> str:
        world = self.sb.world
        with world.lock:
            for user in world.users.values():
                if user.state != "ACTIVE":
                    continue
                for course in world.courses.values():
                    if world.enrollment(user.id, course.id) is None:
                        world.add_enrollment(
                            user.id, course, course.default_instance, datetime.now(UTC)
                        )
        return "y\n"


@pytest.mark.parametrize("profile", ["enroll-409", "enroll-400", "enroll-200"])
def test_already_enrolled_in_any_form_counts_as_enrolled(
    profile: str, cli: SandboxCli, folder: Path
) -> None:
    with start(profile) as sb:
        run = cli(
            sb,
            "run",
            "generated.csv",
            "--quiet",
            "--report",
            "report.csv",
            stdin=EnrollEveryoneThenYes(sb),
        )
        assert run.code == 0, run
        assert {r["status"] for r in read_report(folder / "report.csv")} <= OK_STATUSES
        answers = sb.books()["endpoint_statuses"][ENROLL]
        assert list(answers) == [profile.removeprefix("enroll-")] and answers[profile[-3:]] > 5


def test_export_job_url_in_another_place(cli: SandboxCli, folder: Path) -> None:
    with start("export-url-nested", job_delay=1.0) as sb:
        run = run_live(cli, sb, "generated.csv", "report.csv", "--user-lookup", "export")
        assert run.code == 0, run
        assert sb.books()["calls"]["GET /_sandbox/downloads/{file}"] == 1
        assert "GET /users" not in sb.books()["calls"]  # no fallback to one-by-one lookups


def test_alm_grade_settings_pin_a_body(cli: SandboxCli, folder: Path) -> None:
    wrong = {
        "ALM_GRADE_MODULE_ID_FORM": "course_module",
        "ALM_GRADE_INSTANCE_FIELD": "none",
        "ALM_GRADE_COURSE_TYPE": "course",
    }
    with start("lo-resource") as sb:
        run = run_live(cli, sb, "generated.csv", "report.csv", **wrong)
        assert run.code == 3, run
        assert "pinned by the ALM_GRADE_* settings" in run.stderr
        assert grade_answers(sb) == {"400": 1}
        right = {**wrong, "ALM_GRADE_MODULE_ID_FORM": "lo_resource"}
        right["ALM_GRADE_COURSE_TYPE"] = "learningObject"
        run = run_live(cli, sb, "generated.csv", "report2.csv", **right)
        assert run.code == 0, run
        assert "pinned by ALM_GRADE_* settings" in run.stderr
        assert grade_answers(sb)["400"] == 1


def test_doctor_write_check(cli: SandboxCli, folder: Path) -> None:
    with start("lo-resource") as sb:
        run = cli(sb, "doctor", "--write-check", "--email", "ahmed.hassan@acme-corp.example")
        assert run.code == 2 and "doctor --write-check needs --course." in run.stderr, run
        run = cli(sb, "doctor", "--course", "course:7968486")
        assert run.code == 2 and "only apply with --write-check" in run.stderr, run
        check = (
            "doctor",
            "--write-check",
            "--email",
            "ahmed.hassan@acme-corp.example",
            "--course",
            "Fire Safety 2025",
        )
        run = cli(sb, *check)
        assert run.code == 0, run
        assert "[ok  ] enrollment: enrolled in course:7968486_8123456" in run.stderr
        assert "[ok  ] read back: every graded module shows completed on " in run.stderr
        body = all_shapes()[7].describe()
        assert f"Write check passed. Grade body: {body}; learned on " in run.stderr
        assert "ahmed.hassan" not in run.stderr  # the learner's email stays out of the output
        assert grade_answers(sb)["400"] == 7
        again = cli(sb, *check)  # the learner is complete now: nothing posted, body stays
        assert again.code == 0, again
        assert "[warn] grades: the test learner has already completed" in again.stderr
        assert "learned earlier stays" in again.stderr
        sb.reset_books()
        live = run_live(cli, sb, "generated.csv", "report.csv")  # same state dir: no learning
        assert live.code == 0, live
        assert "400" not in grade_answers(sb)


def test_doctor_write_check_without_write_scope_is_exit_3(cli: SandboxCli) -> None:
    with start("read-only-token") as sb:
        run = cli(
            sb,
            "doctor",
            "--write-check",
            "--email",
            "ahmed.hassan@acme-corp.example",
            "--course",
            "course:7968486",
        )
        assert run.code == 3, run
        assert "admin:write" in run.stderr and "Write check failed (exit 3)." in run.stderr
