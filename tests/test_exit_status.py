"""``exit_status_for``: the one rule from rows and run end to the exit code (product.md)."""

from __future__ import annotations

import random

import pytest

from batch.alm.api import AlmClient
from batch.alm.retry import WriteRetry
from batch.errors import ApiUnreachable, AuthError, ExitStatus
from batch.models import RowResult, RowStatus, exit_status_for
from batch.settings import Settings


def row(status: RowStatus, retryable: bool = False, n: int = 2) -> RowResult:
    return RowResult(n, {}, status, retryable=retryable)


OK = [row(RowStatus.COMPLETED), row(RowStatus.ALREADY_COMPLETED), row(RowStatus.DUPLICATE)]
FAILED_RETRYABLE = row(RowStatus.FAILED, retryable=True)
UNKNOWN_RETRYABLE = row(RowStatus.UNKNOWN, retryable=True)


@pytest.mark.parametrize(
    "rows, expected",
    [
        ([], ExitStatus.OK),
        (OK, ExitStatus.OK),
        ([row(RowStatus.WOULD_COMPLETE)], ExitStatus.OK),
        (OK + [FAILED_RETRYABLE], ExitStatus.RETRYABLE),
        (OK + [UNKNOWN_RETRYABLE, FAILED_RETRYABLE], ExitStatus.RETRYABLE),
        (OK + [row(RowStatus.FAILED)], ExitStatus.ROWS_FAILED),  # ALM refused it (a 400)
        (OK + [row(RowStatus.UNKNOWN)], ExitStatus.ROWS_FAILED),  # not marked: a person looks
        ([FAILED_RETRYABLE, row(RowStatus.INVALID)], ExitStatus.ROWS_FAILED),
        ([row(RowStatus.USER_NOT_FOUND), UNKNOWN_RETRYABLE], ExitStatus.ROWS_FAILED),
        ([row(RowStatus.COURSE_NOT_FOUND)], ExitStatus.ROWS_FAILED),
        ([row(RowStatus.AMBIGUOUS_COURSE)], ExitStatus.ROWS_FAILED),
        ([row(RowStatus.REJECTED)], ExitStatus.ROWS_FAILED),
    ],
)
def test_rows_decide_between_0_1_and_4(rows: list[RowResult], expected: ExitStatus) -> None:
    assert exit_status_for(rows) is expected
    assert exit_status_for(iter(rows)) is expected  # a stream is enough


def test_an_abort_or_an_interrupt_outranks_the_rows() -> None:
    rows = OK + [FAILED_RETRYABLE, row(RowStatus.INVALID)]
    assert exit_status_for(rows, aborted=AuthError("refused")) is ExitStatus.ABORTED
    assert exit_status_for(rows, aborted=ApiUnreachable("down")) is ExitStatus.ABORTED
    assert exit_status_for(rows, interrupted=True) is ExitStatus.INTERRUPTED
    assert exit_status_for((), aborted=AuthError("x"), interrupted=True) is ExitStatus.INTERRUPTED
    assert int(ExitStatus.RETRYABLE) == 4


def test_a_retryable_flag_never_hides_a_row_that_ended_well() -> None:
    done = row(RowStatus.COMPLETED, retryable=True)
    assert not done.needs_person and exit_status_for([done]) is ExitStatus.OK


def test_write_retry_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALM_WRITE_RETRIES", "3")
    monkeypatch.setenv("ALM_WRITE_RETRY_SECONDS", "45")
    settings = Settings(_env_file=None, client_id="a", client_secret="b", refresh_token="c")  # type: ignore[call-arg]
    waits: list[float] = []
    client = AlmClient(settings, sleep=waits.append)
    try:
        assert (client.write_retry.retries, client.write_retry.seconds) == (3, 45.0)
        client.write_retry.sleep(0.5)
        assert waits == [0.5]  # the budget sleeps on the client's injected clock
    finally:
        client.close()
    monkeypatch.setenv("ALM_WRITE_RETRIES", "-1")
    with pytest.raises(ValueError, match="write_retries"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    defaults = Settings(_env_file=None, _env_prefix="NOPE_")  # type: ignore[call-arg]
    assert (defaults.write_retries, defaults.write_retry_seconds) == (8, 300.0)


def test_backoff_grows_exponentially_with_jitter_within_the_budget() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    policy = WriteRetry(
        retries=20, seconds=60.0, clock=lambda: now[0], sleep=sleep, rng=random.Random(5)
    )
    steps = [policy.delay(n) for n in range(1, 9)]
    for n, step in enumerate(steps, start=1):
        full = min(30.0, 0.5 * 2 ** (n - 1))
        assert full / 2 <= step <= full
    budget = policy.start()
    tries = 0
    while budget.pause():
        tries += 1
    assert now[0] <= 60.0 and 4 <= tries <= 8  # the time budget ended it, not the count
    assert budget.spent().startswith(f"{tries + 1} tries in ")
