"""``alm-batch doctor``: read-only checks of the configuration against ALM, and the write check.

Each check says what it found and, when something is wrong, what to change. ``run_doctor``
never writes to ALM; ``run_write_check`` (``doctor --write-check``) marks one designated test
learner complete in one course and reads it back. Neither raises nor returns a secret: the CLI
prints the checks as they are.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from batch.alm.api import AlmClient
from batch.alm.auth import missing_credentials
from batch.alm.payloads import alm_datetime
from batch.alm.types import CourseDetail, GradeRequest
from batch.errors import (
    AbortError,
    ApiError,
    ApiUnreachable,
    AuthError,
    BatchError,
    ExitStatus,
    WriteUncertain,
)
from batch.models import counted, name_key
from batch.redact import redact
from batch.settings import REGION_HOSTS, Settings

REGIONS = ", ".join(f"{name} = {url}" for name, url in REGION_HOSTS.items())


@dataclass(frozen=True, slots=True)
class DoctorCheck:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False  # ok, but worth a look (e.g. read-only scopes)


def _scopes(info: dict[str, object]) -> set[str]:
    raw = info.get("scope") or info.get("scopes") or ""
    items = raw if isinstance(raw, list) else str(raw).replace(" ", ",").split(",")
    return {str(s).strip().lower() for s in items if str(s).strip()}


def run_doctor(
    settings: Settings,
    *,
    client_factory: Callable[[Settings], AlmClient] | None = None,
    give_up_after: float = 20.0,
) -> list[DoctorCheck]:
    """Run every check in order; later checks are skipped (and say so) when an earlier one fails."""
    checks: list[DoctorCheck] = []
    host = settings.host
    known = settings.base_url in REGION_HOSTS.values() or host.split(":")[0] in (
        "127.0.0.1",
        "localhost",
    )
    checks.append(
        DoctorCheck(
            "region",
            True,
            f"ALM_BASE_URL is {settings.base_url}",
            "" if known else f"Not a known ALM host; expected one of {REGIONS}",
            warning=not known,
        )
    )

    missing = missing_credentials(settings)
    if missing:
        checks.append(
            DoctorCheck(
                "credentials",
                False,
                "missing: " + ", ".join(missing),
                "Set " + ", ".join(missing) + " (or ALM_ACCESS_TOKEN) in the "
                "environment or a .env file.",
            )
        )
        return checks
    source = (
        "ALM_ACCESS_TOKEN"
        if settings.access_token is not None
        else "ALM_CLIENT_ID / ALM_CLIENT_SECRET / ALM_REFRESH_TOKEN"
    )
    checks.append(DoctorCheck("credentials", True, f"set ({source})"))

    try:
        client = (
            client_factory or (lambda s: AlmClient(s, concurrency=1, give_up_after=give_up_after))
        )(settings)
    except BatchError as exc:
        checks.append(DoctorCheck("client", False, exc.message, exc.hint or ""))
        return checks
    try:
        checks.extend(_online_checks(client, settings))
        given = settings.access_token is not None and settings.access_token.get_secret_value()
        if given and client.http.tokens.refreshes:
            # ALM refused the given token and the client quietly refreshed: say so.
            checks.append(
                DoctorCheck(
                    "access token",
                    True,
                    "ALM refused ALM_ACCESS_TOKEN; alm-batch refreshed with ALM_CLIENT_ID, "
                    "ALM_CLIENT_SECRET and ALM_REFRESH_TOKEN instead",
                    "Remove ALM_ACCESS_TOKEN, or set a current one.",
                    warning=True,
                )
            )
    finally:
        client.close()
    return checks


def _online_checks(client: AlmClient, settings: Settings) -> list[DoctorCheck]:
    out: list[DoctorCheck] = []
    started = time.monotonic()
    try:  # an unauthenticated call: any HTTP answer proves the host is there
        reply = client.http.request("GET", settings.api_root + "/", auth=False, paced=False)
        body = reply.text
    except ApiUnreachable as exc:
        return [
            DoctorCheck(
                "host",
                False,
                exc.message,
                f"Check ALM_BASE_URL (regions: {REGIONS}), the network and any proxy.",
            )
        ]
    except ApiError as exc:
        body = exc.title
    elapsed = f"{(time.monotonic() - started) * 1000:.0f} ms"
    if body.lstrip().startswith("<"):
        out.append(
            DoctorCheck(
                "host",
                True,
                f"{settings.host} answers ({elapsed}) with HTML",
                "It does not look like ALM's API: check ALM_BASE_URL.",
                warning=True,
            )
        )
    else:
        out.append(DoctorCheck("host", True, f"{settings.host} answers ({elapsed})"))
    try:
        client.http.tokens.current()
    except ApiUnreachable as exc:
        return [*out, DoctorCheck("token", False, exc.message, exc.hint or "")]
    except AuthError as exc:
        return [*out, DoctorCheck("token", False, exc.message, exc.hint or "")]
    out.append(
        DoctorCheck(
            "token",
            True,
            "refresh works"
            if client.http.tokens.refreshes
            else "ALM_ACCESS_TOKEN is used as given",
        )
    )

    try:
        info = client.check_token()
        scopes = _scopes(info)
        expires = info.get("expires_in")
        detail = f"scopes: {', '.join(sorted(scopes)) or 'not reported'}" + (
            f"; expires in {expires} s" if expires is not None else ""
        )
        if not scopes:
            out.append(
                DoctorCheck(
                    "scopes",
                    True,
                    detail,
                    "ALM did not report scopes; the admin "
                    "reads below show whether admin:read works.",
                    warning=True,
                )
            )
        elif "admin:read" not in scopes and "admin:write" not in scopes:
            out.append(
                DoctorCheck(
                    "scopes",
                    False,
                    detail,
                    "Register the application with the "
                    "Admin role scope (admin:read, and admin:write for live runs) "
                    "and create a new refresh token.",
                )
            )
        elif "admin:write" not in scopes:
            out.append(
                DoctorCheck(
                    "scopes",
                    True,
                    detail,
                    "Read-only: dry runs work, live runs "
                    "need admin:write (re-register the app with Admin read/write "
                    "and create a new refresh token).",
                    warning=True,
                )
            )
        else:
            out.append(DoctorCheck("scopes", True, detail))
    except (ApiError, ApiUnreachable, AuthError) as exc:
        out.append(
            DoctorCheck(
                "scopes",
                True,
                f"token check unavailable: {_text(exc)}",
                "Not fatal: the admin reads below are the real test.",
                warning=True,
            )
        )

    for name, path in (("read users", "/users"), ("read catalogue", "/learningObjects")):
        try:
            reply = client.http.request("GET", path, params={"page[limit]": "1"})
            count = len(reply.data.get("data") or []) if isinstance(reply.data, dict) else 0
            looks = isinstance(reply.data, dict) and "data" in reply.data
            out.append(
                DoctorCheck(
                    name,
                    looks,
                    f"GET {path} answered {reply.status} ({counted(count, 'item')} on page 1)"
                    if looks
                    else f"GET {path} answered {reply.status} without JSON:API data",
                    "" if looks else f"{settings.host} does not look like ALM: check ALM_BASE_URL.",
                )
            )
        except ApiError as exc:
            fix = {
                401: "Check the credentials (ALM_CLIENT_ID, ALM_CLIENT_SECRET, "
                "ALM_REFRESH_TOKEN) and the region in ALM_BASE_URL.",
                403: "The token lacks the admin role scope: register the application with "
                "Admin read (and write) scopes and create a new refresh token.",
                404: f"{settings.host} has no /primeapi/v2: check ALM_BASE_URL.",
                406: "ALM refused the Accept header; please report this as a bug.",
            }.get(exc.status, "See ALM's message above.")
            out.append(DoctorCheck(name, False, f"GET {path}: {exc.describe()}", fix))
        except (ApiUnreachable, AuthError) as exc:
            out.append(DoctorCheck(name, False, _text(exc), getattr(exc, "hint", "") or ""))

    seen = client.rate_limit_headers()
    if seen:
        detail = "; ".join(f"{verb}: {value}" for verb, value in sorted(seen.items()))
        detail += " (POST limits are seen on the first write; doctor makes none)"
        out.append(DoctorCheck("rate limits", True, detail))
    else:
        out.append(
            DoctorCheck(
                "rate limits",
                True,
                "ALM sent no x-rate-limit / x-burst headers; using the defaults "
                f"(GET {settings.get_per_minute:g}/min burst {settings.get_burst}, POST "
                f"{settings.post_per_minute:g}/min burst {settings.post_burst}, GET /users "
                f"{settings.users_get_per_hour:g}/h, GET /learningObjects "
                f"{settings.lo_get_per_hour:g}/h)",
                "Set ALM_GET_PER_MINUTE / ALM_POST_PER_MINUTE if your account's limits differ.",
                warning=True,
            )
        )
    return out


def _text(exc: Exception) -> str:
    return exc.describe() if isinstance(exc, ApiError) else str(exc)


# --------------------------------------------------------------------------- the write check
_COURSE_ID = re.compile(r"^\s*(?:course:)?(\d+)\s*$", re.IGNORECASE)


@dataclass
class WriteCheck:
    """What ``run_write_check`` found: its steps, the exit code (product.md) and the body."""

    checks: list[DoctorCheck] = field(default_factory=list)
    exit_status: ExitStatus = ExitStatus.OK
    grade_body: str = ""

    def fail(self, name: str, detail: str, fix: str, status: ExitStatus) -> WriteCheck:
        self.checks.append(DoctorCheck(name, False, detail, fix))
        self.exit_status = status
        return self


def run_write_check(
    settings: Settings,
    email: str,
    course: str,
    *,
    state_dir: Path | None = None,
    client_factory: Callable[[Settings], AlmClient] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    give_up_after: float = 60.0,
) -> WriteCheck:
    """Mark one designated test learner complete in one course, then read it back.

    Enrolls the learner in the course's default instance when needed, posts a grade for every
    Content module not yet completed (the client learns the grade body ALM accepts and remembers
    it in ``state_dir``), then reads the learner's enrollment and checks that each module shows
    completed with the posted date. Exit status: 0 done and confirmed; 1 ALM accepted but does
    not show it; 2 the learner or course cannot be used (nothing written); 3 ALM stopped it
    (credentials, write scope, every grade body refused, unreachable).
    """
    out = WriteCheck()
    factory = client_factory or (
        lambda s: AlmClient(s, concurrency=1, give_up_after=give_up_after, state_dir=state_dir)
    )
    try:
        client = factory(settings)
    except BatchError as exc:
        return out.fail("write check", exc.message, exc.hint or "", exc.exit_status)
    try:
        _write_check(client, email, course, now, out)
    except AbortError as exc:
        out.fail("write check", redact(exc.message), exc.hint or "", ExitStatus.ABORTED)
    except ApiError as exc:
        out.fail(
            "write check",
            f"ALM answered {exc.describe()}",
            "See ALM's message; nothing else was written.",
            ExitStatus.ROWS_FAILED,
        )
    finally:
        out.grade_body = client.grade_body_description
        client.close()
    return out


def _write_check(
    client: AlmClient,
    email: str,
    course_text: str,
    now: Callable[[], datetime],
    out: WriteCheck,
) -> None:
    user = client.find_user_by_email(email)
    if user is None:
        out.fail(
            "test learner",
            "no ALM user has that email",
            "Pass --email of an active test learner of this account.",
            ExitStatus.USAGE,
        )
        return
    if not user.active:
        out.fail(
            "test learner",
            f"user {user.id} is {user.state.lower()}",
            "Pick an active test learner.",
            ExitStatus.USAGE,
        )
        return
    out.checks.append(DoctorCheck("test learner", True, f"user {user.id} (active)"))
    detail = _find_course(client, course_text, out)
    if detail is None:
        return
    enrollment = next((e for e in client.get_enrollments(user.id) if e.lo_id == detail.id), None)
    if enrollment is None:
        instance = detail.default_instance
        if instance is None or not instance.active:
            out.fail(
                "enrollment",
                f"{detail.id} has no active default instance to enroll the learner in",
                "Pick another course, or enroll the test learner in ALM first.",
                ExitStatus.USAGE,
            )
            return
    else:
        instance = detail.instance(enrollment.instance_id)
    instance_id = (
        instance.id if instance is not None else enrollment.instance_id if enrollment else ""
    )
    modules = instance.content_modules if instance is not None else ()
    done = enrollment.grades if enrollment is not None else {}
    todo = [m for m in modules if not (m.id in done and done[m.id].completed)]
    if not modules:
        out.fail(
            "grades",
            f"{instance_id} has no Content module to grade; nothing was written",
            "Pick a course with at least one Content module.",
            ExitStatus.USAGE,
        )
        return
    if not todo and client.grade_shapes.learned_on:
        out.checks.append(
            DoctorCheck(
                "grades",
                True,
                f"the test learner has already completed every Content module of {detail.id}; "
                "nothing was posted. The grade body learned earlier stays: "
                + client.grade_body_description,
                "To prove it again, pick a course the test learner has not completed.",
                warning=True,
            )
        )
        return
    if not todo:
        out.fail(
            "grades",
            f"the test learner has already completed every Content module of {detail.id}; "
            "nothing was posted, so the grade body is not proven",
            "Pick a course the test learner has not completed (or another test learner).",
            ExitStatus.USAGE,
        )
        return
    if enrollment is None:
        client.enroll(user.id, detail.id, instance_id)
        out.checks.append(DoctorCheck("enrollment", True, f"enrolled in {instance_id}"))
    else:
        out.checks.append(
            DoctorCheck(
                "enrollment", True, f"already enrolled in {instance_id} ({enrollment.state})"
            )
        )
    posted_at = now().astimezone(UTC).replace(microsecond=0) - timedelta(minutes=1)
    lost: list[str] = []
    for module in todo:
        grade = GradeRequest(
            user_id=user.id,
            course_id=detail.id,
            instance_id=instance_id,
            module_id=module.id,
            date_completed=posted_at,
        )
        try:
            client.post_grade(grade)
        except WriteUncertain:
            lost.append(module.id)  # read below before anything is sent again
    rejected = client.grade_shapes.rejected
    out.checks.append(
        DoctorCheck(
            "grades",
            True,
            f"posted {counted(len(todo), 'module grade')} dated {alm_datetime(posted_at)}"
            + (f" ({counted(len(lost), 'answer')} lost, checked below)" if lost else "")
            + (f"; {counted(rejected, 'body shape')} refused first" if rejected else ""),
        )
    )
    after = next((e for e in client.get_enrollments(user.id) if e.lo_id == detail.id), None)
    missing = []
    for module in todo:
        got = after.grades.get(module.id) if after is not None else None
        when = got.date_completed if got is not None else None
        if (
            got is None
            or not got.completed
            or when is None
            or abs(when - posted_at).total_seconds() > 1
        ):
            missing.append(module.id)
    if missing:
        out.fail(
            "read back",
            f"ALM does not show {len(missing)} of {counted(len(todo), 'module')} completed on "
            f"{alm_datetime(posted_at)}: {', '.join(missing)}",
            "Look at the learner in ALM; run the write check again once it shows there "
            "(modules already completed are not posted again).",
            ExitStatus.ROWS_FAILED,
        )
        return
    state = after.state if after is not None else ""
    out.checks.append(
        DoctorCheck(
            "read back",
            True,
            f"every graded module shows completed on {alm_datetime(posted_at)}; "
            f"enrollment {state or 'state not reported'}",
        )
    )
    out.checks.append(DoctorCheck("grade body", True, client.grade_body_description))


def _find_course(client: AlmClient, text: str, out: WriteCheck) -> CourseDetail | None:
    match = _COURSE_ID.match(text)
    if match:
        course_id = f"course:{match.group(1)}"
    else:
        wanted = name_key(text)
        hits = sorted(
            {
                c.id
                for c in client.iter_catalogue()
                if wanted in {name_key(n) for n in c.names.values()}
            }
        )
        if len(hits) != 1:
            out.fail(
                "course",
                f"no course is named {text!r}"
                if not hits
                else f"{len(hits)} courses are named {text!r}: {', '.join(hits)}",
                "Pass --course as course:<number> (the id in ALM's course URL) or an exact name.",
                ExitStatus.USAGE,
            )
            return None
        course_id = hits[0]
    detail = client.get_course(course_id)
    if detail is None:
        out.fail("course", f"{course_id} not found", "Check --course.", ExitStatus.USAGE)
        return None
    if not detail.published:
        out.fail(
            "course",
            f"{course_id} is {detail.state or 'not published'}",
            "Pick a published course.",
            ExitStatus.USAGE,
        )
        return None
    name = next(iter(detail.names.values()), "").strip()
    out.checks.append(DoctorCheck("course", True, f"{course_id} {name!r} (published)"))
    return detail
