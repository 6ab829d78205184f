"""Transient faults never become failed rows: real HTTP against the seeded sandbox.

The sandbox draws its faults from one seeded ``random.Random``; with one worker and the
rate limits off, the same requests meet the same faults on every run, so these tests are
deterministic. The client's ``sleep`` is injected: backoffs are recorded, never slept.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from batch.alm.api import AlmClient, WriteUncertain
from batch.alm.http import parse_error
from batch.cache import LookupCache
from batch.errors import ApiUnreachable, ExitStatus
from batch.execute import ExecuteOptions, ExecuteResult, execute_plan
from batch.journal import apply_ledger
from batch.ledger import LEDGER_NAME, Ledger
from batch.models import RowStatus, exit_status_for
from batch.plan import PlanOptions, build_plan
from batch.resolve import Resolver
from batch.sandbox import Sandbox, SandboxConfig
from batch.settings import Settings
from tests.e2e_support import run_cli
from tests.fake_writer import make_plan, row_plan
from tests.scripted_server import Canned, FakeClock, ScriptedServer
from tests.test_execute_sandbox import SEED, USERS, rows, settings_for

HEAVY_WEATHER = {"error_rate": 0.25, "drop_rate": 0.08, "lost_response_rate": 0.2}


class Harness:
    """A sandbox, a client on a recorded (not slept) clock, one ledger; plan then execute."""

    def __init__(self, sb: Sandbox, tmp: Path, **settings: Any) -> None:
        self.sb = sb
        self.waits: list[float] = []
        self.settings = settings_for(sb, **settings)
        self.client = AlmClient(self.settings, concurrency=1, sleep=self.waits.append)
        self.client.write_retry = replace(self.client.write_retry, rng=random.Random(3))
        self.cache = LookupCache(None, self.settings.base_url)
        self.ledger = Ledger(tmp / LEDGER_NAME)
        self.plan = build_plan(iter(rows()), Resolver(self.client, self.cache), PlanOptions())

    def run(self, run_id: str) -> ExecuteResult:
        plan = build_plan(iter(rows()), Resolver(self.client, self.cache), PlanOptions())
        apply_ledger(plan, self.ledger, self.settings.base_url, overwrite=False)
        options = ExecuteOptions(run_id, self.settings.base_url, "sha", concurrency=1)
        return execute_plan(plan, self.client, self.ledger, options)

    def wanted(self) -> set[tuple[str, str]]:
        return {(g.user_id, g.module_id) for rp in self.plan.rows for g in rp.grades}

    def close(self) -> None:
        self.ledger.close()
        self.cache.close()
        self.client.close()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    # Limits off, and headers that grant far more than the test sends: the client never waits
    # for its pacer (its ``sleep`` is a recorder, so a wait would spin).
    config = SandboxConfig(
        limits_enabled=False,
        random_seed=1313,
        get_per_minute=60000.0,
        post_per_minute=60000.0,
        users_per_hour=1e6,
        lo_per_hour=1e6,
    )
    with Sandbox(seed=SEED, config=config) as sb:
        yield sb


def assert_books_once(sb: Sandbox, wanted: set[tuple[str, str]]) -> dict[str, Any]:
    books = sb.books()
    assert books["double_grades"] == 0
    assert {(g["user_id"], g["module_id"]) for g in books["grades"]} == wanted
    assert all(g["count"] == 1 for g in books["grades"])
    return books


def test_consecutive_transient_faults_on_one_write_still_complete_the_row(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    h = Harness(sandbox, tmp_path)
    try:
        wanted = h.wanted()
        assert len(wanted) == USERS * 4
        sandbox.configure(**HEAVY_WEATHER)
        out = h.run("run-1")
        assert out.aborted is None
        assert [r.status for r in out.results] == [RowStatus.COMPLETED] * len(out.results)
        assert exit_status_for(out.results) is ExitStatus.OK
        # the weather really was bad: one write met at least three transient faults in a row
        # (each answered, read back and re-sent or found landed) and still landed once
        entries = h.ledger.for_users(h.settings.base_url, sorted({u for u, _ in wanted}))
        assert max(e.attempts for e in entries.values()) >= 4
        books = assert_books_once(sandbox, wanted)
        assert books["errors_injected"] >= 10 and books["lost_responses"] >= 5
        assert books["dropped"] >= 3
        assert h.waits, "backoffs are taken on the client's clock"
    finally:
        h.close()


def test_faults_outlasting_the_budget_are_retryable_and_a_rerun_posts_each_grade_once(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    h = Harness(sandbox, tmp_path, write_retries=1)  # two sends at most per write
    try:
        wanted = h.wanted()
        sandbox.configure(**HEAVY_WEATHER)
        first = h.run("run-1")
        failed = [r for r in first.results if r.status is RowStatus.FAILED]
        assert failed, "the seeded faults must outlast a 1-retry budget somewhere"
        assert all(r.retryable and not r.needs_person for r in failed)
        assert all(r.status in (RowStatus.COMPLETED, RowStatus.FAILED) for r in first.results)
        assert all("only temporary errors in 2 tries" in r.message for r in failed)
        assert exit_status_for(first.results) is ExitStatus.RETRYABLE
        sandbox.configure(error_rate=0.0, drop_rate=0.0, lost_response_rate=0.0)
        again = h.run("run-2")
        assert [r.status for r in again.results if r.row in {f.row for f in failed}] == [
            RowStatus.COMPLETED
        ] * len(failed)
        assert exit_status_for(again.results) is ExitStatus.OK
        assert_books_once(sandbox, wanted)
    finally:
        h.close()


# --------------------------------------------------------------------------- gateway pages
NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
    "</html>\r\n"
)
CLOUDFRONT_504 = (
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">\n<HTML><HEAD><TITLE>ERROR'
    "</TITLE></HEAD><BODY><H1>504 Gateway Timeout ERROR</H1>The request could not be "
    "satisfied.</BODY></HTML>"
)


@pytest.mark.parametrize(
    "status, body, described",
    [
        (502, NGINX_502, "HTTP 502 Bad Gateway"),
        (504, CLOUDFRONT_504, "HTTP 504 Gateway Timeout"),
        (
            503,
            "upstream connect error or disconnect/reset before headers",
            "HTTP 503 Service Unavailable",
        ),
        (500, "", "HTTP 500 Internal Server Error"),
        (
            403,
            "<!doctype html><html><body>Access denied by WAF</body></html>",
            "HTTP 403 Forbidden",
        ),
        (
            502,
            '{"status": "BAD_GATEWAY", "title": "Bad Gateway", "source": {"info": "reset"}}',
            "HTTP 502 Bad Gateway: reset",
        ),
        (400, "Invalid loInstanceId", "HTTP 400 Invalid loInstanceId"),
    ],
)
def test_error_bodies_that_are_pages_are_named_by_status_and_reason(
    status: int, body: str, described: str
) -> None:
    assert parse_error(status, body).describe() == described


def test_a_gateway_page_on_a_write_or_a_read_is_never_quoted(tmp_path: Path) -> None:
    grade_path = "/primeapi/v2/users/u1/userModuleGrade"
    with ScriptedServer() as srv:
        srv.script("POST", "/oauth/token/refresh", Canned(200, {"access_token": "tok-0001"}))
        srv.script("POST", grade_path, Canned(502, NGINX_502, {"Content-Type": "text/html"}))
        srv.script("GET", "/primeapi/v2/users/u1/enrollments", Canned(200, {"data": []}))
        srv.script("GET", "/primeapi/v2/users", Canned(502, NGINX_502))
        clock = FakeClock()
        values: dict[str, Any] = {
            "base_url": srv.base_url,
            "client_id": "app",
            "client_secret": "secret-value",
            "refresh_token": "refresh-value",
            "write_retries": 2,
        }
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        with AlmClient(settings, clock=clock, sleep=clock.sleep, give_up_after=20.0) as alm:
            with pytest.raises(WriteUncertain) as lost:
                alm.post_grade(row_plan(2, "u1").grades[0])
            assert lost.value.describe() == "HTTP 502 Bad Gateway"
            with pytest.raises(ApiUnreachable) as down:
                alm.http.request("GET", "/users")
            assert "last: HTTP 502 Bad Gateway)" in str(down.value)
            with Ledger(tmp_path / LEDGER_NAME) as ledger:
                plan = make_plan(row_plan(2, "u1", modules=1))
                options = ExecuteOptions("run-1", srv.base_url, "sha", concurrency=1)
                out = execute_plan(plan, alm, ledger, options)
        sends = len(srv.requests_to("POST", grade_path))
    result = out.results[0]
    assert result.status is RowStatus.FAILED and result.retryable
    assert "(last: HTTP 502 Bad Gateway)" in result.message
    for text in (result.message, str(down.value), lost.value.describe()):
        assert "<" not in text and "nginx" not in text
    assert sends == 1 + 3  # the single post above, then the write and its 2 re-sends
    assert exit_status_for(out.results) is ExitStatus.RETRYABLE


# --------------------------------------------------------------------------- exit 4, end to end
def test_cli_exits_4_when_only_retryable_failures_remain_and_a_rerun_finishes(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """No write retries (ALM_WRITE_RETRIES=0) under faults: the run ends with rows failed and
    marked retryable, exit 4 (a scheduler retries); the same command then finishes with 0."""
    data = tmp_path / "completions.csv"
    with data.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Email", "Course", "Completion Date", "Score"])
        for n in range(USERS):
            for course in ("10", "20"):
                writer.writerow([f"learner{n}@acme.com", f"course:{course}", "2025-05-06", "88"])
    wanted = {
        (str(500 + n), f"course:{c}_1_{m}_0")
        for n in range(USERS)
        for c, mods in ((10, (7001, 7002)), (20, (7101, 7102)))
        for m in mods
    }
    alm = {
        **sandbox.env(),
        "ALM_BATCH_STATE_DIR": str(tmp_path / "state"),
        "ALM_WRITE_RETRIES": "0",
        "ALM_GET_PER_MINUTE": "60000",
        "ALM_POST_PER_MINUTE": "60000",
    }
    report = tmp_path / "report.json"
    args = ["run", str(data), "--yes", "--concurrency", "1", "--report", str(report)]
    sandbox.configure(error_rate=0.06, drop_rate=0.02, lost_response_rate=0.04)
    first = run_cli(args, cwd=tmp_path, alm=alm, timeout=120)
    assert first.code == 4, first
    doc = json.loads(report.read_text(encoding="utf-8"))
    failed = [r for r in doc["rows"] if r["status"] != "completed"]
    assert failed and all(r["status"] == "failed" for r in failed), failed
    assert all("run the same command again later" in r["message"] for r in failed)
    assert doc["summary"]["exit_status"] == 4
    assert "exit 4: " in first.stderr and "run the same command again later" in first.stderr
    sandbox.configure(error_rate=0.0, drop_rate=0.0, lost_response_rate=0.0)
    again = run_cli(args, cwd=tmp_path, alm=alm, timeout=120)
    assert again.code == 0, again
    assert_books_once(sandbox, wanted)
