"""What the page keeps of its own: the uploads a person made and the runs started from them.

Every dry run and live run is a ``batch.jobs.Job`` with a folder of its own under
``<state>/web/jobs/<id>/``: the job records itself there as it goes (state, progress, edits,
summary), keeps its rows there (read a page at a time) and writes its JSON report there. The
page holds the jobs and renders them (``views.py``); what this module adds is the page's own
bookkeeping, in ``page.json`` beside the job's record: which upload a run came from (the
person's file name), the dry run a live run came from, the run that carried on its rows.

- a dry run: ``Job(dry_run=True, keep_results=True, folder=...)`` started in a thread;
- fixes: ``Job.recheck`` (the file is never changed; the job's edit log lists every change);
- a live run: a new job with the dry run's options and edits, ``dry_run=False``, bound to the
  plan the person confirmed (``Job.confirmed_plan``: the rows and writes the confirmation
  showed; the live run sends nothing outside it); ``Job.start`` takes the ALM account's writer
  lock first, so a second live run on the account (from this page, another page or the
  command line) is refused at once;
- after a restart: ``Job.load`` reads each job back; a live run whose process died is
  interrupted, with the ledger's counts, and its remaining rows can be run;
- downloads: ``Job.export`` writes the rows again in the format asked, as the CLI writes them.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from batch.errors import BatchError, ConfigError, UsageError
from batch.jobs import (
    ConfirmedPlan,
    Edit,
    EditLog,
    Job,
    JobOptions,
    JobState,
    StoredRow,
    inspect,
)
from batch.jobs.history import live_run, live_runs
from batch.jobs.options import ShapeOptions
from batch.jobs.record import JobRecord, is_record
from batch.jobs.record import load as load_record
from batch.jobs.restore import adopt_report
from batch.redact import redact
from batch.settings import Settings, private_dir, write_private_text

log = logging.getLogger(__name__)

PAGE_FILE = "page.json"  # the page's own notes about a job, beside the job's record
MAX_ROWS = 200_000  # rows per upload (--max-rows): the page's memory is bounded by it
OPEN_STORES = 16  # jobs whose row stores stay open between requests
SHUTDOWN_GRACE = 3.0  # seconds a stopping job with nothing in flight has to save its report
# Dry runs that keep what they read from ALM (users, courses, learner state) for their fixes:
# the most recently used ones. An older one's fix reads the learners it needs again.
LOOKUPS_KEPT = 4
_JOB_ID = re.compile(r"[0-9a-f]{12}")


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
        return redact(text.replace(str(self.path), self.file))


@dataclass
class PageRun:
    """One job as the page lists it: the ``Job``, the upload it came from, and its place in
    the flow (the run it came from, the run that carried on from it)."""

    job_id: str
    job: Job
    upload: Upload
    created: float
    parent: str | None = None  # the dry run a live run came from (or the run it carries on)
    live_job: str | None = None  # the live run made from this one

    @property
    def kind(self) -> str:
        return "dry-run" if self.job.options.dry_run else "live"

    @property
    def state(self) -> str:
        """The job's state as the page shows it: a run ALM (or a full disk) stopped ended
        ``failed``, as a run that never started."""
        job = self.job
        if job.outcome is not None and job.outcome.aborted is not None:
            return JobState.FAILED.value
        return job.state.value

    @property
    def done(self) -> bool:
        return self.job.done

    @property
    def restored(self) -> bool:
        return self.job.restored

    @property
    def edits(self) -> list[Edit]:
        return self.job.edits.entries()

    @property
    def excluded(self) -> set[int]:
        return self.job.edits.excluded

    @property
    def folder(self) -> Path:
        assert self.job.options.folder is not None
        return self.job.options.folder

    @property
    def can_run_rest(self) -> bool:
        """A live run that stopped before every row was done: its remaining rows can run."""
        job = self.job
        stopped = job.state in (JobState.CANCELLED, JobState.INTERRUPTED) or (
            job.outcome is not None and job.outcome.aborted is not None
        )
        return self.kind == "live" and stopped and self.live_job is None

    def friendly(self, text: str) -> str:
        return self.upload.friendly(text.replace(str(self.folder), "(the job's folder)"))

    def save_notes(self) -> None:
        notes = {
            "upload_id": self.upload.upload_id,
            "file": self.upload.file,
            "created": self.created,
            "parent": self.parent,
            "live_job": self.live_job,
            "mapping": (self.upload.shape or {}).get("mapping") or {},
        }
        try:
            write_private_text(self.folder / PAGE_FILE, json.dumps(notes))
        except OSError as exc:
            log.warning("the page's notes in %s were not saved: %s", self.folder, exc)


class Registry:
    """The uploads' runs of one server: started here or read back from their folders."""

    def __init__(
        self,
        state_dir: Path,
        settings_factory: Callable[[], Settings],
        max_rows: int = MAX_ROWS,
        *,
        state_source: str = "auto",
    ) -> None:
        self.state_dir = state_dir
        self.state_source = state_source  # where dry runs take learner state from
        self.jobs_dir = private_dir(state_dir / "web" / "jobs")
        self.max_rows = max_rows
        self._settings_factory = settings_factory
        self.runs: dict[str, PageRun] = {}
        self._open: OrderedDict[str, None] = OrderedDict()  # row stores open, oldest first
        self._lookups: OrderedDict[str, None] = OrderedDict()  # dry runs keeping their reads
        self._lock = threading.Lock()

    def settings(self) -> Settings:
        try:
            return self._settings_factory()
        except BatchError:
            raise
        except Exception:  # pydantic's refusal of an ALM_* value (it may quote a secret)
            raise ConfigError(
                "The ALM settings of this page (its ALM_* variables or .env) cannot be read: "
                "ask whoever started the page to check them."
            ) from None

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

    def too_many_rows(self, rows: int) -> str | None:
        """The refusal of an upload past the row cap, or None."""
        if rows <= self.max_rows:
            return None
        return (
            f"The file has {rows:,} data rows; the page takes at most {self.max_rows:,} per "
            f"upload (memory and a run's length stay reasonable). Split it into files of up to "
            f"{self.max_rows:,} rows, each with the header row, and upload each one (or run it "
            "with 'alm-batch run' on the command line, which has no such cap)."
        )

    # -- dry run / live run -------------------------------------------------------------------
    def start_dry_run(self, upload: Upload, choice: ShapeOptions) -> PageRun:
        job_id, folder = self._new_folder()
        options = JobOptions(
            **vars(choice.shape_only()),
            path=upload.path,
            dry_run=True,
            report=folder / "report.json",
            state_dir=self.state_dir,
            command="serve",
            keep_results=True,
            folder=folder,
            max_rows=self.max_rows,
            display_name=upload.file,
            state_source=self.state_source,
        )
        return self._start(PageRun(job_id, Job(options, self.settings()), upload, time.time()))

    def start_live(self, dry: PageRun) -> PageRun:
        """A live run of a finished dry run, with its edits. ``AccountBusy`` when a live run
        holds the ALM account (its writes share one allowance)."""
        if dry.kind != "dry-run" or dry.job.state is not JobState.DONE:
            raise UsageError("Only a finished dry run can be run live: wait for it to end.")
        if dry.restored:
            raise UsageError(
                "This dry run is from an earlier session of the page: upload the file again "
                "to check it and run it live."
            )
        if dry.live_job is not None:
            raise UsageError(f"This dry run was already run live: see job {dry.live_job}.")
        with dry.job.fix_lock:  # the rows as confirmed, not half-way through a fix
            bound = dry.job.confirmed_plan()
            options = replace(dry.job.options, dry_run=False)
        run = self._carry_on(dry, options, bound)
        dry.job.lookups = None  # no more fixes: what the dry run read is not needed
        return run

    def run_remaining(self, stopped: PageRun) -> PageRun:
        """A live run of the rows a cancelled, stopped or interrupted live run did not finish
        (unsure writes are settled by reading ALM before anything is sent again)."""
        if not stopped.can_run_rest:
            raise UsageError("Only a live run that stopped before its last row has rows left.")
        job = stopped.job
        bound = job.remaining_bound(self.settings())
        return self._carry_on(stopped, job.remaining_options(), bound)

    def _carry_on(
        self, source: PageRun, options: JobOptions, bound: ConfirmedPlan | None
    ) -> PageRun:
        with self._lock:
            if source.live_job is not None:
                raise UsageError(f"This run was already carried on: see job {source.live_job}.")
            job_id, folder = self._new_folder()
            options = replace(options, folder=folder, report=folder / "report.json")
            job = Job(options, self.settings(), bound=bound)
            run = PageRun(job_id, job, source.upload, time.time())
            run.parent = source.job_id
            try:
                self._start(run)
            except BaseException:
                self.runs.pop(job_id, None)
                shutil.rmtree(folder, ignore_errors=True)
                raise
            source.live_job = job_id
        source.save_notes()
        return run

    def _new_folder(self) -> tuple[str, Path]:
        job_id = uuid.uuid4().hex[:12]
        return job_id, private_dir(self.jobs_dir / job_id)

    def _start(self, run: PageRun) -> PageRun:
        run.save_notes()
        run.job.start()  # a live job takes its account's writer lock here
        self.runs[run.job_id] = run
        self._used(run)
        return run

    def cancel(self, run: PageRun) -> None:
        if not run.restored:
            run.job.cancel()

    def shutdown(self, wait: float = 60.0, grace: float = SHUTDOWN_GRACE) -> list[PageRun]:
        """Ctrl-C for every running job: nothing more is sent, the writes on the wire get their
        answers, the reports are saved. Waits for a job as long as it has writes in flight (up
        to ``wait`` seconds in all), else ``grace`` seconds for it to save its report: a job
        that only reads (a dry run, a run waiting for an ALM that does not answer) is not
        waited for longer; it is read back as interrupted. Returns the jobs that were running."""
        running = [r for r in self.runs.values() if not r.done and not r.restored]
        for run in running:
            run.job.cancel()
        deadline = time.monotonic() + wait
        quiet_until = time.monotonic() + grace
        for run in running:
            job = run.job
            while not job.done and time.monotonic() < deadline:
                if time.monotonic() >= quiet_until and job.writes_in_flight() == 0:
                    break
                job.wait(0.05)
        return running

    # -- looking runs up ----------------------------------------------------------------------
    def get(self, job_id: str) -> PageRun | None:
        """A run of this server, or an earlier one read back from its folder (after a restart:
        view and download; an interrupted live run can run its remaining rows)."""
        run = self.runs.get(job_id)
        if run is None and _JOB_ID.fullmatch(job_id):
            run = self._load(self.jobs_dir / job_id)
            if run is not None:
                self.runs[job_id] = run
        if run is not None:
            self._used(run)
        return run

    def _load(self, folder: Path) -> PageRun | None:
        if not (folder / "job.json").is_file():
            return None
        notes = _read_json(folder / PAGE_FILE)
        if notes is None:
            notes = _migrate(folder)  # a folder written by an earlier version of the page
            if notes is None:
                return None
        job = Job.load(folder)
        if job is None:
            return None
        upload = Upload(str(notes.get("upload_id", "")), str(notes.get("file", "")), Path(), 0.0)
        upload.path = job.options.path
        upload.choice = job.options.shape_only()
        upload.shape = {"mapping": dict(notes.get("mapping") or {})}
        run = PageRun(folder.name, job, upload, float(notes.get("created") or 0.0))
        run.parent, run.live_job = notes.get("parent"), notes.get("live_job")
        return run

    def _used(self, run: PageRun) -> None:
        """Keep at most ``OPEN_STORES`` row stores open (each holds a page cache), and what
        ``LOOKUPS_KEPT`` dry runs read from ALM (their fixes re-decide rows from it)."""
        self._open[run.job_id] = None
        self._open.move_to_end(run.job_id)
        while len(self._open) > OPEN_STORES:
            oldest, _ = self._open.popitem(last=False)
            stale = self.runs.get(oldest)
            if stale is not None and stale.job.rows is not None and stale.done:
                stale.job.rows.close()  # opened again when next used
        if run.kind == "dry-run" and not run.restored:
            self._lookups[run.job_id] = None
            self._lookups.move_to_end(run.job_id)
            while len(self._lookups) > LOOKUPS_KEPT:
                oldest, _ = self._lookups.popitem(last=False)
                stale = self.runs.get(oldest)
                if stale is not None:
                    stale.job.lookups = None  # its next fix reads the learners it needs

    # -- fix in place -------------------------------------------------------------------------
    def recheck(
        self,
        run: PageRun,
        row: int,
        *,
        cells: dict[str, str] | None = None,
        exclude: bool | None = None,
        every_row: bool = False,
    ) -> list[StoredRow]:
        """Apply an edit (or an exclusion) to ``row`` (with ``every_row``: to every row whose
        cell holds the same value) and re-check those rows. Returns them."""
        job = run.job
        if run.kind != "dry-run" or job.state is not JobState.DONE or run.restored:
            raise UsageError(
                "Rows can be changed only in a finished dry run of this session of the page."
            )
        assert job.rows is not None
        current = job.rows.get(row)
        if current is None:
            raise KeyError(row)
        if exclude is not None:
            if exclude:
                job.recheck(exclude=[row])
            else:
                job.recheck({row: {}})
            return [found for found in [job.rows.get(row)] if found is not None]
        cells = cells or {}
        values = current.result.values
        unknown = [c for c in cells if c not in values]
        if unknown:
            raise UsageError(
                f"Row {row} has no column {unknown[0]!r}; columns: {', '.join(job.columns)}."
            )
        targets = [row]
        if every_row:
            targets = job.rows.rows_with({c: values.get(c, "") for c in cells}) or [row]
        job.recheck({number: dict(cells) for number in targets})
        return [found for n in targets if (found := job.rows.get(n)) is not None]

    # -- downloads ----------------------------------------------------------------------------
    def export(self, run: PageRun, fmt: str, *, failed: bool = False) -> Path:
        """The report (or the failed rows) in ``fmt`` (csv, xlsx, json), as the CLI writes it."""
        if not run.done or run.job.rows is None or not len(run.job.rows):
            raise UsageError("The report is ready when the job has finished.")
        folder = run.folder / "downloads" / fmt
        report = folder / f"{_safe_name(run.upload.file)}.report.{fmt}"
        private_dir(folder)
        for old in folder.iterdir():  # fixes since the last download: write afresh
            old.unlink()
        paths = run.job.export(report, failed_format=fmt if failed else None)
        if failed:
            if paths.failed is None:
                raise UsageError("No row failed: there is no failed-rows file for this job.")
            return paths.failed
        return paths.report

    # -- history ------------------------------------------------------------------------------
    def history(self) -> list[dict[str, Any]]:
        """Runs of this state directory (newest first), from each job's record: running and
        interrupted ones too."""
        out = []
        for folder in self.jobs_dir.iterdir():
            entry = self._history_entry(folder)
            if entry is not None:
                out.append(entry)
        out.sort(key=lambda e: e["finished"] or e["started"], reverse=True)
        return out

    def _history_entry(self, folder: Path) -> dict[str, Any] | None:
        live = self.runs.get(folder.name)
        if live is not None and not live.restored:
            job = live.job
            record = job.record()
            file = live.upload.file
        else:
            notes = _read_json(folder / PAGE_FILE)
            if notes is None:
                notes = _migrate(folder)  # a folder of an earlier version of the page
            data = load_record(folder)
            if data is None or notes is None or not is_record(data):
                return None
            record = JobRecord.from_json(data)
            file = str(notes.get("file", ""))
            if record.state not in {s.value for s in JobState}:
                return None
            if not JobState(record.state).finished:
                loaded = self.get(folder.name)  # running elsewhere, or interrupted
                record.state = loaded.job.state.value if loaded is not None else record.state
        summary = record.summary or {}
        counts = {s: n for s, n in (summary.get("counts") or {}).items() if n}
        excluded = sum(1 for e in record.edits if not e.get("column"))
        if excluded:
            counts["excluded"] = excluded
        state = "failed" if record.aborted else record.state
        return {
            "job_id": folder.name,
            "file": file,
            "kind": "dry-run" if record.dry_run else "live",
            "state": state,
            "counts": counts,
            "writes_made": summary.get("writes_made", record.progress.writes_made),
            "started": record.started_at,
            "finished": record.ended_at or "",
        }

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

    def ledger_counts(self, run: PageRun) -> dict[str, int] | None:
        """A live run's writes as the ledger knows them: written, failed, unsure (sent with
        no answer recorded), and not tried (planned, never journaled)."""
        if run.kind != "live" or not run.job.run_id:
            return None
        found = live_run(self.state_dir, run.job.run_id)
        planned = self._planned(run)
        if found is None:
            return {"written": 0, "failed": 0, "unsure": 0, "not_tried": planned}
        return {
            "written": found.writes_done,
            "failed": found.writes_failed,
            "unsure": found.writes_unknown + found.writes_pending,
            "not_tried": max(0, planned - found.writes_total),
        }

    def _planned(self, run: PageRun) -> int:
        """The writes the run set out to make: its dry run's plan when it came from one."""
        parent = self.get(run.parent) if run.parent else None
        if parent is not None and parent.kind == "dry-run" and parent.job.summary is not None:
            return parent.job.summary.writes_planned
        summary = run.job.summary
        planned = summary.writes_planned if summary is not None else 0
        return max(planned, run.job.progress.writes_total)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _migrate(folder: Path) -> dict[str, Any] | None:
    """A job folder of the page before jobs recorded themselves: its ``job.json`` was the
    page's own entry (state, edits, choice), next to ``report.json``. Rewritten once as a job
    record (from the report) and the page's notes; None when it is neither."""
    entry = _read_json(folder / "job.json")
    if entry is None or is_record(entry) or "job_id" not in entry:
        return None
    edits = EditLog()
    for e in entry.get("edits", []):
        edits.change(int(e["row"]), str(e["column"]), str(e["old"]), str(e["new"]))
    for row in entry.get("excluded", []):
        edits.exclude(int(row))
    state = str(entry.get("state", "done"))
    adopted = adopt_report(
        folder,
        folder / "report.json",
        shape=ShapeOptions.parse(entry.get("choice") or {}),
        dry_run=entry.get("kind") != "live",
        state=JobState(state) if state in {s.value for s in JobState} else JobState.DONE,
        state_dir=folder.parents[2],
        edits=edits,
        fields=dict(entry.get("shape_mapping") or {}),
        started=str(entry.get("created") or ""),
        ended=entry.get("finished"),
    )
    if not adopted:
        return None
    notes = {
        "upload_id": entry.get("upload_id", ""),
        "file": entry.get("file", ""),
        "created": 0.0,
        "parent": entry.get("parent"),
        "live_job": entry.get("live_job"),
        "mapping": entry.get("shape_mapping") or {},
    }
    write_private_text(folder / PAGE_FILE, json.dumps(notes))
    return notes


def default_state_dir(settings: Settings | None = None) -> Path:
    """The CLI's state directory (cache + ledger), so the page and the CLI share one ledger."""
    from batch.settings import default_state_dir as cli_default

    return cli_default(settings.batch_state_dir if settings is not None else None)


def sandbox_settings(sandbox: Any) -> Settings:
    from batch.demo import settings_for_sandbox

    return settings_for_sandbox(sandbox)


def _safe_name(name: str) -> str:
    stem = Path(name).stem or "upload"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:60]
