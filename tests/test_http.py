"""The HTTP transport against a scripted server: headers, OAuth, retries, errors, secrets."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
import requests
from scripted_server import Canned, FakeClock, ScriptedServer

from batch import __version__
from batch.alm.api import AlmClient
from batch.alm.http import MAX_TOKEN_REFRESHES
from batch.errors import (
    ApiError,
    ApiUnreachable,
    AuthError,
    ConfigError,
    ExitStatus,
    WriteUncertain,
)
from batch.settings import Settings

SECRET = "s3cr3t-client-secret"
REFRESH = "r3fr3sh-token-value"
TOKEN = "acc3ss-token-0001"
USERS = "/primeapi/v2/users"
REFRESH_PATH = "/oauth/token/refresh"


def settings(base_url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = dict(
        base_url=base_url,
        client_id="app-id",
        client_secret=SECRET,
        refresh_token=REFRESH,
        timeout_seconds=2.0,
    )
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def token_reply(token: str = TOKEN) -> Canned:
    return Canned(200, {"access_token": token, "refresh_token": REFRESH, "expires_in": 604800})


@pytest.fixture
def srv() -> Any:
    with ScriptedServer() as server:
        server.script("POST", REFRESH_PATH, token_reply())
        yield server


def client(srv: ScriptedServer, clock: FakeClock | None = None, **kw: Any) -> AlmClient:
    clock = clock or FakeClock()
    opts: dict[str, Any] = {"give_up_after": 60.0}
    opts.update(kw)
    sets = opts.pop("settings", None) or settings(srv.base_url)
    return AlmClient(sets, clock=clock, sleep=clock.sleep, **opts)


def test_headers_refresh_form_and_user_agent(srv: ScriptedServer) -> None:
    srv.script("GET", USERS, Canned(200, {"data": []}))
    srv.script("POST", "/primeapi/v2/users/7/userModuleGrade", Canned(204))
    with client(srv) as alm:
        alm.http.request("GET", "/users")
        alm.http.request("POST", "/users/7/userModuleGrade", body={"data": {}})
    refresh = srv.requests_to("POST", REFRESH_PATH)
    assert len(refresh) == 1
    assert refresh[0].form() == {
        "client_id": ["app-id"],
        "client_secret": [SECRET],
        "refresh_token": [REFRESH],
    }
    assert refresh[0].raw_query == ""  # secrets travel in the body, never in the URL
    get = srv.requests_to("GET", USERS)[0]
    assert get.headers["authorization"] == f"oauth {TOKEN}"
    assert get.headers["accept"] == "application/vnd.api+json"
    assert get.headers["user-agent"] == f"alm-batch/{__version__}"
    assert "content-type" not in get.headers
    post = srv.requests_to("POST", "/primeapi/v2/users/7/userModuleGrade")[0]
    assert post.headers["content-type"] == "application/vnd.api+json"
    assert post.json() == {"data": {}}


def test_access_token_from_env_needs_no_refresh_and_bearer_scheme(srv: ScriptedServer) -> None:
    srv.script("GET", USERS, Canned(200, {"data": []}))
    sets = settings(
        srv.base_url,
        client_id=None,
        client_secret=None,
        refresh_token=None,
        access_token="given-token-123",
        auth_scheme="Bearer",
    )
    with client(srv, settings=sets) as alm:
        alm.http.request("GET", "/users")
    assert srv.requests_to("POST", REFRESH_PATH) == []
    assert srv.requests_to("GET", USERS)[0].headers["authorization"] == "Bearer given-token-123"


def test_missing_credentials_name_the_variables(srv: ScriptedServer) -> None:
    with pytest.raises(ConfigError) as err:
        client(srv, settings=settings(srv.base_url, client_secret=None, refresh_token=None))
    assert "ALM_CLIENT_SECRET" in str(err.value) and "ALM_REFRESH_TOKEN" in str(err.value)
    assert "ALM_CLIENT_ID," not in str(err.value)
    assert err.value.exit_status == ExitStatus.USAGE


def test_401_refreshes_once_then_succeeds(srv: ScriptedServer) -> None:
    srv.script("POST", REFRESH_PATH, token_reply("old-token-1"), token_reply("new-token-2"))
    srv.script(
        "GET",
        USERS,
        Canned(401, {"status": "UNAUTHORIZED", "title": "expired"}),
        Canned(200, {"data": []}),
    )
    with client(srv) as alm:
        alm.http.request("GET", "/users")
        assert alm.http.tokens.refreshes == 2
        assert alm.stats.calls["POST /oauth/token/refresh"] == 2
    auths = [s.headers["authorization"] for s in srv.requests_to("GET", USERS)]
    assert auths == ["oauth old-token-1", "oauth new-token-2"]


def test_tokens_refused_right_after_refresh_are_an_auth_error_without_secrets(
    srv: ScriptedServer,
) -> None:
    srv.script("GET", USERS, Canned(401, {"status": "UNAUTHORIZED", "title": "bad token"}))
    with client(srv) as alm, pytest.raises(AuthError) as err:
        alm.http.request("GET", "/users")
    text = str(err.value)
    assert "ALM_CLIENT_ID" in text and err.value.exit_status == ExitStatus.ABORTED
    assert SECRET not in text and REFRESH not in text and TOKEN not in text
    assert len(srv.requests_to("GET", USERS)) == 1 + MAX_TOKEN_REFRESHES


def test_a_token_that_expires_again_during_retries_is_refreshed_again(srv: ScriptedServer) -> None:
    """401, refresh, 503 (backoff), 401 again (the new token expired meanwhile): not a refusal."""
    srv.script("POST", REFRESH_PATH, token_reply("t-1"), token_reply("t-2"), token_reply("t-3"))
    srv.script(
        "GET",
        USERS,
        Canned(401, {"status": "UNAUTHORIZED", "title": "expired"}),
        Canned(503, {"status": "SERVICE_UNAVAILABLE", "title": "busy"}),
        Canned(401, {"status": "UNAUTHORIZED", "title": "expired"}),
        Canned(200, {"data": []}),
    )
    with client(srv) as alm:
        alm.http.request("GET", "/users")
        assert alm.http.tokens.refreshes == 3
    auths = [s.headers["authorization"] for s in srv.requests_to("GET", USERS)]
    assert auths == ["oauth t-1", "oauth t-2", "oauth t-2", "oauth t-3"]


def test_refused_refresh_names_the_setting(srv: ScriptedServer) -> None:
    srv.script(
        "POST",
        REFRESH_PATH,
        Canned(
            400,
            {
                "status": "BAD_REQUEST",
                "title": "Invalid client secret",
                "source": {"info": f"secret {SECRET}"},
            },
        ),
    )
    with client(srv) as alm, pytest.raises(AuthError) as err:
        alm.http.request("GET", "/users")
    assert "ALM_CLIENT_SECRET" in str(err.value)
    assert SECRET not in str(err.value) and SECRET not in repr(err.value)


def test_refused_refresh_token_names_it(srv: ScriptedServer) -> None:
    srv.script(
        "POST",
        REFRESH_PATH,
        Canned(400, {"error": "invalid_grant", "message": "refresh token expired"}),
    )
    with client(srv) as alm, pytest.raises(AuthError) as err:
        alm.http.request("GET", "/users")
    assert "ALM_REFRESH_TOKEN" in str(err.value)


def test_expired_env_token_without_refresh_settings(srv: ScriptedServer) -> None:
    srv.script("GET", USERS, Canned(401, {"message": "token expired"}))
    sets = settings(srv.base_url, client_secret=None, refresh_token=None, access_token="tok-9999")
    with client(srv, settings=sets) as alm, pytest.raises(AuthError) as err:
        alm.http.request("GET", "/users")
    assert "ALM_ACCESS_TOKEN" in str(err.value) and "tok-9999" not in str(err.value)


def test_many_threads_meeting_401_share_one_refresh(srv: ScriptedServer) -> None:
    state = {"refreshes": 0}
    lock = threading.Lock()

    def refresh(_: Any) -> Canned:
        with lock:
            state["refreshes"] += 1
            return token_reply(f"token-{state['refreshes']:04d}")

    def users(seen: Any) -> Canned:
        ok = seen.headers.get("authorization") == "oauth token-0002"
        return Canned(200, {"data": []}) if ok else Canned(401, {"message": "expired"})

    srv.handle("POST", REFRESH_PATH, refresh)
    srv.handle("GET", USERS, users)
    with client(srv, clock=None, concurrency=8) as alm:
        alm.http.tokens.current()  # token-0001, which ALM will refuse
        errors: list[BaseException] = []

        def work() -> None:
            try:
                alm.http.request("GET", "/users", paced=False)
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert state["refreshes"] == 2  # the initial one and exactly one for all eight 401s


def test_get_retries_5xx_and_counts(srv: ScriptedServer) -> None:
    srv.script(
        "GET",
        USERS,
        Canned(500, "<html>oops</html>"),
        Canned(503, {"message": "busy"}),
        Canned(200, {"data": []}),
    )
    clock = FakeClock()
    with client(srv, clock) as alm:
        alm.http.request("GET", "/users")
        assert alm.stats.retries == 2
        assert alm.stats.statuses == {200: 2, 500: 1, 503: 1}  # refresh + final GET
        assert alm.stats.calls["GET /users"] == 3
    assert len(clock.sleeps) == 2 and clock.sleeps[1] >= clock.sleeps[0] >= 0.5


def test_get_retries_read_timeout(srv: ScriptedServer) -> None:
    srv.script("GET", USERS, Canned(200, {"data": []}, delay=0.5), Canned(200, {"data": []}))
    with client(srv, settings=settings(srv.base_url, timeout_seconds=0.1)) as alm:
        assert alm.http.request("GET", "/users").status == 200
    assert len(srv.requests_to("GET", USERS)) == 2


def test_post_5xx_is_write_uncertain_and_not_resent(srv: ScriptedServer) -> None:
    path = "/primeapi/v2/users/1/userModuleGrade"
    srv.script("POST", path, Canned(502, {"message": "bad gateway"}))
    with client(srv) as alm, pytest.raises(WriteUncertain) as err:
        alm.http.request("POST", "/users/1/userModuleGrade", body={})
    assert err.value.status == 502
    assert len(srv.requests_to("POST", path)) == 1


def test_post_dropped_after_sending_is_write_uncertain(srv: ScriptedServer) -> None:
    path = "/primeapi/v2/users/1/userModuleGrade"
    srv.script("POST", path, Canned(drop=True))
    with client(srv) as alm, pytest.raises(WriteUncertain) as err:
        alm.http.request("POST", "/users/1/userModuleGrade", body={})
    assert err.value.status == 0
    assert len(srv.requests_to("POST", path)) == 1


def test_post_read_timeout_is_write_uncertain(srv: ScriptedServer) -> None:
    path = "/primeapi/v2/users/1/userModuleGrade"
    srv.script("POST", path, Canned(200, {}, delay=0.5))
    with client(srv, settings=settings(srv.base_url, timeout_seconds=0.1)) as alm:
        with pytest.raises(WriteUncertain):
            alm.http.request("POST", "/users/1/userModuleGrade", body={})
    assert len(srv.requests_to("POST", path)) == 1


def test_post_connection_refused_is_retried_until_give_up() -> None:
    with ScriptedServer() as srv:
        dead = srv.base_url
    clock = FakeClock()
    sets = settings(dead, access_token="tok-12345678")
    with AlmClient(sets, clock=clock, sleep=clock.sleep, give_up_after=20.0) as alm:
        with pytest.raises(ApiUnreachable) as err:
            alm.http.request("POST", "/users/1/userModuleGrade", body={})
        assert err.value.exit_status == ExitStatus.ABORTED
        assert alm.stats.calls["POST /users/{id}/userModuleGrade"] >= 3
    assert sum(clock.sleeps) <= 20.0


def test_post_retried_on_429(srv: ScriptedServer) -> None:
    path = "/primeapi/v2/users/1/userModuleGrade"
    srv.script(
        "POST",
        path,
        Canned(429, {"message": "429 Too many requests"}, {"retry-after": "1.5"}),
        Canned(200, {}),
    )
    clock = FakeClock()
    with client(srv, clock) as alm:
        alm.http.request("POST", "/users/1/userModuleGrade", body={})
        assert alm.stats.throttled == 1 and alm.stats.writes == 1
    assert len(srv.requests_to("POST", path)) == 2
    assert 1.5 < sum(clock.sleeps) <= 1.5 + 0.6  # jitter added, never subtracted


def test_retry_after_is_capped(srv: ScriptedServer) -> None:
    srv.script("GET", USERS, Canned(429, headers={"retry-after": "3244"}), Canned(200, {}))
    clock = FakeClock()
    with client(srv, clock, settings=settings(srv.base_url, max_retry_after=5.0)) as alm:
        alm.http.request("GET", "/users")
    assert 5.0 < sum(clock.sleeps) <= 5.6


def test_429_without_retry_after_backs_off_exponentially(srv: ScriptedServer) -> None:
    path = "/primeapi/v2/users/5/enrollments"
    srv.script("GET", path, Canned(429), Canned(429), Canned(429), Canned(200, {}))
    clock = FakeClock()
    with client(srv, clock) as alm:
        alm.http.request("GET", "/users/5/enrollments")
    waits = [s for s in clock.sleeps if s > 0]
    assert len(waits) == 3 and waits[0] < waits[1] < waits[2]


def test_4xx_not_retried_and_parsed(srv: ScriptedServer) -> None:
    srv.script(
        "GET",
        USERS,
        Canned(
            400, {"status": "BAD_REQUEST", "title": "Missing Param", "source": {"info": "skills"}}
        ),
    )
    with client(srv) as alm, pytest.raises(ApiError) as err:
        alm.http.request("GET", "/users")
    assert (err.value.status, err.value.code, err.value.title, err.value.detail) == (
        400,
        "BAD_REQUEST",
        "Missing Param",
        "skills",
    )
    assert err.value.describe() == "HTTP 400 Missing Param: skills"
    assert len(srv.requests_to("GET", USERS)) == 1


def test_get_gives_up_after_silence(srv: ScriptedServer) -> None:
    srv.script("GET", USERS, Canned(503, {"message": "down"}))
    clock = FakeClock()
    with client(srv, clock, give_up_after=30.0) as alm, pytest.raises(ApiUnreachable) as err:
        alm.http.request("GET", "/users")
    assert "ALM_BASE_URL" in str(err.value)
    assert sum(clock.sleeps) <= 30.0 and len(clock.sleeps) >= 3


def test_token_check_never_logs_or_returns_the_token(
    srv: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    srv.script(
        "GET",
        "/oauth/token/check",
        Canned(200, {"access_token": TOKEN, "scope": "admin:read,admin:write", "expires_in": 3600}),
    )
    caplog.set_level(logging.DEBUG, logger="batch.alm")
    with client(srv) as alm:
        info = alm.check_token()
    assert info == {"scope": "admin:read,admin:write", "expires_in": 3600}
    assert srv.requests_to("GET", "/oauth/token/check")[0].query["access_token"] == [TOKEN]
    assert "access_token=***" in caplog.text
    assert TOKEN not in caplog.text and SECRET not in caplog.text


def test_pool_sized_to_concurrency(srv: ScriptedServer) -> None:
    with client(srv, concurrency=16) as alm:
        adapter = alm.http.session.get_adapter(srv.base_url)
        assert adapter.poolmanager.connection_pool_kw["maxsize"] >= 16  # type: ignore[attr-defined]


def test_the_session_retries_nothing_below_the_products_rules(srv: ScriptedServer) -> None:
    """A 503 reaches our loop (one backoff, one more request), never urllib3's retries."""
    srv.script("GET", USERS, Canned(503, {"message": "busy"}), Canned(200, {"data": []}))
    clock = FakeClock()
    with client(srv, clock) as alm:
        assert alm.http.session.get_adapter(srv.base_url).max_retries.total == 0  # type: ignore[attr-defined]
        alm.http.request("GET", "/users")
        assert alm.stats.calls["GET /users"] == 2 and alm.stats.retries == 1
    assert len(srv.requests_to("GET", USERS)) == 2 and len(clock.sleeps) == 1


def test_transport_failures_are_described_in_a_few_words() -> None:
    """The words and the "safe to re-send" verdict come from the exception requests raises
    (what it wraps), never from its text, which names hosts and paths."""
    import socket
    from http.client import RemoteDisconnected

    from batch.alm.http import sent_nothing, transport_reason

    def wrapped(outer: requests.RequestException, inner: BaseException) -> BaseException:
        try:
            try:
                raise inner
            except BaseException as exc:
                raise outer from exc
        except requests.RequestException as exc:
            return exc

    refused = wrapped(requests.ConnectionError("pool: max retries"), ConnectionRefusedError(111))
    assert transport_reason(refused) == "connection refused" and sent_nothing(refused)
    no_host = wrapped(requests.ConnectionError("x"), socket.gaierror(-2, "Name unknown"))
    assert transport_reason(no_host) == "host name not found" and sent_nothing(no_host)
    slow_connect = requests.ConnectTimeout("connect timed out")
    assert transport_reason(slow_connect) == "timed out" and sent_nothing(slow_connect)
    slow_read = requests.ReadTimeout("read timed out")
    assert transport_reason(slow_read) == "timed out" and not sent_nothing(slow_read)
    dropped = wrapped(requests.ConnectionError("aborted"), RemoteDisconnected("closed"))
    assert transport_reason(dropped) == "connection closed without an answer"
    assert not sent_nothing(dropped)
    reset = wrapped(requests.ConnectionError("x"), ConnectionResetError(104, "reset"))
    assert transport_reason(reset) == "connection reset" and not sent_nothing(reset)
    assert transport_reason(requests.TooManyRedirects("30")) == "too many redirects"
    broken = requests.exceptions.ChunkedEncodingError("Connection broken")
    assert transport_reason(broken) == "connection dropped" and not sent_nothing(broken)


def test_proxy_settings_are_read_once_per_host_by_requests_rules(
    srv: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corp-ca.pem")
    with client(srv) as alm:
        environment = alm.http.environment
        alm_route = environment.route("http://learningmanager.adobe.com/primeapi/v2/users")
        assert alm_route.verify == "/etc/ssl/corp-ca.pem"
        assert alm_route.proxies.get("https") == "http://proxy.corp.example:3128"
        assert environment.route(srv.base_url + "/primeapi/v2/users").proxies == {}  # NO_PROXY
        monkeypatch.setenv("HTTPS_PROXY", "http://other:1")
        again = environment.route("http://learningmanager.adobe.com/primeapi/v2/jobs")
        assert again is alm_route  # the same host: read once
