"""ALM's jobs: ``POST /jobs``, poll ``GET /jobs/{id}``, fetch the file (alm-api.md §2, §9).

The users export (``generateUsers``) and the learner transcript (``generateLearnerTranscript``)
run the same way, through ``AlmJobs.run``:

- Polled as Adobe's own client polls (its reference site: every 5 s): every
  ``ALM_JOB_POLL_SECONDS`` (5 s), the first poll after ``FIRST_POLL`` of that (3 s). Each poll
  is an admin GET out of the same allowance as the run's reads, so a job is never polled tens
  of times in its first seconds; and a job that runs for minutes (a transcript of a large
  account) is polled less often as it goes on: after ``GROW_AFTER`` intervals (30 s) the wait
  grows to ``POLL_GROWTH`` of the time it has run (at most ``POLL_CAP`` intervals), so it is
  seen done at most about a quarter of its own time late, with a few polls a minute instead of
  twelve (a job done within 30 s is seen as Adobe's client sees it). A caller that knows roughly
  how long the job takes sets its first poll (``first_poll``). (A time-scaled sandbox scales
  the interval with its clock.)
- A quota refusal is not waited out: ALM allows about five jobs of a type a day, and its
  answer over the quota is undocumented (a 400, a 403, or a 429 whose ``retry-after`` may be
  hours). ``POST /jobs`` waits through ordinary 429s only (``SUBMIT_THROTTLE_BUDGET``).
- Both documented answers are read: the classic ``attributes.status.code`` (``Submitted`` ...
  ``Completed``) with the file at ``attributes.status.data.s3Url``, and the 2026 shape
  ``attributes.status`` (``QUEUED``, ``IN_PROGRESS``, ``COMPLETED``, ``FAILED``) with
  ``attributes.result.downloadUrl`` and ``expiresAt``. Where neither place holds the file, any
  link in the job is taken (the docs once said only "copy the S3 URL from the response").
- A failed job is an ``ApiError`` that says so (callers fall back on it).
- The file is a pre-signed storage link (6 hours to 7 days): fetched without our token and
  unpaced. A link that has expired (the storage answers 403) is replaced by reading the job
  once more, not a run-ending error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from batch.alm.http import HttpClient, Reply
from batch.alm.parse import as_list, str_id
from batch.errors import ApiError

FIRST_POLL = 0.6  # of the interval: polling every 5 s, the first poll comes after 3 s
POLL_GROWTH = 0.25  # later polls wait this share of the time the job has run, when longer
GROW_AFTER = 6  # intervals (30 s at 5 s) polled at the plain interval before the waits grow
POLL_CAP = 12  # intervals: the longest wait between two polls (a minute at 5 s)
SUBMIT_THROTTLE_BUDGET = 60.0  # seconds of 429 waits a job submission takes, no more
JOB_TIMEOUT_SECONDS = 1800.0
LINK_RENEWALS = 2  # expired links replaced by reading the job again, per file
DONE = frozenset({"completed", "complete", "success", "succeeded", "done", "finished"})
FAILED = frozenset({"failed", "failure", "error", "errored", "cancelled", "canceled", "aborted"})
_URL_NAMES = ("downloadUrl", "s3Url", "url", "fileUrl", "resultUrl", "reportUrl")


@dataclass(frozen=True, slots=True)
class JobState:
    """What one read of a job says: its status (lower-cased) and its file's link, if any."""

    status: str
    url: str = ""
    expires_at: str = ""  # the 2026 shape's ``expiresAt``, as ALM wrote it
    reason: str = ""  # a failed job's own words, when it gives any

    @property
    def done(self) -> bool:
        return self.status in DONE

    @property
    def failed(self) -> bool:
        return self.status in FAILED


@dataclass(frozen=True, slots=True)
class JobFile:
    job_id: str
    content: bytes
    seconds: float = 0.0  # from submission to the file, on the client's clock


@dataclass(frozen=True, slots=True)
class JobWait:
    """What a caller is told while a job runs: after its submission (``status`` "submitted")
    and after each poll."""

    job_id: str
    what: str  # "learner transcript"
    status: str  # as ALM spells it, lower-cased ("in progress", "queued", ...)
    elapsed: float  # seconds since it was submitted
    polls: int


OnWait = Callable[[JobWait], None]


def job_state(doc: Any) -> JobState:
    """A job document (``{"data": {...}}``, either documented shape) as a ``JobState``."""
    data = as_list(doc.get("data")) if isinstance(doc, dict) else []
    job = data[0] if data and isinstance(data[0], dict) else {}
    attrs = _dict(job.get("attributes"))
    raw = attrs.get("status") or attrs.get("jobStatus") or attrs.get("state") or ""
    status = _dict(raw)
    result = _dict(attrs.get("result"))
    code = (status.get("code") or status.get("status") or "") if status else raw
    # The documented places first: 2026 result.downloadUrl, classic status.data.s3Url.
    url = _first_url(result, _dict(status.get("data")), status, attrs)
    if not url:
        links = _dict(job.get("links"))
        url = _find_url(attrs) or _find_url({k: v for k, v in links.items() if k != "self"})
    reason = next(
        (
            str(place[key])
            for place in (result, status, attrs)
            for key in ("error", "message", "reason", "errorMessage")
            if isinstance(place.get(key), str) and place[key].strip()
        ),
        "",
    )
    expires = result.get("expiresAt") or attrs.get("expiresAt") or ""
    return JobState(str(code).strip().casefold(), url, str(expires), reason)


class AlmJobs:
    """Runs ALM's jobs over one client's ``HttpClient`` (its pacing, retries and clock)."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def run(
        self,
        job_type: str,
        payload: Mapping[str, Any],
        *,
        what: str,
        poll_seconds: float | None = None,
        timeout: float = JOB_TIMEOUT_SECONDS,
        first_poll: float | None = None,
        on_wait: OnWait | None = None,
    ) -> JobFile:
        """Submit a job, wait for it, return its file. ``what`` names it in errors ("users
        export"); ``poll_seconds`` None: ``ALM_JOB_POLL_SECONDS``; ``first_poll``: seconds
        before the first poll (None: ``FIRST_POLL`` of the interval); ``on_wait`` is told after
        the submission and each poll. Raises ``ApiError`` when ALM refuses the job (a quota, a 4xx), when it fails
        or outlasts ``timeout``, or when its file cannot be fetched."""
        started = self.http.clock()
        job_id = self.submit(job_type, payload, what=what)
        if on_wait is not None:
            on_wait(JobWait(job_id, what, "submitted", 0.0, 0))
        state = self.wait(
            job_id,
            what=what,
            poll_seconds=poll_seconds,
            timeout=timeout,
            first_poll=first_poll,
            on_wait=on_wait,
        )
        content = self.fetch(job_id, state, what=what)
        return JobFile(job_id, content, self.http.clock() - started)

    def submit(self, job_type: str, payload: Mapping[str, Any], *, what: str) -> str:
        body = {
            "data": {
                "type": "job",
                "attributes": {
                    "description": f"alm-batch {what}",
                    "jobType": job_type,
                    "payload": dict(payload),
                },
            }
        }
        created = self.http.request(
            "POST", "/jobs", body=body, throttle_budget=SUBMIT_THROTTLE_BUDGET
        )
        items = as_list(created.data.get("data")) if isinstance(created.data, dict) else []
        job_id = str_id(items[0].get("id")) if items else ""
        if not job_id:
            raise ApiError(created.status, f"ALM created no job id for the {what}")
        return job_id

    def wait(
        self,
        job_id: str,
        *,
        what: str,
        poll_seconds: float | None = None,
        timeout: float = JOB_TIMEOUT_SECONDS,
        first_poll: float | None = None,
        on_wait: OnWait | None = None,
    ) -> JobState:
        """Poll until the job is done (its state, with the file's link) or fails."""
        every = poll_seconds or self.http.settings.job_poll_seconds
        clock = self.http.clock
        started = clock()
        deadline = started + timeout
        wait = max(every * FIRST_POLL, first_poll or 0.0)
        polls = 0
        while True:
            if clock() + wait > deadline:
                raise ApiError(0, f"ALM's {what} job timed out", f"job {job_id}, {timeout:g} s")
            self.http.pause(wait)  # a Cancel ends the wait: nothing more is sent
            reply = self._read(job_id)
            polls += 1
            ran = clock() - started
            grown = POLL_GROWTH * ran if ran >= GROW_AFTER * every else 0.0
            wait = min(max(every, grown), POLL_CAP * every)
            state = job_state(reply.data)
            if on_wait is not None:
                on_wait(JobWait(job_id, what, state.status or "running", ran, polls))
            if state.failed:
                detail = f"job {job_id}" + (f": {state.reason}" if state.reason else "")
                raise ApiError(reply.status, f"ALM's {what} job {state.status}", detail)
            if state.done:
                if not state.url:
                    detail = f"job {job_id}"
                    raise ApiError(reply.status, f"ALM's {what} job ended without a file", detail)
                return state

    def fetch(self, job_id: str, state: JobState, *, what: str) -> bytes:
        """The job's file. A link that has expired (403 from the storage) is replaced by
        reading the job again, at most ``LINK_RENEWALS`` times."""
        for renewal in range(LINK_RENEWALS + 1):
            try:
                return self._download(state.url)
            except ApiError as exc:
                if exc.status != 403 or renewal == LINK_RENEWALS:
                    raise ApiError(
                        exc.status, f"the file of ALM's {what} job could not be fetched", str(exc)
                    ) from None
            state = job_state(self._read(job_id).data)
            if not state.url:
                raise ApiError(0, f"ALM's {what} job no longer offers its file", f"job {job_id}")
        raise AssertionError("unreachable")  # the loop returns or raises

    def _read(self, job_id: str) -> Reply:
        return self.http.request("GET", f"/jobs/{quote(job_id, safe=':')}")

    def _download(self, url: str) -> bytes:
        # A third-party host: never our token; and not ALM's allowance, so never paced.
        reply = self.http.request(
            "GET", url, auth=False, paced=False, headers={"Accept": "text/csv, */*"}
        )
        return reply.content


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith(("http://", "https://"))


def _first_url(*places: dict[str, Any]) -> str:
    for place in places:
        for name in _URL_NAMES:
            if _is_url(place.get(name)):
                return str(place[name]).strip()
    return ""


def _find_url(value: Any, depth: int = 0) -> str:
    """The first http(s) URL nested anywhere in ``value`` (dicts and lists, a few levels deep)
    that is not a link back to the jobs API itself."""
    if depth > 6:
        return ""
    if _is_url(value):
        text = str(value).strip()
        return "" if "/primeapi/" in text and "/jobs" in text else text
    items: Iterable[Any] = ()
    if isinstance(value, dict):
        items = value.values()
    elif isinstance(value, list):
        items = value
    for item in items:
        found = _find_url(item, depth + 1)
        if found:
            return found
    return ""
