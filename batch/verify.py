"""``--verify``: after the run, re-read enrollments and flag rows ALM does not show completed.

Decision: a row whose grades ALM accepted keeps its ``completed`` / ``already_completed``
status and gets a warning in its message. Its writes did land, so ``failed`` would be false;
``unknown`` promises that a re-run settles it, which it would not (the ledger skips grades
already posted). The usual cause is the course's own completion rules (a mandatory-module
count, a minimum score), which only a person can judge. ``verify_results`` returns how many
rows were not confirmed so the caller can show it in the summary.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from batch.errors import AbortError, ApiError, Interrupted
from batch.ledger import WriteKey, WriteKind
from batch.models import RowResult, RowStatus
from batch.plan import Plan
from batch.resolve import type_label
from batch.settle import WriteClient, course_enrollments, grade_landed, is_course

NOT_COMPLETED = (
    "ALM does not show the course as completed after the grades were posted: check the "
    "course's completion rules (mandatory modules, minimum score)."
)
CANCELLED = "the run was cancelled before ALM could be read to check it."
_CHECKED = (RowStatus.COMPLETED, RowStatus.ALREADY_COMPLETED)
# How long ``--verify`` waits for ALM to roll a learning program or certification up from its
# courses ("may take a moment": alm-api.md §12), reading again at growing intervals.
ROLLUP_WAIT_SECONDS = 120.0
_FIRST_LOOK_SECONDS = 1.0
_LONGEST_LOOK_SECONDS = 15.0


def verify_results(
    results: list[RowResult],
    plan: Plan,
    client: WriteClient,
    *,
    rollup_wait: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Re-read each learner's enrollments once and extend the message of every completed row
    ALM does not confirm. Returns the number of rows not confirmed (or not checkable).
    ``stop`` (Cancel, Ctrl-C) ends the wait for a program's roll-up at once; the rows left are
    then "could not be verified", as when ALM stops the run.

    A row that names one module (the ``module`` column) is checked for that module's grade,
    not for course completion, which it was never meant to bring about. A learner whose
    enrollments cannot be read gets "could not be verified"; when ALM stops the run
    (``AuthError`` / ``ApiUnreachable``), the rows left are marked the same way and the
    function returns instead of raising: the run itself is over and its report still matters.
    """
    plans = plan.rows if len(plan.rows) == len(results) else None
    by_user: dict[str, list[int]] = {}
    programs: dict[str, list[int]] = {}
    for i, result in enumerate(results):
        if result.status in _CHECKED and result.user_id and result.course_id:
            mine = by_user if is_course(result.course_id) else programs
            mine.setdefault(result.user_id, []).append(i)
    wait = ROLLUP_WAIT_SECONDS if rollup_wait is None else rollup_wait
    if sleep is None:
        sleep = stop.wait if stop is not None else time.sleep
    unconfirmed = verify_programs(results, programs, client, wait, clock, sleep, stop)
    stopped: str | None = None
    for user_id, indexes in by_user.items():
        if stopped is None:
            try:
                enrollments = client.get_enrollments(user_id)
            except ApiError as exc:
                for i in indexes:
                    _note(results[i], f"Could not be verified: {exc.describe()}.")
                unconfirmed += len(indexes)
                continue
            except (AbortError, Interrupted) as exc:  # ALM stopped the run, or a Cancel
                stopped = _stopped(exc)
        if stopped is not None:
            for i in indexes:
                _note(results[i], f"Could not be verified: {stopped}")
            unconfirmed += len(indexes)
            continue
        for i in indexes:
            result = results[i]
            completion = plans[i].checked.completion if plans is not None else None
            one_module = bool(completion is not None and completion.module)
            if one_module:
                missing = [
                    m
                    for m in result.module_ids
                    if not grade_landed(
                        enrollments,
                        WriteKey(
                            "", WriteKind.GRADE, user_id, result.course_id, result.instance_id, m
                        ),
                    )
                ]
                if missing:
                    _note(result, f"ALM does not show module {', '.join(missing)} as completed.")
                    unconfirmed += 1
                continue
            found = course_enrollments(enrollments, result.course_id, result.instance_id)
            if not any(e.completed for e in found):
                _note(result, NOT_COMPLETED)
                unconfirmed += 1
    return unconfirmed


def _stopped(exc: AbortError | Interrupted) -> str:
    """Why the rows left were not verified: what stopped ALM, or the Cancel."""
    return CANCELLED if isinstance(exc, Interrupted) else exc.message


def _note(result: RowResult, text: str) -> None:
    result.message = f"{result.message} {text}".strip() if result.message else text


def verify_programs(
    results: list[RowResult],
    by_user: dict[str, list[int]],
    client: WriteClient,
    wait: float,
    clock: Callable[[], float],
    sleep: Callable[[float], object],
    stop: threading.Event | None = None,
) -> int:
    """Learning program and certification rows: read each learner's program enrollments until
    ALM shows every program of theirs completed, for at most ``wait`` seconds; a row ALM still
    does not show completed by then is noted. Returns the rows not confirmed."""
    pending = {user: list(indexes) for user, indexes in by_user.items()}
    deadline = clock() + wait
    pause = _FIRST_LOOK_SECONDS
    unconfirmed = 0
    while pending:
        for user_id in list(pending):
            try:
                enrolled = {e.lo_id: e for e in client.get_program_enrollments(user_id)}
            except ApiError as exc:
                for i in pending.pop(user_id):
                    _note(results[i], f"Could not be verified: {exc.describe()}.")
                    unconfirmed += 1
                continue
            except (AbortError, Interrupted) as exc:  # the run is over: say so on every row
                for indexes in pending.values():
                    for i in indexes:
                        _note(results[i], f"Could not be verified: {_stopped(exc)}")
                        unconfirmed += 1
                return unconfirmed
            left = []
            for i in pending[user_id]:
                found = enrolled.get(results[i].course_id)
                if found is not None and found.completed:
                    kind = type_label(results[i].course_id.split(":", 1)[0])
                    if f"ALM shows the {kind} completed" not in results[i].message:
                        _note(results[i], f"Verified: ALM now shows the {kind} completed.")
                else:
                    left.append(i)
            if left:
                pending[user_id] = left
            else:
                del pending[user_id]
        now = clock()
        if not pending or now >= deadline:
            break
        sleep(min(pause, deadline - now))  # ``stop.wait``: a Cancel ends it
        if stop is not None and stop.is_set():
            for indexes in pending.values():
                for i in indexes:
                    _note(results[i], f"Could not be verified: {CANCELLED}")
                    unconfirmed += 1
            return unconfirmed
        pause = min(pause * 2, _LONGEST_LOOK_SECONDS)
    for indexes in pending.values():
        for i in indexes:
            kind = type_label(results[i].course_id.split(":", 1)[0])
            _note(
                results[i],
                f"ALM still does not show the {kind} completed after {wait:g} s of waiting: "
                f"check its sections' completion rules in ALM, or look again later (ALM rolls a "
                f"{kind} up from its courses).",
            )
            unconfirmed += 1
    return unconfirmed
