"""Secrets never leave the process: run, validate and doctor (with --verbose), then every byte
they printed and every file they wrote (reports, failed rows, cache, ledger, lock) is searched
for the client secret, the refresh token and the access token the sandbox issued. (The demo's
own check is in test_e2e_commands.py, beside its other assertions: one demo run serves both.)

Here the real process is the point: every byte it printed, stray output included, is searched,
so these runs are ``python -m batch`` in a child process, not ``main`` in-process."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from tests.e2e_support import (
    SAMPLE_CSV,
    CliRun,
    issued_access_token,
    leaks,
    sample_sandbox,
    sandbox_env,
    text_files,
)
from tests.e2e_support import run_cli as _run_cli

pytestmark = pytest.mark.timeout(120)


def run_cli(args: Sequence[str], *, cwd: Path, alm: Mapping[str, str]) -> CliRun:
    return _run_cli(args, cwd=cwd, alm=alm, process=True)


CLIENT_SECRET = "e2e-client-secret-7Hq2Lw9Rt"
REFRESH_TOKEN = "e2e-refresh-token-Vb4Kx8Mn"


def test_known_credentials_and_the_issued_token_appear_nowhere(tmp_path: Path) -> None:
    shutil.copyfile(SAMPLE_CSV, tmp_path / "completions.csv")
    sb = sample_sandbox(client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)
    try:
        alm = sandbox_env(sb, tmp_path / "state")
        assert (
            alm["ALM_CLIENT_SECRET"] == CLIENT_SECRET and alm["ALM_REFRESH_TOKEN"] == REFRESH_TOKEN
        )
        runs = [
            run_cli(
                ["validate", "completions.csv", "--verbose", "--report", "dry.xlsx"],
                cwd=tmp_path,
                alm=alm,
            ),
            run_cli(
                [
                    "run",
                    "completions.csv",
                    "--yes",
                    "--verbose",
                    "--json-summary",
                    "--report",
                    "live.json",
                ],
                cwd=tmp_path,
                alm=alm,
            ),
            run_cli(
                ["run", "completions.csv", "--yes", "--verbose", "--report", "again.xlsx"],
                cwd=tmp_path,
                alm=alm,
            ),
            run_cli(["doctor", "--verbose"], cwd=tmp_path, alm=alm),
        ]
        # The sandbox hands out one token while it is valid (7 days): the one the CLI used.
        token = issued_access_token(sb.base_url, sb.credentials)
        # ... and a run that is given that token directly, instead of refreshing
        direct = {**alm, "ALM_ACCESS_TOKEN": token}
        runs.append(run_cli(["doctor", "--verbose"], cwd=tmp_path, alm=direct))
        runs.append(
            run_cli(
                ["validate", "completions.csv", "--verbose", "--report", "direct.csv"],
                cwd=tmp_path,
                alm=direct,
            )
        )
    finally:
        sb.stop()
    assert [r.code for r in runs] == [1, 1, 1, 0, 0, 1], "\n\n".join(map(str, runs))
    # --verbose really logged the calls, the token refresh included: the search means something
    assert "POST" in runs[1].stderr and "/oauth/token/refresh" in runs[1].stderr
    assert "userModuleGrade" in runs[1].stderr
    assert len(token) >= 16
    files = [p.name for p, _ in text_files(tmp_path)]
    assert {"live.json", "dry.xlsx", "again.xlsx", "ledger.sqlite3", "cache.sqlite3"} <= set(files)
    assert leaks([CLIENT_SECRET, REFRESH_TOKEN, token], runs, tmp_path) == []
