"""The page's guards: the safety headers on every answer (refusals included), a Content Security
Policy the templates can live with, the Host check (port included, also on 0.0.0.0), password
mode (a real length, repeated wrong passwords slowed), the serve options refused at start, no
GET that changes a stored choice, and /favicon.ico. In-process through Starlette's TestClient;
no ALM is called."""

from __future__ import annotations

import base64
import re
import socket
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from batch.cli import CliEnv, main
from batch.errors import UsageError
from batch.web.app import HERE, WebConfig, create_app
from batch.web.hosts import AllowedHosts, split_host
from batch.web.security import Guard, LoginThrottle
from batch.web.server import ServeOptions, check_binding, check_limits, network_notes
from tests.web_support import H, problem_xlsx, site, upload

PASSWORD = "correct horse battery"


def no_alm() -> Any:
    pytest.fail("this test never calls ALM")


def app_on(tmp_path: Path, **config: Any) -> Any:
    return create_app(WebConfig(state_dir=tmp_path / "state", settings_factory=no_alm, **config))


def basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"hr:{password}".encode()).decode()}


def assert_safety_headers(response: Any) -> None:
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, response.url
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers.get("x-content-type-options") == "nosniff"
    assert response.headers.get("referrer-policy") == "no-referrer"
    assert response.headers.get("x-frame-options") == "DENY"


# -- headers ------------------------------------------------------------------------------------
def test_every_answer_carries_the_safety_headers_refusals_included(tmp_path: Path) -> None:
    app = app_on(tmp_path, host="0.0.0.0", password=PASSWORD)
    c = TestClient(app, base_url="http://127.0.0.1:8700")
    auth = basic(PASSWORD)
    answers = {
        "page": c.get("/", headers=auth),
        "static": c.get("/static/app.js", headers=auth),
        "favicon": c.get("/favicon.ico", headers=auth),
        "not found": c.get("/api/jobs/nope", headers=auth),
        "foreign Host (400)": c.get("/", headers={**auth, "Host": "evil.example:8700"}),
        "no password (401)": c.get("/"),
        "no X-Requested-By (403)": c.post("/api/jobs/x/cancel", headers=auth),
        "body too large (413)": c.post(
            "/api/jobs/x/cancel", headers={**auth, **H}, content=b"x" * (2 << 20)
        ),
    }
    expected = {"foreign Host (400)": 400, "no password (401)": 401}
    expected |= {"no X-Requested-By (403)": 403, "body too large (413)": 413}
    expected |= {"not found": 404}
    for name, response in answers.items():
        assert response.status_code == expected.get(name, 200), name
        assert_safety_headers(response)
        if response.status_code >= 400:
            assert "error" in response.json(), name


def test_templates_and_scripts_need_no_inline_code_or_eval() -> None:
    """What the CSP forbids never appears: inline <script>, on* handlers, javascript: links,
    hx-on (evaluated by htmx), js: values, htmx event filters; and htmx's eval is switched off
    before htmx starts."""
    forbidden = {
        "inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
        "inline handler": re.compile(r"\son[a-z]+\s*=", re.I),
        "javascript: URL": re.compile(r"javascript:", re.I),
        "hx-on": re.compile(r"\b(data-)?hx-on", re.I),
        "js: value": re.compile(r"hx-(vals|headers)\s*=\s*['\"]\s*(js|javascript):", re.I),
        "event filter": re.compile(r"hx-trigger\s*=\s*['\"][^'\"]*\[", re.I),
        "inline style": re.compile(r"<style|\sstyle\s*=", re.I),
    }
    templates = sorted((HERE / "templates").glob("*.html"))
    assert templates
    for path in templates:
        text = path.read_text(encoding="utf-8")
        for what, pattern in forbidden.items():
            assert not pattern.search(text), f"{path.name}: {what}"
    app_js = (HERE / "static" / "app.js").read_text(encoding="utf-8")
    assert "htmx.config.allowEval = false" in app_js
    assert "htmx.config.includeIndicatorStyles = false" in app_js
    base = (HERE / "templates" / "base.html").read_text(encoding="utf-8")
    assert base.index("/static/htmx.min.js") < base.index("/static/app.js")  # config before start


def test_favicon_is_served(tmp_path: Path) -> None:
    c = TestClient(app_on(tmp_path), base_url="http://127.0.0.1:8700")
    r = c.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\x00\x00\x01\x00"  # an icon directory
    assert b"\x89PNG" in r.content


def test_a_get_never_changes_the_stored_choice(tmp_path: Path) -> None:
    """The Shape step's preview is a GET with the choice in the query: it shows that choice and
    stores nothing; the dry run's POST stores it."""
    with site(tmp_path) as s:
        c = s.client
        up = upload(c, problem_xlsx(tmp_path / "march.xlsx"))
        uid = up["upload_id"]
        assert up["missing"] == ["email"]
        preview = c.get(f"/uploads/{uid}", params={"map": "Work Mail=email", "header_row": "1"})
        assert preview.status_code == 200
        assert 'value="Work Mail=email" selected' in preview.text  # the preview shows it
        after = c.get(f"/uploads/{uid}").text
        assert 'id="missing-email"' in after  # ...and stored nothing (still missing;
        assert "“Work Mail” looks like it: it is chosen" in after  # its list pre-set)
        assert 'id="missing-email"' not in preview.text
        assert c.get(f"/api/uploads/{uid}").json()["missing"] == ["email"]
        r = c.post(f"/api/uploads/{uid}/dry-run", json={"map": ["Work Mail=email"]}, headers=H)
        assert r.status_code == 202
        assert c.get(f"/api/uploads/{uid}").json()["mapping"]["email"] == "Work Mail"


# -- Host check ---------------------------------------------------------------------------------
def test_host_names_are_parsed_strictly() -> None:
    assert split_host("Example.COM.:8080") == ("example.com", 8080)
    assert split_host("[::1]:8700") == ("[::1]", 8700) and split_host("[::1]") == ("[::1]", None)
    for bad in ("", "a b", "evil.example:", "evil.example:99999", "x:y", "[::1", "[zz]", "a/b"):
        with pytest.raises(ValueError):
            split_host(bad)


def test_host_check_on_every_interface_accepts_the_machine_and_checks_the_port() -> None:
    hosts = AllowedHosts.for_binding("0.0.0.0", ("alm.example.com", "alias.example:9443"))
    me = socket.gethostname().lower()
    for good in ("localhost:8700", "127.0.0.1:8700", "[::1]:8700", f"{me}:8700"):
        assert hosts.accepts(good, 8700), good
    assert hosts.accepts("alm.example.com", 8700)  # a reverse proxy's name, no port written
    assert hosts.accepts("alm.example.com:8700", 8700)
    assert hosts.accepts("alias.example:9443", 8700)
    for bad in (
        "evil.example:8700",  # DNS rebinding: the attacker's own name
        "localhost:8701",  # the right name, another port
        "localhost",  # no port written: port 80, not this server's
        "alm.example.com:9999",
        "alias.example:8700",  # given with a port: only that port
        "",
    ):
        assert not hosts.accepts(bad, 8700), bad
    assert "alm.example.com" in hosts.shown()


def test_loopback_binding_answers_to_loopback_names_only() -> None:
    hosts = AllowedHosts.for_binding("127.0.0.1")
    assert hosts.accepts("localhost:8700", 8700) and hosts.accepts("127.0.0.1:8700", 8700)
    assert not hosts.accepts(f"{socket.gethostname()}:8700", 8700)
    assert not hosts.accepts("evil.example:8700", 8700)


def test_the_guard_refuses_a_foreign_host_or_port_on_0_0_0_0(tmp_path: Path) -> None:
    app = app_on(tmp_path, host="0.0.0.0", password=PASSWORD, allow_hosts=("alm.example.com",))
    c = TestClient(app, base_url="http://127.0.0.1:8700")
    auth = basic(PASSWORD)
    assert c.get("/", headers=auth).status_code == 200
    r = c.get("/", headers={**auth, "Host": "evil.example:8700"})
    assert r.status_code == 400 and "--allow-host evil.example:8700" in r.json()["error"]
    assert c.get("/", headers={**auth, "Host": "127.0.0.1:9999"}).status_code == 400
    assert c.get("/", headers={**auth, "Host": "alm.example.com"}).status_code == 200
    # the Host check comes first: a foreign Host learns nothing about the password
    assert c.get("/", headers={"Host": "evil.example:8700"}).status_code == 400


def test_an_origin_on_another_port_is_another_site(tmp_path: Path) -> None:
    c = TestClient(app_on(tmp_path), base_url="http://127.0.0.1:8700")
    other = c.post("/api/jobs/x/cancel", headers={**H, "Origin": "http://127.0.0.1:9999"})
    assert other.status_code == 403 and "another site" in other.json()["error"]
    same = c.post("/api/jobs/x/cancel", headers={**H, "Origin": "http://127.0.0.1:8700"})
    assert same.status_code == 404  # through the guard, to the app: no such job


# -- password mode --------------------------------------------------------------------------------
def test_a_short_password_is_refused_at_start_without_showing_it() -> None:
    with pytest.raises(UsageError) as caught:
        check_binding("0.0.0.0", "hunter2")
    assert "at least 12 characters" in str(caught.value) and "hunter2" not in str(caught.value)
    with pytest.raises(UsageError, match="at least 12"):
        check_binding("127.0.0.1", "x")  # a password the page would ask for, even on loopback
    with pytest.raises(UsageError, match="at least 12"):
        check_binding("0.0.0.0", " " * 20)
    check_binding("0.0.0.0", PASSWORD)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def ok_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_repeated_wrong_passwords_lock_the_address_out_for_longer_each_time() -> None:
    clock = FakeClock()
    guard = Guard(ok_app, hosts=AllowedHosts.for_binding("127.0.0.1"), password=PASSWORD,
                  clock=clock)  # fmt: skip
    c = TestClient(guard, base_url="http://127.0.0.1:8700", client=("10.0.0.7", 5000))
    wrong, right = basic("guess"), basic(PASSWORD)
    assert c.get("/").status_code == 401  # no password sent: the browser's first try, free
    for _ in range(LoginThrottle.FREE):
        assert c.get("/", headers=wrong).status_code == 401  # typos: answered at once
    assert c.get("/", headers=wrong).status_code == 401  # one too many: locked 1 s
    locked = c.get("/", headers=right)
    assert locked.status_code == 429 and locked.headers["retry-after"] == "1"
    assert "wait 1 s" in locked.json()["error"]
    clock.now += 1.01
    assert c.get("/", headers=wrong).status_code == 401  # locked 2 s now
    clock.now += 1.5
    assert c.get("/", headers=right).status_code == 429
    other = TestClient(guard, base_url="http://127.0.0.1:8700", client=("10.0.0.8", 5000))
    assert other.get("/", headers=right).status_code == 200  # another address is not slowed
    clock.now += 0.6
    assert c.get("/", headers=right).status_code == 200  # the right password clears the count
    for _ in range(LoginThrottle.FREE):
        assert c.get("/", headers=wrong).status_code == 401


def test_a_guesser_gets_a_few_dozen_tries_an_hour_not_22_a_second() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock)
    tried = 0
    end = clock.now + 3600
    while clock.now < end:  # an attacker asking every 100 ms for an hour
        if throttle.wait_seconds("10.0.0.9") == 0:
            tried += 1
            throttle.failed("10.0.0.9")
        clock.now += 0.1
    assert tried <= 30, tried


# -- the serve command's options ------------------------------------------------------------------
@pytest.mark.parametrize("value", ["inf", "nan", "0", "-5", "-inf", "lots"])
def test_max_upload_mb_must_be_a_finite_size(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused by argparse before anything starts (exit 2, one usage line and the reason)."""
    code = main(["serve", f"--max-upload-mb={value}", "--no-browser"], CliEnv())
    err = capsys.readouterr().err
    assert code == 2 and "argument --max-upload-mb: expected a" in err, err
    assert ("number above 0" in err or "expected a number, got 'lots'" in err) and value in err
    assert "Traceback" not in err


def test_serve_options_are_checked_for_python_callers_too() -> None:
    for bad in (float("inf"), float("nan"), 0.0, -1.0):
        with pytest.raises(UsageError, match="--max-upload-mb must be a number above 0"):
            check_limits(ServeOptions(max_upload_mb=bad))
    with pytest.raises(UsageError, match="--keep-days"):
        check_limits(ServeOptions(keep_days=float("nan")))
    with pytest.raises(UsageError, match="not a host name"):
        check_limits(ServeOptions(allow_hosts=("https://alm.example.com/",)))
    check_limits(ServeOptions(max_upload_mb=0.5, allow_hosts=("alm.example.com:8443",)))


def test_allow_host_refuses_a_url_at_start(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--allow-host", "http://x.example/", "--no-browser"], CliEnv())
    err = capsys.readouterr().err
    assert code == 2 and "argument --allow-host: 'http://x.example/' is not a host name" in err


def test_serve_says_where_it_can_be_reached_off_loopback() -> None:
    assert network_notes(ServeOptions(), 8700) == []
    notes = network_notes(ServeOptions(host="0.0.0.0", allow_hosts=("alm.example.com",)), 8700)
    assert "ALM_BATCH_WEB_PASSWORD" in notes[0]
    assert "localhost" in notes[1] and "alm.example.com" in notes[1] and "port 8700" in notes[1]
    assert "HTTPS" in notes[1]
