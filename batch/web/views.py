"""The page's view of a job: its status as JSON, its rows as the table shows them (a page of the
job's row store: filter, search, sort), and the "did you mean" suggestions pulled from a row's
message. The job owns the rows and the counts; this renders them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from batch.errors import BatchError, ShapeQuestion
from batch.jobs import JobState, StoredRow
from batch.jobs.meter import alm_problem
from batch.jobs.results import EXCLUDED, SORTS, STATUS_ORDER
from batch.models import RowStatus
from batch.models import counted as counted  # also the templates' filter (app.py)
from batch.reporting.summary import learner_state_line
from batch.reporting.text import json_row
from batch.web import filling
from batch.web.registry import PageRun, Registry

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
EXCLUDED_MESSAGE = "Left out of the run (excluded)."
# Rows that need a person: the product's statuses that do not end well.
PROBLEM_STATUSES = frozenset(s.value for s in RowStatus if not s.ok)
# Rows that are (or would be) posted: their date and score are shown.
POSTED = frozenset({RowStatus.WOULD_COMPLETE.value, RowStatus.COMPLETED.value})

# How the page words what a message says for the command line. A message names a run option in
# words, then its flag in parentheses, "give one date for rows without one (--completion-date)":
# the CLI shows it as written; the page says where the choice is made on the page, or nothing
# when the page has no such choice. A flag named anywhere else reads as the option's name
# ("--timezone 'Mars' is not a time zone name": "The time zone 'Mars' is not ...").
_SHAPE_STEP = " (on the Shape step)"
_FLAG_NOTE = re.compile(r"\s*\(--([a-z][a-z0-9-]*)(?: [^();]*)?\)")
_FLAG = re.compile(r"--([a-z][a-z0-9-]*)")
_FLAG_NAMES = {
    "map": "the mapping",
    "sheet": "the sheet",
    "header-row": "the header row",
    "date-format": "the date order",
    "timezone": "the time zone",
    "completion-date": "the default completion date",
    "completed-values": "the values that mean done",
    "ignore-column": "the columns left out",
    "score-scale": "the score scale",
    "allow-empty": "an empty export",
    "earliest-date": "the earliest date accepted",
    "refresh-cache": "a refresh of the cache",
    "user-lookup": "the user lookup",
    "overwrite": "re-grading",
    "offline": "a check without ALM",
    "encoding": "the encoding",
    "state-dir": "another state directory",
}
_SHAPE_FLAGS = frozenset(
    ("map", "sheet", "header-row", "date-format", "timezone", "completion-date",
     "completed-values", "ignore-column", "score-scale", "allow-empty")
)  # fmt: skip
_SAME_COMMAND = re.compile(r"\b(run|Run) the same command again\b")
_CLI_ASIDE = re.compile(r" \(on the command line: [^)]*\)")  # the CLI's way, said aside


def page_text(text: str) -> str:
    """``text`` (a row's message, a run's error) in the page's words: no command-line flag."""
    if "--" not in text and "same command" not in text:
        return text

    def note(m: re.Match[str]) -> str:
        return _SHAPE_STEP if m.group(1) in _SHAPE_FLAGS else ""

    def name(m: re.Match[str]) -> str:
        words = _FLAG_NAMES.get(m.group(1), "an option of the command line")
        start = m.start() == 0 or text[: m.start()].rstrip().endswith((".", ":"))
        return words[0].upper() + words[1:] if start else words

    text = _CLI_ASIDE.sub("", text)
    text = _FLAG_NOTE.sub(note, text)
    text = _FLAG.sub(name, text)
    return _SAME_COMMAND.sub(lambda m: f"{m.group(1)} it again", text)


def error_text(error: BaseException) -> str:
    """A run-level error as the page shows it: a question's message (its hint is the CLI's
    option), any other error's message and its hint unless that names a flag, in the page's
    words."""
    if isinstance(error, ShapeQuestion):
        return page_text(error.message)
    if isinstance(error, BatchError):  # a hint that names a flag is the CLI's advice only
        hint = error.hint if error.hint and "--" not in error.hint else ""
        return page_text(f"{error.message} {hint}" if hint else error.message)
    return page_text(str(error))


@dataclass
class RowQuery:
    status: str = ""  # a status, "problems", "excluded", or "" for all
    q: str = ""
    sort: str = "row"
    desc: bool = False
    offset: int = 0
    limit: int = DEFAULT_LIMIT

    @classmethod
    def from_params(cls, params: Any) -> RowQuery:
        def number(name: str, default: int) -> int:
            try:
                return max(0, int(params.get(name) or default))
            except ValueError:
                return default

        sort = params.get("sort") or "row"
        return cls(
            status=(params.get("status") or "").strip(),
            q=(params.get("q") or "").strip(),
            sort=sort if sort in SORTS else "row",
            desc=(params.get("dir") or "") == "desc",
            offset=number("offset", 0),
            limit=min(MAX_LIMIT, number("limit", DEFAULT_LIMIT) or DEFAULT_LIMIT),
        )

    def params(self, **changes: Any) -> dict[str, Any]:
        values = {
            "status": self.status,
            "q": self.q,
            "sort": self.sort,
            "dir": "desc" if self.desc else "asc",
            "offset": self.offset,
            "limit": self.limit,
        }
        values.update(changes)
        return {k: v for k, v in values.items() if v not in ("", None)}


def query_rows(run: PageRun, query: RowQuery) -> tuple[int, list[dict[str, Any]]]:
    """(rows matching, the page of rows asked for) as the table and the JSON API show them."""
    rows = run.job.rows
    if rows is None:
        return 0, []
    total, page = rows.query(
        status=query.status,
        text=query.q,
        sort=query.sort,
        desc=query.desc,
        offset=query.offset,
        limit=query.limit,
    )
    return total, [row_json(run, found) for found in page]


def row_json(run: PageRun, found: StoredRow) -> dict[str, Any]:
    """A row as the JSON report writes it; an excluded row says so."""
    row = json_row(found.result, live=run.kind == "live")
    if found.excluded:
        row["status"], row["message"] = EXCLUDED, EXCLUDED_MESSAGE
    return row


def public_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def posted(row: dict[str, Any]) -> dict[str, str]:
    """The date and score a live run posts (or posted) for this row, as the job planned them;
    empty for rows that post nothing."""
    if row["status"] not in POSTED:
        return {"date_completed": "", "score": ""}
    return {
        "date_completed": str(row.get("date_completed") or ""),
        "score": str(row.get("score") or ""),
    }


def same_value_count(run: PageRun, header: str, value: str) -> int:
    rows = run.job.rows
    return len(rows.rows_with({header: value}, excluded=True)) if rows is not None else 0


def counts(run: PageRun) -> dict[str, int]:
    rows = run.job.rows
    return rows.counts() if rows is not None else {}


def problem_count(run: PageRun) -> int:
    """Rows that need a person (the "Only problems" filter)."""
    return sum(n for status, n in counts(run).items() if status in PROBLEM_STATUSES)


def status_counts(run: PageRun) -> list[tuple[str, int]]:
    order = {s: i for i, s in enumerate(STATUS_ORDER)}
    return sorted(counts(run).items(), key=lambda kv: order.get(kv[0], 99))


def message(run: PageRun, registry: Registry) -> str:
    """One sentence on where the run stands, in the page's words."""
    return page_text(_message(run, registry))


def _message(run: PageRun, registry: Registry) -> str:
    job = run.job
    if job.state is JobState.INTERRUPTED:
        if run.kind == "dry-run":
            return "Interrupted: the server stopped during this dry run. Start a new dry run."
        ledger = registry.ledger_counts(run) or {}
        return (
            "Interrupted: the server stopped while this run was writing. The ledger shows "
            f"{counted(ledger.get('written', 0), 'write')} made, {ledger.get('unsure', 0):,} unsure "
            f"(checked in ALM before anything is sent again) and {ledger.get('not_tried', 0):,}"
            " not tried. Run the remaining rows to finish."
        )
    if job.state is JobState.RUNNING and job.restored:
        return "Running in another alm-batch process."
    if not job.done:
        if job.cancelling:
            n = job.writes_in_flight()
            return (
                f"Cancelling: nothing more is sent; {counted(n, 'write')} already on their way to ALM "
                "get their answers, then the report is saved."
            )
        # ALM's silence first; else, while a dry run's learner state arrives, what it waits
        # for (a live run's line is its writes).
        waiting = job.waiting.current() if run.kind == "dry-run" else None
        return alm_problem(job) or filling.waiting_line(waiting)
    if job.error is not None:
        return run.friendly(error_text(job.error))
    outcome = job.outcome
    if outcome is None:
        return "Cancelled before it started: nothing was written."
    if outcome.aborted is not None:
        return run.friendly(error_text(outcome.aborted))
    if outcome.interrupted or outcome.cancelled:
        return cancelled_message(run)
    if outcome.summary.empty_input:  # the person said an empty export is normal
        return "Nothing to do: the file has a header but no data rows."
    problems = problem_count(run)
    noun = "Dry run" if run.kind == "dry-run" else "Live run"
    if problems:
        needs = "needs" if problems == 1 else "need"
        return f"{noun} finished: {counted(problems, 'row')} {needs} attention."
    return f"{noun} finished: every row ended well."


def enrolled_not_graded(run: PageRun) -> int:
    """Learners the run enrolled whose grades a stop left unsent."""
    job = run.job
    if job.outcome is not None and job.outcome.enrolled_not_graded:
        return job.outcome.enrolled_not_graded
    return job.progress.enrolled_not_graded


def cancelled_message(run: PageRun) -> str:
    """A live run that was cancelled: what was sent, what was not, and the way on."""
    not_run = counts(run).get(RowStatus.NOT_RUN.value, 0)
    half = enrolled_not_graded(run)
    text = "Cancelled: nothing more was sent after Cancel; the report is saved."
    if not_run:
        text += f" {counted(not_run, 'row')} not run."
    if half:
        text += f" {counted(half, 'learner')} enrolled but not yet graded."
    if run.can_run_rest:
        text += " Run the remaining rows to finish."
    return text


def learner_state(run: PageRun) -> dict[str, Any]:
    """Where a finished run's learner state came from and its time ("learner state as of
    09:12: ALM's learner transcript (job 4200003) for 2,000 of 2,000 learners")."""
    summary = run.job.summary
    if summary is None or not run.job.done or not summary.learner_state:
        return {"learner_state": "", "learner_state_as_of": None, "learner_state_line": ""}
    when = summary.learner_state_as_of
    line = page_text(learner_state_line(summary))
    line = line[0].upper() + line[1:] + ("" if line.endswith(".") else ".")
    return {
        "learner_state": summary.learner_state,
        "learner_state_as_of": when.isoformat() if when is not None else None,
        "learner_state_line": line,
    }


def cancel_state(run: PageRun) -> str:
    """ "" (not asked), "cancelling" (writes in flight get their answers), "cancelled"."""
    job = run.job
    if job.done:
        outcome = job.outcome
        stopped = job.state is JobState.CANCELLED or (outcome is not None and outcome.interrupted)
        return "cancelled" if stopped else ""
    return "cancelling" if job.cancelling or job.progress.cancel_requested else ""


def last_fix(run: PageRun) -> dict[str, Any] | None:
    """The rows the last fix re-decided besides the ones the person changed."""
    fix = run.job.last_fix
    if fix is None:
        return None
    return {
        "sentence": fix.sentence(),
        "edited": fix.edited,
        "excluded": fix.excluded,
        "included": fix.included,
        "changed": [
            {"row": k.row, "was": k.was, "now": k.now, "writes_was": k.writes_was,
             "writes_now": k.writes_now}
            for k in fix.knocked
        ],
    }  # fmt: skip


def exit_code(run: PageRun) -> int | None:
    job = run.job
    if job.outcome is not None:
        return int(job.outcome.exit_status)
    if job.error is not None:
        return int(job.error.exit_status)
    if job.state is JobState.CANCELLED:
        return 130
    return None


def live_state(run: PageRun, registry: Registry) -> str | None:
    """The state of the run that carried this one on (a dry run's live run), if any."""
    if run.live_job is None:
        return None
    found = registry.get(run.live_job)
    return found.state if found is not None else None


def status(run: PageRun, registry: Registry) -> dict[str, Any]:
    """``GET /api/jobs/{id}``: the job as the page shows it (product.md's JSON API)."""
    job = run.job
    progress, summary = job.progress, job.summary
    finished = job.done and summary is not None
    writes_planned = summary.writes_planned if summary is not None else 0
    rows_planned = counts(run).get(RowStatus.WOULD_COMPLETE.value, 0)
    if run.kind == "live":
        rows_planned = progress.rows_total
    if job.bound is not None:  # the confirmation's totals, fixed for the whole run
        writes_planned, rows_planned = job.bound.writes_total, job.bound.rows_total
    elif not job.done and progress.writes_total:
        writes_planned = progress.writes_total
    out = {
        "job_id": run.job_id,
        "kind": run.kind,
        "state": run.state,
        "file": run.upload.file,
        "upload_id": run.upload.upload_id,
        "counts": counts(run),
        "rows": len(job.rows) if job.rows is not None else 0,
        "writes_planned": writes_planned,
        "writes_done": progress.writes_done,
        "writes_made": summary.writes_made if finished and summary else progress.writes_made,
        "rows_done": progress.rows_done,
        "rows_total": progress.rows_total,
        "rate_per_s": round(progress.rate_per_s, 1),
        "eta_seconds": None if progress.eta_seconds is None else round(progress.eta_seconds, 1),
        "throttled": summary.throttled if finished and summary else progress.throttled,
        "estimate_seconds": summary.estimate_seconds if summary is not None else None,
        "actual_seconds": summary.actual_seconds if finished and summary else None,
        "stage": progress.stage,
        "stage_done": progress.stage_done,
        "stage_total": progress.stage_total,
        "exit_code": exit_code(run),
        "message": message(run, registry),
        "edits": [
            {"row": e.row, "column": e.column, "old": e.old, "new": e.new} for e in run.edits
        ],
        "excluded": sorted(run.excluded),
        "parent": run.parent,
        "live_job": run.live_job,
        "created": datetime.fromtimestamp(run.created, UTC).isoformat(),
        "can_run_rest": run.can_run_rest,
        # The live run's counters (writes count when ALM answers them; the planned totals are
        # the confirmation's and do not change), the Cancel and ALM's silence.
        "rows_planned": rows_planned,
        "writes_answered": progress.writes_answered,
        "writes_in_flight": job.writes_in_flight() if not job.done else 0,
        "rate_per_minute": round(progress.rate_per_minute, 1),
        "enrolled_not_graded": enrolled_not_graded(run),
        "cancel_state": cancel_state(run),
        "alm_problem": alm_problem(job),
        "last_fix": last_fix(run),
        "live_job_state": live_state(run, registry),
        # A dry run filling: what it waits for, the time left, the rows still waiting; then
        # where its learner state came from and its time.
        **filling.filling(job),
        **learner_state(run),
    }
    if run.kind == "live" and job.state is JobState.INTERRUPTED:
        out["ledger"] = registry.ledger_counts(run)
    return out
