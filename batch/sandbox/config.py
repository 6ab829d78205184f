"""``SandboxConfig``: every knob of the embedded ALM, changeable while it runs.

Build one (or set its fields) before handing it to ``Sandbox``, which takes a validated copy;
while serving, change it only through ``Sandbox.configure``, which swaps in a new instance
atomically, so request threads always see one consistent set of values without taking a lock. Defaults follow
``alm-api.md`` §7 (admin rate table, 500/hour on GET /users and GET /learningObjects) and the
7-day token lifetime of §1; credentials default to fixed demo values that are safe to print.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from datetime import UTC, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from batch.sandbox.profiles import DEFAULT_PROFILE, profile_changes

DEMO_CLIENT_ID = "alm-batch-sandbox-client"
DEMO_CLIENT_SECRET = "sandbox-secret-not-for-production"
DEMO_REFRESH_TOKEN = "sandbox-refresh-token-0001"


@dataclass(slots=True)
class SandboxConfig:
    """Behaviour of one sandbox. Rates are per sandbox minute/hour (see ``time_scale``)."""

    # --- credentials (OAuth refresh flow) ---------------------------------------------------
    client_id: str = DEMO_CLIENT_ID
    client_secret: str = DEMO_CLIENT_SECRET
    refresh_token: str = DEMO_REFRESH_TOKEN
    token_ttl: float = 604800.0  # real seconds an access token lives (ALM: 7 days)

    # --- clock and rate limits -------------------------------------------------------------
    time_scale: float = 1.0  # sandbox clock runs this many times faster than real time
    limits_enabled: bool = True
    get_per_minute: float = 100.0
    get_burst: int = 100
    post_per_minute: float = 30.0
    post_burst: int = 10
    put_per_minute: float = 20.0
    put_burst: int = 10
    patch_per_minute: float = 60.0
    patch_burst: int = 20
    delete_per_minute: float = 25.0
    delete_burst: int = 10
    users_per_hour: float = 500.0  # admin GET /users and GET /users/{id}
    users_burst: int = 100
    lo_per_hour: float = 500.0  # admin GET /learningObjects and GET /learningObjects/{id}
    lo_burst: int = 100
    early_grace: float = 0.02  # real seconds: requests already on the wire when a 429 left

    # --- faults (apply to /primeapi only; oauth too when fault_oauth) --------------------
    latency_ms: tuple[float, float] = (0.0, 0.0)  # uniform jitter per request
    error_rate: float = 0.0  # share of requests answered 500/502/503 without being applied
    drop_rate: float = 0.0  # share of requests whose connection is closed without an answer
    lost_response_rate: float = 0.0  # POSTs: applied, then answered 502 or dropped
    fault_oauth: bool = False
    random_seed: int = 0

    # --- behaviour choices where ALM is undocumented ([?] in alm-api.md) ---------------------
    # A named preset of the fields below (batch.sandbox.profiles); its values win over the
    # defaults when the config is built. Fixed once a sandbox serves.
    profile: str = "default"
    already_enrolled_status: int = 409  # 409 CONFLICT; 400 with a message; 200 the enrollment
    grade_success_status: int = 200  # 200/201 with the grade object; 202/204 without a body
    # The grade body this ALM accepts (its own reading, not the client's list of shapes):
    # module "any" | "courseModule" | "loResource" | "none" (nothing is accepted);
    # instance "any" | "none" | "relationship" (loInstance) | "attribute" (loInstanceId);
    # course type: the one type accepted for the course relationship.
    grade_module: str = "any"
    grade_instance: str = "any"
    grade_course_type: str = "course"
    resource_index: int = 0  # the last part of loResource ids: course:1_2_3_<index>
    writes_forbidden: bool = False  # every write answers 403 (a token without admin:write)
    multi_email_lookup: bool = False  # ids=email:a,email:b in one call (400 when False)

    # --- jobs: the users export and the Learner Transcript (api_jobs, jobs, transcript) ---
    # GET /jobs/{id}: "classic" (status.code ... Completed, status.data.s3Url) or "2026"
    # (status QUEUED ... COMPLETED, result.downloadUrl + result.expiresAt).
    job_shape: str = "classic"
    job_url_at: str = "shape"  # where the file URL is: the shape's place, "url" or "nested"
    job_delay: float = 30.0  # sandbox seconds before a users export job is done
    transcript_delay: float = 60.0  # sandbox seconds to generate a transcript
    transcript_lag: float = 0.0  # the transcript shows the state this many sandbox s ago
    jobs_per_day: int = 5  # submissions per job type per sandbox day (ALM: about five)
    jobs_one_at_a_time: str = "account"  # no new job while one runs: account, type or off
    job_quota_status: int = 400  # the answer to a job over the quota or while one runs
    job_types_refused: str = ""  # comma-separated job types the account lacks (400)
    jobs_fail: bool = False  # every job ends Failed / FAILED
    job_link_ttl: float = 21600.0  # sandbox seconds a file link lives (ALM: 6 h to 7 days)
    transcript_ids: str = "prefixed"  # Training/Module ID: prefixed, bare or enrollment
    transcript_columns: str = "current"  # the header release: current or renamed
    report_timezone: str = "UTC"  # the account's report time zone (dates and headers)

    # --- learning programs and certifications (programs) ---------------------------------
    rollup_delay: float = 0.0  # sandbox seconds before a program shows a completion

    def __post_init__(self) -> None:
        if self.profile != DEFAULT_PROFILE:
            for key, value in profile_changes(self.profile).items():
                setattr(self, key, value)

    def updated(self, changes: dict[str, Any]) -> SandboxConfig:
        """A copy with ``changes`` applied, coerced to the field types; unknown keys raise."""
        known = {f.name: f for f in fields(self)}
        clean: dict[str, Any] = {}
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown sandbox config field {key!r}")
            clean[key] = _coerce(key, getattr(self, key), value)
        new = dataclasses.replace(self, **clean)
        new.validate()
        return new

    def validate(self) -> None:
        """Reject values that would make the sandbox misbehave rather than fail loudly later."""
        if self.time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        for name in ("error_rate", "drop_rate", "lost_response_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        low, high = self.latency_ms
        if low < 0 or high < low:
            raise ValueError("latency_ms must be (min, max) with 0 <= min <= max")
        for f in fields(self):
            if f.name.endswith(("_per_minute", "_per_hour")) and getattr(self, f.name) <= 0:
                raise ValueError(f"{f.name} must be > 0")
            if f.name.endswith("_burst") and getattr(self, f.name) < 1:
                raise ValueError(f"{f.name} must be >= 1")
        if self.already_enrolled_status not in (200, 400, 409):
            raise ValueError("already_enrolled_status must be 200, 400 or 409")
        if self.grade_success_status not in (200, 201, 202, 204):
            raise ValueError("grade_success_status must be 200, 201, 202 or 204")
        profile_changes(self.profile)  # raises for an unknown name
        if self.grade_module not in ("any", "courseModule", "loResource", "none"):
            raise ValueError("grade_module must be any, courseModule, loResource or none")
        if self.grade_instance not in ("any", "none", "relationship", "attribute"):
            raise ValueError("grade_instance must be any, none, relationship or attribute")
        if not 0 <= self.resource_index <= 9:
            raise ValueError("resource_index must be between 0 and 9")
        self._validate_jobs()

    def _validate_jobs(self) -> None:
        choices = {
            "job_shape": ("classic", "2026"),
            "job_url_at": ("shape", "url", "nested"),
            "jobs_one_at_a_time": ("account", "type", "off"),
            "transcript_ids": ("prefixed", "bare", "enrollment"),
            "transcript_columns": ("current", "renamed"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}")
        if self.job_quota_status not in (400, 403, 429):
            raise ValueError("job_quota_status must be 400, 403 or 429")
        for name in ("job_delay", "transcript_delay", "transcript_lag", "rollup_delay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.job_link_ttl <= 0 or self.jobs_per_day < 0:
            raise ValueError("job_link_ttl must be > 0 and jobs_per_day >= 0")
        zone(self.report_timezone)  # raises for an unknown zone

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (for ``GET /_sandbox/config``)."""
        out = dataclasses.asdict(self)
        out["latency_ms"] = list(self.latency_ms)
        return out


def zone(name: str) -> tzinfo:
    """A time zone by IANA name (ValueError for an unknown one)."""
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown time zone {name!r}") from exc


def _coerce(name: str, current: Any, value: Any) -> Any:
    """Coerce a JSON value to the type of the field's current value (bool before int!)."""
    if isinstance(current, bool):
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    if isinstance(current, tuple):
        pair = tuple(float(v) for v in value)
        if len(pair) != 2:
            raise ValueError(f"{name} must be a pair [min, max]")
        return pair
    return str(value)
