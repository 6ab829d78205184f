"""Sandbox: OAuth refresh/check, Authorization and Accept headers, error shapes, the harness."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import requests

from batch.sandbox import Sandbox, SandboxConfig, load_seed
from batch.sandbox.seed import default_seed_dir
from tests.test_sandbox_support import JSONAPI, Api, error_of

SEED = load_seed(default_seed_dir())


@pytest.fixture()
def sb() -> Iterator[Sandbox]:
    with Sandbox(seed=SEED) as sandbox:
        yield sandbox


def test_refresh_returns_the_same_token_while_it_is_valid(sb: Sandbox) -> None:
    url = f"{sb.base_url}/oauth/token/refresh"
    first = requests.post(url, data=sb.credentials, timeout=5)
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"access_token", "refresh_token", "expires_in", "token_type"}
    assert body["refresh_token"] == sb.credentials["refresh_token"]
    assert 604700 < body["expires_in"] <= 604800
    second = requests.post(url, data=sb.credentials, timeout=5).json()
    assert second["access_token"] == body["access_token"]
    assert second["expires_in"] <= body["expires_in"]


@pytest.mark.parametrize(
    ("change", "status", "title"),
    [
        ({"client_secret": "wrong"}, 401, "Invalid client"),
        ({"client_id": "someone-else"}, 401, "Invalid client"),
        ({"refresh_token": "revoked"}, 400, "Invalid refresh token"),
        ({"refresh_token": ""}, 400, "Missing Param"),
    ],
)
def test_refresh_refuses_wrong_credentials(
    sb: Sandbox, change: dict[str, str], status: int, title: str
) -> None:
    form = {**sb.credentials, **change}
    resp = requests.post(f"{sb.base_url}/oauth/token/refresh", data=form, timeout=5)
    assert resp.status_code == status
    code, got_title, info = error_of(resp)
    assert (code, got_title) == ({400: "BAD_REQUEST", 401: "UNAUTHORIZED"}[status], title)
    assert info
    assert sb.credentials["client_secret"] not in resp.text


def test_token_check_reports_scope_and_refuses_unknown_tokens(sb: Sandbox) -> None:
    api = Api(sb)
    url = f"{sb.base_url}/oauth/token/check"
    ok = requests.get(url, params={"access_token": api.token}, timeout=5)
    assert ok.status_code == 200
    assert ok.json()["scope"] == "admin:read,admin:write"
    assert ok.json()["expires_in"] > 600000
    bad = requests.get(url, params={"access_token": "nope"}, timeout=5)
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_token"
    assert bad.json()["status"] == "BAD_REQUEST"


@pytest.mark.parametrize("scheme", ["oauth", "Bearer", "OAUTH", "bearer"])
def test_both_authorization_schemes_are_accepted(sb: Sandbox, scheme: str) -> None:
    api = Api(sb, scheme=scheme)
    resp = api.get("/users/15263401")
    assert resp.status_code == 200
    assert resp.json()["data"]["id"] == "15263401"


@pytest.mark.parametrize(
    "header",
    [None, "Basic dXNlcjpwYXNz", "oauth", "oauth not-a-token", "Token abc"],
)
def test_bad_authorization_gets_401_with_alm_error_body(sb: Sandbox, header: str | None) -> None:
    headers = {"Accept": JSONAPI}
    if header is not None:
        headers["Authorization"] = header
    resp = requests.get(f"{sb.api_root}/users", headers=headers, timeout=5)
    assert resp.status_code == 401
    code, title, info = error_of(resp)
    assert code == "UNAUTHORIZED" and title and info


@pytest.mark.parametrize("accept", [None, "*/*", "text/html", "application/xml"])
def test_accept_header_is_strict(sb: Sandbox, accept: str | None) -> None:
    api = Api(sb)
    headers = {"Authorization": f"oauth {api.token}"}
    if accept is not None:
        headers["Accept"] = accept
    session = requests.Session()
    if accept is None:
        del session.headers["Accept"]  # requests would send */* otherwise
    resp = session.get(f"{sb.api_root}/users", headers=headers, timeout=5)
    assert resp.status_code == 406
    code, _, info = error_of(resp)
    assert code == "NOT_ACCEPTABLE"
    assert "application/vnd.api+json" in info


@pytest.mark.parametrize(
    "accept",
    [
        "application/json",
        "application/vnd.api+json;charset=UTF-8",
        "text/html, application/vnd.api+json",
    ],
)
def test_json_accept_headers_pass(sb: Sandbox, accept: str) -> None:
    api = Api(sb)
    resp = api.get("/users", headers={"Accept": accept})
    assert resp.status_code == 200


def test_tokens_expire_after_token_ttl_and_refresh_issues_a_new_one(sb: Sandbox) -> None:
    api = Api(sb)
    assert api.get("/users/15263401").status_code == 200
    sb.configure(token_ttl=0.2)  # the live ttl applies to tokens already issued
    time.sleep(0.3)
    expired = api.get("/users/15263401")
    assert expired.status_code == 401
    assert error_of(expired)[1] == "Access token expired"
    check = requests.get(
        f"{sb.base_url}/oauth/token/check", params={"access_token": api.token}, timeout=5
    )
    assert check.status_code == 401
    sb.configure(token_ttl=3600)
    old = api.token
    api.token = api.refresh()["access_token"]
    assert api.token != old
    assert api.get("/users/15263401").status_code == 200


def test_unknown_endpoints_answer_404_and_405(sb: Sandbox) -> None:
    api = Api(sb)
    missing = api.get("/no/such/thing")
    assert missing.status_code == 404
    assert error_of(missing)[0] == "NOT_FOUND"
    wrong_verb = api.http.delete(f"{sb.api_root}/users/15263401", headers=api.headers, timeout=5)
    assert wrong_verb.status_code == 405
    assert sb.books()["calls"]["DELETE /users/{id}"] == 1


def test_harness_books_config_and_reset_over_http(sb: Sandbox) -> None:
    api = Api(sb)
    api.enroll("15263420", "course:7968604")
    books = requests.get(f"{sb.base_url}/_sandbox/books", timeout=5).json()
    assert books["enrollments_created"] == 1
    assert books["calls"]["POST /users/{id}/enrollments"] == 1
    assert books["statuses"]["200"] >= 1
    assert books["endpoint_statuses"]["POST /users/{id}/enrollments"] == {"200": 1}
    assert set(books) == {
        "calls",
        "statuses",
        "endpoint_statuses",
        "throttled",
        "early_requests",
        "grades",
        "double_grades",
        "enrollments_created",
        "lost_responses",
        "dropped",
        "errors_injected",
        "enrollments_by_type",
        "jobs_submitted",
        "jobs_refused",
        "downloads_expired",
    }
    assert books["enrollments_by_type"] == {"course": 1}
    new = requests.post(
        f"{sb.base_url}/_sandbox/config", json={"error_rate": 0.5, "latency_ms": [1, 2]}, timeout=5
    )
    assert new.status_code == 200 and new.json()["error_rate"] == 0.5
    assert sb.config.latency_ms == (1.0, 2.0)
    bad = requests.post(f"{sb.base_url}/_sandbox/config", json={"nope": 1}, timeout=5)
    assert bad.status_code == 400 and "nope" in bad.json()["source"]["info"]
    assert requests.get(f"{sb.base_url}/_sandbox/config", timeout=5).json()["error_rate"] == 0.5
    sb.configure(error_rate=0.0)
    assert requests.post(f"{sb.base_url}/_sandbox/reset", timeout=5).status_code == 200
    assert sb.books()["enrollments_created"] == 0
    assert api.enroll("15263420", "course:7968604").status_code == 409  # world kept
    requests.post(f"{sb.base_url}/_sandbox/reset", json={"world": True}, timeout=5)
    assert api.enroll("15263420", "course:7968604").status_code == 200  # world back to seed


def test_configure_validates_values(sb: Sandbox) -> None:
    with pytest.raises(ValueError, match="unknown"):
        sb.configure(no_such_field=1)
    with pytest.raises(ValueError, match="error_rate"):
        sb.configure(error_rate=2.0)
    assert sb.configure(limits_enabled="false").limits_enabled is False


def test_lifecycle_env_and_port_release() -> None:
    sb = Sandbox(seed=SEED, config=SandboxConfig(client_id="cid", client_secret="sec"))
    with sb:
        env = sb.env()
        assert env["ALM_BASE_URL"] == sb.base_url and sb.base_url.startswith("http://127.0.0.1:")
        assert env["ALM_CLIENT_ID"] == "cid" and env["ALM_CLIENT_SECRET"] == "sec"
        assert env["ALM_REFRESH_TOKEN"] == sb.credentials["refresh_token"]
        port = sb.port
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))  # free again after stop()


def test_config_edits_before_start_apply_and_later_edits_need_configure() -> None:
    config = SandboxConfig()
    config.post_burst = 2  # as a CLI would set options before starting
    sb = Sandbox(seed=SEED, config=config)
    config.post_burst = 50  # after construction: not picked up (the sandbox took a copy)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sb.start(port=port)
    try:
        assert sb.port == port and sb.base_url.endswith(f":{port}")
        api = Api(sb)
        statuses = [api.post("/users/15263420/enrollments").status_code for _ in range(3)]
        assert statuses == [400, 400, 429]  # missing loId twice, then the burst of 2 is spent
        assert api.get("/users/15263401").headers["x-rate-limit"] == "500r/h"
    finally:
        sb.stop()
