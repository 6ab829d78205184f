"""``alm-batch doctor``: read-only checks of the configuration against ALM.

Each check says what it found and, when something is wrong, what to change. Nothing here writes
to ALM, raises, or returns a secret: the CLI prints the checks as they are.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from batch.alm.api import AlmClient
from batch.alm.auth import missing_credentials
from batch.errors import ApiError, ApiUnreachable, AuthError, BatchError
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
                    f"GET {path} answered {reply.status} ({count} item(s) on page 1)"
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
