"""The part of a job that talks to ALM: resolve and plan (dry run), then execute (live run).

Split from ``pipeline.py`` so that ``validate --offline`` never imports the client layer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from batch.errors import BatchError
from batch.models import CheckedRow, RowResult
from batch.pipeline import (
    JobHooks,
    JobOptions,
    JobOutcome,
    _new_summary,
    _write,
    exit_status_for,
    require_credentials,
)
from batch.settings import Settings

DEFAULT_CONCURRENCY = 4
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


def run_online(
    options: JobOptions,
    settings: Settings,
    hooks: JobHooks,
    table: Any,
    checked_rows: Iterable[CheckedRow],
) -> JobOutcome:
    from batch.alm.api import AlmClient
    from batch.cache import LookupCache
    from batch.ledger import Ledger, StateLock, apply_ledger
    from batch.plan import PlanOptions, build_plan
    from batch.resolve import Resolver

    require_credentials(settings)
    state_dir = resolve_state_dir(options, settings)
    live = not options.dry_run
    summary = _new_summary(options, table, settings.host, hooks.now())
    lock: AbstractContextManager[Any] = StateLock(state_dir) if live else nullcontext()
    warnings: list[str] = []
    with lock:
        cache = LookupCache(
            None if options.no_cache else state_dir / "cache.sqlite3",
            settings.base_url,
            ttl_seconds=options.cache_ttl,
            refresh=options.refresh_cache,
        )
        client = AlmClient(
            settings,
            concurrency=options.concurrency or DEFAULT_CONCURRENCY,
            max_rps=options.max_rps,
            give_up_after=options.give_up_after,
        )
        ledger: Any = None
        resolver: Any = None
        aborted: BatchError | None = None
        interrupted = False
        cancelled = False
        try:
            resolver = Resolver(
                client,
                cache,
                user_lookup=options.user_lookup,
                on_progress=hooks.on_progress,
                users_per_hour=settings.users_get_per_hour,
            )
            plan = build_plan(
                checked_rows,
                resolver,
                PlanOptions(overwrite=options.overwrite, user_lookup=options.user_lookup),
                on_progress=hooks.on_progress,
            )
            ledger_path = state_dir / "ledger.sqlite3"
            ledger = Ledger(ledger_path) if (live or ledger_path.exists()) else None
            if ledger is not None:
                apply_ledger(plan, ledger, settings.base_url, overwrite=options.overwrite)
            summary.writes_planned = plan.writes_needed
            summary.estimate_seconds = plan.estimate_seconds(
                writes_per_minute(client.rate_limit_headers(), settings)
            )
            if live and plan.writes_needed and hooks.confirm and not hooks.confirm(summary):
                live, cancelled = False, True
                summary.dry_run = True
            results: list[RowResult]
            if not live or ledger is None:
                results = [row.to_result() for row in plan.rows]
            else:
                ledger.start_run(
                    summary.run_id,
                    input_path=str(options.path),
                    input_sha256=summary.input_sha256,
                    options=summary.options,
                )
                results, aborted, interrupted = _execute(
                    plan, client, ledger, options, settings, summary, hooks
                )
        finally:
            warnings.extend(cache.warnings)
            if resolver is not None:
                warnings.extend(resolver.warnings)
            cache.close()
            summary.api_calls = dict(client.stats.calls)
            summary.throttled = client.stats.throttled
            summary.writes_made = client.stats.writes
            client.close()
        # Known before the rows are written, so the report's summary agrees with the exit code.
        if interrupted or aborted is not None:
            summary.exit_status = int(exit_status_for(True, aborted, interrupted))
        try:
            counting, paths = _write(results, table, summary, options, hooks, live=live)
            status = exit_status_for(counting.all_ok, aborted, interrupted)
            summary.exit_status = int(status)
            if live and ledger is not None:
                ledger.end_run(summary.run_id, int(status))
        finally:
            if ledger is not None:
                ledger.close()
    return JobOutcome(
        summary,
        status,
        paths.report,
        paths.failed,
        warnings=warnings,
        aborted=aborted,
        cancelled=cancelled,
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
            concurrency=options.concurrency or DEFAULT_CONCURRENCY,
            overwrite=options.overwrite,
            verify=options.verify,
        ),
        on_progress=hooks.on_write,
        stop=hooks.stop,
    )
    if options.verify and outcome.aborted is None and not outcome.interrupted:
        verify_results(outcome.results, plan, client)
    return outcome.results, outcome.aborted, outcome.interrupted
