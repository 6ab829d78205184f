"""Typed calls to ALM API v2 (CONTRACT: signatures fixed; bodies to be implemented).

Only this package knows URLs, JSON:API shapes and HTTP. Everything returns ``batch.alm.types``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from batch.alm.types import CourseDetail, CourseSummary, Enrollment, GradeRequest, User
from batch.errors import ApiError
from batch.settings import Settings


class WriteUncertain(ApiError):
    """A POST may or may not have landed (5xx, read timeout, connection dropped after sending,
    a lost response). The caller must read ALM's state before re-sending (never re-send blindly).
    """


@dataclass
class CallStats:
    """Counters for the run summary; thread-safe increments are the client's job."""

    calls: dict[str, int] = field(default_factory=dict)  # "GET /users" -> n (endpoint templates)
    statuses: dict[int, int] = field(default_factory=dict)  # HTTP status -> n
    throttled: int = 0  # 429 answers met
    retries: int = 0
    writes: int = 0  # POSTs that ALM accepted (2xx)


class AlmClient:
    """One client per run, shared by all worker threads.

    Parameters: ``settings`` (base URL, credentials, defaults for limits), ``concurrency`` (pool
    size), ``max_rps`` (a ceiling over every verb), ``give_up_after`` (seconds without any answer
    from ALM before ``ApiUnreachable``), ``clock``/``sleep`` injectable for tests.
    Raises ``AuthError`` (exit 3) when credentials are refused, ``ApiUnreachable`` when ALM is
    unreachable for longer than ``give_up_after``; ``ApiError`` for other error answers after
    retries; ``WriteUncertain`` from writes whose outcome is unknown.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        concurrency: int = 4,
        max_rps: float | None = None,
        give_up_after: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        raise NotImplementedError

    stats: CallStats

    def close(self) -> None: ...

    # --- auth / diagnostics ---------------------------------------------------------------
    def check_token(self) -> dict[str, object]:
        """GET /oauth/token/check for doctor: scopes, expires_in (never the token)."""
        raise NotImplementedError

    def rate_limit_headers(self) -> dict[str, str]:
        """The last x-rate-limit / x-burst values seen, per verb class, for doctor."""
        raise NotImplementedError

    # --- users ---------------------------------------------------------------------------
    def find_user_by_email(self, email: str) -> User | None:
        """GET /users?ids=email:<address>; None when no user has it."""
        raise NotImplementedError

    def export_users(self, *, poll_seconds: float = 2.0, timeout: float = 1800.0) -> Iterator[User]:
        """POST /jobs generateUsers, poll GET /jobs/{id}, download the CSV, yield every user."""
        raise NotImplementedError

    def get_user(self, user_id: str) -> User | None:
        raise NotImplementedError

    # --- learning objects ------------------------------------------------------------------
    def iter_catalogue(self, lo_types: Iterable[str] = ("course",)) -> Iterator[CourseSummary]:
        """GET /learningObjects at the largest page size without include, following links.next."""
        raise NotImplementedError

    def get_course(self, course_id: str) -> CourseDetail | None:
        """GET /learningObjects/{id}?include=instances.loResources; None on 404."""
        raise NotImplementedError

    # --- enrollments and grades ----------------------------------------------------------------
    def get_enrollments(self, user_id: str) -> list[Enrollment]:
        """GET /users/{id}/enrollments?include=loResourceGrades, every page."""
        raise NotImplementedError

    def enroll(self, user_id: str, course_id: str, instance_id: str) -> Enrollment | None:
        """POST /users/{id}/enrollments?loId=&loInstanceId=. "Already enrolled" is success."""
        raise NotImplementedError

    def post_grade(self, grade: GradeRequest) -> None:
        """POST /users/{id}/userModuleGrade with the payload from ``batch.alm.payloads``."""
        raise NotImplementedError
