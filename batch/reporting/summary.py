"""The run summary as people and schedulers see it: the stderr block, the JSON and the Summary sheet.

Everything here is pure: it formats a ``RunSummary`` and never prints (only ``cli.py`` prints).
Secrets never get through: option keys that look like credentials are dropped, and the ALM host
is reduced to scheme, host and port.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit

from batch.errors import ExitStatus
from batch.models import RowStatus, RunSummary
from batch.reporting.edits import EDITS_SHEET, edits_path_for

# An option whose key contains one of these is never shown, whatever its value.
_SECRET_MARKERS = (
    "secret",
    "token",
    "password",
    "passwd",
    "credential",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
)
_TOP_ENDPOINTS = 3
# Options that hold a number of seconds: people read them in words ("24 h", "10 min").
_DURATION_OPTIONS = frozenset({"cache_ttl", "give_up_after", "token_ttl", "max_retry_after"})
# The files a run wrote, as ``report_files`` labels them: (key, stderr label, Summary label).
_REPORT_KINDS = (
    ("report", "report", "Report file"),
    ("failed_rows", "failed rows", "Failed-rows file"),
    ("edits", "edits", "Edits file"),
)


def is_secret_key(key: str) -> bool:
    """True for option names that may hold a credential (client_secret, refresh_token...)."""
    folded = key.casefold().replace("-", "_")
    return any(marker in folded for marker in _SECRET_MARKERS)


def _json_value(value: Any) -> Any:
    """``value`` as JSON-safe data; secrets (pydantic ``SecretStr``...) become None."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if type(value).__name__.startswith("Secret"):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return _json_value(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return safe_options(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_json_value(v) for v in items]
    return str(value)


def safe_options(options: Mapping[Any, Any]) -> dict[str, Any]:
    """The options worth showing: secret-looking keys and secret values dropped, JSON-safe."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        name = str(key)
        if is_secret_key(name) or type(value).__name__.startswith("Secret"):
            continue
        out[name] = _json_value(value)
    return out


def safe_host(host: str) -> str:
    """``scheme://host[:port]`` of ``host``: no user info, path or query that could carry a token."""
    if "://" not in host:
        return host.split("@")[-1].split("/")[0]
    parts = urlsplit(host)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{netloc}"


def duration_seconds(summary: RunSummary) -> float | None:
    if summary.ended_at is None:
        return None
    return round((summary.ended_at - summary.started_at).total_seconds(), 3)


def failed_rows(summary: RunSummary) -> int:
    """Rows whose status did not end well, from the counts."""
    return sum(n for status, n in summary.counts.items() if not RowStatus(status).ok)


def exit_meaning(summary: RunSummary) -> str:
    """One sentence on what the exit code means for this run (what to do next)."""
    code = summary.exit_status
    if code == ExitStatus.OK:
        if summary.empty_input:
            return "nothing to do: the file has no data rows"
        if summary.counts.get("valid"):
            meaning = "the file is valid, but it was not checked against ALM (--offline)"
        elif summary.dry_run:
            meaning = "every row is ready for the live run"
        else:
            meaning = "every row ended well"
        skipped = summary.counts.get(RowStatus.NOT_COMPLETED.value, 0)
        if skipped:
            rows = "1 row" if skipped == 1 else f"{skipped:,} rows"
            meaning += f" ({rows} the file marks as not completed: nothing posted for them)"
        return meaning
    if code == ExitStatus.ROWS_FAILED:
        n = failed_rows(summary)
        rows = "1 row needs" if n == 1 else f"{n:,} rows need"
        where = "the failed-rows file" if report_files(summary)["failed_rows"] else "the report"
        return f"{rows} attention: see {where}"
    if code == ExitStatus.RETRYABLE:
        n = failed_rows(summary)
        rows = "1 row" if n == 1 else f"{n:,} rows"
        return (
            f"{rows} could not be written for a reason a later run can fix (ALM kept failing "
            "past the retries, or the state directory could not be written); nothing to fix "
            "in the file: run the same command again later"
        )
    if code == ExitStatus.USAGE:
        return "usage, configuration or unreadable input; nothing was written to ALM"
    if code == ExitStatus.ABORTED:
        return (
            "ALM stopped the run (authentication refused, write scope missing, every grade "
            "body refused, or API unreachable); "
            "the report shows what was done"
        )
    if code == ExitStatus.INTERRUPTED:
        return "interrupted; report and ledger saved: run the same command again to resume"
    return "unexpected exit code"


def summary_json(summary: RunSummary) -> dict[str, Any]:
    """The summary as JSON-safe data (datetimes ISO 8601) for ``--json-summary`` and JSON reports.

    ``counts`` lists every status (zeros included) in the order of ``RowStatus`` so a scheduler
    can read ``counts["failed"]`` without a default.
    """
    counts = {s.value: int(summary.counts.get(s.value, 0)) for s in RowStatus}
    return {
        "run_id": summary.run_id,
        "command": summary.command,
        "dry_run": summary.dry_run,
        "input_path": summary.input_path,
        "input_name": summary.input_file,
        "input_sha256": summary.input_sha256,
        "alm_host": safe_host(summary.alm_host),
        "started_at": summary.started_at.isoformat(),
        "ended_at": summary.ended_at.isoformat() if summary.ended_at else None,
        "duration_seconds": duration_seconds(summary),
        "rows": summary.rows,
        "counts": counts,
        "rows_ok": sum(n for s, n in counts.items() if RowStatus(s).ok),
        "rows_failed": sum(n for s, n in counts.items() if not RowStatus(s).ok),
        "writes_planned": summary.writes_planned,
        "writes_made": summary.writes_made,
        "api_calls_total": sum(summary.api_calls.values()),
        "api_calls": dict(summary.api_calls),
        "throttled": summary.throttled,
        **({"grade_body": summary.grade_body} if summary.grade_body else {}),
        **_learner_state_json(summary),
        "estimate_seconds": _json_value(summary.estimate_seconds),
        "estimate_basis": summary.estimate_basis,
        "actual_seconds": _json_value(summary.actual_seconds),
        "options": safe_options(summary.options),
        "reports": report_files(summary),
        "report_paths": list(summary.report_paths),  # unlabelled; kept for existing scripts
        "exit_status": int(summary.exit_status),
        "exit_meaning": exit_meaning(summary),
    }


def _learner_state_json(summary: RunSummary) -> dict[str, Any]:
    if not summary.learner_state:
        return {}
    when = summary.learner_state_as_of
    return {
        "learner_state": summary.learner_state,
        "learner_state_as_of": when.isoformat() if when is not None else None,
    }


def learner_state_line(summary: RunSummary) -> str:
    """``learner state as of 09:12 (ALM's learner transcript ...)`` in local time, or where it
    came from when no transcript was used; "" when the run read none."""
    if not summary.learner_state:
        return ""
    when = summary.learner_state_as_of
    if when is None:
        return f"learner state: {summary.learner_state}"
    local = when.astimezone()
    shown = (
        local.strftime("%H:%M")
        if local.date() == datetime.now().astimezone().date()
        else (local.strftime("%Y-%m-%d %H:%M"))
    )
    return f"learner state as of {shown}: {summary.learner_state}"


def report_files(summary: RunSummary) -> dict[str, str | None]:
    """The files a run wrote, labelled: ``{"report": ..., "failed_rows": ... or None}``, plus
    ``"edits"`` when a CSV report's edits sidecar was written (the key is absent otherwise).

    ``summary.report_paths`` holds the report first, then the failed-rows file when a row
    failed, then the edits sidecar (``write_reports`` fills it). The sidecar is told apart by
    its name (``edits_path_for`` of the report), so an older list of two stays as it was.
    """
    paths = summary.report_paths
    out: dict[str, str | None] = {"report": paths[0] if paths else None, "failed_rows": None}
    if not paths:
        return out
    edits = str(edits_path_for(PurePath(paths[0])))
    for path in paths[1:]:
        if path == edits:
            out["edits"] = path
        elif out["failed_rows"] is None:
            out["failed_rows"] = path
    return out


def _labelled_paths(summary: RunSummary) -> list[tuple[str, str, str]]:
    """``(stderr label, Summary-sheet label, path)`` for each file the run wrote, in order."""
    files = report_files(summary)
    return [(short, long, path) for key, short, long in _REPORT_KINDS if (path := files.get(key))]


def is_duration_option(key: str) -> bool:
    """True for options that hold seconds (``cache_ttl``, ``give_up_after``...)."""
    return key in _DURATION_OPTIONS or key.endswith(("_seconds", "_ttl"))


def human_duration(seconds: float) -> str:
    """``0.4 s``, ``42 s``, ``2 min 3 s``, ``2 h 10 min``: as precise as a person needs."""
    if seconds < 0.1:
        return "under 0.1 s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    if total < 3600:
        minutes, secs = divmod(total, 60)
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, rest = divmod(round(seconds / 60), 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _writes_line(summary: RunSummary) -> str:
    planned = summary.writes_planned
    est = summary.estimate_seconds
    if summary.dry_run:
        line = "writes: none made (dry run)"
        if planned:
            line += f"; the live run needs {_plural(planned, 'write')}"
            if est is not None and est > 0:
                line += f", about {human_duration(est)}"
                if summary.estimate_basis:
                    line += f" ({summary.estimate_basis})"
        return line
    line = f"writes: {summary.writes_made:,} made of {planned:,} planned"
    if summary.actual_seconds is not None and planned:
        line += f"; took {human_duration(summary.actual_seconds)}"
        if est is not None and est > 0:
            line += f" (estimated {human_duration(est)})"
    return line


def _calls_line(summary: RunSummary) -> str:
    total = sum(summary.api_calls.values())
    if not total:
        return "API calls: 0"
    ranked = sorted(summary.api_calls.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = [f"{name} {n:,}" for name, n in ranked[:_TOP_ENDPOINTS]]
    others = sum(n for _, n in ranked[_TOP_ENDPOINTS:])
    if others:
        shown.append(f"{others:,} other")
    return f"API calls: {total:,} ({', '.join(shown)})"


def format_plan(summary: RunSummary) -> str:
    """What a live run is about to do, shown before asking to proceed (``counts`` and
    ``rows`` hold the plan's outcome per row; nothing has been written yet)."""
    name = summary.input_file if summary.input_path else "(no input)"
    lines = [f"Plan for {name} ({_plural(summary.rows, 'row')}) on {safe_host(summary.alm_host)}:"]
    shown = [(s.value, summary.counts.get(s.value, 0)) for s in RowStatus]
    shown = [(status, n) for status, n in shown if n]
    width = max((len(f"{n:,}") for _, n in shown), default=1)
    lines.extend(f"  {status:<18} {n:>{width},}" for status, n in shown)
    line = f"Writes needed: {summary.writes_planned:,}"
    est = summary.estimate_seconds
    if est is not None and est > 0 and summary.writes_planned:
        line += f", about {human_duration(est)}"
        rate = summary.writes_per_minute
        if rate:
            line += f" at {rate:,.0f} writes/min (ALM's write limit)"
    lines.append(line)
    state = learner_state_line(summary)
    if state and summary.learner_state_as_of is not None:
        # The plan came from ALM's transcript: the live run reads each learner again and
        # writes nothing beyond this plan.
        lines.append(state[0].upper() + state[1:])
        lines.append("Each learner is read again before their writes; nothing beyond this plan.")
    return "\n".join(lines)


def format_summary(summary: RunSummary, *, quiet: bool = False) -> str:
    """The short block printed on stderr at the end of a run (``quiet``: only the report paths).

    Plain ASCII apart from the paths, so a Windows console or a cron mail shows it intact.
    """
    if quiet:
        return "\n".join(summary.report_paths)
    mode = "dry run" if summary.dry_run else "live"
    name = summary.input_file if summary.input_path else "(no input)"
    took = duration_seconds(summary)
    head = f"alm-batch {summary.command} ({mode}): {name}, {_plural(summary.rows, 'row')}"
    if took is not None:
        head += f" in {human_duration(took)}"
    lines = [head]
    counts = [(s.value, summary.counts.get(s.value, 0)) for s in RowStatus]
    shown = [(status, n) for status, n in counts if n]
    width = max((len(f"{n:,}") for _, n in shown), default=1)
    lines.extend(f"  {status:<18} {n:>{width},}" for status, n in shown)
    lines.append(_writes_line(summary))
    lines.append(_calls_line(summary))
    lines.append(f"429s met: {summary.throttled:,}")
    if summary.grade_body:
        lines.append(f"grade body: {summary.grade_body}")
    if learner_state_line(summary):
        lines.append(learner_state_line(summary))
    if summary.edits:
        lines.append(f"edits made before the run: {len(summary.edits):,}")
    lines.extend(f"{label}: {path}" for label, _, path in _labelled_paths(summary))
    lines.append(f"exit {int(summary.exit_status)}: {exit_meaning(summary)}")
    return "\n".join(lines)


def summary_rows(summary: RunSummary) -> list[tuple[str, str | int | float | None]]:
    """The Summary sheet of an XLSX report, label then value, top to bottom (blank = spacer)."""
    data = summary_json(summary)
    rows: list[tuple[str, str | int | float | None]] = [
        ("Input file", summary.input_file),
        ("Input path", summary.input_path),
        ("Input SHA-256", summary.input_sha256),
        ("ALM host", data["alm_host"]),
        ("Run id", summary.run_id),
        ("Command", summary.command),
        ("Mode", "dry run (nothing written to ALM)" if summary.dry_run else "live"),
        ("Started", data["started_at"]),
        ("Ended", data["ended_at"]),
        ("Duration", _duration_cell(data["duration_seconds"])),
        ("Rows", summary.rows),
    ]
    if summary.edits:
        rows.append(
            ("Edits made before the run", f"{len(summary.edits):,} (see the {EDITS_SHEET} sheet)")
        )
    rows += [
        ("", None),
        ("Rows per status", None),
    ]
    rows.extend((status, n) for status, n in data["counts"].items())
    rows.extend(
        [
            ("", None),
            ("Writes planned", summary.writes_planned),
            ("Writes made", summary.writes_made),
            ("API calls", data["api_calls_total"]),
        ]
    )
    rows.extend((f"  {name}", n) for name, n in data["api_calls"].items())
    rows.append(("429s met", summary.throttled))
    if summary.grade_body:
        rows.append(("grade body", summary.grade_body))
    if summary.learner_state:
        rows.append(("Learner state", summary.learner_state))
        when = summary.learner_state_as_of
        if when is not None:
            rows.append(
                ("Learner state as of", when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"))
            )
    if summary.estimate_seconds is not None:
        rows.append(("Live run estimate", human_duration(summary.estimate_seconds)))
        if summary.estimate_basis:
            rows.append(("Estimate basis", summary.estimate_basis))
    if summary.actual_seconds is not None and not summary.dry_run:
        rows.append(("Live run took", human_duration(summary.actual_seconds)))
    rows.extend(
        [
            ("Exit code", int(summary.exit_status)),
            ("Exit meaning", data["exit_meaning"]),
            ("", None),
            ("Options", None),
        ]
    )
    rows.extend((f"  {key}", _option_cell(key, value)) for key, value in data["options"].items())
    rows.append(("", None))
    rows.extend((label, path) for _, label, path in _labelled_paths(summary))
    return rows


def _duration_cell(seconds: float | None) -> str:
    return human_duration(seconds) if seconds is not None else "(not finished)"


def _option_cell(key: str, value: Any) -> str | int | float:
    """An option value as one readable cell: yes/no, a duration in words, a number, or text."""
    if is_duration_option(key) and isinstance(value, int | float) and not isinstance(value, bool):
        return human_duration(float(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return ""
    if isinstance(value, str | int | float):
        return value
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)
