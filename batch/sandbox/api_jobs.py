"""The users export job: ``POST /jobs`` (generateUsers), ``GET /jobs/{id}``, the CSV download.

alm-api.md §2: the job answers ``status.code`` "Submitted", then (after ``job_delay`` sandbox
seconds) "Completed" with a download URL. The download lives outside /primeapi and needs no
auth, like the S3 URL ALM hands out. The jobs endpoints answer errors in the newer
``{"meta": {"error", "detail"}}`` shape, so clients meet all three of ALM's error shapes.
The CSV lists every user, deleted ones included (state DELETED, dateDeleted set).
"""

from __future__ import annotations

import csv
import io
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from batch.sandbox.failures import ApiFailure
from batch.sandbox.routing import Request, Response
from batch.sandbox.world import World, iso

EXPORT_COLUMNS = (
    "internalUserID",
    "userEmail",
    "customerDefinedUniqueUserId",
    "name",
    "managerID",
    "managerEmail",
    "userType",
    "profile",
    "state",
    "dateCreated",
    "dateDeleted",
    "lastLoginDate",
)
SANDBOX_DAY = 86400.0


@dataclass(slots=True)
class Job:
    id: str
    job_type: str
    description: str
    submitted: float  # sandbox clock
    date_created: datetime


class JobStore:
    """Submitted jobs and the daily quota, on the sandbox clock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._next = 4200001

    def submit(self, job_type: str, description: str, now: float, quota: int) -> Job:
        with self._lock:
            today = [j for j in self._jobs.values() if now - j.submitted < SANDBOX_DAY]
            if len(today) >= quota:
                raise ApiFailure(
                    400,
                    "BAD_REQUEST",
                    f"daily job quota reached ({quota} jobs per day)",
                    shape="meta",
                )
            job = Job(str(self._next), job_type, description, now, datetime.now(UTC))
            self._next += 1
            self._jobs[job.id] = job
            return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)


def submit_job(req: Request) -> Response:
    sb = req.sandbox
    try:
        data = req.json().get("data")
    except ApiFailure as exc:
        raise ApiFailure(400, "BAD_REQUEST", exc.info, shape="meta") from None
    if not isinstance(data, dict) or data.get("type") != "job":
        raise ApiFailure(400, "BAD_REQUEST", "data.type must be 'job'", shape="meta")
    attrs = data.get("attributes") or {}
    job_type = attrs.get("jobType")
    if job_type != "generateUsers":
        raise ApiFailure(
            400,
            "BAD_REQUEST",
            f"jobType {job_type!r} is not supported by the sandbox (only generateUsers)",
            shape="meta",
        )
    job = sb.jobs.submit(
        job_type, str(attrs.get("description", "")), sb.clock.now(), sb.config.jobs_per_day
    )
    return Response(200, {"data": _render(req, job)})


def get_job(req: Request) -> Response:
    job = req.sandbox.jobs.get(req.params["id"])
    if job is None:
        raise ApiFailure(404, "NOT_FOUND", f"job {req.params['id']} not found", shape="meta")
    return Response(200, {"data": _render(req, job)})


def _render(req: Request, job: Job) -> dict[str, Any]:
    sb = req.sandbox
    elapsed = sb.clock.now() - job.submitted
    delay = sb.config.job_delay
    if elapsed >= delay:
        code = "Completed"
    elif elapsed >= delay / 2:
        code = "In Progress"
    else:
        code = "Submitted"
    attrs: dict[str, Any] = {
        "jobType": job.job_type,
        "description": job.description,
        "dateCreated": iso(job.date_created),
        "status": {"code": code},
    }
    if code == "Completed":
        url = f"{sb.base_url}/_sandbox/downloads/{job.id}.csv"
        if sb.config.job_url_at == "nested":  # the docs never name the attribute
            attrs["result"] = {"files": [{"name": f"users-{job.id}.csv", "href": url}]}
        else:
            attrs["url"] = url
        attrs["dateCompleted"] = iso(datetime.now(UTC))
    return {
        "id": job.id,
        "type": "job",
        "attributes": attrs,
        "links": {"self": f"{sb.api_root}/jobs/{job.id}"},
    }


def download(req: Request, name: str) -> Response:
    """The CSV of a completed job (404 for an unknown or unfinished one)."""
    sb = req.sandbox
    job = sb.jobs.get(name.removesuffix(".csv"))
    if job is None or not name.endswith(".csv"):
        raise ApiFailure(404, "NOT_FOUND", f"no such download {name}", shape="meta")
    if sb.clock.now() - job.submitted < sb.config.job_delay:
        raise ApiFailure(404, "NOT_FOUND", f"job {job.id} has not completed yet", shape="meta")
    return Response(200, users_csv(sb.world), content_type="text/csv; charset=utf-8")


def users_csv(world: World) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    with world.lock:
        users = sorted(world.users.values(), key=lambda u: int(u.id))
        for u in users:
            manager = world.users.get(u.manager_id) if u.manager_id else None
            writer.writerow(
                [
                    u.id,
                    u.email,
                    u.unique_id,
                    u.name,
                    manager.id if manager else "",
                    manager.email if manager else "",
                    u.user_type,
                    "",
                    u.state,
                    iso(u.date_created) or "",
                    iso(u.date_deleted) or "",
                    "",
                ]
            )
    return out.getvalue().encode("utf-8")
