"""The run ledger and the state-directory lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from batch.errors import StateError
from batch.journal import apply_ledger
from batch.ledger import (
    LEDGER_NAME,
    Ledger,
    StateLock,
    WriteKey,
    WriteKind,
    WriteState,
)
from batch.models import RowStatus
from tests.fake_writer import make_plan, row_plan

BASE = "https://learningmanager.adobe.com"
REPO = Path(__file__).resolve().parent.parent


def grade_key(user: str = "u1", module: str = "course:1_1_10_0") -> WriteKey:
    return WriteKey(BASE, WriteKind.GRADE, user, "course:1", "course:1_1", module)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / LEDGER_NAME) as led:
        yield led


def test_begin_is_pending_then_finish_done_stamps_time(ledger: Ledger) -> None:
    key = grade_key()
    entry = ledger.begin(key, "run-a", "sha", 7)
    assert (entry.state, entry.attempts, entry.row, entry.run_id) == (
        WriteState.PENDING,
        1,
        7,
        "run-a",
    )
    assert ledger.done_at(key) is None
    ledger.finish(key, WriteState.DONE, status=200)
    done = ledger.get(key)
    assert done is not None and done.state is WriteState.DONE and done.http_status == 200
    assert done.done_at is not None and done.done_at.endswith("Z")
    assert ledger.done_at(key) == done.done_at


def test_begin_again_counts_attempts_and_keeps_created(ledger: Ledger) -> None:
    key = grade_key()
    first = ledger.begin(key, "run-a", "sha", 2)
    ledger.finish(key, WriteState.FAILED, status=400, message="HTTP 400 Bad")
    second = ledger.begin(key, "run-b", "sha2", 3)
    assert second.attempts == 2 and second.run_id == "run-b" and second.row == 3
    assert second.created_at == first.created_at and second.message == ""


def test_pending_and_unsettled_lists_by_base_url(ledger: Ledger) -> None:
    ledger.begin(grade_key("u1"), "r", "s", 2)
    ledger.begin(grade_key("u2"), "r", "s", 3)
    ledger.finish(grade_key("u2"), WriteState.UNKNOWN, message="lost")
    other = WriteKey("https://learningmanagereu.adobe.com", WriteKind.GRADE, "u3", "c", "i", "m")
    ledger.begin(other, "r", "s", 4)
    assert [e.key.user_id for e in ledger.pending(BASE)] == ["u1"]
    assert sorted(e.key.user_id for e in ledger.unsettled(BASE)) == ["u1", "u2"]
    assert ledger.counts(BASE) == {"pending": 1, "unknown": 1}


def test_for_users_reads_only_those_users_in_chunks(ledger: Ledger) -> None:
    for n in range(520):
        ledger.begin(grade_key(f"u{n}"), "r", "s", n + 2)
    wanted = [f"u{n}" for n in range(0, 520, 2)]
    found = ledger.for_users(BASE, wanted)
    assert len(found) == 260
    assert {k.user_id for k in found} == set(wanted)


def test_ledger_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state" / LEDGER_NAME
    with Ledger(path) as led:
        led.begin(grade_key(), "run-a", "sha", 5)
        led.finish(grade_key(), WriteState.DONE)
        led.start_run("run-a", input_path="in.csv", input_sha256="sha", options={"verify": True})
        led.end_run("run-a", 0)
    with Ledger(path) as led:
        entry = led.get(grade_key())
        run = led.get_run("run-a")
    assert entry is not None and entry.state is WriteState.DONE
    assert run is not None and run.exit_status == 0 and run.options == {"verify": True}


def test_pending_mark_survives_kill_9(tmp_path: Path) -> None:
    """The journal entry is committed before the request: SIGKILL right after begin() keeps it."""
    path = tmp_path / LEDGER_NAME
    script = textwrap.dedent(
        f"""
        import os, signal
        from batch.ledger import Ledger, WriteKey, WriteKind
        led = Ledger({str(path)!r})
        led.begin(WriteKey({BASE!r}, WriteKind.GRADE, "u1", "course:1", "course:1_1", "m"), "r", "s", 2)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with Ledger(path) as led:
        assert [e.key.module_id for e in led.pending(BASE)] == ["m"]


def test_start_run_fills_in_what_was_blank(ledger: Ledger) -> None:
    ledger.start_run("r1", input_sha256="abc")
    ledger.start_run("r1", input_path="/data/in.csv", options={"overwrite": False})
    ledger.start_run("r1", input_sha256="abc")
    run = ledger.get_run("r1")
    assert run is not None
    assert (run.input_path, run.input_sha256, run.options) == (
        "/data/in.csv",
        "abc",
        {"overwrite": False},
    )
    assert ledger.get_run("nope") is None


def test_unreadable_ledger_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / LEDGER_NAME
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match="cannot be opened"):
        Ledger(path)


# --- the lock -------------------------------------------------------------------------------


def test_second_holder_is_refused_with_pid_and_time(tmp_path: Path) -> None:
    with StateLock(tmp_path) as first:
        assert first.held
        with pytest.raises(StateError) as info:
            StateLock(tmp_path).acquire()
    text = str(info.value)
    assert f"Another alm-batch run is using the state directory {tmp_path}" in text
    assert f"(pid {os.getpid()}, started " in text
    assert "use --state-dir to run separately" in text
    # released on exit: a new holder gets it
    with StateLock(tmp_path) as again:
        assert again.held


def test_lock_held_by_another_process(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from batch.ledger import StateLock
        with StateLock({str(tmp_path)!r}):
            print("locked", flush=True)
            sys.stdin.readline()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(StateError, match=rf"\(pid {proc.pid}, started \d\d:\d\d\)"):
            StateLock(tmp_path).acquire()
    finally:
        proc.kill()  # kill -9: the OS releases the flock
        proc.wait(timeout=10)
    with StateLock(tmp_path) as lock:
        assert lock.held


# --- apply_ledger ---------------------------------------------------------------------------


def _done(ledger: Ledger, user: str, module: str, run: str = "run-old") -> None:
    key = WriteKey(BASE, WriteKind.GRADE, user, "course:1", "course:1_1", module)
    ledger.begin(key, run, "sha", 2)
    ledger.finish(key, WriteState.DONE)


def test_apply_ledger_marks_fully_posted_rows_already_completed(ledger: Ledger) -> None:
    rp = row_plan(2, "u1", enroll=True)
    for grade in rp.grades:
        _done(ledger, "u1", grade.module_id)
    plan = make_plan(rp)
    apply_ledger(plan, ledger, BASE, overwrite=False)
    assert rp.status is RowStatus.ALREADY_COMPLETED
    assert rp.message.startswith("Already posted by run run-old on 20")
    assert rp.message.endswith("; not posted again.")
    assert rp.grades == [] and not rp.enroll and rp.writes == 0
    assert len(rp.module_ids) == 2  # the report still names the modules


def test_apply_ledger_trims_partly_done_rows(ledger: Ledger) -> None:
    rp = row_plan(2, "u1", enroll=True, modules=3)
    _done(ledger, "u1", rp.grades[1].module_id)
    ledger.begin(
        WriteKey(BASE, WriteKind.GRADE, "u1", "course:1", "course:1_1", rp.grades[2].module_id),
        "r",
        "s",
        2,
    )  # pending: stays planned, the executor settles it
    plan = make_plan(rp, row_plan(3, "u2"))
    apply_ledger(plan, ledger, BASE, overwrite=False)
    assert rp.status is RowStatus.WOULD_COMPLETE
    assert [g.module_id for g in rp.grades] == [rp.module_ids[0], rp.module_ids[2]]
    assert not rp.enroll  # a done grade proves the enrollment
    assert plan.rows[1].status is RowStatus.WOULD_COMPLETE and len(plan.rows[1].grades) == 2


def test_apply_ledger_overwrite_and_other_hosts_skip_nothing(ledger: Ledger) -> None:
    rp = row_plan(2, "u1")
    for grade in rp.grades:
        _done(ledger, "u1", grade.module_id)
    apply_ledger(make_plan(rp), ledger, BASE, overwrite=True)
    assert rp.status is RowStatus.WOULD_COMPLETE and len(rp.grades) == 2
    apply_ledger(make_plan(rp), ledger, "https://learningmanagereu.adobe.com", overwrite=False)
    assert rp.status is RowStatus.WOULD_COMPLETE and len(rp.grades) == 2


def test_apply_ledger_done_enrollment_drops_the_enroll(ledger: Ledger) -> None:
    rp = row_plan(2, "u1", enroll=True)
    key = WriteKey.for_enroll(BASE, "u1", "course:1", "course:1_1")
    ledger.begin(key, "r", "s", 2)
    ledger.finish(key, WriteState.DONE)
    apply_ledger(make_plan(rp), ledger, BASE, overwrite=False)
    assert rp.status is RowStatus.WOULD_COMPLETE and not rp.enroll and len(rp.grades) == 2
