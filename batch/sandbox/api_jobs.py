"""``POST /jobs``, ``GET /jobs/{id}`` and the job's file: the users export and the transcript.

Job types: ``generateUsers`` (alm-api.md §2: every user, deleted ones too) and
``generateLearnerTranscript`` (§12, ``transcript``). ``GET /jobs/{id}`` answers in one of the
two documented shapes (``job_shape``):

- classic: ``attributes.status.code`` Submitted, In Progress, then Completed (or Failed) with
  the file at ``attributes.status.data.s3Url``;
- 2026: ``attributes.status`` QUEUED, IN_PROGRESS, COMPLETED or FAILED, the file at
  ``attributes.result.downloadUrl`` with ``attributes.result.expiresAt``.

``job_url_at`` can move the URL where no document puts it (``url``: ``attributes.url``;
``nested``: ``attributes.result.files[0].href``). The file lives outside /primeapi, needs no
auth (an S3 pre-signed link) and expires (``jobs``). Errors use the ``{"meta": {...}}`` shape.
Refusals, where ALM's answer is unknown: a job type the account lacks (``job_types_refused``)
400; the daily quota or a job still running: ``job_quota_status`` (400 by default; 429 with
``retry-after`` or 403 in profiles).
"""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from batch.sandbox import transcript
from batch.sandbox.failures import ApiFailure
from batch.sandbox.jobs import Job, Refused
from batch.sandbox.routing import Request, Response
from batch.sandbox.world import World, iso

USERS, TRANSCRIPT = "generateUsers", "generateLearnerTranscript"
JOB_TYPES = (USERS, TRANSCRIPT)
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
CLASSIC = {"queued": "Submitted", "running": "In Progress", "done": "Completed"}
NEW = {"queued": "QUEUED", "running": "IN_PROGRESS", "done": "COMPLETED"}
QUOTA_TITLES = {400: "BAD_REQUEST", 403: "FORBIDDEN", 429: "TOO_MANY_REQUESTS"}
EXPIRED_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    "<Message>{message}</Message></Error>"
)


def submit_job(req: Request) -> Response:
    sb = req.sandbox
    cfg = sb.config
    try:
        data = req.json().get("data")
    except ApiFailure as exc:
        raise ApiFailure(400, "BAD_REQUEST", exc.info, shape="meta") from None
    if not isinstance(data, dict) or data.get("type") != "job":
        raise ApiFailure(400, "BAD_REQUEST", "data.type must be 'job'", shape="meta")
    attrs = data.get("attributes") or {}
    job_type = attrs.get("jobType")
    if job_type not in JOB_TYPES:
        raise ApiFailure(
            400,
            "BAD_REQUEST",
            f"jobType {job_type!r} is not supported by the sandbox ({', '.join(JOB_TYPES)})",
            shape="meta",
        )
    refused = {t.strip() for t in cfg.job_types_refused.split(",") if t.strip()}
    if job_type in refused:
        sb.bookkeeper.tally("jobs_refused", job_type)
        raise ApiFailure(
            400, "BAD_REQUEST", f"jobType {job_type} is not enabled for this account", shape="meta"
        )
    payload = attrs.get("payload") or {}
    now = sb.clock.now()
    world = sb.world
    if job_type == TRANSCRIPT:
        asked = transcript.parse_payload(payload)
        style = transcript.Style(cfg.transcript_ids, cfg.transcript_columns, cfg.report_timezone)
        at = now - cfg.transcript_lag

        def build() -> bytes:
            return transcript.build(world, asked, at, style)

        delay = cfg.transcript_delay
    else:

        def build() -> bytes:
            return users_csv(world)

        delay = cfg.job_delay
    try:
        job = sb.jobs.submit(
            job_type,
            description=str(attrs.get("description", "")),
            payload=payload if isinstance(payload, dict) else {},
            now=now,
            delay=delay,
            quota=cfg.jobs_per_day,
            one_at_a_time=cfg.jobs_one_at_a_time,
            build=build,
            failed=cfg.jobs_fail,
            created=datetime.now(UTC),
        )
    except Refused as refusal:
        sb.bookkeeper.tally("jobs_refused", job_type)
        status = cfg.job_quota_status
        wait = math.ceil(refusal.wait / sb.clock.scale * 1000) / 1000
        headers = {"retry-after": f"{wait:.3f}"} if status == 429 else {}
        raise ApiFailure(
            status, QUOTA_TITLES[status], refusal.detail, shape="meta", headers=headers
        ) from None
    sb.bookkeeper.tally("jobs_submitted", job_type)
    return Response(200, {"data": _render(req, job)})


def get_job(req: Request) -> Response:
    job = req.sandbox.jobs.get(req.params["id"])
    if job is None:
        raise ApiFailure(404, "NOT_FOUND", f"job {req.params['id']} not found", shape="meta")
    return Response(200, {"data": _render(req, job)})


def _render(req: Request, job: Job) -> dict[str, Any]:
    sb = req.sandbox
    cfg = sb.config
    now = sb.clock.now()
    phase = job.phase(now)
    attrs: dict[str, Any] = {
        "jobType": job.job_type,
        "description": job.description,
        "dateCreated": iso(job.date_created),
        "payload": job.payload,
    }
    classic = cfg.job_shape == "classic"
    if phase == "done" and job.failed:
        error = f"the {job.job_type} job failed; submit it again"
        if classic:
            attrs["status"] = {"code": "Failed", "data": {"error": error}}
        else:
            attrs["status"] = "FAILED"
            attrs["result"] = {"error": {"code": "JOB_FAILED", "message": error}}
    elif phase == "done":
        token, expires = sb.jobs.sign(job.id, now, cfg.job_link_ttl)
        real = max(0.0, (expires - now) / sb.clock.scale)
        url = (
            f"{sb.base_url}/_sandbox/downloads/{job.id}.csv"
            f"?X-Amz-Expires={math.ceil(real)}&X-Amz-Signature={token}"
        )
        expires_at = iso(datetime.now(UTC) + timedelta(seconds=real))
        took = (job.ready - job.submitted) / sb.clock.scale
        attrs["dateCompleted"] = iso(job.date_created + timedelta(seconds=took))
        if classic:
            attrs["status"] = {"code": "Completed", "data": {"s3Url": url}}
        else:
            attrs["status"] = "COMPLETED"
            attrs["result"] = {"downloadUrl": url, "expiresAt": expires_at}
        _move_url(attrs, cfg.job_url_at, url, job)
    else:
        attrs["status"] = {"code": CLASSIC[phase]} if classic else NEW[phase]
    return {
        "id": job.id,
        "type": "job",
        "attributes": attrs,
        "links": {"self": f"{sb.api_root}/jobs/{job.id}"},
    }


def _move_url(attrs: dict[str, Any], place: str, url: str, job: Job) -> None:
    """Put the URL where no document does (profiles that test a client's search for it)."""
    if place == "shape":
        return
    status = attrs["status"]
    if isinstance(status, dict):
        status.pop("data", None)
    result = attrs.pop("result", {})
    if place == "url":
        attrs["url"] = url
    else:
        attrs["result"] = {"files": [{"name": f"{job.job_type}-{job.id}.csv", "href": url}]}
    if "expiresAt" in result:
        attrs.setdefault("result", {})["expiresAt"] = result["expiresAt"]


def download(req: Request, name: str) -> Response:
    """The file of a finished job: 404 before, 403 (as S3) for an expired or unsigned link."""
    sb = req.sandbox
    job = sb.jobs.get(name.removesuffix(".csv"))
    if job is None or not name.endswith(".csv"):
        raise ApiFailure(404, "NOT_FOUND", f"no such download {name}", shape="meta")
    now = sb.clock.now()
    if job.phase(now) != "done" or job.failed:
        raise ApiFailure(404, "NOT_FOUND", f"job {job.id} has no file yet", shape="meta")
    verdict = sb.jobs.check(req.arg("X-Amz-Signature"), job.id, now)
    if verdict != "ok":
        if verdict == "expired":
            sb.bookkeeper.add("downloads_expired")
        message = "Request has expired" if verdict == "expired" else "Invalid signature"
        body = EXPIRED_XML.format(message=message).encode("utf-8")
        return Response(403, body, content_type="application/xml")
    return Response(200, job.content, content_type="text/csv; charset=utf-8")


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
