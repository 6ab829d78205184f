"""On a terminal, a live run shows the plan and asks before writing; 'no' writes nothing."""

import io
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from batch.cli import CliEnv, main
from batch.demo import sandbox_env
from batch.models import RunSummary
from batch.reporting.summary import format_plan
from batch.sandbox import Sandbox, SandboxConfig, load_seed

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def alm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    with Sandbox(
        seed=load_seed(ROOT / "sample_data"), config=SandboxConfig(time_scale=600.0)
    ) as sb:
        for key, value in sandbox_env(sb).items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(tmp_path)
        yield sb


def ask(answer: str, tmp_path: Path) -> tuple[int, str]:
    shutil.copyfile(ROOT / "sample_data" / "completions.csv", tmp_path / "c.csv")
    err = io.StringIO()
    env = CliEnv(stdin=io.StringIO(answer), stdout=io.StringIO(), stderr=err, interactive=True)
    code = main(["run", "c.csv", "--state-dir", "st", "--report", "out.csv"], env)
    return code, err.getvalue()


def test_answering_no_writes_nothing_and_leaves_the_plan(alm: Sandbox, tmp_path: Path) -> None:
    code, err = ask("n\n", tmp_path)
    assert "Plan for c.csv (39 rows)" in err and "would_complete     29" in err
    assert "Writes needed: 87" in err and "Proceed and write to ALM? [y/N]" in err
    assert "Nothing was written" in err
    assert alm.books()["grades"] == [] and alm.books()["enrollments_created"] == 0
    report = (tmp_path / "out.csv").read_text(encoding="utf-8-sig")
    assert ",would_complete," in report and ",completed," not in report
    assert code == 1  # the plan's failing rows still need attention


def test_answering_yes_runs(alm: Sandbox, tmp_path: Path) -> None:
    code, err = ask("yes\n", tmp_path)
    assert code == 1 and "completed          29" in err
    assert len(alm.books()["grades"]) == 62


def test_the_plan_names_alms_write_limit_not_a_rate_derived_from_the_estimate() -> None:
    """The estimate adds the last learner's round trips to writes / allowance: the rate shown
    is the allowance itself (1,791/min here), never writes / estimate (which would read 1,253)."""
    summary = RunSummary(
        run_id="r", command="run", dry_run=False, input_path="c.csv", input_sha256="x",
        alm_host="alm.test", started_at=datetime(2026, 11, 30, tzinfo=UTC),
    )  # fmt: skip
    summary.rows, summary.counts, summary.writes_planned = 35, {"would_complete": 25}, 71
    summary.estimate_seconds, summary.writes_per_minute = 3.4, 1791.0
    assert "Writes needed: 71, about 3.4 s at 1,791 writes/min (ALM's write limit)" in format_plan(
        summary
    )
    summary.writes_per_minute = None
    assert format_plan(summary).endswith("Writes needed: 71, about 3.4 s")


def test_a_plan_from_alms_transcript_says_so_and_that_each_learner_is_read_again() -> None:
    summary = RunSummary(
        run_id="r", command="run", dry_run=False, input_path="c.csv", input_sha256="x",
        alm_host="alm.test", started_at=datetime(2026, 11, 30, tzinfo=UTC),
    )  # fmt: skip
    summary.rows, summary.counts, summary.writes_planned = 35, {"would_complete": 25}, 71
    summary.learner_state = "ALM's learner transcript (job 42) for 28 of 28 learners"
    plan = format_plan(summary)
    assert "transcript" not in plan  # read one by one: nothing to say
    summary.learner_state_as_of = datetime(2026, 11, 29, 9, 12, tzinfo=UTC)
    lines = format_plan(summary).splitlines()
    assert lines[-2].startswith("Learner state as of ")
    assert lines[-2].endswith(": ALM's learner transcript (job 42) for 28 of 28 learners")
    assert lines[-1] == (
        "Each learner is read again before their writes; nothing beyond this plan."
    )
