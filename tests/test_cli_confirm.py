"""On a terminal, a live run shows the plan and asks before writing; 'no' writes nothing."""

import io
import shutil
from pathlib import Path

import pytest

from batch.cli import CliEnv, main
from batch.demo import sandbox_env
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
    assert "Plan for c.csv (35 rows)" in err and "would_complete     25" in err
    assert "Writes needed: 71" in err and "Proceed and write to ALM? [y/N]" in err
    assert "Nothing was written" in err
    assert alm.books()["grades"] == [] and alm.books()["enrollments_created"] == 0
    report = (tmp_path / "out.csv").read_text(encoding="utf-8-sig")
    assert ",would_complete," in report and ",completed," not in report
    assert code == 1  # the plan's failing rows still need attention


def test_answering_yes_runs(alm: Sandbox, tmp_path: Path) -> None:
    code, err = ask("yes\n", tmp_path)
    assert code == 1 and "completed          25" in err
    assert len(alm.books()["grades"]) == 49
