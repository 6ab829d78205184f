"""Helpers for the end-to-end tests: the CLI (``batch.cli.main``) against a real sandbox
(in-process, or ``python -m batch sandbox --port 0`` in a subprocess).

``run_cli`` runs the command in-process (as sqlite-utils tests its CLI): the same ``main`` a
terminal runs, with ``cwd`` a tmp folder (no ``.env`` leaks in), no ``ALM_*`` variable from the
caller's environment and ``CI=true``, both restored afterwards. ``run_cli(..., process=True)``
and ``spawned`` run ``python -m batch`` in a child process, for the tests where the process is
the point (signals, kill -9, an installed wheel, a memory limit); children have a deadline and
are killed in all cases.
"""

from __future__ import annotations

import csv
import json
import os
import re
import selectors
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch.jobs.account import LOCK_DIR_ENV
from batch.sandbox import Sandbox, SandboxConfig, load_seed
from batch.sandbox.limits import SandboxClock

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO / "sample_data"
SAMPLE_CSV = SAMPLE_DIR / "completions.csv"
OK_STATUSES = {"completed", "would_complete", "already_completed", "duplicate"}
TIME_SCALE = 600.0  # ten sandbox minutes per real second: ALM's limits, fast enough for tests

# sample_data/README.md, "Expected outcome of every row of completions.csv" (a live run).
SAMPLE_ROWS = list(range(2, 41))  # sample_data/completions.csv: spreadsheet rows 2..40
EXPECTED_LIVE: dict[int, str] = {row: "completed" for row in SAMPLE_ROWS}
EXPECTED_LIVE.update(
    {
        6: "already_completed",
        13: "user_not_found",
        14: "rejected",
        15: "course_not_found",
        16: "ambiguous_course",
        17: "invalid",
        22: "duplicate",
        23: "rejected",
        28: "invalid",
        29: "already_completed",
    }
)
EXPECTED_DRY = {
    row: ("would_complete" if s == "completed" else s) for row, s in EXPECTED_LIVE.items()
}
FAILING_ROWS = sorted(row for row, s in EXPECTED_LIVE.items() if s not in OK_STATUSES)
SAMPLE_GRADES = 62  # sample_data/README.md: grades a live run records on a fresh sandbox


# --------------------------------------------------------------------------- sandbox
def sample_sandbox(*, clock: SandboxClock | None = None, **config: Any) -> Sandbox:
    """A started sandbox on the sample seed (the caller stops it); ``clock``: its own (a
    ``ManualClock``: ALM's jobs end when the test says)."""
    values: dict[str, Any] = {"time_scale": TIME_SCALE, **config}
    return Sandbox(seed=load_seed(SAMPLE_DIR), config=SandboxConfig(**values), clock=clock).start()


def limits_env(config: SandboxConfig) -> dict[str, str]:
    """Client defaults at the sandbox's (scaled) limits, like ``demo.settings_for_sandbox``."""
    scale = config.time_scale
    return {
        "ALM_GET_PER_MINUTE": str(config.get_per_minute * scale),
        "ALM_GET_BURST": str(config.get_burst),
        "ALM_POST_PER_MINUTE": str(config.post_per_minute * scale),
        "ALM_POST_BURST": str(config.post_burst),
        "ALM_USERS_GET_PER_HOUR": str(config.users_per_hour * scale),
        "ALM_LO_GET_PER_HOUR": str(config.lo_per_hour * scale),
        "ALM_JOB_POLL_SECONDS": str(5.0 / scale),  # ALM's jobs polled every 5 sandbox seconds
        "ALM_TRANSCRIPT_JOB_SECONDS": str(120.0 / scale),  # the job's expected time, scaled
    }


def sandbox_env(sb: Sandbox, state_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """``ALM_*`` pointing at ``sb`` (credentials, scaled limits, optionally the state dir)."""
    env = {**sb.env(), **limits_env(sb.config)}
    if state_dir is not None:
        env["ALM_BATCH_STATE_DIR"] = str(state_dir)
    env.update(extra)
    return env


def harness(base_url: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
    """GET (or POST ``body`` to) the sandbox's ``/_sandbox/*`` harness; the JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        base_url + path, data=data, method="GET" if body is None else "POST"
    )
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def issued_access_token(base_url: str, creds: Mapping[str, str]) -> str:
    """The access token the sandbox currently hands out (it returns the same one while valid)."""
    form = urllib.parse.urlencode(
        {k: creds[k] for k in ("client_id", "client_secret", "refresh_token")}
    ).encode()
    req = urllib.request.Request(base_url + "/oauth/token/refresh", data=form, method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return str(json.loads(resp.read())["access_token"])


def seed_grades() -> set[tuple[str, str]]:
    """(user id, loResource id) of every grade the sample seed already holds."""
    seed = load_seed(SAMPLE_DIR)
    return {
        (e["userId"], f"{e['instanceId']}_{g['moduleId']}_0")
        for e in seed["enrollments"]
        for g in e.get("grades", [])
    }


def graded(books: Mapping[str, Any]) -> dict[tuple[str, str], int]:
    """(user id, module id) -> times posted, from the sandbox's books."""
    return {(g["user_id"], g["module_id"]): int(g["count"]) for g in books["grades"]}


def wanted_grades(rows: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """The grades the good rows of a report need on top of what the seed already has."""
    out = {
        (str(r["user_id"]), m)
        for r in rows
        if r["status"] in ("completed", "would_complete", "already_completed") and r["user_id"]
        for m in r["module_ids"]
    }
    return out - seed_grades()


def posts(books: Mapping[str, Any]) -> dict[str, int]:
    """Every POST the sandbox received, by endpoint."""
    return {k: v for k, v in books["calls"].items() if k.startswith("POST ")}


# --------------------------------------------------------------------------- the CLI
def child_env(alm: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment minus every ``ALM_*`` variable (but the test session's account
    lock folder), plus ``alm``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALM_")}
    if LOCK_DIR_ENV in os.environ:
        env[LOCK_DIR_ENV] = os.environ[LOCK_DIR_ENV]
    env.update(
        CI="true",
        PYTHONPATH=str(REPO),
        PYTHONIOENCODING="utf-8",
        PYTHONDONTWRITEBYTECODE="1",
        COLUMNS="120",
    )
    env.update(alm or {})
    return env


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str

    def __str__(self) -> str:  # shown by pytest when an assertion fails
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def run_cli(
    args: Sequence[str],
    *,
    cwd: Path,
    alm: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    module: str = "batch",
    process: bool = False,
) -> CliRun:
    """``alm-batch ARGS`` to the end, in-process; with ``process`` (or another ``module``, such
    as ``tests.crash_cli``), ``python -m batch ARGS`` in a child process killed after
    ``timeout``."""
    if not process and module == "batch":
        return _in_process(args, cwd=cwd, alm=alm)
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=child_env(alm),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr)


def _in_process(args: Sequence[str], *, cwd: Path, alm: Mapping[str, str] | None) -> CliRun:
    """``batch.cli.main`` with a child's environment and working folder, restored after."""
    import io

    from batch.cli import CliEnv, main

    saved_env, saved_cwd, env = dict(os.environ), os.getcwd(), child_env(alm)
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        code = main(list(args), CliEnv(stdout=out, stderr=err, interactive=False))
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return CliRun(code, out.getvalue(), err.getvalue())


class SandboxCli:
    """``alm-batch ARGS`` in-process (``batch.cli.main``) with ``ALM_*`` pointing at a sandbox
    and the state directory ``folder/state``, run in ``folder``; pytest's ``monkeypatch`` puts
    the environment and the working folder back. ``stdin`` makes the run interactive (it is
    asked before writing); ``env`` adds ``ALM_*`` values."""

    def __init__(self, monkeypatch: Any, folder: Path) -> None:
        self.mp = monkeypatch
        self.folder = folder
        monkeypatch.chdir(folder)

    def __call__(
        self, sb: Sandbox, *args: str, state: str = "state", stdin: Any = None, **env: str
    ) -> CliRun:
        import io

        from batch.cli import CliEnv, main

        for key in [k for k in os.environ if k.startswith("ALM_")]:
            self.mp.delenv(key)
        for key, value in sandbox_env(sb, self.folder / state, **env).items():
            self.mp.setenv(key, value)
        out, err = io.StringIO(), io.StringIO()
        cli_env = CliEnv(
            stdin=stdin or io.StringIO(), stdout=out, stderr=err, interactive=stdin is not None
        )
        return CliRun(main(list(args), cli_env), out.getvalue(), err.getvalue())


@dataclass
class Spawned:
    proc: subprocess.Popen[str]
    out_path: Path
    err_path: Path

    def finish(self, timeout: float = 60.0) -> CliRun:
        self.proc.wait(timeout=timeout)
        return CliRun(
            self.proc.returncode,
            self.out_path.read_text(encoding="utf-8"),
            self.err_path.read_text(encoding="utf-8"),
        )


@contextmanager
def spawned(
    args: Sequence[str],
    *,
    cwd: Path,
    alm: Mapping[str, str] | None = None,
    name: str = "cli",
    module: Sequence[str] = ("-m", "batch"),
) -> Iterator[Spawned]:
    """``python -m batch ARGS`` in the background (output to files in ``cwd``); always killed."""
    out_path, err_path = cwd / f"{name}.stdout", cwd / f"{name}.stderr"
    with out_path.open("w", encoding="utf-8") as out, err_path.open("w", encoding="utf-8") as err:
        proc = subprocess.Popen(
            [sys.executable, *module, *args],
            cwd=cwd,
            env=child_env(alm),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            text=True,
        )
    try:
        yield Spawned(proc, out_path, err_path)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def interrupt(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def read_lines(stream: Any, count: int, timeout: float) -> list[str]:
    """Up to ``count`` lines from a child's pipe, giving up at ``timeout`` seconds."""
    lines: list[str] = []
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while len(lines) < count and time.monotonic() < deadline:
            if sel.select(timeout=max(0.0, deadline - time.monotonic())):
                line = stream.readline()
                if not line:
                    break
                lines.append(line.rstrip("\n"))
    finally:
        sel.close()
    return lines


def rerun_finishes_the_job(
    sb: Sandbox, tmp_path: Path, alm: Mapping[str, str], report: str = "rerun.json"
) -> list[dict[str, Any]]:
    """Run the sample (``completions.csv`` in ``tmp_path``) again after a crash or an interrupt:
    exit 1 (its failing rows), every good row done, each module graded exactly once in the
    sandbox's books. Returns the report rows."""
    run = run_cli(["run", "completions.csv", "--yes", "--report", report], cwd=tmp_path, alm=alm)
    assert run.code == 1, run
    rows = read_report(tmp_path / report)
    assert [r["row"] for r in rows] == SAMPLE_ROWS
    final = statuses(rows)
    for row, expected in EXPECTED_LIVE.items():
        ok = ("completed", "already_completed") if expected == "completed" else (expected,)
        assert final[row] in ok, (row, final[row], run)
    books = sb.books()
    wanted = wanted_grades(rows)
    assert len(wanted) == SAMPLE_GRADES
    assert graded(books) == {key: 1 for key in wanted}
    assert books["double_grades"] == 0
    return rows


# --------------------------------------------------------------------------- reports
def _split_ids(cell: Any) -> list[str]:
    return [part.strip() for part in str(cell or "").split(";") if part.strip()]


def _norm(cells: Mapping[str, Any]) -> dict[str, Any]:
    # An outcome column whose name the input already uses is "<name> (alm-batch)" (report.py).
    outcome = {
        k.removesuffix(" (alm-batch)"): v for k, v in cells.items() if k.endswith(" (alm-batch)")
    }
    cells = {**cells, **outcome}
    return {
        "row": int(cells["row"]),
        "status": str(cells["status"]),
        "message": str(cells.get("message") or ""),
        "user_id": str(cells.get("user_id") or ""),
        "module_ids": _split_ids(cells.get("module_ids")),
        "cells": dict(cells),
    }


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def read_report(path: Path) -> list[dict[str, Any]]:
    """The rows of a CSV, XLSX or JSON report as dicts: row, status, message, user_id,
    module_ids (a list) and every cell (``cells``)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return [_norm(r) for r in read_csv(path)]
    if suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        out = []
        for r in data["rows"]:
            row = _norm({**r, "module_ids": "; ".join(r["module_ids"])})
            row["cells"] = {**r["values"], **{k: v for k, v in r.items() if k != "values"}}
            out.append(row)
        return out
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        sheet = workbook["Report"]
        rows = sheet.iter_rows(values_only=True)
        headers = [str(h) for h in next(rows)]
        return [_norm(dict(zip(headers, r, strict=False))) for r in rows if any(r)]
    finally:
        workbook.close()


def statuses(rows: Sequence[Mapping[str, Any]]) -> dict[int, str]:
    return {int(r["row"]): str(r["status"]) for r in rows}


def ledger_states(state_dir: Path) -> dict[str, int]:
    """Journal entries per state (``writes`` table of ``ledger.sqlite3``)."""
    path = state_dir / "ledger.sqlite3"
    if not path.exists():
        return {}
    con = sqlite3.connect(path, timeout=5)
    try:
        return dict(con.execute("SELECT state, COUNT(*) FROM writes GROUP BY state").fetchall())
    finally:
        con.close()


HEX32 = re.compile(r"(?<![0-9A-Fa-f])[0-9a-f]{32}(?![0-9A-Fa-f])")


def text_files(root: Path) -> Iterator[tuple[Path, str]]:
    """Every file under ``root`` as text: XLSX parts unzipped, SQLite pages as raw bytes
    (decoded leniently: the secrets looked for are ASCII)."""
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                text = "\n".join(
                    archive.read(name).decode("utf-8", "replace") for name in archive.namelist()
                )
            yield path, text
        else:
            yield path, path.read_bytes().decode("utf-8", "replace")


def leaks(secrets: list[str], runs: list[CliRun], root: Path) -> list[str]:
    """Where any of ``secrets`` appears (named by position, never echoed): in the runs' output
    or in a file under ``root``."""
    found = []
    for n, secret in enumerate(secrets):
        for i, run in enumerate(runs):
            for name, text in (("stdout", run.stdout), ("stderr", run.stderr)):
                if secret in text:
                    found.append(f"secret #{n} in run {i} {name}")
        for path, text in text_files(root):
            if secret in text:
                found.append(f"secret #{n} in {path.relative_to(root)}")
    return found
