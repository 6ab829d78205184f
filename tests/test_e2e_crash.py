"""Through the real CLI: ``kill -9`` mid-run, then the same command again.

``tests/crash_cli.py`` runs the CLI with a hook in ``batch.execute.write_hook`` (a seam that
production never sets) that SIGKILLs it at an exact point: after the Nth write is journaled ``pending`` but before it is sent, or after ALM accepted
it but before the journal says so. With ``--concurrency 1`` the writes come in input order:
row 2 (maria) is write 1 = her enrollment, 2 and 3 = her two Fire Safety grades.
"""

from __future__ import annotations

import random
import shutil
import signal
from pathlib import Path

import pytest

from batch.sandbox import Sandbox
from tests.e2e_support import (
    SAMPLE_CSV,
    SAMPLE_GRADES,
    graded,
    ledger_states,
    read_report,
    rerun_finishes_the_job,
    run_cli,
    sandbox_env,
    spawned,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)
MARIA = "15263401"
FIRE_SAFETY_MODULES = ("course:7968486_8123456_13210487_0", "course:7968486_8123456_13210488_0")


@pytest.mark.parametrize(
    ("crash", "landed_before_kill", "journal_at_kill"),
    [
        # maria's first grade journaled pending, never sent
        ("before-send:2", 0, {"done": 1, "pending": 1}),
        # maria's first grade accepted by ALM, the journal still says pending
        ("after-send:2", 1, {"done": 1, "pending": 1}),
        # both accepted: ALM now shows the row complete, the journal does not know the last one
        ("after-send:3", 2, {"done": 2, "pending": 1}),
    ],
)
def test_kill_9_at_an_exact_write_then_rerun(
    sb: Sandbox,
    tmp_path: Path,
    crash: str,
    landed_before_kill: int,
    journal_at_kill: dict[str, int],
) -> None:
    shutil.copyfile(SAMPLE_CSV, tmp_path / "completions.csv")
    alm = sandbox_env(sb, tmp_path / "state")
    killed = run_cli(
        [crash, "run", "completions.csv", "--yes", "--concurrency", "1", "--report", "killed.json"],
        cwd=tmp_path,
        alm=alm,
        module="tests.crash_cli",
    )
    assert killed.code == -signal.SIGKILL, killed
    assert not (tmp_path / "killed.json").exists()  # died before the report: no half file
    books = sb.books()
    assert set(graded(books)) == {(MARIA, m) for m in FIRE_SAFETY_MODULES[:landed_before_kill]}
    assert books["enrollments_created"] == 1
    assert ledger_states(tmp_path / "state") == journal_at_kill

    rows = rerun_finishes_the_job(sb, tmp_path, alm)  # includes: no grade posted twice
    maria = rows[0]
    if landed_before_kill < 2:
        # The re-run reads ALM before anything else for maria: the grade that landed is
        # settled (journaled done, not re-sent); the one that did not is sent once.
        assert maria["status"] == "completed"
        expected = {0: "Posted 2 module grades.", 1: "Posted 1 module grade."}
        assert maria["message"] == expected[landed_before_kill], maria
        assert ledger_states(tmp_path / "state").get("pending", 0) == 0
    else:  # ALM shows her complete, so the plan skips the row: nothing to send
        assert maria["status"] == "already_completed"
        assert "ALM already shows" in maria["message"]


def test_kill_9_at_a_random_moment_with_latency_then_rerun(sb: Sandbox, tmp_path: Path) -> None:
    shutil.copyfile(SAMPLE_CSV, tmp_path / "completions.csv")
    alm = sandbox_env(sb, tmp_path / "state")
    sb.configure(latency_ms=(5.0, 25.0))
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    target = rng.randint(3, 25)  # grades recorded before the kill
    extra = rng.uniform(0.0, 0.03)  # and a little more, to land anywhere in a request
    with spawned(["run", "completions.csv", "--yes"], cwd=tmp_path, alm=alm) as child:
        reached = wait_for(lambda: len(sb.books()["grades"]) >= target, timeout=30)
        wait_for(lambda: False, timeout=extra)
        child.proc.kill()
        child.proc.wait(timeout=10)
    assert reached, f"seed {seed}: the run never reached {target} grades"
    assert child.proc.returncode == -signal.SIGKILL, f"seed {seed}: the run ended before the kill"
    at_kill = len(sb.books()["grades"])
    assert target <= at_kill < SAMPLE_GRADES, f"seed {seed}"
    sb.configure(latency_ms=(0.0, 0.0))
    rerun_finishes_the_job(sb, tmp_path, alm)


SAMUEL = "15263422"
# Samuel's two electives, then New Hire Onboarding (core: 7 modules in 3 courses). With
# --concurrency 1: write 1 enrolls him in First Aid, 2-4 grade it; 5 enrolls him in Export
# Controls, 6 grades it; 7 is the program's enrollment, 8-14 its grades.
PROGRAM_FILE = (
    "Learner Email,Course Name,Completion Date\n"
    "samuel.andersson@acme-corp.example,First Aid at Work,2025-03-27\n"
    "samuel.andersson@acme-corp.example,Export Controls Fundamentals,2025-03-27\n"
    "samuel.andersson@acme-corp.example,New Hire Onboarding,2025-03-28\n"
)


@pytest.mark.parametrize(
    ("crash", "grades_at_kill"),
    [
        ("before-send:7", 4),  # the program's enrollment journaled, never sent
        ("after-send:7", 4),  # ALM enrolled him in the program; the journal does not know
        ("after-send:10", 7),  # in the middle of the program's grades
        ("before-send:14", 10),  # its last grade journaled, never sent
    ],
)
def test_kill_9_in_the_middle_of_a_program_row_then_rerun(
    sb: Sandbox, tmp_path: Path, crash: str, grades_at_kill: int
) -> None:
    (tmp_path / "program.csv").write_text(PROGRAM_FILE, encoding="utf-8")
    alm = sandbox_env(sb, tmp_path / "state")
    args = ["run", "program.csv", "--yes", "--concurrency", "1", "--report", "out.json"]
    killed = run_cli([crash, *args], cwd=tmp_path, alm=alm, module="tests.crash_cli")
    assert killed.code == -signal.SIGKILL, killed
    assert len(graded(sb.books())) == grades_at_kill
    assert ledger_states(tmp_path / "state").get("pending") == 1

    again = run_cli(args, cwd=tmp_path, alm=alm)
    assert again.code == 0, again
    rows = read_report(tmp_path / "out.json")
    assert {r["status"] for r in rows} <= {"completed", "already_completed"}
    program = rows[2]
    assert program["status"] == "completed", program
    assert program["message"].endswith("ALM shows the learning program completed.")
    books = sb.books()
    mine = {m: n for (u, m), n in graded(books).items() if u == SAMUEL}
    assert len(mine) == 3 + 1 + 7 and set(mine.values()) == {1}  # every module once
    assert books["double_grades"] == 0
    assert books["enrollments_by_type"]["learningProgram"] == 1
    # Settled by reading ALM, never re-sent: no "already enrolled" answer either.
    assert set(books["endpoint_statuses"]["POST /users/{id}/enrollments"]) == {"200"}
    assert ledger_states(tmp_path / "state") == {"done": 14}
