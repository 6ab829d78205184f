"""The upload page: a Starlette app whose buttons and JSON API are the same handlers.

Every state-changing action is one ``/api/`` handler. The page calls it through htmx (which
sends ``X-Requested-By: alm-batch`` on every request) and the handler answers JSON; for an htmx
request it adds ``HX-Redirect`` (go to the next step) or answers an HTML fragment (the results
table after a fix). Read-only pages are plain GETs rendered with Jinja2.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from batch.errors import BatchError
from batch.jobs.inspect import fields as input_fields
from batch.jobs.options import ShapeOptions
from batch.settings import PRIVATE_FILE, Settings, private_dir
from batch.web import rowparts, shapeform, views
from batch.web.filling import about, human_seconds
from batch.web.limits import BodyRules, TooSlow, long_cell
from batch.web.registry import MAX_ROWS, PageRun, Registry, Upload
from batch.web.security import protect
from batch.web.shapeform import DATE_FORMATS, FIELD_LABELS, SCORE_SCALES, FormError, shape_choice
from batch.web.uploads import TooLarge, UploadStore, capped, stored_suffix, unreadable

HERE = Path(__file__).resolve().parent
log = logging.getLogger(__name__)
REPORT_FORMATS = ("xlsx", "csv", "json")
CLEAN_EVERY_SECONDS = 3600.0


@dataclass
class WebConfig:
    state_dir: Path
    settings_factory: Callable[[], Settings]
    host: str = "127.0.0.1"
    password: str | None = None
    max_upload_mb: float = 50.0
    keep_days: float = 30.0
    max_rows: int = MAX_ROWS  # data rows per upload (--max-rows)
    account_note: str = ""  # shown in the header: which ALM the page talks to
    uploads: dict[str, Upload] = field(default_factory=dict)
    allow_hosts: tuple[str, ...] = ()  # --allow-host: more names the page answers to
    body_rules: BodyRules = field(default_factory=BodyRules)  # request size and pace
    # A sample file the page offers to try (``serve --sandbox``: the package's sample, which a
    # person who installed alm-batch with pip has nowhere else); None: no sample offered.
    sample: Path | None = None
    # Where the page's dry runs take learner state from (``--state-source``: auto, transcript,
    # per-learner; batch.state_source). Live runs always read each learner they write for.
    state_source: str = "auto"


class PageError(Exception):
    """A refusal of the page's API: the HTTP status and the message shown (``{"error"}``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def page_templates(config: WebConfig) -> Jinja2Templates:
    """The page's templates, with the filters and names every page uses."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["duration"] = human_seconds
    templates.env.filters["about"] = about
    templates.env.filters["counted"] = views.counted
    templates.env.filters["breakable"] = rowparts.breakable
    templates.env.filters["page_words"] = views.page_text
    templates.env.globals.update(
        field_labels=FIELD_LABELS,
        account_note=config.account_note,
        report_formats=REPORT_FORMATS,
        shapeform=shapeform,
        rowparts=rowparts,
    )
    return templates


def create_app(config: WebConfig) -> Any:
    """The ASGI app (the Starlette app wrapped in the security guard)."""
    # Uploads and jobs hold learners' data: this user only (the files inside are 0600 too).
    private_dir(config.state_dir / "web" / "uploads")
    registry = Registry(
        config.state_dir, config.settings_factory, config.max_rows, state_source=config.state_source
    )
    store = UploadStore(config.state_dir, config.keep_days)
    store.clean()
    templates = page_templates(config)
    app_state = _State(config, registry, store, templates)
    routes = [
        Route("/", app_state.index),
        Route("/favicon.ico", _favicon),
        Route("/history", app_state.history_page),
        Route("/uploads/{upload_id}", app_state.shape_page),
        Route("/jobs/{job_id}", app_state.job_page),
        Route("/jobs/{job_id}/table", app_state.table_fragment),
        Route("/jobs/{job_id}/confirm", app_state.confirm_page),
        Route("/sample/{name}", app_state.sample_file),
        Route("/api/uploads", app_state.api_upload, methods=["POST"]),
        Route("/api/uploads/sample", app_state.api_sample, methods=["POST"]),
        Route("/api/uploads/{upload_id}", app_state.api_shape),
        Route("/api/uploads/{upload_id}/dry-run", app_state.api_dry_run, methods=["POST"]),
        Route("/api/history", app_state.api_history),
        Route("/api/jobs/{job_id}", app_state.api_job),
        Route("/api/jobs/{job_id}/rows", app_state.api_rows),
        Route("/api/jobs/{job_id}/rows/{row:int}", app_state.api_patch_row, methods=["PATCH"]),
        Route("/api/jobs/{job_id}/run", app_state.api_run, methods=["POST"]),
        Route("/api/jobs/{job_id}/cancel", app_state.api_cancel, methods=["POST"]),
        Route("/api/jobs/{job_id}/events", app_state.api_events),
        Route("/api/jobs/{job_id}/{name}.{fmt}", app_state.api_download),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={PageError: _page_error, HTTPException: _http_error},
    )
    app.state.registry = registry
    app.state.config = config
    guarded = protect(
        app,
        host=config.host,
        password=config.password,
        allow_hosts=config.allow_hosts,
        body_rules=config.body_rules,
        streamed=frozenset({("POST", "/api/uploads")}),  # streamed to disk under its own cap
    )
    guarded.registry = registry  # type: ignore[attr-defined]  # for tests and the server
    last_clean = [time.monotonic()]

    def clean() -> None:
        """Delete old uploads and job folders, at most once an hour (``serve`` calls it)."""
        if time.monotonic() - last_clean[0] >= CLEAN_EVERY_SECONDS:
            last_clean[0] = time.monotonic()
            store.clean()

    guarded.clean = clean  # type: ignore[attr-defined]
    return guarded


PROGRESS_EVERY = 0.25  # seconds between two progress events of one job's stream
DONE_POLL = 0.05  # seconds between two looks for the job's end (was the progress interval)
# Seconds between two progress events when nothing happens: the time left for one of ALM's
# jobs counts down, and ALM's silence grows, without an event of the job.
TICK_EVERY = 1.0


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    return JSONResponse({"error": exc.message}, status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if exc.status_code != 404 else "Not found: check the address."
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"error": message}, status_code=exc.status_code)
    return HTMLResponse(f"<h1>{exc.status_code}</h1><p>{message}</p>", exc.status_code)


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


async def _favicon(request: Request) -> Response:
    return FileResponse(
        HERE / "static" / "favicon.ico",
        media_type="image/x-icon",
        headers={"Cache-Control": "max-age=86400"},
    )


async def _body(request: Request) -> dict[str, Any]:
    """A JSON body, or htmx's form-encoded one, as a dict (repeated keys become lists)."""
    if "application/json" in request.headers.get("content-type", ""):
        try:
            data = await request.json()
        except ValueError:
            raise PageError(400, "The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise PageError(400, "The request body must be a JSON object.")
        return data
    form = await request.form()
    out: dict[str, Any] = {}
    for key in form:
        values = [v for v in form.getlist(key) if isinstance(v, str)]
        out[key] = values if len(values) > 1 or key == "map" else (values[0] if values else "")
    return out


# What "Remember this mapping" keeps besides the mapping: the answers a file of the same
# columns needs again next month.
REMEMBERED = ("date_format", "ignore_columns", "completed_values", "score_scale")


def _remembered(choice: ShapeOptions, saved: dict[str, Any]) -> ShapeOptions:
    """``choice`` completed by what was remembered for files with the same columns."""
    changes: dict[str, Any] = {"mapping": dict(saved.get("mapping") or {})}
    for name in REMEMBERED:
        if saved.get(name) and not getattr(choice, name):
            changes[name] = saved[name]
    try:
        return ShapeOptions.parse(changes, choice)
    except BatchError:  # remembered by an older version of the page: start afresh
        return choice


def _choice(data: Any, base: ShapeOptions | None = None) -> ShapeOptions:
    """Shape options from a form, a JSON body or query parameters (``shapeform``)."""
    try:
        return shape_choice(data, base)
    except FormError as exc:
        raise PageError(400, views.page_text(str(exc))) from None


class _State:
    def __init__(
        self, config: WebConfig, registry: Registry, store: UploadStore, templates: Jinja2Templates
    ) -> None:
        self.config = config
        self.registry = registry
        self.store = store
        self.templates = templates

    # -- lookups ------------------------------------------------------------------------------
    def upload(self, upload_id: str) -> Upload:
        found = self.config.uploads.get(upload_id)
        if found is None:
            raise PageError(404, f"No upload {upload_id!r}: it may have expired; upload again.")
        return found

    def job(self, job_id: str) -> PageRun:
        found = self.registry.get(job_id)
        if found is None:
            raise PageError(404, f"No job {job_id!r} on this server: see the history page.")
        return found

    async def read_shape(self, upload: Upload, choice: ShapeOptions) -> dict[str, Any]:
        """The upload's shape, read on a worker thread. Any failure of the reader, not only the
        ``BatchError`` it means to raise, becomes the CLI's exit-2 answer: never a 500 page."""
        return await asyncio.to_thread(self._shape_in_thread, upload, choice)

    def _shape_in_thread(self, upload: Upload, choice: ShapeOptions) -> dict[str, Any]:
        # Converted here, in the worker: a StopIteration cannot cross into the awaiting
        # coroutine (asyncio would leave the request hanging), nor should a pyo3 panic.
        try:
            shape = self.registry.shape(upload, choice)
        except BatchError:
            raise
        except BaseException as exc:  # noqa: BLE001 - no reader failure may end the server
            log.warning("upload %s could not be read: %s", upload.upload_id, type(exc).__name__)
            raise unreadable(upload.path, exc) from None
        for question in shape.get("questions", []):  # they name the stored file: the person's
            question["message"] = upload.friendly(question["message"])
        shape["notes"] = [upload.friendly(note) for note in shape.get("notes", [])]
        return shape

    async def sheet_names(self, upload: Upload) -> list[str]:
        def names() -> list[str]:
            try:
                return self.registry.sheet_names(upload)
            except BaseException:  # noqa: BLE001 - only offers a list; the error is shown already
                return []

        return await asyncio.to_thread(names)

    def render(self, request: Request, name: str, **context: Any) -> Response:
        return self.templates.TemplateResponse(request, name, context)

    # -- pages --------------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        return self.render(
            request,
            "index.html",
            step=1,
            max_mb=self.config.max_upload_mb,
            recent=self.registry.history()[:5],
            sample=self._sample(),
        )

    def _sample(self) -> Path | None:
        sample = self.config.sample
        return sample if sample is not None and sample.is_file() else None

    async def sample_file(self, request: Request) -> Response:
        """The sample file, to download and look at (``WebConfig.sample``)."""
        sample = self._sample()
        if sample is None or request.path_params["name"] != sample.name:
            raise PageError(404, "Not found: check the address.")
        return FileResponse(sample, filename=sample.name)

    async def history_page(self, request: Request) -> Response:
        return self.render(
            request,
            "history.html",
            step=0,
            runs=self.registry.history(),
            ledger_runs=self.registry.ledger_runs(),
        )

    async def shape_page(self, request: Request) -> Response:
        upload = self.upload(request.path_params["upload_id"])
        # A preview of the choice in the query: a GET stores nothing (the dry run's POST does).
        choice = upload.choice
        if request.query_params:
            choice = _choice(request.query_params, upload.choice)
        error = None
        shape: dict[str, Any] | None = None
        try:
            shape = await self.read_shape(upload, choice)
        except BatchError as exc:
            error = upload.friendly(views.error_text(exc))
        sheets = shape["sheets"] if shape else await self.sheet_names(upload)
        return self.render(
            request,
            "shape.html",
            step=2,
            upload=upload,
            shape=shape,
            choice=choice,
            error=error,
            sheets=sheets,
            fields=input_fields(),
            date_formats=DATE_FORMATS,
            score_scales=SCORE_SCALES,
            asked=shapeform.asked(shape or {}),
            in_table=shapeform.in_table(shape or {}),
        )

    async def job_page(self, request: Request) -> Response:
        job = self.job(request.path_params["job_id"])
        query = views.RowQuery.from_params(request.query_params)
        return self.render(request, "job.html", **self._job_context(job, query))

    async def table_fragment(self, request: Request) -> Response:
        job = self.job(request.path_params["job_id"])
        query = views.RowQuery.from_params(request.query_params)
        return self.render(request, "_table.html", **self._job_context(job, query))

    async def confirm_page(self, request: Request) -> Response:
        job = self.job(request.path_params["job_id"])
        status = views.status(job, self.registry)
        page = self.render(request, "confirm.html", step=5, job=job, status=status)
        page.headers["Cache-Control"] = "no-store"  # Back shows whether it went live since
        return page

    def _job_context(self, job: PageRun, query: views.RowQuery) -> dict[str, Any]:
        # A dry run shows its rows as they are decided; a live run when it has finished.
        listed = job.done or job.kind == "dry-run"
        total, rows = views.query_rows(job, query) if listed else (0, [])
        mapping = (job.upload.shape or {}).get("mapping") or {}
        shown = [
            {
                "row": row,
                "posted": views.posted(row),
                "suggestions": rowparts.suggestions(row),
                "candidates": rowparts.candidates(row),
                "courses": rowparts.program_courses(row),
            }
            for row in rows
        ]
        step = 3 if job.kind == "dry-run" else 5
        if job.done:
            step = 4 if job.kind == "dry-run" else 6
        return {
            "step": step,
            "job": job,
            "status": views.status(job, self.registry),
            "query": query,
            "total": total,
            "rows": shown,
            "counts": views.status_counts(job),
            "problems": views.problem_count(job),
            "email_header": mapping.get("email"),
            "course_header": mapping.get("course"),
            "same_value_count": lambda h, v: views.same_value_count(job, h, v),
        }

    # -- API: uploads -------------------------------------------------------------------------
    async def api_upload(self, request: Request) -> Response:
        limit = int(self.config.max_upload_mb * 1024 * 1024)
        too_big = (
            f"The file is larger than the {self.config.max_upload_mb:g} MB limit: split it, "
            "or ask whoever started the page to raise --max-upload-mb."
        )
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
            raise PageError(413, too_big)
        if "multipart/form-data" not in request.headers.get("content-type", ""):
            raise PageError(400, "Send the file as multipart/form-data in a field named 'file'.")
        stream = capped(request.stream(), limit + 64 * 1024, self.config.body_rules)
        parser = MultiPartParser(request.headers, stream, max_files=1)
        try:
            form: FormData = await parser.parse()
        except TooLarge:
            raise PageError(413, too_big) from None
        except TooSlow as exc:
            raise PageError(408, exc.message) from None
        except MultiPartException as exc:
            raise PageError(400, f"The upload could not be read: {exc.message}.") from None
        try:
            return await self._accept_upload(request, form, limit, too_big)
        finally:
            await form.close()

    async def _accept_upload(
        self, request: Request, form: FormData, limit: int, too_big: str
    ) -> Response:
        file = form.get("file")
        if not isinstance(file, UploadFile) or not file.filename:
            raise PageError(400, "Choose a file to upload (CSV, Excel or OpenDocument).")
        if file.size is not None and file.size > limit:
            raise PageError(413, too_big)
        path = await asyncio.to_thread(self.store.save, file.file, stored_suffix(file.filename))
        os.chmod(path, PRIVATE_FILE)  # learners' data: this user only
        upload = Upload(
            upload_id=path.stem[:16], file=Path(file.filename).name, path=path, created=0.0
        )
        try:
            return await self._shape_new_upload(request, form, upload)
        except BaseException:  # the upload is not kept unless it was read (cancelled too)
            path.unlink(missing_ok=True)
            raise

    async def api_sample(self, request: Request) -> Response:
        """Upload the sample file, as if the person had chosen it (the Shape step follows)."""
        sample = self._sample()
        if sample is None:
            raise PageError(404, "This page offers no sample file.")
        with sample.open("rb") as source:
            path = await asyncio.to_thread(self.store.save, source, sample.suffix)
        os.chmod(path, PRIVATE_FILE)
        upload = Upload(upload_id=path.stem[:16], file=sample.name, path=path, created=0.0)
        try:
            return await self._shape_new_upload(request, FormData(), upload)
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    async def _shape_new_upload(self, request: Request, form: FormData, upload: Upload) -> Response:
        choice = _choice(form)
        remembered = False
        try:
            shape = await self.read_shape(upload, choice)
            saved = self.store.remembered_choice(shape["columns"])
            if saved and not choice.mapping:
                choice = _remembered(choice, saved)
                shape = await self.read_shape(upload, choice)
                remembered = True
        except BatchError as exc:  # the caller removes the upload
            raise PageError(400, upload.friendly(views.error_text(exc))) from None
        too_many = self.registry.too_many_rows(shape["rows"])
        if too_many is not None:
            raise PageError(413, too_many)
        upload.choice = choice
        self.config.uploads[upload.upload_id] = upload
        body = {
            "upload_id": upload.upload_id,
            "file": upload.file,
            "rows": shape["rows"],
            "columns": shape["columns"],
            "mapping": shape["mapping"],
            "missing": shape["missing"],
            "questions": shape["questions"],
            "remembered": remembered,
        }
        headers = {"HX-Redirect": f"/uploads/{upload.upload_id}"} if _is_htmx(request) else None
        return JSONResponse(body, status_code=201, headers=headers)

    async def api_shape(self, request: Request) -> Response:
        upload = self.upload(request.path_params["upload_id"])
        choice = _choice(request.query_params, upload.choice)
        try:
            shape = await self.read_shape(upload, choice)
        except BatchError as exc:
            raise PageError(400, upload.friendly(views.error_text(exc))) from None
        return JSONResponse({"upload_id": upload.upload_id, "file": upload.file, **shape})

    async def api_dry_run(self, request: Request) -> Response:
        upload = self.upload(request.path_params["upload_id"])
        data = await _body(request)
        choice = _choice(data, upload.choice)
        try:
            shape = await self.read_shape(upload, choice)
        except BatchError as exc:
            raise PageError(400, upload.friendly(views.error_text(exc))) from None
        if shape["missing"]:
            names = ", ".join(FIELD_LABELS.get(f, f) for f in shape["missing"])
            raise PageError(400, f"Choose the column that holds: {names}.")
        unanswered = [q for q in shape["questions"] if q["blocking"]]
        if unanswered:  # a run would stop on it: the person answers first
            raise PageError(400, views.page_text(unanswered[0]["message"]))
        if shape["error"]:
            raise PageError(400, views.page_text(upload.friendly(shape["error"])))
        upload.choice = choice
        if str(data.get("remember", "")).lower() in ("1", "true", "on", "yes"):
            mapping = {h: f for f, h in shape["mapping"].items()}
            extra = {name: getattr(choice, name) for name in REMEMBERED}
            self.store.remember(shape["columns"], mapping, extra)
        try:
            job = self.registry.start_dry_run(upload, choice)
        except BatchError as exc:
            raise PageError(400, upload.friendly(views.error_text(exc))) from None
        headers = {"HX-Redirect": f"/jobs/{job.job_id}"} if _is_htmx(request) else None
        return JSONResponse({"job_id": job.job_id}, status_code=202, headers=headers)

    # -- API: jobs ----------------------------------------------------------------------------
    async def api_history(self, request: Request) -> Response:
        return JSONResponse(
            {"runs": self.registry.history(), "ledger_runs": self.registry.ledger_runs()}
        )

    async def api_job(self, request: Request) -> Response:
        return JSONResponse(views.status(self.job(request.path_params["job_id"]), self.registry))

    async def api_rows(self, request: Request) -> Response:
        job = self.job(request.path_params["job_id"])
        query = views.RowQuery.from_params(request.query_params)
        total, rows = views.query_rows(job, query)
        return JSONResponse({"total": total, "rows": [views.public_row(r) for r in rows]})

    async def api_patch_row(self, request: Request) -> Response:
        job = self.job(request.path_params["job_id"])
        row = int(request.path_params["row"])
        data = await _body(request)
        cells = data.get("cells")
        if cells is None:  # the page's form: cell:<Header>=value
            cells = {k[5:]: v for k, v in data.items() if k.startswith("cell:")} or None
        exclude_raw = data.get("exclude")
        exclude = None if exclude_raw in (None, "") else str(exclude_raw).lower() in (
            "1", "true", "on", "yes")  # fmt: skip
        every = str(data.get("every_row", "")).lower() in ("1", "true", "on", "yes")
        if cells is None and exclude is None:
            raise PageError(400, 'Send {"cells": {header: value}} or {"exclude": true}.')
        if cells is not None and (
            not isinstance(cells, dict) or not all(isinstance(v, str) for v in cells.values())
        ):
            raise PageError(400, '"cells" must map column names to text values.')
        too_long = long_cell(cells or {})
        if too_long:
            raise PageError(413, too_long)
        try:
            changed = await asyncio.to_thread(
                self.registry.recheck, job, row, cells=cells, exclude=exclude, every_row=every
            )
        except KeyError:
            raise PageError(404, f"Job {job.job_id} has no row {row}.") from None
        except BatchError as exc:
            raise PageError(409, job.friendly(views.error_text(exc))) from None
        if _is_htmx(request):
            query = views.RowQuery.from_params(data)
            return self.render(request, "_patch.html", **self._job_context(job, query))
        first = views.row_json(job, changed[0])
        if len(changed) > 1:
            first["also_changed"] = [found.result.row for found in changed[1:]]
        first["last_fix"] = views.last_fix(job)  # the rows re-decided because of it
        return JSONResponse(first)

    async def api_run(self, request: Request) -> Response:
        """A dry run goes live; a live run that stopped runs its remaining rows."""
        source = self.job(request.path_params["job_id"])
        if source.live_job is not None and _is_htmx(request):
            # A second click, or a confirmation shown again by Back: the person's run is the
            # one already started, so the page shows it (the JSON API answers 409).
            return JSONResponse(
                {"job_id": source.live_job},
                status_code=200,
                headers={"HX-Redirect": f"/jobs/{source.live_job}"},
            )
        start = self.registry.run_remaining if source.kind == "live" else self.registry.start_live
        try:
            live = await asyncio.to_thread(start, source)
        except BatchError as exc:  # another live run holds the account (AccountBusy), ...
            raise PageError(409, source.friendly(views.error_text(exc))) from None
        headers = {"HX-Redirect": f"/jobs/{live.job_id}"} if _is_htmx(request) else None
        return JSONResponse({"job_id": live.job_id}, status_code=202, headers=headers)

    async def api_cancel(self, request: Request) -> Response:
        job = self.job(request.path_params["job_id"])
        self.registry.cancel(job)
        headers = {"HX-Refresh": "true"} if _is_htmx(request) else None
        return JSONResponse({"job_id": job.job_id, "state": job.state}, 202, headers=headers)

    async def api_events(self, request: Request) -> Response:
        run = self.job(request.path_params["job_id"])
        job = run.job

        async def stream() -> AsyncIterator[str]:
            # Progress at most every PROGRESS_EVERY seconds; the end is looked for every
            # DONE_POLL seconds, so the page shows the results as soon as they are there.
            seen, sent = -1, 0.0
            while True:
                done, now = job.done, time.monotonic()
                moved = job.version != seen and (done or now - sent >= PROGRESS_EVERY)
                if moved or now - sent >= TICK_EVERY:
                    seen, sent = job.version, now
                    yield f"event: progress\ndata: {json.dumps(self._progress(run))}\n\n"
                if done:
                    yield f"event: done\ndata: {json.dumps(self._progress(run))}\n\n"
                    return
                if job.restored:
                    return  # runs in another process: nothing moves here
                if await request.is_disconnected():
                    return
                await asyncio.sleep(DONE_POLL)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    def _progress(self, run: PageRun) -> dict[str, Any]:
        status = views.status(run, self.registry)
        status.pop("edits", None)
        status.pop("excluded", None)
        return status

    async def api_download(self, request: Request) -> Response:
        job = self.job(request.path_params["job_id"])
        name, fmt = request.path_params["name"], request.path_params["fmt"]
        if (
            name not in ("report", "failed")
            or fmt not in REPORT_FORMATS
            or (name == "failed" and fmt == "json")
        ):
            raise PageError(404, "Downloads: report.xlsx, report.csv, report.json, failed.xlsx, "
                           "failed.csv.")  # fmt: skip
        try:
            path = await asyncio.to_thread(self.registry.export, job, fmt, failed=name == "failed")
        except BatchError as exc:
            raise PageError(409, views.error_text(exc)) from None
        return FileResponse(path, filename=path.name)


__all__ = ["WebConfig", "create_app"]
