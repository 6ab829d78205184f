"""The page's one door into the job engine (``batch.jobs``).

Every call the page makes into the pipeline lives here:

- each dry run or live run is a ``batch.jobs.Job`` run in a thread, its events feeding the
  progress the page shows and pushes (SSE); Cancel is ``Job.cancel()`` (Ctrl-C semantics);
- the job always writes its report as JSON in the job's folder, and the page's table, filters
  and paging work on those rows (read back after a restart too);
- fixes: ``Job.recheck(edits, exclude)`` re-checks just the changed rows of the finished dry run
  (the whole file is validated again, so date orders and duplicates stay file-wide), and a live
  run after fixes runs the original file with the same ``edits`` / ``exclude`` options: the file
  is never changed, and every report lists the edits;
- downloads: ``Job.export(path)`` writes the kept rows in the format asked (and the failed-rows
  file beside it), exactly as the CLI writes them.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batch.errors import BatchError, UsageError
from batch.jobs import Job, JobEvent, JobOptions, PlanReady, StageProgress, WriteProgress, inspect
from batch.jobs.history import live_runs
from batch.jobs.options import ShapeOptions
from batch.models import RowResult, RowStatus, RunSummary
from batch.reporting import ReportPaths, summary_json, write_reports
from batch.reporting.text import json_row
from batch.settings import Settings

# Rows that need a person, and the order statuses are listed in: the product's row outcomes,
# plus the page's own "excluded".
PROBLEM_STATUSES = frozenset(s.value for s in RowStatus if not s.ok)
STATUS_ORDER = (*(s.value for s in RowStatus), "excluded")


@dataclass
class Upload:
    upload_id: str
    file: str  # the name the person's file had (shown, never used as a path)
    path: Path  # stored under a generated name
    created: float
    choice: ShapeOptions = field(default_factory=ShapeOptions)
    shape: dict[str, Any] | None = None
    shape_key: str = ""

    def friendly(self, text: str) -> str:
        """A message about the stored file, naming the file the person uploaded instead."""
        return _safe(text.replace(str(self.path), self.file))


@dataclass
class Edit:
    row: int
    column: str
    old: str
    new: str


class WebJob:
    """One dry run or live run as the page sees it."""

    def __init__(
        self, kind: str, upload: Upload, choice: ShapeOptions, folder: Path, job_id: str = ""
    ) -> None:
        self.job_id = job_id or uuid.uuid4().hex[:12]
        self.restored = False  # read back from disk after a restart: view and download only
        self.kind = kind  # "dry-run" | "live"
        self.upload = upload
        self.choice = choice
        self.folder = folder
        self.state = "queued"
        self.stage = ""
        self.stage_done = 0
        self.stage_total = 0
        self.counts: dict[str, int] = {}
        self.writes_planned = 0
        self.writes_done = 0
        self.writes_made = 0
        self.rows_done = 0
        self.rows_total = 0
        self.rate = 0.0
        self.eta: float | None = None
        self.throttled = 0
        self.estimate_seconds: float | None = None
        self.actual_seconds: float | None = None  # a live run's reads and writes, once done
        self.exit_code: int | None = None
        self.message = ""
        self.columns: list[str] = []
        self.rows: list[dict[str, Any]] = []
        self.by_row: dict[int, dict[str, Any]] = {}
        self.edits: list[Edit] = []
        self.excluded: set[int] = set()
        self.summary: dict[str, Any] = {}
        self.parent: str | None = None  # the dry run a live job came from
        self.live_job: str | None = None
        self.created = time.time()
        self.finished: float | None = None
        self.stop = threading.Event()
        self.engine_job: Job | None = None  # the engine's job, once started
        self.thread: threading.Thread | None = None
        self.lock = threading.RLock()
        self.version = 0  # bumped on every change: the SSE stream sends when it moves
        self.rows_version = 0  # bumped when rows change (load, edit): keys the sort cache
        self.orders: dict[tuple[str, int], list[dict[str, Any]]] = {}  # the table's sort cache

    # -- what the page reads ----------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.state in ("done", "failed", "cancelled")

    def friendly(self, text: str) -> str:
        for copy in self.folder.rglob("input.csv"):
            text = text.replace(str(copy), self.upload.file)
        return self.upload.friendly(text)

    def status(self) -> dict[str, Any]:
        with self.lock:
            return {
                "job_id": self.job_id,
                "kind": self.kind,
                "state": self.state,
                "file": self.upload.file,
                "upload_id": self.upload.upload_id,
                "counts": dict(self.counts),
                "rows": len(self.rows),
                "writes_planned": self.writes_planned,
                "writes_done": self.writes_done,
                "writes_made": self.writes_made,
                "rows_done": self.rows_done,
                "rows_total": self.rows_total,
                "rate_per_s": round(self.rate, 1),
                "eta_seconds": None if self.eta is None else round(self.eta, 1),
                "throttled": self.throttled,
                "estimate_seconds": self.estimate_seconds,
                "actual_seconds": self.actual_seconds,
                "stage": self.stage,
                "stage_done": self.stage_done,
                "stage_total": self.stage_total,
                "exit_code": self.exit_code,
                "message": self.message,
                "edits": [e.__dict__ for e in self.edits],
                "excluded": sorted(self.excluded),
                "parent": self.parent,
                "live_job": self.live_job,
                "created": datetime.fromtimestamp(self.created, UTC).isoformat(),
            }

    def _touch(self) -> None:
        self.version += 1

    def recount(self) -> None:
        self.rows_version += 1
        self.counts = dict(Counter(r["status"] for r in self.rows))
        if self.kind == "dry-run" and self.state == "done":
            # After a fix, the plan's write count follows the rows' actions ("enroll + grade 2
            # modules" = 3 writes); the time estimate scales with it.
            planned = planned_writes(self.rows)
            if self.writes_planned and self.estimate_seconds is not None:
                self.estimate_seconds *= planned / self.writes_planned
            self.writes_planned = planned
        if self.state == "done":
            self.message = _finished_message(self)
        self._touch()


def account_key(settings: Settings) -> str:
    """One ALM account = one base URL + client: the unit that shares a write allowance."""
    return f"{settings.base_url}|{settings.client_id or '(token)'}"


class Engine:
    """Holds the jobs of one server and the account locks (one live run per account)."""

    def __init__(self, state_dir: Path, settings_factory: Callable[[], Settings]) -> None:
        self.state_dir = state_dir
        self.jobs_dir = state_dir / "web" / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self._settings_factory = settings_factory
        self.jobs: dict[str, WebJob] = {}
        self._live: dict[str, str] = {}  # account key -> running live job id
        self.on_loaded: Callable[[WebJob], None] | None = None  # the page warms its caches
        self._lock = threading.Lock()

    def settings(self) -> Settings:
        return self._settings_factory()

    # -- shape --------------------------------------------------------------------------------
    def shape(self, upload: Upload, choice: ShapeOptions) -> dict[str, Any]:
        """The Shape step's data; raises BatchError when the file cannot be read at all.
        Cached per choice: reading a 20,000-row workbook twice for the same answer costs
        seconds."""
        key = json.dumps(choice.shape_json(), sort_keys=True)
        if upload.shape is not None and upload.shape_key == key:
            return upload.shape
        result = inspect.shape(upload.path, choice).as_json()
        result["ambiguous_dates"] = {
            f: upload.friendly(m) for f, m in result["ambiguous_dates"].items()
        }
        if result["error"]:
            result["error"] = upload.friendly(result["error"])
        upload.shape = result
        upload.shape_key = key
        return result

    @staticmethod
    def sheet_names(upload: Upload) -> list[str]:
        return inspect.sheet_names(upload.path)

    # -- dry run / live run -------------------------------------------------------------------
    def start_dry_run(self, upload: Upload, choice: ShapeOptions) -> WebJob:
        job = self._new_job("dry-run", upload, choice)
        self._spawn(job, self._run, job, dry_run=True)
        return job

    def start_live(self, dry: WebJob) -> WebJob:
        """A live run of a finished dry run (with its edits). Raises BusyError when a live run
        against the same ALM account is already going: the allowance is per account."""
        if dry.kind != "dry-run" or dry.state != "done":
            raise UsageError("Only a finished dry run can be run live: wait for it to end.")
        if dry.restored:
            raise UsageError(
                "This dry run is from an earlier session of the page: upload the file again "
                "to check it and run it live."
            )
        settings = self.settings()
        key = account_key(settings)
        with self._lock:
            running = self._live.get(key)
            if running is not None and not self.jobs[running].done:
                raise BusyError(
                    f"Another live run ({self.jobs[running].upload.file}) is writing to this "
                    "ALM account: its writes share one allowance, so this one would only slow "
                    f"it down. Wait for job {running} to finish, then start this run again."
                )
            job = self._new_job("live", dry.upload, dry.choice)
            job.parent = dry.job_id
            job.edits = list(dry.edits)
            job.excluded = set(dry.excluded)
            dry.live_job = job.job_id
            self._live[key] = job.job_id
        self._spawn(job, self._run, job, dry_run=False, settings=settings)
        return job

    def cancel(self, job: WebJob) -> None:
        job.stop.set()
        if job.engine_job is not None:
            job.engine_job.cancel()
        with job.lock:
            if not job.done:
                job.message = "Cancelling: writes in flight finish, then the report is saved."
                job._touch()

    def shutdown(self, wait: float = 60.0) -> list[WebJob]:
        """Ctrl-C for every running job (writes in flight finish, reports saved); waits up to
        ``wait`` seconds in all. Returns the jobs that were still running."""
        running = [j for j in self.jobs.values() if not j.done]
        for job in running:
            self.cancel(job)
        deadline = time.monotonic() + wait
        for job in running:
            if job.thread is not None:
                job.thread.join(max(0.0, deadline - time.monotonic()))
        return running

    def _new_job(self, kind: str, upload: Upload, choice: ShapeOptions) -> WebJob:
        job_id = uuid.uuid4().hex[:12]
        folder = self.jobs_dir / job_id
        folder.mkdir(parents=True)
        job = WebJob(kind, upload, choice, folder, job_id)
        self.jobs[job.job_id] = job
        return job

    @staticmethod
    def _spawn(job: WebJob, target: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        thread = threading.Thread(
            target=target, args=args, kwargs=kwargs, name=f"job-{job.job_id}", daemon=True
        )
        job.thread = thread
        thread.start()

    def _options(self, job: WebJob, *, dry_run: bool, report: Path) -> JobOptions:
        choice = job.choice
        edits: dict[int, dict[str, str]] = {}
        for edit in job.edits:
            edits.setdefault(edit.row, {})[edit.column] = edit.new
        return JobOptions(
            **vars(choice.shape_only()),
            path=job.upload.path,
            dry_run=dry_run,
            report=report,
            state_dir=self.state_dir,
            command="serve",
            edits=edits,
            exclude=frozenset(job.excluded),
            keep_results=True,
        )

    @staticmethod
    def _listener(job: WebJob) -> Callable[[JobEvent], None]:
        """The engine's events as the page's progress counts (read by the SSE stream)."""

        def listen(event: JobEvent) -> None:
            if isinstance(event, StageProgress):
                with job.lock:
                    job.stage, job.stage_done, job.stage_total = (
                        event.stage,
                        event.done,
                        event.total,
                    )
                    job._touch()
            elif isinstance(event, WriteProgress):
                with job.lock:
                    job.stage = "execute"
                    job.rows_done = event.rows_done
                    job.rows_total = event.rows_total
                    job.writes_done = event.writes_done
                    job.writes_planned = event.writes_total or job.writes_planned
                    job.writes_made = event.writes_made
                    job.rate = event.rate_per_s
                    job.eta = event.eta_seconds
                    job.throttled = event.throttled
                    job._touch()
            elif isinstance(event, PlanReady):
                with job.lock:
                    job.estimate_seconds = event.summary.estimate_seconds
                    job._touch()

        return listen

    def _run(self, job: WebJob, *, dry_run: bool, settings: Settings | None = None) -> None:
        with job.lock:
            job.state = "running"
            job._touch()
        report = job.folder / "report.json"
        try:
            settings = settings or self.settings()
            engine_job = Job(self._options(job, dry_run=dry_run, report=report), settings)
            engine_job.subscribe(self._listener(job))
            job.engine_job = engine_job
            if job.stop.is_set():
                engine_job.cancel()
            outcome = engine_job.run()
            self._load(job, report)
            if self.on_loaded is not None:
                self.on_loaded(job)
            with job.lock:
                job.exit_code = int(outcome.exit_status)
                job.throttled = outcome.summary.throttled
                job.writes_made = outcome.summary.writes_made
                job.writes_planned = outcome.summary.writes_planned
                job.estimate_seconds = outcome.summary.estimate_seconds
                job.actual_seconds = outcome.summary.actual_seconds
                if job.exit_code == 130:
                    job.state = "cancelled"
                    job.message = "Cancelled: writes in flight finished; the report is saved."
                elif outcome.aborted is not None:
                    job.state = "failed"
                    job.message = job.friendly(str(outcome.aborted))
                else:
                    job.state = "done"
                    job.message = _finished_message(job)
        except BatchError as exc:
            with job.lock:
                if (
                    job.stop.is_set()
                    and job.engine_job is not None
                    and job.engine_job.outcome is None
                ):
                    job.state = "cancelled"  # cancelled before it started: nothing was done
                    job.exit_code = 130
                    job.message = "Cancelled before it started: nothing was written."
                else:
                    job.state = "failed"
                    job.exit_code = int(exc.exit_status)
                    job.message = job.friendly(str(exc))
        except Exception as exc:  # a bug must still end the job visibly, never hang the page
            with job.lock:
                job.state = "failed"
                job.exit_code = 3
                job.message = job.friendly(f"Unexpected error ({type(exc).__name__}): {exc}")
        finally:
            with job.lock:
                job.finished = time.time()
                job._touch()
            self._save_history(job)
            if job.kind == "live":
                with self._lock:
                    for key, value in list(self._live.items()):
                        if value == job.job_id:
                            del self._live[key]

    def _load(self, job: WebJob, report: Path) -> None:
        engine_job = job.engine_job
        if engine_job is not None and engine_job.outcome is not None and engine_job.table:
            # From the engine's own rows: the page's row shares each row's cells with the
            # engine (one copy of 100,000 rows in memory, not two).
            live = job.kind == "live"
            rows = []
            for result in engine_job.outcome.results:
                row = json_row(result, live=live)
                row["values"] = result.values
                rows.append(row)
            self._take_rows(
                job, rows, engine_job.table.columns, summary_json(engine_job.outcome.summary)
            )
            return
        data = json.loads(report.read_text(encoding="utf-8"))
        self._take_rows(job, data["rows"], data["columns"], data.get("summary") or {})

    @staticmethod
    def _take_rows(
        job: WebJob, rows: list[dict[str, Any]], columns: list[str], summary: dict[str, Any]
    ) -> None:
        with job.lock:
            job.columns = list(columns)
            job.summary = summary
            for row in rows:
                if row["row"] in job.excluded:
                    row["status"], row["message"] = "excluded", "Left out of the run (excluded)."
            if job.excluded:
                # Rows left out of the edited copy are absent from its report: list them again.
                present = {r["row"] for r in rows}
                rows.extend(_excluded_row(n) for n in sorted(job.excluded - present))
                rows.sort(key=lambda r: r["row"])
            job.rows = rows
            job.by_row = {r["row"]: r for r in rows}
            job.recount()

    # -- fix in place -------------------------------------------------------------------------
    def recheck(
        self,
        job: WebJob,
        row: int,
        *,
        cells: dict[str, str] | None = None,
        exclude: bool | None = None,
        every_row: bool = False,
    ) -> list[dict[str, Any]]:
        """Apply an edit (or an exclusion) to ``row`` (with ``every_row``: to every row whose
        cell holds the same value) and re-check those rows with a dry run. Returns them."""
        if job.kind != "dry-run" or job.state != "done" or job.restored:
            raise UsageError(
                "Rows can be changed only in a finished dry run of this session of the page."
            )
        current = job.by_row.get(row)
        if current is None:
            raise KeyError(row)
        if exclude is not None:
            with job.lock:
                current.pop("_search", None)
                if exclude:
                    job.excluded.add(row)
                    current["status"] = "excluded"
                    current["message"] = "Left out of the run (excluded)."
            if exclude:
                self._engine_of(job).recheck(exclude=[row])  # reports list the exclusion
                with job.lock:
                    job.recount()
                self._save_history(job)
                return [current]
            with job.lock:
                job.excluded.discard(row)
            targets = [row]
        else:
            targets = self._apply_edits(job, row, cells or {}, every_row)
        self._recheck_rows(job, targets)
        self._save_history(job)  # the fixes outlive a restart of the page
        return [job.by_row[n] for n in targets]

    def _apply_edits(
        self, job: WebJob, row: int, cells: dict[str, str], every_row: bool
    ) -> list[int]:
        current = job.by_row[row]
        unknown = [c for c in cells if c not in current["values"]]
        if unknown:
            raise UsageError(
                f"Row {row} has no column {unknown[0]!r}; columns: {', '.join(job.columns)}."
            )
        targets = [row]
        if every_row:
            targets = [
                r["row"]
                for r in job.rows
                if r["row"] not in job.excluded
                and all(r["values"].get(c) == current["values"].get(c) for c in cells)
            ]
        with job.lock:
            for number in targets:
                values = job.by_row[number]["values"]
                for column, new in cells.items():
                    old = self._original(job, number, column, values.get(column, ""))
                    job.edits = [e for e in job.edits if (e.row, e.column) != (number, column)]
                    if new != old:
                        job.edits.append(Edit(number, column, old, new))
                    values[column] = new
                job.by_row[number].pop("_search", None)
            job.edits.sort(key=lambda e: (e.row, e.column))
        return targets

    @staticmethod
    def _original(job: WebJob, row: int, column: str, current: str) -> str:
        for edit in job.edits:
            if edit.row == row and edit.column == column:
                return edit.old
        return current

    @staticmethod
    def _engine_of(job: WebJob) -> Job:
        if job.engine_job is None or job.engine_job.outcome is None:
            raise UsageError(
                "Rows can be changed only in a finished dry run of this session of the page."
            )
        return job.engine_job

    def _recheck_rows(self, job: WebJob, rows: list[int]) -> None:
        engine_job = self._engine_of(job)
        wanted = set(rows)
        edits: dict[int, dict[str, str]] = {n: {} for n in rows}
        for edit in job.edits:
            if edit.row in wanted:
                edits[edit.row][edit.column] = edit.new
        fresh = engine_job.recheck(edits)
        live = job.kind == "live"
        with job.lock:
            for result in fresh:
                old = job.by_row.get(result.row)
                if old is None:
                    continue
                new = json_row(result, live=live)
                old.update({k: v for k, v in new.items() if k != "values"})
                old.pop("_search", None)
            job.recount()

    # -- downloads ----------------------------------------------------------------------------
    def export(self, job: WebJob, fmt: str, *, failed: bool = False) -> Path:
        """The report (or the failed rows) in ``fmt`` (csv, xlsx, json), as the CLI writes it."""
        if not job.done or not job.rows:
            raise UsageError("The report is ready when the job has finished.")
        folder = job.folder / "downloads" / fmt
        name = _safe_name(job.upload.file)
        report = folder / f"{name}.report.{fmt}"
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():  # fixes since the last download: write afresh
            old.unlink()
        engine_job = job.engine_job
        if engine_job is not None and engine_job.outcome is not None:
            paths = engine_job.export(report)
        else:
            paths = self._export_restored(job, report)
        if failed:
            if paths.failed is None:
                raise UsageError("No row failed: there is no failed-rows file for this job.")
            return paths.failed
        return paths.report

    @staticmethod
    def _export_restored(job: WebJob, report: Path) -> ReportPaths:
        """A run read back after a restart: its kept JSON rows, written in another format."""
        results = [
            RowResult(
                row=r["row"],
                values=dict(r["values"]),
                status=RowStatus(r["status"]),
                message=r["message"],
                user_id=r.get("user_id", ""),
                course_id=r.get("course_id", ""),
                instance_id=r.get("instance_id", ""),
                module_ids=list(r.get("module_ids", [])),
                action=r.get("action", "none"),
                date_completed=str(r.get("date_completed") or ""),
                score=str(r.get("score") or ""),
                attempts=int(r.get("attempts", 0) or 0),
                posted_at=str(r.get("posted_at") or ""),
            )
            for r in job.rows
            if r["status"] != "excluded"
        ]
        s = job.summary
        summary = RunSummary(
            run_id=s.get("run_id", job.job_id),
            command="serve",
            dry_run=job.kind != "live",
            input_path=job.upload.file,
            input_sha256=s.get("input_sha256", ""),
            alm_host=s.get("alm_host", ""),
            started_at=datetime.fromisoformat(s["started_at"])
            if s.get("started_at")
            else datetime.now(UTC),
            ended_at=datetime.fromisoformat(s["ended_at"]) if s.get("ended_at") else None,
            writes_planned=job.writes_planned,
            writes_made=job.writes_made,
            throttled=job.throttled,
            estimate_seconds=job.estimate_seconds,
            actual_seconds=job.actual_seconds,
            api_calls=dict(s.get("api_calls", {})),
            edits=[
                {"row": str(e.row), "column": e.column, "old": e.old, "new": e.new}
                for e in job.edits
            ]
            + [
                {"row": str(n), "column": "", "old": "", "new": "(row excluded)"}
                for n in sorted(job.excluded)
            ],
        )
        fmt = report.suffix.lstrip(".")
        return write_reports(
            results,
            columns=job.columns,
            summary=summary,
            input_path=Path(job.upload.file),
            input_format="xlsx" if fmt == "xlsx" else "csv",
            explicit=report,
            live=job.kind == "live",
            sheet=job.choice.sheet,
        )

    # -- history ------------------------------------------------------------------------------
    def _save_history(self, job: WebJob) -> None:
        entry = job.status()
        entry["finished"] = datetime.fromtimestamp(job.finished or time.time(), UTC).isoformat()
        entry["choice"] = job.choice.shape_json()
        entry["shape_mapping"] = (job.upload.shape or {}).get("mapping") or {}
        (job.folder / "job.json").write_text(json.dumps(entry), encoding="utf-8")

    def get(self, job_id: str) -> WebJob | None:
        """A job of this server, or an earlier one read back from its folder (after a
        restart): those can be viewed and downloaded, not changed or run."""
        job = self.jobs.get(job_id)
        if job is not None or not _JOB_ID.fullmatch(job_id):
            return job
        folder = self.jobs_dir / job_id
        try:
            entry = json.loads((folder / "job.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not (folder / "report.json").is_file():
            return None
        choice = ShapeOptions.parse(entry.get("choice", {}))
        upload = Upload(entry.get("upload_id", ""), entry.get("file", ""), Path(), 0.0, choice)
        upload.shape = {"mapping": entry.get("shape_mapping", {})}
        job = WebJob(entry.get("kind", "dry-run"), upload, choice, folder, job_id)
        job.restored = True
        job.edits = [Edit(**e) for e in entry.get("edits", [])]
        job.excluded = set(entry.get("excluded", []))
        for name in ("writes_planned", "writes_made", "throttled", "exit_code", "message"):
            setattr(job, name, entry.get(name, getattr(job, name)))
        job.estimate_seconds = entry.get("estimate_seconds")
        job.actual_seconds = entry.get("actual_seconds")
        job.parent, job.live_job = entry.get("parent"), entry.get("live_job")
        job.created = datetime.fromisoformat(entry["created"]).timestamp()
        job.finished = datetime.fromisoformat(entry["finished"]).timestamp()
        self._load(job, folder / "report.json")
        job.state = entry.get("state", "done")
        self.jobs[job_id] = job
        if self.on_loaded is not None:
            self.on_loaded(job)
        return job

    def ledger_runs(self) -> list[dict[str, Any]]:
        """Live runs the ledger holds that the page did not start (the CLI, a scheduler):
        the same ALM allowance and ledger, shown so a person sees every write made."""
        out = []
        for run in live_runs(self.state_dir):
            if run.options.get("command") == "serve":
                continue  # the page's own runs are in history(), with their downloads
            out.append(
                {
                    "run_id": run.run_id,
                    "started": run.started_at,
                    "ended": run.ended_at,
                    "file": Path(run.input_path).name,
                    "command": str(run.options.get("command", "run")),
                    "exit_status": run.exit_status,
                    "writes_done": run.writes_done,
                    "writes_failed": run.writes_failed,
                    "writes_unknown": run.writes_unknown + run.writes_pending,
                }
            )
        return out

    def history(self) -> list[dict[str, Any]]:
        """Earlier runs of this state directory (newest first), from each job's record."""
        out = []
        for path in self.jobs_dir.glob("*/job.json"):
            try:
                out.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue
        out.sort(key=lambda e: e.get("finished", ""), reverse=True)
        return out


def default_state_dir(settings: Settings | None = None) -> Path:
    """The CLI's state directory (cache + ledger), so the page and the CLI share one ledger."""
    from batch.settings import default_state_dir as cli_default

    return cli_default(settings.batch_state_dir if settings is not None else None)


def sandbox_settings(sandbox: Any) -> Settings:
    from batch.demo import settings_for_sandbox

    return settings_for_sandbox(sandbox)


_JOB_ID = re.compile(r"[0-9a-f]{12}")


class BusyError(BatchError):
    """A live run against the same ALM account is already going (HTTP 409)."""


_GRADES = re.compile(r"grade (\d+) module")


def planned_writes(rows: list[dict[str, Any]]) -> int:
    """Writes a live run of these dry-run rows needs: one per enrollment and module grade."""
    total = 0
    for row in rows:
        if row["status"] != "would_complete":
            continue
        action = str(row.get("action", ""))
        found = _GRADES.search(action)
        total += (int(found.group(1)) if found else 0) + (1 if "enroll" in action else 0)
    return total


def _excluded_row(number: int) -> dict[str, Any]:
    return {
        "row": number,
        "values": {},
        "status": "excluded",
        "ok": True,
        "severity": "warning",
        "message": "Left out of the run (excluded).",
        "user_id": "",
        "course_id": "",
        "instance_id": "",
        "module_ids": [],
        "action": "none",
    }


def _finished_message(job: WebJob) -> str:
    problems = sum(n for s, n in job.counts.items() if s in PROBLEM_STATUSES)
    noun = "Dry run" if job.kind == "dry-run" else "Live run"
    if problems:
        return f"{noun} finished: {problems} row(s) need attention."
    return f"{noun} finished: every row ended well."


def _safe(text: str) -> str:
    from batch.redact import redact

    return redact(text)


def _safe_name(name: str) -> str:
    stem = Path(name).stem or "upload"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:60]
