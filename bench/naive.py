"""The row-by-row script alm-batch is compared with, and an exact count of what it would call.

What an admin writes first, one row at a time, with no cache and no pacing:

1. ``GET /users?ids=email:<address>``;
2. the course: a name is found by scanning ``GET /learningObjects`` page by page (100 a page,
   the largest size ALM documents, the one alm-batch uses too) until a name matches; an ID
   (``course:123`` or ``123``) needs no scan;
3. ``GET /learningObjects/{id}?include=instances.loResources``;
4. ``GET /users/{id}/enrollments?include=loResourceGrades`` (every page, 10 a page);
5. live only: ``POST /users/{id}/enrollments`` when not enrolled, then one
   ``POST /users/{id}/userModuleGrade`` per Content module, unless ALM shows it completed.

A 429 is handled the naive way: sleep ``retry-after``, send again. ``NaiveScript`` runs it for
real over HTTP (bounded by ``max_rows`` and ``time_budget``). ``count_calls`` computes, from the
seed and the file alone, exactly how many calls it makes per endpoint (the script is
deterministic), so 100,000 rows need not be run to know what they would cost; the benchmark
runs both at a small size to show that the two counts agree.
"""

from __future__ import annotations

import csv
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from batch.sandbox.seed import SeedData

PAGE_LIMIT = 100  # catalogue pages, without include
ENROLLMENT_PAGE = 10  # with include, the documented maximum
_COURSE_ID = re.compile(r"^course:\d+$")
JSON_API = "application/vnd.api+json"


def _course_id(cell: str) -> str | None:
    text = cell.strip()
    if _COURSE_ID.match(text):
        return text
    return f"course:{text}" if text.isdigit() else None


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def read_rows(path: Path) -> list[tuple[str, str, str, str]]:
    """(email, course, completion date, score) of each row of a generated completions file."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            (r["Learner Email"], r["Course"], r["Completion Date"], r.get("Score") or "")
            for r in csv.DictReader(handle)
        ]


# --- the exact count ---------------------------------------------------------------------------
def count_calls(seed: SeedData, path: Path, *, live: bool) -> Counter[str]:
    """Calls per endpoint the script makes on ``path`` against a sandbox serving ``seed``.

    Mirrors the sandbox's answers: deleted users are not found; the catalogue is every course
    (any state) sorted by number; enrollments of type course are paged 10 at a time. Live, it
    tracks the enrollments and grades the script itself creates.
    """
    users = {
        str(u["email"]).casefold(): str(u["id"])
        for u in seed["users"]
        if u.get("state", "ACTIVE") != "DELETED"
    }
    los = {str(lo["id"]): lo for lo in seed["learningObjects"]}
    catalogue = sorted(
        (lo for lo in los.values() if str(lo["id"]).startswith("course:")),
        key=lambda lo: int(str(lo["id"]).split(":")[1]),
    )
    first: dict[str, tuple[int, str]] = {}  # name -> (pages scanned to reach it, course id)
    for i, lo in enumerate(catalogue):
        for meta in lo["localizedMetadata"]:
            key = " ".join(meta["name"].split()).casefold()
            first.setdefault(key, (i // PAGE_LIMIT + 1, str(lo["id"])))
    all_pages = max(1, math.ceil(len(catalogue) / PAGE_LIMIT))
    enrolled: dict[str, dict[str, set[str]]] = {}  # user -> course -> completed module ids
    for e in seed.get("enrollments", []):
        course = str(e["instanceId"]).rsplit("_", 1)[0]
        done = {str(g["moduleId"]) for g in e.get("grades", []) if g.get("completed", True)}
        enrolled.setdefault(str(e["userId"]), {})[course] = done
    calls: Counter[str] = Counter()
    for email, cell, _, _ in read_rows(path):
        calls["GET /users"] += 1
        uid = users.get(email.strip().casefold())
        if uid is None:
            continue
        cid = _course_id(cell)
        if cid is None:
            hit = first.get(" ".join(cell.split()).casefold())
            calls["GET /learningObjects"] += hit[0] if hit else all_pages
            if hit is None:
                continue
            cid = hit[1]
        calls["GET /learningObjects/{id}"] += 1
        lo = los.get(cid)
        if lo is None:
            continue
        mine = enrolled.setdefault(uid, {})
        n = sum(1 for c in mine if c.startswith("course:"))
        calls["GET /users/{id}/enrollments"] += max(1, math.ceil(n / ENROLLMENT_PAGE))
        if not live:
            continue
        content = [str(m["id"]) for m in lo["modules"] if m.get("loResourceType") == "Content"]
        done = mine.get(cid)
        if done is not None and content and all(m in done for m in content):
            continue  # ALM shows it completed
        if done is None:
            calls["POST /users/{id}/enrollments"] += 1
            mine[cid] = done = set()
        calls["POST /users/{id}/userModuleGrade"] += len(content)
        done.update(content)
    return calls


# --- the script, for real ------------------------------------------------------------------------
@dataclass
class NaiveResult:
    rows_done: int = 0
    rows_total: int = 0
    calls: Counter[str] = field(default_factory=Counter)  # answered calls (429s not included)
    throttled: int = 0  # 429 answers
    writes: int = 0  # writes ALM accepted
    failed_rows: int = 0
    seconds: float = 0.0
    write_seconds: float = 0.0  # from the first write sent to the last write answered
    stopped_early: bool = False  # the time budget ran out first


class NaiveScript:
    """The row-by-row script over real HTTP (``requests``, one connection, no threads)."""

    def __init__(
        self,
        base_url: str,
        credentials: dict[str, str],
        *,
        live: bool,
        time_budget: float | None = None,
        max_rows: int | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api = self.base_url + "/primeapi/v2"
        self.credentials = credentials
        self.live = live
        self.time_budget = time_budget
        self.max_rows = max_rows
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update({"Accept": JSON_API})
        self.result = NaiveResult()
        self._first_write: float | None = None
        self._last_write = 0.0

    def _token(self) -> None:
        resp = self.session.post(
            self.base_url + "/oauth/token/refresh",
            data=self.credentials,
            timeout=self.timeout,
            headers={"Accept": "application/json"},
        )
        resp.raise_for_status()
        self.session.headers["Authorization"] = f"oauth {resp.json()['access_token']}"

    def _call(self, endpoint: str, method: str, url: str, **kw: Any) -> requests.Response:
        for _ in range(1000):  # bounded: a sandbox that always answers 429 ends the script
            resp = self.session.request(method, url, timeout=self.timeout, **kw)
            if resp.status_code == 429:
                self.result.throttled += 1
                time.sleep(float(resp.headers.get("retry-after") or 1.0))
                continue
            if resp.status_code == 401:
                self._token()
                continue
            self.result.calls[endpoint] += 1
            return resp
        raise RuntimeError(f"{endpoint}: still throttled after 1000 attempts")

    def _get(self, endpoint: str, url: str, params: dict[str, str] | None = None) -> Any:
        resp = self._call(endpoint, "GET", url, params=params)
        return resp.json() if resp.status_code == 200 else None

    def _write(self, endpoint: str, url: str, **kw: Any) -> bool:
        sent = time.perf_counter()
        self._first_write = sent if self._first_write is None else self._first_write
        resp = self._call(endpoint, "POST", url, **kw)
        self._last_write = time.perf_counter()
        ok = 200 <= resp.status_code < 300
        self.result.writes += ok
        return ok

    def run(self, path: Path) -> NaiveResult:
        rows = read_rows(path)
        if self.max_rows is not None:
            rows = rows[: self.max_rows]
        self.result.rows_total = len(rows)
        start = time.perf_counter()
        self._token()
        try:
            for row in rows:
                if self.time_budget is not None and time.perf_counter() - start > self.time_budget:
                    self.result.stopped_early = True
                    break
                if not self._row(*row):
                    self.result.failed_rows += 1
                self.result.rows_done += 1
        finally:
            self.session.close()
            self.result.seconds = time.perf_counter() - start
            if self._first_write is not None:
                self.result.write_seconds = self._last_write - self._first_write
        return self.result

    def _row(self, email: str, cell: str, day: str, score: str) -> bool:
        found = self._get("GET /users", f"{self.api}/users", {"ids": f"email:{email.strip()}"})
        users = (found or {}).get("data") or []
        if not users:
            return False
        uid = str(users[0]["id"])
        cid = _course_id(cell) or self._scan(cell)
        if cid is None:
            return False
        detail = self._get(
            "GET /learningObjects/{id}",
            f"{self.api}/learningObjects/{cid}",
            {"include": "instances.loResources"},
        )
        if detail is None:
            return False
        enrollment = self._enrollment(uid, cid)
        if not self.live:
            return True
        included = detail.get("included") or []
        kinds = {
            i["id"]: i["attributes"].get("loResourceType")
            for i in included
            if i["type"] == "learningObjectResource"
        }
        instances = {i["id"]: i for i in included if i["type"] == "learningObjectInstance"}
        if enrollment is not None:
            if enrollment["attributes"].get("state") == "COMPLETED":
                return True
            inst_id = enrollment["relationships"]["loInstance"]["data"]["id"]
        else:
            inst_id = next(i for i, v in instances.items() if v["attributes"].get("isDefault"))
            if not self._write(
                "POST /users/{id}/enrollments",
                f"{self.api}/users/{uid}/enrollments",
                params={"loId": cid, "loInstanceId": inst_id},
            ):
                return False
        resources = instances[inst_id]["relationships"]["loResources"]["data"]
        ok = True
        for res in resources:
            if kinds.get(res["id"]) != "Content":
                continue
            ok &= self._write(
                "POST /users/{id}/userModuleGrade",
                f"{self.api}/users/{uid}/userModuleGrade",
                json=_grade_body(uid, cid, res["id"], day, score),
                headers={"Content-Type": JSON_API},
            )
        return ok

    def _scan(self, name: str) -> str | None:
        url: str | None = f"{self.api}/learningObjects"
        params: dict[str, str] | None = {"filter.loTypes": "course", "page[limit]": str(PAGE_LIMIT)}
        while url:
            page = self._get("GET /learningObjects", url, params) or {}
            for lo in page.get("data") or []:
                if any(
                    _same(m.get("name", ""), name)
                    for m in lo["attributes"].get("localizedMetadata", [])
                ):
                    return str(lo["id"])
            url, params = (page.get("links") or {}).get("next"), None
        return None

    def _enrollment(self, uid: str, cid: str) -> dict[str, Any] | None:
        url: str | None = f"{self.api}/users/{uid}/enrollments"
        params: dict[str, str] | None = {
            "include": "loResourceGrades",
            "page[limit]": str(ENROLLMENT_PAGE),
        }
        found = None
        while url:
            page = self._get("GET /users/{id}/enrollments", url, params) or {}
            for e in page.get("data") or []:
                if e["relationships"]["learningObject"]["data"]["id"] == cid:
                    found = e
            url, params = (page.get("links") or {}).get("next"), None
        return found


def _grade_body(uid: str, cid: str, resource_id: str, day: str, score: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {"dateCompleted": f"{day}T00:00:00.000Z", "completed": True}
    if score.strip():
        attributes["score"] = float(score)
    return {
        "data": {
            "type": "userModuleGrade",
            "attributes": attributes,
            "relationships": {
                "learner": {"data": [{"id": uid, "type": "user"}]},
                "course": {"data": [{"id": cid, "type": "course"}]},
                "module": {"data": [{"id": resource_id, "type": "learningObjectResource"}]},
            },
        }
    }
