"""The transport under the HTTP client (one requests session): what goes on the wire (params,
headers, bodies), proxies, TLS, redirects, compression and transport errors, by requests' rules;
no secret (token, proxy password) leaves in an error or a log."""

from __future__ import annotations

import base64
import gzip
import json
import logging
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from scripted_server import Canned, FakeClock, ScriptedServer

from batch.alm.api import AlmClient
from batch.errors import ApiUnreachable, ConfigError
from batch.settings import Settings

TOKEN = "acc3ss-token-0001"
USERS = "/primeapi/v2/users"
PROXY_VARIABLES = (
    "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
    "no_proxy", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy or CA variable of the machine running the tests leaks into them."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def settings(base_url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = dict(base_url=base_url, access_token=TOKEN, timeout_seconds=2.0)
    values.update(extra)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def client(base_url: str, clock: FakeClock | None = None, **extra: Any) -> AlmClient:
    clock = clock or FakeClock()
    return AlmClient(settings(base_url, **extra), clock=clock, sleep=clock.sleep, give_up_after=20)


@pytest.fixture
def srv() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- what is sent ------------------------------------------------------------------------------
def test_params_arrive_as_sent(srv: ScriptedServer) -> None:
    """An email with a plus, brackets in names, a list in one value: decoded on ALM's side as
    they were given (a plus sent raw would arrive as a space)."""
    params = {
        "page[offset]": "0",
        "ids": "email:Ana.M+hr@x.com",
        "filter.loTypes": "course,learningProgram",
        "q": "a b&c=d/é",
        "empty": "",
    }
    srv.script("GET", USERS, Canned(200, {"data": []}))
    with client(srv.base_url) as alm:
        alm.http.request("GET", "/users", params=params)
    seen = srv.requests_to("GET", USERS)[0]
    assert seen.query == {k: [v] for k, v in params.items() if v}
    assert "empty=" in seen.raw_query


def test_default_headers_bodies_and_caller_headers(srv: ScriptedServer) -> None:
    srv.script("GET", USERS, Canned(200, {"data": []}))
    srv.script("POST", "/primeapi/v2/users/7/enrollments", Canned(200, {"data": []}))
    with client(srv.base_url) as alm:
        alm.http.request("GET", "/users", headers={"accept": "text/csv"})
        alm.http.request("POST", "/users/7/enrollments", params={"loId": "course:1"})
    get = srv.requests_to("GET", USERS)[0]
    assert get.headers["accept"] == "text/csv"  # the caller's header wins, whatever its case
    assert get.headers["accept-encoding"] == "gzip, deflate"
    assert get.headers["connection"] == "keep-alive"
    assert "content-length" not in get.headers
    post = srv.requests_to("POST", "/primeapi/v2/users/7/enrollments")[0]
    assert post.headers["content-length"] == "0" and post.body == b""
    assert post.query == {"loId": ["course:1"]}
    assert post.headers["authorization"] == f"oauth {TOKEN}"


def test_compressed_answers_are_decoded(srv: ScriptedServer) -> None:
    payload = gzip.compress(json.dumps({"data": [{"id": "7", "type": "user"}]}).encode())
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/vnd.api+json"}
    srv.script("GET", USERS, Canned(200, payload, headers))
    with client(srv.base_url) as alm:
        reply = alm.http.request("GET", "/users")
    assert reply.data == {"data": [{"id": "7", "type": "user"}]}


@pytest.mark.parametrize(
    "body, content_type, text",
    [
        ("Müller".encode(), "application/vnd.api+json", "Müller"),  # JSON: UTF-8
        ("Müller".encode(), "application/vnd.api+json;charset=UTF-8", "Müller"),
        ("Müller".encode("latin-1"), "text/plain", "Müller"),  # text/*: ISO-8859-1
        ("Müller".encode(), "text/plain; charset='utf-8'", "Müller"),
        ("Müller".encode(), "text/plain; charset=no-such-codec", "Müller"),
        (b"\xff ok", "application/json", "\ufffd ok"),
    ],
)
def test_answers_are_read_in_the_charset_their_content_type_names(
    srv: ScriptedServer, body: bytes, content_type: str, text: str
) -> None:
    srv.script("GET", USERS, Canned(200, body, {"Content-Type": content_type}))
    with client(srv.base_url) as alm:
        assert alm.http.request("GET", "/users").text == text


# --- redirects ---------------------------------------------------------------------------------
def test_redirect_on_the_same_host_keeps_authorization_and_reply_names_the_final_url(
    srv: ScriptedServer,
) -> None:
    srv.script("GET", USERS, Canned(302, "", {"Location": "/primeapi/v2/users2?page=2"}))
    srv.script("GET", "/primeapi/v2/users2", Canned(200, {"data": []}))
    with client(srv.base_url) as alm:
        reply = alm.http.request("GET", "/users")
    assert reply.url == f"{srv.base_url}/primeapi/v2/users2?page=2"
    assert srv.requests_to("GET", "/primeapi/v2/users2")[0].headers["authorization"] == (
        f"oauth {TOKEN}"
    )


def test_redirected_post_303_becomes_a_get_and_307_keeps_the_post(srv: ScriptedServer) -> None:
    srv.script("POST", "/primeapi/v2/a", Canned(303, "", {"Location": "/primeapi/v2/done"}))
    srv.script("POST", "/primeapi/v2/b", Canned(307, "", {"Location": "/primeapi/v2/again"}))
    srv.script("GET", "/primeapi/v2/done", Canned(200, {}))
    srv.script("POST", "/primeapi/v2/again", Canned(200, {}))
    with client(srv.base_url) as alm:
        alm.http.request("POST", "/a", body={"x": 1})
        alm.http.request("POST", "/b", body={"y": 2})
    done = srv.requests_to("GET", "/primeapi/v2/done")[0]
    assert done.body == b"" and "content-type" not in done.headers
    assert srv.requests_to("POST", "/primeapi/v2/again")[0].json() == {"y": 2}


def test_redirect_to_another_host_drops_authorization(srv: ScriptedServer) -> None:
    with ScriptedServer() as other:
        other.script("GET", "/file.csv", Canned(200, "id,email\n"))
        srv.script("GET", USERS, Canned(302, "", {"Location": other.base_url + "/file.csv"}))
        with client(srv.base_url) as alm:
            reply = alm.http.request("GET", "/users")
        assert reply.text == "id,email\n"
        assert "authorization" not in other.requests_to("GET", "/file.csv")[0].headers


def test_a_redirect_loop_is_a_transport_failure(srv: ScriptedServer) -> None:
    srv.script("GET", USERS, Canned(302, "", {"Location": USERS}))
    with client(srv.base_url) as alm, pytest.raises(ApiUnreachable) as err:
        alm.http.request("GET", "/users")
    assert "too many redirects" in str(err.value)
    assert len(srv.requests_to("GET", USERS)) > requests.Session().max_redirects


# --- proxies -----------------------------------------------------------------------------------
def test_http_proxy_from_the_environment_with_its_credentials(
    srv: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scripted server plays the proxy: it receives the request for the remote host."""
    proxy = srv.base_url.replace("http://", "http://proxy-user:p%40ss@")
    monkeypatch.setenv("http_proxy", proxy)
    srv.script("GET", USERS, Canned(200, {"data": []}))
    with client("http://alm.example.test") as alm:
        assert alm.http.request("GET", "/users").data == {"data": []}
    seen = srv.requests_to("GET", USERS)[0]
    assert seen.headers["host"] == "alm.example.test"
    expected = base64.b64encode(b"proxy-user:p@ss").decode()
    assert seen.headers["proxy-authorization"] == f"Basic {expected}"
    assert seen.headers["authorization"] == f"oauth {TOKEN}"


def test_no_proxy_hosts_are_reached_directly(
    srv: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    srv.script("GET", USERS, Canned(200, {"data": []}))
    with client(srv.base_url) as alm:
        assert alm.http.request("GET", "/users").status == 200


def test_a_proxy_password_never_shows_in_errors_or_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("https_proxy", f"http://me:pr0xy-s3cret@127.0.0.1:{closed_port()}")
    caplog.set_level(logging.DEBUG)
    with client("https://alm.example.test") as alm, pytest.raises(ApiUnreachable) as err:
        alm.http.request("GET", "/users")
    assert "connection refused" in str(err.value)
    for text in (str(err.value), err.value.hint or "", caplog.text):
        assert "pr0xy-s3cret" not in text and TOKEN not in text


def test_an_unusable_proxy_setting_is_a_config_error_without_the_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("https_proxy", "ftp://me:pr0xy-s3cret@proxy.example:21")
    with client("https://alm.example.test") as alm, pytest.raises(ConfigError) as err:
        alm.http.request("GET", "/users")
    assert "pr0xy-s3cret" not in str(err.value)


# --- TLS ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (openssl), as (certificate, key) files."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


def test_tls_is_verified_against_the_bundled_authorities(certificate: tuple[str, str]) -> None:
    with ScriptedServer(tls=certificate) as tls_srv:
        tls_srv.script("GET", USERS, Canned(200, {"data": []}))
        with client(tls_srv.base_url) as alm, pytest.raises(ApiUnreachable) as err:
            alm.http.request("GET", "/users")
        assert "TLS certificate not trusted" in str(err.value)
        assert tls_srv.requests_to("GET", USERS) == []


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_tls_trusts_the_ca_bundle_the_environment_names(
    certificate: tuple[str, str], monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, certificate[0])
    with ScriptedServer(tls=certificate) as tls_srv:
        tls_srv.script("GET", USERS, Canned(200, {"data": []}))
        with client(tls_srv.base_url) as alm:
            assert alm.http.request("GET", "/users").data == {"data": []}


def test_a_ca_bundle_that_does_not_exist_is_a_config_error(
    certificate: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    clock = FakeClock()
    with ScriptedServer(tls=certificate) as tls_srv, client(tls_srv.base_url, clock) as alm:
        with pytest.raises(ConfigError) as err:
            alm.http.request("GET", "/users")
        assert "REQUESTS_CA_BUNDLE" in str(err.value)
        # Nothing was sent, so the bucket it took is free again: the next request goes at once
        # (no wait for an answer to a probe that never left).
        with pytest.raises(ConfigError):
            alm.http.request("GET", "/users")
        assert tls_srv.seen == [] and clock.sleeps == []
