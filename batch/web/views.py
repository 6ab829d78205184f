"""What the page's table shows: filtering, search, sort and paging over a job's rows, and the
"did you mean" suggestions pulled from a row's message. Plain Python over the loaded rows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from batch.web.engine import PROBLEM_STATUSES, STATUS_ORDER, WebJob

SORT_KEYS = ("row", "status", "email", "course", "message")
MAX_LIMIT = 500
DEFAULT_LIMIT = 50
_SUGGEST = re.compile(r"Did you mean (.+)\?\s*$")
_QUOTED = re.compile(r"'([^']+)'")


@dataclass
class RowQuery:
    status: str = ""  # a status, "problems", or "" for all
    q: str = ""
    sort: str = "row"
    desc: bool = False
    offset: int = 0
    limit: int = DEFAULT_LIMIT

    @classmethod
    def from_params(cls, params: Any) -> RowQuery:
        def number(name: str, default: int) -> int:
            try:
                return max(0, int(params.get(name) or default))
            except ValueError:
                return default

        sort = params.get("sort") or "row"
        return cls(
            status=(params.get("status") or "").strip(),
            q=(params.get("q") or "").strip(),
            sort=sort if sort in SORT_KEYS else "row",
            desc=(params.get("dir") or "") == "desc",
            offset=number("offset", 0),
            limit=min(MAX_LIMIT, number("limit", DEFAULT_LIMIT) or DEFAULT_LIMIT),
        )

    def params(self, **changes: Any) -> dict[str, Any]:
        values = {
            "status": self.status,
            "q": self.q,
            "sort": self.sort,
            "dir": "desc" if self.desc else "asc",
            "offset": self.offset,
            "limit": self.limit,
        }
        values.update(changes)
        return {k: v for k, v in values.items() if v not in ("", None)}


def field_header(job: WebJob, name: str) -> str | None:
    return ((job.upload.shape or {}).get("mapping") or {}).get(name)


def _search_text(row: dict[str, Any]) -> str:
    text = row.get("_search")  # dropped by the engine when the row changes
    if text is None:
        parts = [str(row["row"]), row["status"], row["message"], *row["values"].values()]
        text = "\n".join(parts).casefold()
        row["_search"] = text
    return str(text)


def query_rows(job: WebJob, query: RowQuery) -> tuple[int, list[dict[str, Any]]]:
    """(total matching, the page of rows): sort (cached per job version), filter, slice.

    Sorting first over a cached order means a request never sorts 100,000 rows: it walks the
    cached order and keeps what matches.
    """
    rows = _ordered(job, query.sort)
    if query.desc:
        rows = rows[::-1]
    if query.status == "problems":
        rows = [r for r in rows if r["status"] in PROBLEM_STATUSES]
    elif query.status:
        rows = [r for r in rows if r["status"] == query.status]
    if query.q:
        needle = query.q.casefold()
        # warm() filled "_search" on every row; a row an edit changed is filled again here
        rows = [r for r in rows if needle in (r.get("_search") or _search_text(r))]
    return len(rows), rows[query.offset : query.offset + query.limit]


def _ordered(job: WebJob, sort: str) -> list[dict[str, Any]]:
    if sort == "row":
        return job.rows
    key = (sort, job.rows_version)
    cached = job.orders.get(key)
    if cached is None:
        for stale in [k for k in job.orders if k[1] != job.rows_version]:
            del job.orders[stale]  # an edit moved the version on: older orders are stale
        cached = sorted(job.rows, key=_sort_key(job, sort))
        job.orders[key] = cached
    return cached


def warm(job: WebJob) -> None:
    """Build the sort orders and search texts once, in the job's thread, when its rows load:
    the first person to sort 100,000 rows should not wait for it."""
    for sort in SORT_KEYS:
        _ordered(job, sort)
    for row in job.rows:
        _search_text(row)


def _sort_key(job: WebJob, sort: str) -> Any:
    if sort == "status":
        order = {s: i for i, s in enumerate(STATUS_ORDER)}
        return lambda r: (order.get(r["status"], 99), r["row"])
    if sort == "message":
        return lambda r: (r["message"].casefold(), r["row"])
    if sort in ("email", "course"):
        header = field_header(job, sort) or ""
        return lambda r: (r["values"].get(header, "").casefold(), r["row"])
    return lambda r: r["row"]


def public_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def suggestions(row: dict[str, Any]) -> list[str]:
    """The names in "Did you mean 'A', 'B' or 'C'?" at the end of a row's message."""
    match = _SUGGEST.search(row.get("message", ""))
    return _QUOTED.findall(match.group(1)) if match else []


def same_value_count(job: WebJob, header: str, value: str) -> int:
    return sum(1 for r in job.rows if r["values"].get(header) == value)


def problem_count(job: WebJob) -> int:
    """Rows that need a person (the "Only problems" filter)."""
    return sum(n for status, n in job.counts.items() if status in PROBLEM_STATUSES)


def status_counts(job: WebJob) -> list[tuple[str, int]]:
    order = {s: i for i, s in enumerate(STATUS_ORDER)}
    return sorted(job.counts.items(), key=lambda kv: order.get(kv[0], 99))
