"""Run ``python -m batch`` in a subprocess with a wall-time and a memory bound.

The child gets an address-space limit (``RLIMIT_AS``) so a runaway allocation fails inside it
instead of swapping the machine; its own peak RSS comes from ``os.wait4``. Whatever happens, the
child is killed before ``run_cli`` returns.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MEMORY_LIMIT = 2 * 1024**3  # bytes of address space for the child


@dataclass
class CliResult:
    argv: list[str]
    returncode: int | None  # None: killed at the time limit
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parent's environment without any ALM_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALM_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONWARNINGS", None)
    env.update(extra or {})
    return env


def _limit_memory(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def start_cli(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    out: Path,
    err: Path,
    memory_limit: int | None = MEMORY_LIMIT,
) -> subprocess.Popen[bytes]:
    """Start ``python -m batch ARGS`` with stdout/stderr to files (no pipe can fill up)."""
    with out.open("wb") as fo, err.open("wb") as fe:
        return subprocess.Popen(
            [sys.executable, "-m", "batch", *args],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=fo,
            stderr=fe,
            preexec_fn=(lambda: _limit_memory(memory_limit)) if memory_limit else None,
            start_new_session=True,
        )


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's whole session (it never outlives the test)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def wait_rusage(
    proc: subprocess.Popen[bytes],
    deadline: float,
    kill_when: Callable[[], bool] | None = None,
    poll: float = 0.02,
) -> tuple[int | None, float]:
    """Wait until the child ends, ``kill_when()`` is true or ``deadline`` (monotonic) passes.

    Returns (returncode, peak RSS MB); returncode is None when the child was killed here.
    """
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_maxrss / 1024.0
        if time.monotonic() >= deadline or (kill_when is not None and kill_when()):
            break
        time.sleep(poll)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    end = time.monotonic() + 10
    while time.monotonic() < end:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return None, usage.ru_maxrss / 1024.0
        time.sleep(0.02)
    return None, 0.0


def run_cli(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    memory_limit: int | None = MEMORY_LIMIT,
) -> CliResult:
    """Run one command to its end (or kill it at ``timeout``) and collect everything."""
    out, err = cwd / ".cli-stdout", cwd / ".cli-stderr"
    started = time.monotonic()
    proc = start_cli(
        args, cwd=cwd, env=env or clean_env(), out=out, err=err, memory_limit=memory_limit
    )
    try:
        code, rss = wait_rusage(proc, started + timeout)
    finally:
        kill(proc)
    seconds = time.monotonic() - started
    result = CliResult(
        list(args),
        code,
        out.read_text("utf-8", "replace"),
        err.read_text("utf-8", "replace"),
        seconds,
        rss,
    )
    out.unlink(missing_ok=True)
    err.unlink(missing_ok=True)
    return result
