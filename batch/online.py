"""The part of a job that talks to ALM: resolve and plan (dry run), then execute (live run).

Split from ``pipeline.py`` so that ``validate --offline`` never imports the client layer.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

from batch.errors import AbortError, BatchError, Interrupted
from batch.models import CheckedRow, RowResult, RowStatus, RunSummary, exit_status_for
from batch.pipeline import (
    JobHooks,
    JobOptions,
    JobOutcome,
    _new_summary,
    _write,
    offline_result,
    require_credentials,
)
from batch.redact import redact
from batch.settings import Settings

MIN_CONCURRENCY = 4
MAX_CONCURRENCY = 32
ASSUMED_WRITE_SECONDS = 0.25  # a write's round trip; ALM answers in 50-300 ms


def default_concurrency(writes_per_minute: float) -> int:
    """Enough workers to keep the write allowance busy, and no more: the rate limiter paces
    them, so extra workers only wait. At ALM's documented 30 writes/min 4 are plenty; a
    faster allowance (a raised limit, or the time-scaled sandbox) needs rate x latency."""
    needed = writes_per_minute / 60.0 * ASSUMED_WRITE_SECONDS * 2
    return max(MIN_CONCURRENCY, min(MAX_CONCURRENCY, math.ceil(needed)))


_RATE = re.compile(r"^\s*([\d.]+)\s*r\s*/\s*([smh])", re.IGNORECASE)


def writes_per_minute(headers: dict[str, str], settings: Settings) -> float:
    """The write allowance: ALM's POST ``x-rate-limit`` when seen, else the configured default."""
    value = headers.get("POST") or headers.get("post") or ""
    match = _RATE.match(value)
    if match:
        amount, unit = float(match.group(1)), match.group(2).lower()
        return amount * {"s": 60.0, "m": 1.0, "h": 1.0 / 60.0}[unit]
    return settings.post_per_minute


def resolve_state_dir(options: JobOptions, settings: Settings) -> Path:
    from batch.cache import default_state_dir

    state_dir = options.state_dir or settings.batch_state_dir or default_state_dir()
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from batch.errors import StateError

        raise StateError(
            f"Cannot create the state directory {state_dir}: {exc.strerror}.",
            hint="Pass --state-dir DIR (or set ALM_BATCH_STATE_DIR) to a writable folder.",
        ) from exc
    return state_dir


INTERRUPTED_LOOKUP = (
    "Not attempted: the run was interrupted while looking up learners and courses in ALM; "
    "nothing was written. Run the same command again to finish."
)


def not_attempted(checked: CheckedRow, message: str = INTERRUPTED_LOOKUP) -> RowResult:
    """A row the run stopped before reaching (Ctrl-C or an abort while looking things up)."""
    result = offline_result(checked)
    if result.status is RowStatus.WOULD_COMPLETE:
        result.status = RowStatus.UNKNOWN
        result.action = "none"
        result.message = message
    return result


def run_online(
    options: JobOptions,
    settings: Settings,
    hooks: JobHooks,
    table: Any,
    checked_rows: Iterable[CheckedRow],
    started: datetime,
) -> JobOutcome:
    from batch.alm.api import AlmClient
    from batch.cache import LookupCache
    from batch.ledger import StateLock
    from batch.resolve import Resolver

    require_credentials(settings)
    state_dir = resolve_state_dir(options, settings)
    summary = _new_summary(options, table, settings.host, started)
    run = _Run(options, settings, hooks, summary, live=not options.dry_run)
    lock: AbstractContextManager[Any] = StateLock(state_dir) if run.live else nullcontext()
    with lock:
        cache = LookupCache(
            None if options.no_cache else state_dir / "cache.sqlite3",
            settings.base_url,
            ttl_seconds=options.cache_ttl,
            refresh=options.refresh_cache,
        )
        client = AlmClient(
            settings,
            concurrency=options.concurrency or default_concurrency(settings.post_per_minute),
            max_rps=options.max_rps,
            give_up_after=options.give_up_after,
        )
        resolver: Any = None
        try:
            resolver = Resolver(
                client,
                cache,
                user_lookup=options.user_lookup,
                on_progress=hooks.on_progress,
                users_per_hour=settings.users_get_per_hour,
                stop=hooks.stop,
            )
            results = run.plan_and_execute(list(checked_rows), resolver, client, state_dir)
        finally:
            run.warnings.extend(cache.warnings)
            if resolver is not None:
                run.warnings.extend(resolver.warnings)
            cache.close()
            summary.api_calls = dict(client.stats.calls)
            summary.throttled = client.stats.throttled
            summary.writes_made = client.stats.writes
            client.close()
        return run.finish(results, table)


class _Run:
    """The state of one online job between planning, execution and the report."""

    def __init__(
        self,
        options: JobOptions,
        settings: Settings,
        hooks: JobHooks,
        summary: RunSummary,
        *,
        live: bool,
    ) -> None:
        self.options = options
        self.settings = settings
        self.hooks = hooks
        self.summary = summary
        self.live = live
        self.ledger: Any = None
        self.aborted: BatchError | None = None
        self.interrupted = False
        self.cancelled = False
        self.warnings: list[str] = []

    def plan_and_execute(
        self, checked: list[CheckedRow], resolver: Any, client: Any, state_dir: Path
    ) -> list[RowResult]:
        from batch.ledger import Ledger, apply_ledger
        from batch.plan import PlanOptions, build_plan

        options, summary = self.options, self.summary
        try:
            plan = build_plan(
                checked,
                resolver,
                PlanOptions(overwrite=options.overwrite, user_lookup=options.user_lookup),
                on_progress=self.hooks.on_progress,
            )
        except Interrupted:
            # Ctrl-C while looking things up: nothing was written; every row is reported.
            self.interrupted = True
            return [not_attempted(c) for c in checked]
        except AbortError as exc:
            # Credentials refused or ALM unreachable before any write: exit 3, with the report.
            self.aborted = exc
            message = (
                f"Not attempted: ALM stopped the run before any write: {redact(str(exc))} "
                "Nothing was written; run the same command again once this is fixed."
            )
            return [not_attempted(c, message) for c in checked]
        ledger_path = state_dir / "ledger.sqlite3"
        if self.live or ledger_path.exists():
            self.ledger = Ledger(ledger_path)
            apply_ledger(plan, self.ledger, self.settings.base_url, overwrite=options.overwrite)
        summary.writes_planned = plan.writes_needed
        summary.estimate_seconds = plan.estimate_seconds(
            writes_per_minute(client.rate_limit_headers(), self.settings)
        )
        confirm = self.hooks.confirm
        if self.live and plan.writes_needed and confirm is not None:
            summary.counts = dict(Counter(str(r.status) for r in plan.rows))
            summary.rows = len(plan.rows)
        if self.live and plan.writes_needed and confirm is not None and not confirm(summary):
            self.live, self.cancelled, summary.dry_run = False, True, True
        if not self.live or self.ledger is None:
            return [row.to_result() for row in plan.rows]
        self.ledger.start_run(
            summary.run_id,
            input_path=str(options.path),
            input_sha256=summary.input_sha256,
            options=summary.options,
        )
        results, self.aborted, self.interrupted = _execute(
            plan, client, self.ledger, options, self.settings, summary, self.hooks
        )
        return results

    def finish(self, results: list[RowResult], table: Any) -> JobOutcome:
        """Write the reports, settle the exit code, close the ledger."""
        summary = self.summary
        # Known before the rows are written, so the report's summary agrees with the exit code.
        if self.interrupted or self.aborted is not None:
            summary.exit_status = int(
                exit_status_for((), aborted=self.aborted, interrupted=self.interrupted)
            )
        try:
            counting, paths = _write(
                results, table, summary, self.options, self.hooks, live=self.live
            )
            status = exit_status_for(
                counting.notable, aborted=self.aborted, interrupted=self.interrupted
            )
            summary.exit_status = int(status)
            if self.live and self.ledger is not None:
                self.ledger.end_run(summary.run_id, int(status))
        finally:
            if self.ledger is not None:
                self.ledger.close()
        return JobOutcome(
            summary,
            status,
            paths.report,
            paths.failed,
            warnings=self.warnings,
            aborted=self.aborted,
            cancelled=self.cancelled,
        )


def _execute(
    plan: Any,
    client: Any,
    ledger: Any,
    options: JobOptions,
    settings: Settings,
    summary: Any,
    hooks: JobHooks,
) -> tuple[list[RowResult], BatchError | None, bool]:
    from batch.execute import ExecuteOptions, execute_plan, verify_results

    outcome = execute_plan(
        plan,
        client,
        ledger,
        ExecuteOptions(
            run_id=summary.run_id,
            base_url=settings.base_url,
            input_sha256=summary.input_sha256,
            concurrency=options.concurrency
            or default_concurrency(writes_per_minute(client.rate_limit_headers(), settings)),
            overwrite=options.overwrite,
            verify=options.verify,
        ),
        on_progress=hooks.on_write,
        stop=hooks.stop,
    )
    if options.verify and outcome.aborted is None and not outcome.interrupted:
        verify_results(outcome.results, plan, client)
    return outcome.results, outcome.aborted, outcome.interrupted
