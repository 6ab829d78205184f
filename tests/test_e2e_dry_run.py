"""``alm-batch validate`` and ``run --dry-run`` end to end: statuses, exit codes, no write
reaches the sandbox, a warm re-run is served from the cache, and ``--offline`` needs no ALM."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from batch.sandbox import Sandbox
from tests.e2e_support import (
    EXPECTED_DRY,
    SAMPLE_CSV,
    SAMPLE_ROWS,
    posts,
    read_report,
    run_cli,
    sandbox_env,
    statuses,
)

pytestmark = pytest.mark.timeout(120)


def gets(books: dict[str, object]) -> dict[str, int]:
    calls = books["calls"]
    assert isinstance(calls, dict)
    return {k: int(v) for k, v in calls.items() if k.startswith("GET ")}


def assert_read_only(books: dict[str, object]) -> None:
    # The users export job is a POST that changes nothing: it lists users (deleted ones too).
    assert set(posts(books)) <= {"POST /oauth/token/refresh", "POST /jobs"}, books["calls"]
    assert books["grades"] == [] and books["enrollments_created"] == 0


def test_validate_then_dry_run_post_nothing_and_the_second_is_served_from_the_cache(
    sb: Sandbox, tmp_path: Path
) -> None:
    shutil.copyfile(SAMPLE_CSV, tmp_path / "completions.csv")
    alm = sandbox_env(sb, tmp_path / "state")

    first = run_cli(["validate", "completions.csv"], cwd=tmp_path, alm=alm)
    assert first.code == 1, first
    rows = read_report(tmp_path / "completions.report.csv")
    assert [r["row"] for r in rows] == SAMPLE_ROWS
    assert statuses(rows) == EXPECTED_DRY
    assert rows[0]["message"].startswith("Would enroll")
    assert (tmp_path / "completions.failed.csv").exists()
    cold = sb.books()
    assert_read_only(cold)
    assert "dry run" in first.stderr and "the live run needs 87 writes" in first.stderr

    sb.reset_books()
    second = run_cli(
        ["run", "completions.csv", "--dry-run", "--report", "warm.json"], cwd=tmp_path, alm=alm
    )
    assert second.code == 1, second
    assert statuses(read_report(tmp_path / "warm.json")) == EXPECTED_DRY
    warm = sb.books()
    assert_read_only(warm)
    # Users and courses come from the cache: only learner state (enrollments) is read again.
    assert sum(gets(warm).values()) < sum(gets(cold).values())
    assert gets(warm).get("GET /learningObjects/{id}", 0) == 0
    assert gets(warm).get("GET /learningObjects", 0) == 0
    assert gets(warm).get("GET /users", 0) < gets(cold)["GET /users"]
    # The first report is never overwritten by a later run without --report.
    assert (tmp_path / "completions.report.csv").exists()


def test_a_clean_file_validates_with_exit_0(sb: Sandbox, tmp_path: Path) -> None:
    lines = SAMPLE_CSV.read_text(encoding="utf-8").splitlines()
    (tmp_path / "clean.csv").write_text(
        "\n".join([lines[0], lines[1], lines[5]]) + "\n", encoding="utf-8"
    )
    run = run_cli(
        ["validate", "clean.csv", "--report", "clean.json"],
        cwd=tmp_path,
        alm=sandbox_env(sb, tmp_path / "s"),
    )
    assert run.code == 0, run
    assert [r["status"] for r in read_report(tmp_path / "clean.json")] == [
        "would_complete",
        "already_completed",
    ]
    assert not (tmp_path / "clean.failed.csv").exists()
    assert_read_only(sb.books())


def test_offline_validation_needs_no_alm_setting_and_no_sandbox(tmp_path: Path) -> None:
    shutil.copyfile(SAMPLE_CSV, tmp_path / "completions.csv")
    run = run_cli(["validate", "completions.csv", "--offline"], cwd=tmp_path, alm={})
    assert run.code == 1, run  # two invalid rows
    rows = read_report(tmp_path / "completions.report.csv")
    assert [r["row"] for r in rows] == SAMPLE_ROWS
    expected = {row: "valid" for row in SAMPLE_ROWS}  # valid: nothing was resolved
    expected.update({17: "invalid", 28: "invalid", 22: "duplicate"})
    assert statuses(rows) == expected
    assert "--offline" in rows[0]["message"]
    assert "API calls: 0" in run.stderr


def test_online_validate_without_credentials_is_a_configuration_error(tmp_path: Path) -> None:
    shutil.copyfile(SAMPLE_CSV, tmp_path / "completions.csv")
    run = run_cli(["validate", "completions.csv", "--state-dir", "state"], cwd=tmp_path, alm={})
    assert run.code == 2, run
    assert "ALM_CLIENT_SECRET" in run.stderr and "--offline" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "completions.report.csv").exists()
