"""``run_doctor``: each check against the sandbox or a scripted server, never a secret shown."""

from __future__ import annotations

from typing import Any

from scripted_server import Canned, ScriptedServer

from batch.doctor import DoctorCheck, run_doctor
from batch.sandbox import Sandbox, SandboxConfig, load_seed
from batch.settings import Settings


def settings(**kw: Any) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[call-arg]


def by_name(checks: list[DoctorCheck]) -> dict[str, DoctorCheck]:
    return {c.name: c for c in checks}


def no_secret(checks: list[DoctorCheck], *secrets: str) -> None:
    text = repr(checks)
    assert all(s not in text for s in secrets)


def test_doctor_all_green_on_sandbox() -> None:
    with Sandbox(seed=load_seed("sample_data"), config=SandboxConfig(time_scale=600.0)) as sb:
        env = {k.removeprefix("ALM_").lower(): v for k, v in sb.env().items()}
        checks = run_doctor(settings(**env))
    named = by_name(checks)
    assert [c.name for c in checks] == [
        "region",
        "credentials",
        "host",
        "token",
        "scopes",
        "read users",
        "read catalogue",
        "rate limits",
    ]
    assert all(c.ok for c in checks), checks
    assert "admin:write" in named["scopes"].detail and not named["scopes"].warning
    assert "r/h" in named["rate limits"].detail
    no_secret(checks, env["client_secret"], env["refresh_token"])


def test_doctor_missing_credentials() -> None:
    checks = run_doctor(settings(client_id="x"))
    bad = by_name(checks)["credentials"]
    assert not bad.ok and "ALM_CLIENT_SECRET" in bad.fix and "ALM_REFRESH_TOKEN" in bad.fix


def test_doctor_refused_secret_says_which_setting() -> None:
    with Sandbox(seed=load_seed("sample_data")) as sb:
        env = {k.removeprefix("ALM_").lower(): v for k, v in sb.env().items()}
        env["client_secret"] = "not-the-secret-42"
        checks = run_doctor(settings(**env))
    token = by_name(checks)["token"]
    assert not token.ok and "ALM_CLIENT" in token.fix
    no_secret(checks, "not-the-secret-42", env["refresh_token"])


def test_doctor_says_when_alm_access_token_is_refused_and_refresh_stood_in() -> None:
    with Sandbox(seed=load_seed("sample_data"), config=SandboxConfig(time_scale=600.0)) as sb:
        env = {k.removeprefix("ALM_").lower(): v for k, v in sb.env().items()}
        checks = run_doctor(settings(**env, access_token="stale-token-123456"))
    named = by_name(checks)
    assert named["read users"].ok  # the run would work: the client refreshed
    stale = named["access token"]
    assert stale.warning and "refused ALM_ACCESS_TOKEN" in stale.detail
    assert "Remove ALM_ACCESS_TOKEN" in stale.fix
    no_secret(checks, "stale-token-123456", env["client_secret"], env["refresh_token"])


def test_doctor_unreachable_host() -> None:
    with ScriptedServer() as srv:
        dead = srv.base_url
    checks = run_doctor(settings(base_url=dead, access_token="tok-123456789"), give_up_after=0.5)
    host = by_name(checks)["host"]
    assert not host.ok and "ALM_BASE_URL" in host.fix


def test_doctor_read_only_scopes_warn_and_403_explains() -> None:
    with ScriptedServer() as srv:
        srv.script("POST", "/oauth/token/refresh", Canned(200, {"access_token": "tok-abcdefgh"}))
        srv.script(
            "GET", "/oauth/token/check", Canned(200, {"scope": "admin:read", "expires_in": 100})
        )
        srv.script("GET", "/primeapi/v2/users", Canned(200, {"data": []}))
        srv.script(
            "GET",
            "/primeapi/v2/learningObjects",
            Canned(403, {"status": "FORBIDDEN", "title": "Forbidden"}),
        )
        checks = run_doctor(
            settings(
                base_url=srv.base_url, client_id="a", client_secret="b-sec", refresh_token="c-ref"
            )
        )
    named = by_name(checks)
    assert named["region"].warning is False  # 127.0.0.1 is fine
    assert named["scopes"].ok and named["scopes"].warning and "admin:write" in named["scopes"].fix
    assert named["read users"].ok
    assert not named["read catalogue"].ok and "scope" in named["read catalogue"].fix
    assert named["rate limits"].warning  # no headers: defaults are used
    no_secret(checks, "tok-abcdefgh", "b-sec", "c-ref")


def test_doctor_unknown_host_warns() -> None:
    checks = run_doctor(settings(base_url="https://lms.example.com", client_id="x"))
    region = by_name(checks)["region"]
    assert region.ok and region.warning and "learningmanagereu" in region.fix
