"""ALM's jobs (the users export; the learner transcript uses the same code): polled as Adobe's
own client polls, both documented answer shapes, a failed job, and a file link that expired."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from scripted_server import Canned, FakeClock, ScriptedServer, Seen

from batch.alm.api import AlmClient
from batch.alm.jobs import LINK_RENEWALS, POLL_CAP, job_state
from batch.errors import ApiError
from batch.settings import Settings

API = "/primeapi/v2"
POLL_SECONDS, FIRST_POLL_SECONDS = 5.0, 3.0  # Adobe's client polls every 5 s
CSV = b"userEmail,internalUserID\r\na@x.example,1\r\n"
EXPIRED = (
    "<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
    "<Message>Request has expired</Message></Error>"
)


@pytest.fixture
def srv() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        server.script("POST", f"{API}/jobs", Canned(200, {"data": {"id": "77", "type": "job"}}))
        server.script("GET", "/s3/users.csv", Canned(200, CSV))
        yield server


def client(srv: ScriptedServer, clock: FakeClock) -> AlmClient:
    sets = Settings(_env_file=None, base_url=srv.base_url, access_token="tok-jobs-0001")  # type: ignore[call-arg]
    return AlmClient(sets, clock=clock, sleep=clock.sleep, give_up_after=30.0)


def job(attributes: dict[str, Any]) -> Canned:
    return Canned(200, {"data": {"id": "77", "type": "job", "attributes": attributes}})


def classic(code: str, url: str = "") -> Canned:
    status: dict[str, Any] = {"code": code}
    if url:
        status["data"] = {"s3Url": url}
    return job({"jobType": "generateUsers", "status": status})


def current(status: str, url: str = "") -> Canned:
    attributes: dict[str, Any] = {"jobType": "generateUsers", "status": status}
    if url:
        attributes["result"] = {"downloadUrl": url, "expiresAt": "2026-12-14T09:12:00Z"}
    return job(attributes)


def test_the_classic_shape_is_polled_after_seconds_and_its_s3url_fetched_without_our_token(
    srv: ScriptedServer,
) -> None:
    url = f"{srv.base_url}/s3/users.csv?X-Amz-Signature=abc"
    srv.script(
        "GET",
        f"{API}/jobs/77",
        classic("Submitted"),
        classic("In Progress"),
        classic("Completed", url),
    )
    clock = FakeClock()
    with client(srv, clock) as alm:
        assert [(u.id, u.email) for u in alm.export_users()] == [("1", "a@x.example")]
        assert alm.stats.calls["GET /jobs/{id}"] == 3
    assert clock.sleeps == [FIRST_POLL_SECONDS, POLL_SECONDS, POLL_SECONDS]
    assert (
        srv.requests_to("POST", f"{API}/jobs")[0].json()["data"]["attributes"]["jobType"]
        == "generateUsers"
    )
    assert "authorization" not in srv.requests_to("GET", "/s3/users.csv")[0].headers


def test_the_2026_shape_is_read_with_its_download_url(srv: ScriptedServer) -> None:
    url = f"{srv.base_url}/s3/users.csv?sig=1"
    srv.script(
        "GET",
        f"{API}/jobs/77",
        current("QUEUED"),
        current("IN_PROGRESS"),
        current("COMPLETED", url),
    )
    with client(srv, FakeClock()) as alm:
        assert [u.id for u in alm.export_users()] == ["1"]
    state = job_state(current("COMPLETED", url).body)
    assert (state.done, state.url, state.expires_at) == (True, url, "2026-12-14T09:12:00Z")


def test_a_long_job_costs_one_poll_per_five_seconds(srv: ScriptedServer) -> None:
    """A job ready after two minutes: about 24 polls, never a burst of them at the start."""
    clock = FakeClock()
    start = clock()
    url = f"{srv.base_url}/s3/users.csv"

    def answer(_: Seen) -> Canned:
        ready = clock() - start >= 120.0
        return current("COMPLETED", url) if ready else current("IN_PROGRESS")

    srv.handle("GET", f"{API}/jobs/77", answer)
    with client(srv, clock) as alm:
        list(alm.export_users())
    polls = len(srv.requests_to("GET", f"{API}/jobs/77"))
    assert polls <= 120.0 / POLL_SECONDS + 2
    assert clock.sleeps[:3] == [FIRST_POLL_SECONDS, POLL_SECONDS, POLL_SECONDS]  # 3 in 13 s


@pytest.mark.parametrize(
    "failed, reason",
    [
        (current("FAILED"), None),
        (job({"status": "FAILED", "result": {"error": "payload.users is invalid"}}), "invalid"),
        (classic("Failed"), None),
    ],
)
def test_a_failed_job_is_a_clear_error(
    srv: ScriptedServer, failed: Canned, reason: str | None
) -> None:
    srv.script("GET", f"{API}/jobs/77", current("QUEUED"), failed)
    with client(srv, FakeClock()) as alm, pytest.raises(ApiError) as err:
        list(alm.export_users())
    assert "users export job failed" in str(err.value) and "job 77" in str(err.value)
    if reason:
        assert reason in str(err.value)
    assert srv.requests_to("GET", "/s3/users.csv") == []


def test_an_expired_file_link_is_replaced_by_reading_the_job_again(srv: ScriptedServer) -> None:
    old = f"{srv.base_url}/s3/old.csv?X-Amz-Expires=1"
    new = f"{srv.base_url}/s3/users.csv?X-Amz-Expires=604800"
    srv.script("GET", "/s3/old.csv", Canned(403, EXPIRED, {"Content-Type": "application/xml"}))
    srv.script("GET", f"{API}/jobs/77", current("COMPLETED", old), current("COMPLETED", new))
    with client(srv, FakeClock()) as alm:
        assert [u.id for u in alm.export_users()] == ["1"]
    assert len(srv.requests_to("GET", f"{API}/jobs/77")) == 2  # one read more, no new job
    assert len(srv.requests_to("POST", f"{API}/jobs")) == 1


def test_a_link_that_stays_expired_is_an_error_that_says_so(srv: ScriptedServer) -> None:
    old = f"{srv.base_url}/s3/old.csv?X-Amz-Expires=1"
    srv.script("GET", "/s3/old.csv", Canned(403, EXPIRED, {"Content-Type": "application/xml"}))
    srv.script("GET", f"{API}/jobs/77", current("COMPLETED", old))
    with client(srv, FakeClock()) as alm, pytest.raises(ApiError) as err:
        list(alm.export_users())
    assert "file of ALM's users export job could not be fetched" in str(err.value)
    assert len(srv.requests_to("GET", "/s3/old.csv")) == LINK_RENEWALS + 1


def test_the_poll_interval_is_a_setting(srv: ScriptedServer) -> None:
    url = f"{srv.base_url}/s3/users.csv"
    srv.script("GET", f"{API}/jobs/77", current("IN_PROGRESS"), current("COMPLETED", url))
    clock = FakeClock()
    sets = Settings(
        _env_file=None,  # type: ignore[call-arg]
        base_url=srv.base_url,
        access_token="tok-jobs-0001",
        job_poll_seconds=20.0,
    )
    with AlmClient(sets, clock=clock, sleep=clock.sleep) as alm:
        assert [u.id for u in alm.export_users()] == ["1"]
    assert clock.sleeps == [12.0, 20.0]


def test_a_job_that_outlasts_its_timeout_stops_polling(srv: ScriptedServer) -> None:
    srv.script("GET", f"{API}/jobs/77", current("IN_PROGRESS"))
    clock = FakeClock()
    with client(srv, clock) as alm, pytest.raises(ApiError, match="timed out"):
        list(alm.export_users(timeout=60.0))
    assert sum(clock.sleeps) <= 60.0
    assert len(srv.requests_to("GET", f"{API}/jobs/77")) <= 60.0 / POLL_SECONDS + 1


def test_a_job_that_runs_for_minutes_is_polled_less_often_as_it_goes_on(
    srv: ScriptedServer,
) -> None:
    """A transcript of a large account may take ten minutes: polled every 5 s that is 120
    admin GETs. The wait grows with the time the job has run, so it costs about 20 polls and is
    seen done at most a quarter of its time late."""
    clock = FakeClock()
    start = clock()
    ready_after = 600.0
    url = f"{srv.base_url}/s3/users.csv"

    def answer(_: Seen) -> Canned:
        done = clock() - start >= ready_after
        return current("COMPLETED", url) if done else current("IN_PROGRESS")

    srv.handle("GET", f"{API}/jobs/77", answer)
    with client(srv, clock) as alm:
        list(alm.export_users())
    polls = len(srv.requests_to("GET", f"{API}/jobs/77"))
    assert polls <= 25
    assert clock() - start <= ready_after * 1.25 + POLL_SECONDS
    assert clock.sleeps[:3] == [FIRST_POLL_SECONDS, POLL_SECONDS, POLL_SECONDS]
    assert max(clock.sleeps) <= POLL_CAP * POLL_SECONDS


def test_a_caller_that_knows_the_jobs_time_sets_the_first_poll(srv: ScriptedServer) -> None:
    url = f"{srv.base_url}/s3/users.csv"
    srv.script("GET", f"{API}/jobs/77", current("COMPLETED", url))
    clock = FakeClock()
    with client(srv, clock) as alm:
        got = alm.jobs.run("generateUsers", {}, what="users export", first_poll=90.0)
    assert got.content == CSV and got.seconds == pytest.approx(90.0)
    assert clock.sleeps == [90.0]  # one poll instead of twenty


def test_a_submission_over_the_quota_is_not_waited_out(srv: ScriptedServer) -> None:
    """ALM's answer over the daily job quota is undocumented: a 429 whose retry-after says
    tomorrow is raised at once (the caller does without the job), not slept through."""
    srv.script(
        "POST",
        f"{API}/jobs",
        Canned(429, {"meta": {"error": "TOO_MANY_REQUESTS"}}, {"retry-after": "86400"}),
    )
    clock = FakeClock()
    with client(srv, clock) as alm, pytest.raises(ApiError) as err:
        alm.jobs.run("generateLearnerTranscript", {}, what="learner transcript")
    assert err.value.status == 429 and err.value.method == "POST"
    assert sum(clock.sleeps) < 1.0
    assert len(srv.requests_to("POST", f"{API}/jobs")) == 1


def test_an_ordinary_429_on_a_submission_is_waited_for(srv: ScriptedServer) -> None:
    url = f"{srv.base_url}/s3/users.csv"
    srv.script(
        "POST",
        f"{API}/jobs",
        Canned(429, {"message": "429 Too many requests"}, {"retry-after": "2.5"}),
        Canned(200, {"data": {"id": "77", "type": "job"}}),
    )
    srv.script("GET", f"{API}/jobs/77", current("COMPLETED", url))
    clock = FakeClock()
    with client(srv, clock) as alm:
        assert [u.id for u in alm.export_users()] == ["1"]
    assert len(srv.requests_to("POST", f"{API}/jobs")) == 2
