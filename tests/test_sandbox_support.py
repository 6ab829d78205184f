"""Helpers for the sandbox tests (no tests here): a plain ``requests`` client and payloads.

The tests speak raw HTTP on purpose: the sandbox must be faithful to alm-api.md, not to our own
client, so they build URLs, headers and bodies by hand.
"""

from __future__ import annotations

from typing import Any

import requests

from batch.sandbox import Sandbox

JSONAPI = "application/vnd.api+json"


class Api:
    """A logged-in raw client for one sandbox."""

    def __init__(self, sb: Sandbox, scheme: str = "oauth") -> None:
        self.sb = sb
        self.http = requests.Session()
        self.token = self.refresh()["access_token"]
        self.scheme = scheme

    def refresh(self) -> dict[str, Any]:
        resp = self.http.post(f"{self.sb.base_url}/oauth/token/refresh", data=self.sb.credentials)
        resp.raise_for_status()
        return dict(resp.json())

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"{self.scheme} {self.token}", "Accept": JSONAPI}

    def get(self, path: str, params: dict[str, str] | None = None, **kw: Any) -> requests.Response:
        headers = {**self.headers, **kw.pop("headers", {})}
        url = path if path.startswith("http") else self.sb.api_root + path
        return self.http.get(url, params=params, headers=headers, timeout=10, **kw)

    def post(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        **kw: Any,
    ) -> requests.Response:
        headers = {**self.headers, "Content-Type": JSONAPI, **kw.pop("headers", {})}
        return self.http.post(
            self.sb.api_root + path, json=body, params=params, headers=headers, timeout=10, **kw
        )

    def enroll(self, user_id: str, lo_id: str, instance_id: str | None = None) -> requests.Response:
        params = {"loId": lo_id}
        if instance_id:
            params["loInstanceId"] = instance_id
        return self.post(f"/users/{user_id}/enrollments", params=params)

    def enrollments(self, user_id: str) -> dict[str, Any]:
        resp = self.get(f"/users/{user_id}/enrollments", {"include": "loResourceGrades"})
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def grade(self, user_id: str, body: dict[str, Any]) -> requests.Response:
        return self.post(f"/users/{user_id}/userModuleGrade", body)


def grade_body(
    user_id: str,
    course_num: str,
    module_id: str,
    module_type: str = "courseModule",
    *,
    date: str = "2025-03-03T10:00:00.000Z",
    attributes: dict[str, Any] | None = None,
    relationships: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A userModuleGrade payload shaped like Adobe's sample (relationship data are arrays)."""
    attrs: dict[str, Any] = {
        "dateCompleted": date,
        "started": True,
        "completed": True,
        "success": True,
    }
    attrs.update(attributes or {})
    rels: dict[str, Any] = {
        "learner": {"data": [{"id": user_id, "type": "user"}]},
        "course": {"data": [{"id": course_num, "type": "course"}]},
        "module": {"data": [{"id": module_id, "type": module_type}]},
    }
    rels.update(relationships or {})
    return {"data": {"type": "userModuleGrade", "attributes": attrs, "relationships": rels}}


def error_of(resp: requests.Response) -> tuple[str, str, str]:
    """(status enum, title, source.info) of an ALM error body."""
    body = resp.json()
    return body["status"], body["title"], body["source"]["info"]


def job_body(job_type: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``POST /jobs`` body as alm-api.md shows it."""
    attributes = {"description": "sandbox test", "jobType": job_type, "payload": payload or {}}
    return {"data": {"type": "job", "attributes": attributes}}


def transcript_payload(**fields: str) -> dict[str, str]:
    """The documented transcript payload (strings only), five years up to 2026-01-01."""
    payload = {
        "fromDate": "2021-01-01T00:00:00.000Z",
        "toDate": "2026-01-01T00:00:00.000Z",
        "includeModuleLevelDetails": "false",
        "includeDeletedLearners": "false",
    }
    payload.update(fields)
    return payload
