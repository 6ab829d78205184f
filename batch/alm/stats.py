"""Call counters for the run summary, and the endpoint templates they are keyed by.

Lives apart from ``api.py`` so that ``http.py`` can count without importing the typed layer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

API_PREFIX = "/primeapi/v2"


@dataclass
class CallStats:
    """Counters for the run summary. Every increment goes through a lock: threads share one."""

    calls: dict[str, int] = field(default_factory=dict)  # "GET /users" -> n (endpoint templates)
    statuses: dict[int, int] = field(default_factory=dict)  # HTTP status -> n
    throttled: int = 0  # 429 answers met
    retries: int = 0
    writes: int = 0  # POSTs that ALM accepted (2xx)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count_call(self, template: str) -> None:
        with self._lock:
            self.calls[template] = self.calls.get(template, 0) + 1

    def count_status(self, status: int) -> None:
        with self._lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 429:
                self.throttled += 1

    def count_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def count_write(self) -> None:
        with self._lock:
            self.writes += 1

    def snapshot(self) -> CallStats:
        """A consistent copy (for the summary, while workers may still be counting)."""
        with self._lock:
            return CallStats(
                dict(self.calls), dict(self.statuses), self.throttled, self.retries, self.writes
            )


def endpoint_template(method: str, url: str) -> str:
    """``GET https://h/primeapi/v2/users/12/enrollments?x`` -> ``GET /users/{id}/enrollments``.

    Under the API root, REST paths alternate collection / id (``/learningObjects/{id}/instances
    /{id}/refreshCompletion``, ``/users/{id}/userModuleGrade``), so every odd segment is an id.
    Outside the API root
    (``/oauth/token/refresh``) the path is kept as is; a foreign host (the export download) is
    ``GET {download}``.
    """
    parts = urlsplit(url)
    path = parts.path if (parts.scheme or url.startswith("/")) else "/" + url.split("?")[0]
    if API_PREFIX in path:
        path = path.split(API_PREFIX, 1)[1]
    elif path.startswith("/oauth/"):
        return f"{method.upper()} {path.rstrip('/')}"
    elif parts.scheme:
        return f"{method.upper()} {{download}}"
    segments = [s for s in path.split("/") if s]
    out = ["{id}" if index % 2 == 1 else seg for index, seg in enumerate(segments)]
    return f"{method.upper()} /" + "/".join(out)
