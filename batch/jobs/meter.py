"""A live run's progress as both front ends show it, from the executor's counts and ALM's wire.

What a person reads while writes go must be what ALM received, never what was queued:

- writes count when ALM answers them (``writes_done``: planned writes settled, answered or
  found done; ``writes_answered``: HTTP writes ALM answered); ``writes_in_flight`` are sent
  and not yet answered (what a Cancel still waits for);
- the planned totals are the confirmation's (a run bound to one) and never change;
- the rate is writes answered per minute;
- the time left is the writes left at the account's write allowance (the rule of the plan's
  estimate, ``estimate.allowance``: ALM's header once seen, else what an earlier run saw on the
  host, else the documented ratio, else the settings), never the pace of the first seconds,
  which ALM's burst makes look many times faster than the allowance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from batch.alm.ratelimit import HEADER_RATE_MARGIN
from batch.alm.stats import CallStats
from batch.execute import ProgressEvent
from batch.jobs.events import WriteProgress

if TYPE_CHECKING:
    from batch.jobs.engine import Job


class WriteClient(Protocol):
    """What the meter reads of the client: ALM's announced write rate, the wire, the 429s."""

    def announced_per_minute(self, method: str) -> float | None: ...

    def writes_in_flight(self) -> int: ...


class WriteMeter:
    def __init__(
        self, job: Job, client: WriteClient, writes_per_minute: float, stats: CallStats
    ) -> None:
        self.job = job
        self.client = client
        self.writes_per_minute = writes_per_minute  # the allowance at the start of the run
        self.stats = stats  # the client's counters (429s met)

    def allowance(self) -> float:
        """Writes per minute ALM grants now: its header once a write carried it."""
        announced = self.client.announced_per_minute("POST")
        if announced:
            return announced * HEADER_RATE_MARGIN
        return self.writes_per_minute

    def eta(self, left: int) -> float:
        per_minute = self.allowance()
        return left * 60.0 / per_minute if per_minute > 0 else 0.0

    def start(self, rows_total: int, writes_total: int) -> None:
        """Before the first write: the totals and the time they take at the allowance."""
        self.job.emit(
            WriteProgress(
                rows_done=0,
                rows_total=rows_total,
                writes_done=0,
                writes_total=writes_total,
                writes_made=0,
                rate_per_s=0.0,
                eta_seconds=self.eta(writes_total),
                throttled=self.stats.throttled,
                elapsed=0.0,
            )
        )

    def __call__(self, event: ProgressEvent) -> None:
        """The executor's progress: the row recorded as it finishes, the counts emitted."""
        if event.result is not None:
            self.job.record_row(event.result)
        counts = event.counts
        total, done = counts.get("writes_total", 0), counts.get("writes_done", 0)
        self.job.emit(
            WriteProgress(
                rows_done=counts.get("rows_done", 0),
                rows_total=counts.get("rows_total", 0),
                writes_done=done,
                writes_total=total,
                writes_made=counts.get("writes_made", 0),
                rate_per_s=event.rate,
                eta_seconds=self.eta(max(0, total - done)),
                throttled=self.stats.throttled,
                elapsed=event.elapsed,
                writes_answered=counts.get("writes_answered", 0),
                writes_in_flight=self.client.writes_in_flight(),
                rate_per_minute=event.rate_per_minute,
                enrolled_not_graded=counts.get("enrolled_not_graded", 0),
            )
        )


SILENCE_NOTICE_SECONDS = 5.0  # ALM quiet this long: the front end says so (retries go on)


def alm_problem(job: Job) -> str:
    """What a running job's front end says when ALM has not answered usefully for a few
    seconds (a host that stopped answering, a gateway failing): the retries go on in the
    background up to the give-up time; "" while ALM answers. Refused credentials and a missing
    scope stop the job at once instead (its error says what to check)."""
    wire = job.wire
    if wire is None or job.done:
        return ""
    silence = wire.silence()
    if silence is None or silence.seconds < SILENCE_NOTICE_SECONDS:
        return ""
    settings = job._settings
    host = settings.host if settings is not None else "its address"
    reason = f" (last: {silence.reason})" if silence.reason else ""
    give_up = job.options.give_up_after
    limit = f"{give_up / 60:.0f} min" if give_up >= 120 else f"{give_up:.0f} s"
    return (
        f"ALM at {host} has not answered for {silence.seconds:.0f} s{reason}. The run keeps "
        f"trying until ALM answers or {limit} have passed. Check the ALM address "
        "(ALM_BASE_URL), the network or proxy of the computer running alm-batch, and ALM's "
        "status."
    )
