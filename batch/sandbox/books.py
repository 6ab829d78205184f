"""The sandbox's books: what clients did to it, for tests, the demo and the benchmarks.

Keys are those of docs/architecture.md ("The sandbox contract"), plus ``enrollments_by_type``,
``jobs_submitted``, ``jobs_refused`` and ``downloads_expired`` (docs/sandbox.md). ``snapshot``
returns a deep, JSON-ready copy so a caller can compare two snapshots without racing the server.
"""

from __future__ import annotations

import threading
from typing import Any


class Books:
    """Thread-safe counters and the list of grades clients posted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._calls: dict[str, int] = {}
            self._statuses: dict[str, int] = {}
            # "POST /users/{id}/userModuleGrade" -> {"400": n}: the endpoints' own answers
            # (injected faults, lost responses and 429s are counted apart).
            self._endpoint_statuses: dict[str, dict[str, int]] = {}
            self._counters = {
                "throttled": 0,
                "early_requests": 0,
                "double_grades": 0,
                "enrollments_created": 0,
                "lost_responses": 0,
                "dropped": 0,
                "errors_injected": 0,
                "downloads_expired": 0,
            }
            self._grades: dict[tuple[str, str], dict[str, Any]] = {}
            # Per learning object type / job type: enrollments a POST made (a program's
            # courses count too), jobs accepted and jobs refused (quota, busy, not enabled).
            self._tallies: dict[str, dict[str, int]] = {
                "enrollments_by_type": {},
                "jobs_submitted": {},
                "jobs_refused": {},
            }

    def call(self, endpoint: str) -> None:
        with self._lock:
            self._calls[endpoint] = self._calls.get(endpoint, 0) + 1

    def status(self, code: int) -> None:
        with self._lock:
            key = str(code)
            self._statuses[key] = self._statuses.get(key, 0) + 1

    def endpoint_status(self, endpoint: str, code: int) -> None:
        with self._lock:
            counts = self._endpoint_statuses.setdefault(endpoint, {})
            counts[str(code)] = counts.get(str(code), 0) + 1

    def add(self, counter: str, n: int = 1) -> None:
        with self._lock:
            self._counters[counter] += n

    def tally(self, table: str, key: str) -> None:
        with self._lock:
            counts = self._tallies[table]
            counts[key] = counts.get(key, 0) + 1

    def enrolled(self, lo_type: str) -> None:
        """One enrollment record created by a POST (``enrollments_created`` and by type)."""
        self.add("enrollments_created")
        self.tally("enrollments_by_type", lo_type)

    def grade(
        self,
        *,
        user_id: str,
        course_id: str,
        instance_id: str,
        module_id: str,
        date_completed: str | None,
        score: float | None,
        double: bool,
    ) -> None:
        """Record one accepted userModuleGrade (``module_id`` is the loResource id)."""
        with self._lock:
            key = (user_id, module_id)
            entry = self._grades.get(key)
            if entry is None:
                entry = {
                    "user_id": user_id,
                    "course_id": course_id,
                    "instance_id": instance_id,
                    "module_id": module_id,
                    "count": 0,
                    "date_completed": date_completed,
                    "score": score,
                }
                self._grades[key] = entry
            entry["count"] += 1
            entry["date_completed"] = date_completed
            entry["score"] = score
            if double:
                self._counters["double_grades"] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {
                "calls": dict(self._calls),
                "statuses": dict(self._statuses),
                "endpoint_statuses": {k: dict(v) for k, v in self._endpoint_statuses.items()},
                "grades": [dict(g) for g in self._grades.values()],
            }
            out.update({k: dict(v) for k, v in self._tallies.items()})
            out.update(self._counters)
            return out
