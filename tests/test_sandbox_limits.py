"""Sandbox: rate-limit headers, 429 + fractional retry-after, hourly buckets, early_requests, faults."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from batch.sandbox import Sandbox, SandboxConfig, load_seed
from batch.sandbox.seed import default_seed_dir
from tests.test_sandbox_support import Api, error_of, grade_body

SEED = load_seed(default_seed_dir())
BEN = "15263420"
COURSES = (
    "course:7968486",
    "course:7968501",
    "course:7968604",
    "course:7968563",
    "course:7968578",
    "course:7968597",
)


@pytest.fixture()
def api() -> Iterator[Api]:
    with Sandbox(seed=SEED) as sb:
        yield Api(sb)


def post_enroll(api: Api, n: int) -> requests.Response:
    return api.enroll(BEN, COURSES[n % len(COURSES)])


def retry_after(resp: requests.Response) -> float:
    assert resp.status_code == 429, resp.text
    assert resp.json() == {"message": "429 Too many requests"}
    return float(resp.headers["retry-after"])


@pytest.mark.parametrize(
    ("method", "path", "rate", "burst"),
    [
        ("GET", "/users", "500r/h", "100"),
        ("GET", "/users/15263401", "500r/h", "100"),
        ("GET", "/learningObjects", "500r/h", "100"),
        ("GET", "/learningObjects/course:7968486", "500r/h", "100"),
        ("GET", "/users/15263401/enrollments", "100r/m", "100"),
        ("GET", "/jobs/1", "100r/m", "100"),
        ("POST", "/users/15263401/enrollments", "30r/m", "10"),
        ("POST", "/users/15263401/userModuleGrade", "30r/m", "10"),
    ],
)
def test_every_response_carries_its_buckets_headers(
    api: Api, method: str, path: str, rate: str, burst: str
) -> None:
    resp = api.get(path) if method == "GET" else api.post(path, {})
    assert resp.headers["x-rate-limit"] == rate
    assert resp.headers["x-burst"] == burst
    unauthorised = requests.request(method, api.sb.api_root + path, timeout=5)
    assert unauthorised.status_code == 406
    assert unauthorised.headers["x-rate-limit"] == rate


def test_post_burst_then_429_with_fractional_retry_after(api: Api) -> None:
    api.sb.configure(post_per_minute=60, post_burst=3)
    for n in range(3):
        assert post_enroll(api, n).status_code == 200
    throttled = post_enroll(api, 3)
    wait = retry_after(throttled)
    assert 0.5 < wait <= 1.0
    assert len(throttled.headers["retry-after"].split(".")[1]) == 3  # e.g. "0.998"
    assert throttled.headers["x-rate-limit"] == "60r/m" and throttled.headers["x-burst"] == "3"
    time.sleep(wait + 0.01)
    assert post_enroll(api, 3).status_code == 200
    books = api.sb.books()
    assert books["throttled"] == 1 and books["statuses"]["429"] == 1
    assert books["early_requests"] == 0


def test_hourly_user_bucket_runs_on_the_scaled_clock(api: Api) -> None:
    # 3600/h is 1 per sandbox second; time_scale 20 makes that 20 per real second.
    api.sb.configure(users_per_hour=3600, users_burst=2, time_scale=20)
    assert api.get("/users").status_code == 200
    assert api.get("/users/15263401").status_code == 200
    throttled = api.get("/users", {"ids": "email:liam.chen@acme-corp.example"})
    wait = retry_after(throttled)
    assert 0 < wait <= 0.051
    # The header states the real-time allowance: 3600/h of sandbox time at scale 20.
    assert throttled.headers["x-rate-limit"] == "72000r/h"
    # Other GETs draw from other buckets.
    assert api.get("/users/15263401/enrollments").status_code == 200
    assert api.get("/learningObjects").status_code == 200
    time.sleep(wait + 0.01)
    assert api.get("/users/15263401").status_code == 200


def test_learning_object_hourly_bucket_is_separate(api: Api) -> None:
    api.sb.configure(lo_per_hour=60, lo_burst=1)
    assert api.get("/learningObjects/course:7968486").status_code == 200
    wait = retry_after(api.get("/learningObjects"))
    assert 59 < wait <= 60  # one per sandbox minute at time_scale 1
    assert api.get("/users").status_code == 200


def test_early_requests_count_only_those_sent_before_retry_after(api: Api) -> None:
    api.sb.configure(post_per_minute=60, post_burst=1, early_grace=0.02)
    assert post_enroll(api, 0).status_code == 200
    first = retry_after(post_enroll(api, 1))
    time.sleep(0.05)  # past the grace, well before retry-after
    assert post_enroll(api, 1).status_code == 429
    assert api.sb.books()["early_requests"] == 1
    assert api.get("/users/15263401/enrollments").status_code == 200  # another bucket
    assert api.sb.books()["early_requests"] == 1
    time.sleep(first + 0.01)
    assert post_enroll(api, 1).status_code == 200
    assert api.sb.books()["early_requests"] == 1


def test_requests_already_on_the_wire_are_not_early(api: Api) -> None:
    api.sb.configure(post_per_minute=60, post_burst=1, early_grace=0.5)
    post_enroll(api, 0)
    retry_after(post_enroll(api, 1))
    assert post_enroll(api, 2).status_code == 429  # within the grace
    assert api.sb.books()["early_requests"] == 0


def test_limits_can_be_switched_off(api: Api) -> None:
    api.sb.configure(limits_enabled=False, post_burst=2)
    statuses = {api.post(f"/users/{BEN}/enrollments").status_code for _ in range(12)}
    assert statuses == {400}  # missing loId, never 429
    api.sb.configure(limits_enabled=True)
    statuses = {api.post(f"/users/{BEN}/enrollments").status_code for _ in range(4)}
    assert 429 in statuses


def test_time_scale_changes_apply_live(api: Api) -> None:
    api.sb.configure(post_per_minute=60, post_burst=1)
    post_enroll(api, 0)
    assert retry_after(post_enroll(api, 1)) > 0.5
    api.sb.configure(time_scale=1000)
    time.sleep(0.01)
    assert post_enroll(api, 1).status_code == 200


# --- faults ----------------------------------------------------------------------------------
def test_error_rate_answers_5xx_with_alm_bodies_but_spares_oauth_and_harness(api: Api) -> None:
    api.sb.configure(error_rate=1.0)
    statuses = set()
    for _ in range(12):
        resp = api.get("/users/15263401")
        statuses.add(resp.status_code)
        code, title, _ = error_of(resp)
        assert code in ("INTERNAL_SERVER_ERROR", "BAD_GATEWAY", "SERVICE_UNAVAILABLE") and title
    assert statuses <= {500, 502, 503} and len(statuses) >= 2
    assert api.refresh()["access_token"] == api.token
    assert requests.get(f"{api.sb.base_url}/_sandbox/books", timeout=5).status_code == 200
    assert api.sb.books()["errors_injected"] == 12
    api.sb.configure(fault_oauth=True)
    refused = api.http.post(f"{api.sb.base_url}/oauth/token/refresh", data=api.sb.credentials)
    assert refused.status_code in (500, 502, 503)


def test_injected_errors_on_writes_change_nothing(api: Api) -> None:
    api.sb.configure(error_rate=1.0)
    assert post_enroll(api, 0).status_code in (500, 502, 503)
    api.sb.configure(error_rate=0.0)
    assert api.enrollments(BEN)["data"] == []


def test_drop_rate_closes_connections_without_an_answer(api: Api) -> None:
    api.sb.configure(drop_rate=1.0)
    for _ in range(3):
        with pytest.raises(requests.ConnectionError):
            api.get("/users/15263401")
    api.sb.configure(drop_rate=0.0)
    assert api.get("/users/15263401").status_code == 200
    books = api.sb.books()
    assert books["dropped"] == 3
    assert books["calls"]["GET /users/{id}"] == 4
    assert books["statuses"] == {"200": 2}  # the token refresh and the last GET


def test_lost_responses_apply_the_write_then_fail(api: Api) -> None:
    api.sb.configure(lost_response_rate=1.0, random_seed=3)
    outcomes = []
    for n in range(4):
        try:
            outcomes.append(str(post_enroll(api, n).status_code))
        except requests.ConnectionError:
            outcomes.append("dropped")
    assert set(outcomes) <= {"502", "dropped"} and len(set(outcomes)) == 2
    assert api.get("/users/15263401").status_code == 200  # GETs never lose answers
    try:
        api.grade(BEN, grade_body(BEN, "7968486", "7968486132104870"))
    except requests.ConnectionError:
        pass
    api.sb.configure(lost_response_rate=0.0)
    enrolled = {
        e["relationships"]["learningObject"]["data"]["id"] for e in api.enrollments(BEN)["data"]
    }
    assert enrolled == set(COURSES[:4])
    books = api.sb.books()
    assert books["lost_responses"] == 5 and books["enrollments_created"] == 4
    assert [g["module_id"] for g in books["grades"]] == ["course:7968486_8123456_13210487_0"]


def test_latency_jitter_delays_answers(api: Api) -> None:
    api.sb.configure(latency_ms=(80, 100))
    start = time.perf_counter()
    assert api.get("/users/15263401").status_code == 200
    assert time.perf_counter() - start >= 0.08


def _status_sequence(random_seed: int) -> list[int]:
    config = SandboxConfig(error_rate=0.5, random_seed=random_seed, limits_enabled=False)
    with Sandbox(seed=SEED, config=config) as sb:
        api = Api(sb)
        return [api.get("/users/15263401").status_code for _ in range(30)]


def test_faults_are_deterministic_for_a_random_seed() -> None:
    first = _status_sequence(7)
    assert first == _status_sequence(7)
    assert first != _status_sequence(8)
    assert 200 in first and any(s >= 500 for s in first)
