"""ALM's documented limits, once: which bucket each call draws from, and what calls cost in time.

Every "minutes at ALM's limits" figure of ``make bench`` comes from here (alm-api.md §7, §12):

- every admin GET: 100 a minute, burst 100; every POST: 30 a minute, burst 10 (the published
  admin table);
- admin ``GET /users`` and ``GET /learningObjects``: about 500 an hour (Adobe's stricter
  per-endpoint limits); their burst is not quoted: the sandbox's 100;
- the learningObject API: 15 a minute (Adobe's November 2024 notes); its burst is not quoted: a
  minute's worth, 15.

A call draws a token from every bucket that applies, so the least time a set of calls can take
is that of its slowest bucket: the burst at once, then one call per slot of the rate. ALM's jobs
(the users export, the learner transcript) add their generation time, which no source gives:
the sandbox's (30 s and 60 s), stated beside each figure. The access token and the job's file
(a pre-signed storage link) are outside ALM's API allowance and are not counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from batch.sandbox import SandboxConfig


@dataclass(frozen=True)
class Limit:
    """One rate-limited bucket of ALM's API, at its documented rate."""

    column: str  # the table's column for it
    text: str  # how the documentation states it
    per_second: float
    burst: float

    def seconds(self, calls: int) -> float:
        """The least time ``calls`` take through this bucket alone."""
        return max(0.0, calls - self.burst) / self.per_second


GET = Limit("GET", "GET 100/min, burst 100", 100 / 60, 100)
POST = Limit("POST", "POST 30/min, burst 10", 30 / 60, 10)
USERS = Limit("users", "GET /users 500/h", 500 / 3600, 100)
LEARNING_OBJECTS = Limit("LO/h", "GET /learningObjects 500/h", 500 / 3600, 100)
LO_API = Limit("LO/min", "learningObject API 15/min", 15 / 60, 15)
LIMITS = (GET, POST, USERS, LEARNING_OBJECTS, LO_API)


def with_verbs(
    get_per_minute: float, get_burst: int, post_per_minute: float, post_burst: int
) -> tuple[Limit, ...]:
    """ALM's limits with another documented header set for the verbs (``600r/m`` with
    ``x-burst: 10`` on every answer in Adobe's examples); the per-endpoint limits stay."""
    get = Limit(
        "GET", f"GET {get_per_minute:g}/min, burst {get_burst}", get_per_minute / 60, get_burst
    )
    post = Limit(
        "POST",
        f"POST {post_per_minute:g}/min, burst {post_burst}",
        post_per_minute / 60,
        post_burst,
    )
    return (get, post, USERS, LEARNING_OBJECTS, LO_API)


POLLS = "job polls"  # GET /jobs/{id}: counted in GET, shown apart

# Job type -> the sandbox's generation time in its seconds (ALM's is not documented).
JOB_SECONDS = {
    "generateUsers": SandboxConfig().job_delay,
    "generateLearnerTranscript": SandboxConfig().transcript_delay,
}


def limited(endpoint: str) -> bool:
    """True for a call to ALM's rate-limited API (not the token, not the sandbox's harness or
    its storage links)."""
    template = endpoint.partition(" ")[2]
    return not template.startswith(("/oauth", "/_sandbox"))


def buckets_of(endpoint: str) -> list[Limit]:
    """The buckets one call to ``endpoint`` ("GET /users/{id}") draws a token from."""
    if not limited(endpoint):
        return []
    method, _, template = endpoint.partition(" ")
    if method != "GET":
        return [POST] if method == "POST" else []
    if template in ("/users", "/users/{id}"):
        return [GET, USERS]
    if template in ("/learningObjects", "/learningObjects/{id}"):
        return [GET, LEARNING_OBJECTS, LO_API]
    return [GET]


def per_bucket(calls: Mapping[str, int]) -> dict[str, int]:
    """Calls per endpoint -> calls per bucket (the table's columns), job polls apart."""
    out = dict.fromkeys([limit.column for limit in LIMITS] + [POLLS], 0)
    for endpoint, n in calls.items():
        for limit in buckets_of(endpoint):
            out[limit.column] += n
        if endpoint == "GET /jobs/{id}":
            out[POLLS] += n
    return out


def job_seconds(jobs: Mapping[str, int]) -> float:
    """Generation time of the jobs submitted (job type -> count), at the sandbox's times."""
    return sum(JOB_SECONDS.get(kind, 0.0) * n for kind, n in jobs.items())


def at_limits(
    calls: Mapping[str, int],
    jobs: Mapping[str, int] | None = None,
    limits: tuple[Limit, ...] = LIMITS,
) -> tuple[float, str]:
    """The least time (seconds) ``calls`` take at ALM's documented limits, and what binds (a
    bucket's column, "burst" when every bucket's burst holds its calls): the slowest bucket,
    plus the generation time of the ``jobs`` submitted (the run waits for them)."""
    counts = per_bucket(calls)
    worst, binding = 0.0, "burst"
    for limit in limits:
        seconds = limit.seconds(counts[limit.column])
        if seconds > worst:
            worst, binding = seconds, limit.column
    waited = job_seconds(jobs or {})
    if waited:
        binding += f"+job {waited:g} s"
    return worst + waited, binding
