"""Typed calls to ALM API v2 (signatures are the shared contract).

Only this package knows URLs, JSON:API shapes and HTTP. Everything returns ``batch.alm.types``.
Transport policy (auth, pacing, retries, error parsing) lives in ``batch.alm.http``; JSON:API
parsing in ``batch.alm.parse``; the grade body in ``batch.alm.payloads``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

from batch.alm import transcript
from batch.alm.grade_shapes import SHAPES_FILE, GradeShapes, ShapeStore, is_shape_refusal
from batch.alm.http import HttpClient, Reply
from batch.alm.jobs import JOB_TIMEOUT_SECONDS, AlmJobs, JobFile, OnWait
from batch.alm.parse import (
    as_list,
    parse_course_detail,
    parse_course_summary,
    parse_enrollment,
    parse_user,
    parse_user_csv,
)
from batch.alm.payloads import grade_payload
from batch.alm.retry import WriteRetry
from batch.alm.stats import CallStats, endpoint_template
from batch.alm.types import (
    CONTAINER_TYPES,
    CourseDetail,
    CourseSummary,
    Enrollment,
    GradeRequest,
    User,
)
from batch.alm.wire import Wire
from batch.errors import ApiError, WriteScopeMissing, WriteUncertain
from batch.gate import PoolGate
from batch.settings import Settings

__all__ = ["AlmClient", "CallStats"]

PAGE_MAX = 100  # without include (alm-api.md §2, §3; unconfirmed, hence the fallback)
PAGE_MAX_INCLUDE = 10  # with include, and the documented safe size
PROGRAM_INCLUDE = "instances.subLoInstances"  # a program's instances, mapped to its courses


def _seg(value: str) -> str:
    """One path segment, escaped (``course:123`` keeps its colon)."""
    return quote(str(value).strip(), safe=":")


def _already_enrolled(error: ApiError) -> bool:
    text = f"{error.title} {error.detail or ''} {error.code or ''}".casefold()
    return error.status == 409 or (
        error.status == 400 and "already" in text and ("enrol" in text or "exist" in text)
    )


class AlmClient:
    """One client per run, shared by all worker threads.

    Parameters: ``settings`` (base URL, credentials, defaults for limits), ``concurrency`` (pool
    size), ``max_rps`` (a ceiling over every verb), ``give_up_after`` (seconds without any answer
    from ALM before ``ApiUnreachable``), ``state_dir`` (where the grade body learned from ALM is
    remembered per host, ``grade_shapes.json``; None: learned for this client only),
    ``clock``/``sleep`` injectable for tests.
    Raises ``ConfigError`` at construction when credentials are missing, ``AuthError`` (exit 3)
    when credentials are refused, ``ApiUnreachable`` when ALM is unreachable for longer than
    ``give_up_after``; ``ApiError`` for other error answers after retries; ``WriteUncertain`` from
    writes whose outcome is unknown; ``WriteScopeMissing`` (exit 3) on a 403 to a write;
    ``GradeBodyRefused`` (exit 3) once ALM has refused every grade body shape.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        concurrency: int = 4,
        max_rps: float | None = None,
        give_up_after: float = 600.0,
        state_dir: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.stats = CallStats()
        self.grade_shapes = GradeShapes(
            settings, ShapeStore(Path(state_dir) / SHAPES_FILE if state_dir else None)
        )
        self._write_gate: PoolGate | None = None  # see limit_writes
        self.http = HttpClient(
            settings,
            concurrency=concurrency,
            max_rps=max_rps,
            give_up_after=give_up_after,
            clock=clock,
            sleep=sleep,
            stats=self.stats,
        )
        # How long one write keeps trying through transient faults (the executor's budget),
        # on this client's clock: ALM_WRITE_RETRIES / ALM_WRITE_RETRY_SECONDS.
        self.write_retry = WriteRetry.from_settings(settings, clock=clock, sleep=sleep)
        self.jobs = AlmJobs(self.http)  # ALM's jobs: the users export, the learner transcript
        self._page_limits: dict[str, int] = {}  # endpoint -> page size after a 400 fallback
        self._program_types_one_by_one = False  # see get_program_enrollments
        self._lock = threading.Lock()

    stats: CallStats

    @property
    def grade_body_description(self) -> str:
        """The grade body in use, for the summary: "module id: loResource id, no instance field,
        course type learningObject; learned on 2026-11-30"."""
        return self.grade_shapes.description()

    def close(self) -> None:
        self.http.close()

    # --- a run's stop, and what is on the wire (alm/wire.py) ---------------------------------
    def stop_on(self, event: threading.Event) -> None:
        """Once ``event`` is set (one of those given), send nothing more: requests not yet on
        the wire (waiting for the pacer, a pool slot, a retry, the grade body's verdict, the
        learner enrolled ahead of its grades) raise ``NotSent`` within ``STOP_POLL``; those on
        it get their answer."""
        if event not in self.http.stops:
            self.http.stops.append(event)

    def writes_in_flight(self) -> int:
        """Writes sent and not yet answered."""
        return self.http.wire.writes_in_flight()

    @property
    def wire(self) -> Wire:
        return self.http.wire

    def __enter__(self) -> AlmClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing ---------------------------------------------------------------------------
    def _get_or_none(self, path: str, params: dict[str, str] | None = None) -> Reply | None:
        try:
            return self.http.request("GET", path, params=params)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def pages(
        self, path: str, params: dict[str, str], *, include: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Every page of a collection, following ``links.next`` (absolute or relative).

        Starts at the documented maximum page size; if ALM answers 400 to it on the first page,
        retries once at 10 and remembers that for the endpoint. Never builds offsets.
        """
        key = endpoint_template("GET", self.http.url_for(path))
        wanted = PAGE_MAX_INCLUDE if include else PAGE_MAX
        with self._lock:
            limit = min(wanted, self._page_limits.get(key, wanted))
        first = dict(params, **{"page[limit]": str(limit)})
        try:
            reply = self.http.request("GET", path, params=first)
        except ApiError as exc:
            if exc.status != 400 or limit <= PAGE_MAX_INCLUDE:
                raise
            with self._lock:
                self._page_limits[key] = PAGE_MAX_INCLUDE
            first["page[limit]"] = str(PAGE_MAX_INCLUDE)
            reply = self.http.request("GET", path, params=first)
        seen = {reply.url}
        while True:
            doc = reply.data if isinstance(reply.data, dict) else {}
            yield doc
            links = doc.get("links") if isinstance(doc.get("links"), dict) else {}
            nxt = links.get("next") if links else None
            if isinstance(nxt, dict):
                nxt = nxt.get("href")
            if not isinstance(nxt, str) or not nxt.strip() or not as_list(doc.get("data")):
                return
            url = urljoin(reply.url, nxt.strip())
            if url in seen:
                return  # a server that links a page to itself would loop forever
            seen.add(url)
            reply = self.http.request("GET", url)

    # --- auth / diagnostics ---------------------------------------------------------------
    def check_token(self) -> dict[str, object]:
        """GET /oauth/token/check for doctor: scopes, expires_in (never the token)."""
        token = self.http.tokens.current()
        reply = self.http.request(
            "GET",
            "/oauth/token/check",
            params={"access_token": token},
            auth=False,
            paced=False,
            headers={"Accept": "application/json"},
        )
        data = reply.data if isinstance(reply.data, dict) else {}
        if isinstance(data.get("data"), dict):  # tolerate a JSON:API-wrapped answer
            data = {**data["data"].get("attributes", {}), **data}
        secrets = set(self.settings.secrets()) | {token}
        out: dict[str, object] = {}
        for key, value in data.items():
            lowered = key.lower()
            if ("token" in lowered and lowered != "expires_in") or "secret" in lowered:
                continue
            if key == "data" or (isinstance(value, str) and value in secrets):
                continue
            out[key] = value
        return out

    def allowance_per_minute(self, method: str) -> float:
        """The requests per minute ALM grants this verb now (from its live headers when seen,
        else the settings): what the time estimate follows."""
        return self.http.limiter.allowance(method) * 60.0

    def announced_per_minute(self, method: str) -> float | None:
        """Requests per minute ALM's own ``x-rate-limit`` granted this verb (None: not seen)."""
        per_second = self.http.limiter.announced(method)
        return None if per_second is None else per_second * 60.0

    def announced_burst(self, method: str) -> float | None:
        """The burst ALM's own ``x-burst`` granted this verb (None: not seen)."""
        return self.http.limiter.announced_burst(method)

    def expect_allowance(self, method: str, per_minute: float, burst: float | None) -> None:
        """Start pacing ``method`` at an allowance an earlier run saw ALM grant on this host
        (ALM's headers take over from the first answer)."""
        self.http.limiter.expect(method, per_minute, burst)

    def latency_seconds(self, method: str) -> float | None:
        """ALM's average answer time for this verb so far (None before the first answer)."""
        return self.http.latency.seconds(method)

    def rate_limit_headers(self) -> dict[str, str]:
        """The last x-rate-limit / x-burst values seen, per verb class, for doctor."""
        return dict(self.http.last_rate_headers)

    # --- users ---------------------------------------------------------------------------
    def find_user_by_email(self, email: str) -> User | None:
        """GET /users?ids=email:<address>; None when no user has it (matched case-insensitively)."""
        wanted = email.strip().casefold()
        if not wanted:
            return None
        reply = self._get_or_none(
            "/users",
            {
                "page[offset]": "0",
                "page[limit]": "10",
                "sort": "id",
                "ids": f"email:{email.strip()}",
            },
        )
        if reply is None or not isinstance(reply.data, dict):
            return None
        for resource in as_list(reply.data.get("data")):
            user = parse_user(resource)
            if user.id and user.email.casefold() == wanted:
                return user
        return None

    def export_users(
        self,
        *,
        poll_seconds: float | None = None,
        timeout: float = JOB_TIMEOUT_SECONDS,
        on_wait: OnWait | None = None,
    ) -> Iterator[User]:
        """Every user of the account, deleted ones too, from one ``generateUsers`` job
        (``batch.alm.jobs``: polled every ``poll_seconds``, else ``ALM_JOB_POLL_SECONDS``; its
        file fetched without our token)."""
        export = self.jobs.run(
            "generateUsers",
            {"expandMetadata": True},
            what="users export",
            poll_seconds=poll_seconds,
            timeout=timeout,
            on_wait=on_wait,
        )
        yield from parse_user_csv(export.content)

    def learner_transcript(
        self,
        user_ids: Iterable[str],
        date_from: datetime,
        date_to: datetime,
        *,
        first_poll: float | None = None,
        on_wait: OnWait | None = None,
        timeout: float = JOB_TIMEOUT_SECONDS,
    ) -> JobFile:
        """One Learner Transcript job (``generateLearnerTranscript``, module details on) for
        these learners (internal ids) and this window (at most five years: ``transcript.windows``
        cuts longer ones), its CSV file (``transcript.read_transcript`` reads it). Polled as
        every job is (``batch.alm.jobs``); ``expected``: how long the last one took. Raises
        ``ApiError`` when ALM refuses it (no such job on the account, the daily quota, a 4xx),
        when it fails or outlasts ``timeout``, or when its file cannot be fetched."""
        return self.jobs.run(
            transcript.JOB_TYPE,
            transcript.payload(user_ids, date_from, date_to),
            what="learner transcript",
            first_poll=first_poll,
            on_wait=on_wait,
            timeout=timeout,
        )

    def get_user(self, user_id: str) -> User | None:
        reply = self._get_or_none(f"/users/{_seg(user_id)}")
        items = as_list(reply.data.get("data")) if reply and isinstance(reply.data, dict) else []
        return parse_user(items[0]) if items else None

    # --- learning objects ------------------------------------------------------------------
    def iter_catalogue(self, lo_types: Iterable[str] = ("course",)) -> Iterator[CourseSummary]:
        """GET /learningObjects at the largest page size without include, following links.next."""
        params = {"filter.loTypes": ",".join(lo_types)}
        for doc in self.pages("/learningObjects", params):
            for resource in as_list(doc.get("data")):
                if resource.get("id") is not None:
                    yield parse_course_summary(resource)

    def get_course(self, course_id: str) -> CourseDetail | None:
        """GET /learningObjects/{id}?include=instances.loResources; None on 404."""
        lo_id = course_id.strip()
        if lo_id.isdigit():
            lo_id = f"course:{lo_id}"
        reply = self._get_or_none(
            f"/learningObjects/{_seg(lo_id)}", {"include": "instances.loResources"}
        )
        return parse_course_detail(reply.data) if reply is not None else None

    def get_program(self, lo_id: str) -> CourseDetail | None:
        """GET /learningObjects/{id}?include=instances.subLoInstances (a learning program or a
        certification: its ``sections`` and, per instance, the course instance used for each
        course); None on 404.

        ALM documents ``subLoInstances`` as a relationship of the instance but no include path
        that names it: when ALM refuses the path (400), the instances alone are asked for, where
        the relationship's ids still come with each instance."""
        path = f"/learningObjects/{_seg(lo_id.strip())}"
        try:
            reply = self._get_or_none(path, {"include": PROGRAM_INCLUDE})
        except ApiError as exc:
            if exc.status != 400:
                raise
            reply = self._get_or_none(path, {"include": "instances"})
        return parse_course_detail(reply.data) if reply is not None else None

    # --- enrollments and grades ----------------------------------------------------------------
    def get_enrollments(self, user_id: str) -> list[Enrollment]:
        """GET /users/{id}/enrollments?include=loResourceGrades, every page."""
        out: list[Enrollment] = []
        path = f"/users/{_seg(user_id)}/enrollments"
        for doc in self.pages(path, {"include": "loResourceGrades"}, include=True):
            for resource in as_list(doc.get("data")):
                out.append(parse_enrollment(resource, doc.get("included"), str(user_id)))
        return out

    def get_program_enrollments(self, user_id: str) -> list[Enrollment]:
        """The learner's learning program and certification enrollments, every page.

        ``GET /users/{id}/enrollments`` lists courses unless ``filter.loTypes`` says otherwise
        (alm-api.md §6). Both types are asked for in one call; an ALM that refuses the list
        (400) is asked once per type, and remembered."""
        path = f"/users/{_seg(user_id)}/enrollments"
        with self._lock:
            one_by_one = self._program_types_one_by_one
        if not one_by_one:
            try:
                return self._enrollments_of(path, ",".join(CONTAINER_TYPES), user_id)
            except ApiError as exc:
                if exc.status != 400:
                    raise
                with self._lock:
                    self._program_types_one_by_one = True
        out: list[Enrollment] = []
        for lo_type in CONTAINER_TYPES:
            out.extend(self._enrollments_of(path, lo_type, user_id))
        return out

    def _enrollments_of(self, path: str, lo_types: str, user_id: str) -> list[Enrollment]:
        out: list[Enrollment] = []
        # ``include=True``: ALM's documented page size for enrollments is 10 (alm-api.md §6).
        for doc in self.pages(path, {"filter.loTypes": lo_types}, include=True):
            for resource in as_list(doc.get("data")):
                out.append(parse_enrollment(resource, doc.get("included"), str(user_id)))
        return out

    def enroll(self, user_id: str, course_id: str, instance_id: str) -> Enrollment | None:
        """POST /users/{id}/enrollments?loId=&loInstanceId=. "Already enrolled" is success.

        Returns the new enrollment when ALM sends it back, None when the learner was already
        enrolled (409, or a 400 saying so) or the answer carried no enrollment. Until a grade
        body is accepted, one learner at a time is enrolled ahead of its grades
        (``GradeShapes.before_enroll``), so a run whose every body is refused leaves at most one
        learner enrolled and not graded.
        """
        self.grade_shapes.before_enroll(self.http.stopped)  # a Cancel ends the wait
        try:
            reply = self._write(
                f"/users/{_seg(user_id)}/enrollments",
                params={"loId": course_id, "loInstanceId": instance_id},
            )
        except ApiError as exc:
            if not isinstance(exc, WriteUncertain) and _already_enrolled(exc):
                return None
            self.grade_shapes.enroll_failed()  # refused, or unsure: let another learner go
            raise
        except BaseException:
            self.grade_shapes.enroll_failed()
            raise
        doc = reply.data if isinstance(reply.data, dict) else {}
        items = as_list(doc.get("data"))
        if not items or not items[0].get("id"):
            return None
        enrollment = parse_enrollment(items[0], doc.get("included"), str(user_id))
        if not enrollment.lo_id or not enrollment.instance_id:
            enrollment = type(enrollment)(
                enrollment.id,
                enrollment.lo_id or course_id,
                enrollment.instance_id or instance_id,
                enrollment.state or "ENROLLED",
                enrollment.date_enrolled,
                enrollment.date_completed,
                enrollment.grades,
            )
        return enrollment

    def post_grade(self, grade: GradeRequest) -> None:
        """POST /users/{id}/userModuleGrade in the grade body ALM accepts (any 2xx, with or
        without a body, is accepted).

        A 400 about the body's shape is re-posted with the next shape (a 400 is never applied);
        ``GradeBodyRefused`` once every shape has been refused (``batch.alm.grade_shapes``).
        """
        shapes = self.grade_shapes
        path = f"/users/{_seg(grade.user_id)}/userModuleGrade"
        index, shape = shapes.acquire(self.http.stopped)  # a Cancel ends the wait
        while True:
            try:
                self._write(path, body=grade_payload(grade, shape))
            except ApiError as exc:
                if not isinstance(exc, WriteUncertain) and is_shape_refusal(exc):
                    again = shapes.refused(index, exc)
                    if again is not None:
                        index, shape = again
                        continue
                    raise
                shapes.release(index)
                raise
            except BaseException:
                shapes.release(index)
                raise
            shapes.accepted(index)
            return

    def limit_writes(self, size: int) -> PoolGate:
        """At most ``size`` writes (enrollments, grades) on their way to ALM at once. A slot is
        held only while the request is out: a worker waiting for the grade body's verdict or
        for the pacer holds none. Returns the gate (its ``peak``)."""
        self._write_gate = PoolGate(size)
        return self._write_gate

    def _write(
        self, path: str, *, params: Mapping[str, str] | None = None, body: Any = None
    ) -> Reply:
        """One POST that changes ALM; a 403 stops the run (``WriteScopeMissing``) rather than
        failing each row: a token without the admin write scope cannot write anything."""
        gate = self._write_gate
        try:
            if gate is None:
                return self.http.request("POST", path, params=params, body=body)
            with gate.slot(self.http.stopped):  # a Cancel ends the wait for a place
                return self.http.request("POST", path, params=params, body=body)
        except WriteUncertain:
            raise
        except ApiError as exc:
            if exc.status == 403:
                raise WriteScopeMissing(
                    f"ALM refused a write ({exc.describe()}): the access token lacks the admin "
                    "write scope (admin:write).",
                    hint="In ALM (Integration Admin > Applications) give the application the "
                    "Admin role with read/write scope, create a new refresh token with "
                    "scope admin:read,admin:write, then run the same command again.",
                ) from None
            raise
