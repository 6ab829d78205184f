"""Secrets: every command, run with known credential values, leaks none of them anywhere.

The sandbox gets distinctive client secret and refresh token values; every access token it issues
is recorded. Each command runs in a subprocess (``--verbose`` where it exists, faults on so error
paths are taken too), then stdout, stderr and every file under the test folder (reports, failed-
rows files, the state directory with its SQLite files and WAL, as bytes; XLSX reports unzipped)
are searched for each value. ``alm-batch sandbox`` itself prints its credentials by design, so
only its ``--help`` is in the list.
"""

from __future__ import annotations

import secrets
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from batch.sandbox import Sandbox, SandboxConfig
from batch.sandbox.config import DEMO_CLIENT_SECRET, DEMO_REFRESH_TOKEN
from bench.soak.runner import CliResult, clean_env, run_cli

pytestmark = pytest.mark.timeout(600)
SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


def file_blobs(root: Path) -> Iterator[tuple[str, bytes]]:
    """Every file's bytes, and the members of every zip (XLSX reports are compressed)."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        yield str(path.relative_to(root)), data
        if data.startswith(b"PK\x03\x04"):
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    yield f"{path.relative_to(root)}!{info.filename}", zf.read(info)


def forms(value: str) -> list[bytes]:
    return [value.encode("utf-8"), value.encode("utf-16-le")]


def test_no_secret_in_any_output_log_report_or_state(
    tmp_path: Path, soak_line: Callable[[str], None]
) -> None:
    started = time.monotonic()
    client_secret = "soakCS" + secrets.token_hex(12)
    refresh_token = "soakRT" + secrets.token_hex(12)
    config = SandboxConfig(
        time_scale=60.0, client_secret=client_secret, refresh_token=refresh_token, random_seed=5
    )
    work = tmp_path / "work"
    work.mkdir()
    data = work / "completions.csv"
    shutil.copyfile(SAMPLE / "completions.csv", data)
    xlsx_data = work / "completions-copy.csv"
    shutil.copyfile(SAMPLE / "completions.csv", xlsx_data)
    results: list[CliResult] = []
    issued: set[str] = set()

    with Sandbox(config=config) as sb:
        refresh = sb.tokens.refresh

        def spy(form: dict[str, str]) -> dict[str, Any]:  # record every access token issued
            body = refresh(form)
            issued.add(body["access_token"])
            return body

        sb.tokens.refresh = spy  # type: ignore[method-assign]
        env = clean_env({**sb.env(), "ALM_BATCH_STATE_DIR": str(work / "state")})
        state = ["--state-dir", str(work / "state")]

        def cli(
            *args: str,
            extra_env: dict[str, str] | None = None,
            cwd: Path = work,
            expect: tuple[int, ...] = (0, 1),
        ) -> CliResult:
            result = run_cli(list(args), cwd=cwd, env={**env, **(extra_env or {})}, timeout=180)
            said = [
                ln for ln in result.stderr.splitlines() if ln.startswith(("alm-batch:", "warn"))
            ]
            assert result.returncode in expect, (args, result.returncode, said)
            assert "Traceback" not in result.stderr, (args, result.stderr[-2000:])
            results.append(result)
            return result

        cli("template", "-o", str(work / "template.csv"))
        cli("template", "--format", "xlsx", "-o", str(work / "template.xlsx"))
        cli("sandbox", "--help", expect=(0,))
        cli("validate", str(data), "--offline", "--verbose", "--report", str(work / "offline.csv"))
        cli("validate", str(data), "--verbose", *state, "--report", str(work / "validate.json"))
        cli("run", str(data), "--dry-run", "--verbose", *state, "--report", str(work / "dry.xlsx"))
        cli("doctor", "--verbose")
        sb.configure(
            error_rate=0.1,
            drop_rate=0.05,
            lost_response_rate=0.1,
            token_ttl=20.0,
            latency_ms=(0.0, 20.0),
        )
        # A token expiring during a 5xx backoff used to end such runs with exit 3 ("refused
        # the access token it had just issued"); the client now refreshes again.
        cli(
            "run",
            str(data),
            "--yes",
            "--verbose",
            "--verify",
            "--json-summary",
            *state,
            "--report",
            str(work / "live.xlsx"),
            expect=(0, 1),
        )
        cli("run", str(xlsx_data), "--yes", "--verbose", "--refresh-cache", *state, expect=(0, 1))
        sb.configure(error_rate=0.0, drop_rate=0.0, lost_response_rate=0.0, token_ttl=604800.0)
        cli("run", str(data), "--yes", "--verbose", *state, "--report", str(work / "rerun.csv"))
        # Credentials from a .env file instead of the environment.
        dotenv = work / "dotenv"
        dotenv.mkdir()
        (dotenv / ".env").write_text(
            "".join(f"{k}={v}\n" for k, v in sb.env().items()), encoding="utf-8"
        )
        no_alm = {k: "" for k in ("ALM_CLIENT_SECRET", "ALM_REFRESH_TOKEN")}
        dotenv_env = {k: v for k, v in env.items() if k not in no_alm and k != "ALM_BASE_URL"}
        r = run_cli(["doctor", "--verbose"], cwd=dotenv, env=dotenv_env, timeout=120)
        results.append(r)
        assert r.returncode == 0, r.stderr[-1000:]
        # A known access token given directly, and one the sandbox refuses.
        token = next(iter(issued))
        cli("validate", str(data), "--verbose", *state, extra_env={"ALM_ACCESS_TOKEN": token})
        # A refused access token: the client falls back to refreshing (the other credentials
        # are still set), so doctor may pass.
        bogus = "soakAT" + secrets.token_hex(8)
        cli("doctor", "--verbose", extra_env={"ALM_ACCESS_TOKEN": bogus}, expect=(0, 3))
        # Refused credentials (exit 3) and an unreachable ALM: the error paths echo no secret.
        wrong = "soakWRONG" + secrets.token_hex(8)
        cli(
            "run",
            str(data),
            "--yes",
            "--verbose",
            *state,
            extra_env={"ALM_CLIENT_SECRET": wrong},
            expect=(3,),
        )
        cli("doctor", "--verbose", extra_env={"ALM_REFRESH_TOKEN": wrong}, expect=(3,))
        dead = {"ALM_BASE_URL": "http://127.0.0.1:9", "ALM_BATCH_STATE_DIR": str(work / "state2")}
        cli("validate", str(data), "--verbose", "--give-up-after", "3", extra_env=dead, expect=(3,))
        cli("doctor", "--verbose", extra_env=dead, expect=(3,))
        books = sb.books()

    demo_dir = tmp_path / "demo"
    cli("demo", "--output", str(demo_dir), cwd=tmp_path, expect=(0,))

    assert issued, "the sandbox issued no access token: the live commands did not run"
    known = {
        "client secret": client_secret,
        "refresh token": refresh_token,
        "wrong secret": wrong,
        "refused access token": bogus,
        "demo client secret": DEMO_CLIENT_SECRET,
        "demo refresh token": DEMO_REFRESH_TOKEN,
    }
    known.update({f"access token {n}": t for n, t in enumerate(sorted(issued), 1)})
    leaks: list[str] = []
    for result in results:
        for stream, text in (("stdout", result.stdout), ("stderr", result.stderr)):
            for name, value in known.items():
                if value in text:
                    leaks.append(f"{name} in {stream} of {' '.join(result.argv[:2])}")
    files = 0
    scanned = 0
    for where, blob in file_blobs(tmp_path):
        if where == "work/dotenv/.env":  # the input we wrote: credentials belong there
            continue
        files += 1
        scanned += len(blob)
        for name, value in known.items():
            if any(f in blob for f in forms(value)):
                leaks.append(f"{name} in {where}")
    state_files = sorted(p.name for p in (work / "state").iterdir())
    seconds = time.monotonic() - started
    soak_line(
        f"SOAK secrets: {'PASS' if not leaks else 'FAIL'} {len(results)} commands, "
        f"{len(known)} secret values ({len(issued)} access tokens issued, "
        f"{books['statuses'].get('401', 0)} 401s), {files} files / {scanned / 1024**2:.1f} MB "
        f"scanned (state dir: {', '.join(state_files)}), {len(leaks)} leaks; {seconds:.0f} s"
    )
    assert any(name.endswith(".sqlite3") for name in state_files), state_files
    assert not leaks, leaks
