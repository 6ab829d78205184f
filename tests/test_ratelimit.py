"""The shared rate limiter: pacing, bursts, headers, 429 blocking of the whole pool."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from scripted_server import Canned, FakeClock, ScriptedServer

from batch.alm.api import AlmClient
from batch.alm.http import endpoint_bucket
from batch.alm.ratelimit import (
    JITTER_SECONDS,
    RateLimiter,
    jitter_reserve,
    parse_rate,
    usable_burst,
)
from batch.alm.stats import endpoint_template
from batch.settings import Settings


@pytest.fixture
def srv() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


def limiter(
    clock: FakeClock,
    *,
    get: tuple[float, int] = (60.0, 2),
    users: tuple[float, int] = (3600.0, 5),
    max_rps: float | None = None,
) -> RateLimiter:
    return RateLimiter(
        verb_limits={"GET": get, "POST": (30.0, 1)},
        endpoint_limits={"GET /users": users},
        endpoint_of=endpoint_bucket,
        max_rps=max_rps,
        clock=clock,
        sleep=clock.sleep,
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("600r/m", (10.0, "m")),
        ("5r/s", (5.0, "s")),
        ("500r/h", (500 / 3600, "h")),
        ("60", (1.0, "m")),
        (" 120 r / min", (2.0, "m")),
        ("junk", None),
        (None, None),
        ("0r/m", None),
    ],
)
def test_parse_rate(text: str | None, expected: tuple[float, str] | None) -> None:
    got = parse_rate(text)
    if expected is None:
        assert got is None
    else:
        assert got is not None and got[1] == expected[1]
        assert got[0] == pytest.approx(expected[0])


def test_burst_then_paced() -> None:
    clock = FakeClock()
    lim = limiter(clock)  # GET: 1 per second, burst 2
    waits = []
    for _ in range(5):
        with lim.sending("GET", "GET /users/{id}/enrollments") as turn:
            waits.append(turn.waited)
    # Of the burst of 2, half a token (0.5 s of jitter at 1/s) stays in ALM's bucket.
    assert waits[:2] == [0.0, pytest.approx(0.5)]
    assert waits[2:] == [pytest.approx(1.0)] * 3


def test_jitter_reserve_is_half_a_second_of_the_rate_at_most_half_the_burst() -> None:
    assert jitter_reserve(10.0, 10) == 5.0  # 600r/m, burst 10: 0.5 s of it, half the burst
    assert jitter_reserve(60.0, 10) == 5.0  # at most half
    assert jitter_reserve(2.0, 10) == 1.0  # 120r/m: one request
    assert jitter_reserve(500 / 3600, 500) == pytest.approx(500 / 7200)  # hourly: next to none
    assert usable_burst(0.5, 1) == 1.0  # one request can always go


def test_endpoint_bucket_and_max_rps_ceiling() -> None:
    clock = FakeClock()
    lim = limiter(clock, get=(6000.0, 100), users=(3600.0, 2), max_rps=4.0)
    start = clock()
    for _ in range(4):
        with lim.sending("GET", "GET /users"):
            pass
    # 1.5 of the users burst of 2 (0.5 is the jitter reserve), then 1/s (3600/h)
    assert clock() - start == pytest.approx(2.5)
    clock2 = FakeClock()
    lim2 = limiter(clock2, get=(6000.0, 100), max_rps=4.0)
    for _ in range(9):
        with lim2.sending("GET", "GET /users/{id}/enrollments"):
            pass
    assert clock2() - 1000.0 == pytest.approx(2.0)  # the ceiling: 4/s, no burst


def test_headers_repace_the_verb_or_the_endpoint() -> None:
    clock = FakeClock()
    lim = limiter(clock)
    lim.observe("GET", "GET /users/{id}/enrollments", "600r/m", "3")
    lim.observe("GET", "GET /users", "500r/h", None)
    described = lim.describe()
    assert described["GET"] == "597/min, burst 3"  # 0.5% under what ALM announces
    assert described["GET /users"].startswith("8.29167/min")


def test_probe_mode_lets_one_request_out_until_it_is_answered() -> None:
    clock = FakeClock()
    lim = limiter(clock, get=(6000.0, 100))
    enrollments = "GET /users/{id}/enrollments"
    probe_out, answer = threading.Event(), threading.Event()

    def probe() -> None:
        with lim.sending("GET", enrollments):  # the probe, answered when ``answer`` is set
            probe_out.set()
            answer.wait(5)

    first = threading.Thread(target=probe)
    first.start()
    probe_out.wait(5)
    threading.Timer(0.05, answer.set).start()
    with lim.sending("GET", enrollments) as second:  # waits for the probe's answer
        pass
    first.join()
    assert second.waited > 0  # it polled (fake time) until the probe was answered
    with lim.sending("GET", enrollments) as third:
        assert third.waited == 0.0  # burst mode again


def test_throttle_blocks_every_request_of_the_bucket() -> None:
    clock = FakeClock()
    lim = limiter(clock, get=(6000.0, 100))
    lim.throttled("GET", "GET /users/{id}/enrollments", 2.5)
    with lim.sending("GET", "GET /learningObjects/{id}") as turn:
        assert turn.waited == pytest.approx(2.5)
    with lim.sending("POST", "POST /users/{id}/userModuleGrade") as turn:
        assert turn.waited == 0.0  # another verb


def test_hourly_429_blocks_only_the_endpoint() -> None:
    clock = FakeClock()
    lim = limiter(clock, get=(6000.0, 100))
    lim.throttled("GET", "GET /users", 30.0, "500r/h")
    with lim.sending("GET", "GET /users/{id}/enrollments") as turn:
        assert turn.waited == 0.0
    with lim.sending("GET", "GET /users/{id}") as turn:
        assert turn.waited >= 30.0


RETRY_AFTER = 1.5
# What a wait may exceed the retry-after by: the jitter added to it (at most 5 % + 0.03 s) and,
# on a bucket whose rate ALM announced, the refill of the jitter reserve (JITTER_SECONDS).
MARGIN = 0.05 * RETRY_AFTER + 0.03 + JITTER_SECONDS


def test_a_429_on_a_buckets_first_request_holds_no_thread_past_its_retry_after() -> None:
    """The bucket learns its rate from the 429's own headers and the probe that met the 429
    is answered: every thread goes once the retry-after (and the reserve) has passed. (Before,
    the probe stayed out and every thread, its own retry included, waited 60 s for it.)"""
    clock = FakeClock()
    lim = limiter(clock)
    template = "GET /users/{id}/enrollments"
    with lim.sending("GET", template) as probe:  # the bucket's very first request
        lim.observe("GET", template, "600r/m", "10")  # the 429's headers, seen first
        probe.throttled(RETRY_AFTER, "600r/m")
    waits: list[float] = []

    def request() -> None:
        with lim.sending("GET", template) as turn:
            waits.append(turn.waited)

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(waits) == 4
    assert max(waits) <= RETRY_AFTER + MARGIN


def test_a_429_on_the_first_request_is_retried_after_its_retry_after(
    srv: ScriptedServer,
) -> None:
    """Through the client: the first answer of a run is a 429 naming ALM's rate; the retry
    goes after the retry-after, not after the pacer's old 60 s probe timeout."""
    limits = {"x-rate-limit": "600r/m", "x-burst": "10"}
    srv.script(
        "GET",
        "/primeapi/v2/users/1/enrollments",
        Canned(429, {"message": "429 Too many requests"}, {**limits, "retry-after": "1.5"}),
        Canned(200, {"data": []}, limits),
    )
    clock = FakeClock()
    sets = Settings(_env_file=None, base_url=srv.base_url, access_token="tok-abcdefgh")  # type: ignore[call-arg]
    with AlmClient(sets, clock=clock, sleep=clock.sleep) as alm:
        alm.http.request("GET", "/users/1/enrollments")
        assert alm.stats.throttled == 1
    assert RETRY_AFTER <= sum(clock.sleeps) <= RETRY_AFTER + MARGIN


def test_endpoint_templates() -> None:
    base = "http://h/primeapi/v2"
    assert endpoint_template("get", f"{base}/users?ids=email:a") == "GET /users"
    assert endpoint_template("GET", f"{base}/users/12/enrollments") == "GET /users/{id}/enrollments"
    assert (
        endpoint_template("POST", f"{base}/users/12/userModuleGrade")
        == "POST /users/{id}/userModuleGrade"
    )
    assert (
        endpoint_template("GET", f"{base}/learningObjects/course:1") == "GET /learningObjects/{id}"
    )
    assert endpoint_template("GET", f"{base}/jobs/77") == "GET /jobs/{id}"
    assert endpoint_template("POST", "http://h/oauth/token/refresh") == "POST /oauth/token/refresh"
    assert endpoint_template("GET", "https://s3.example/x.csv?sig=1") == "GET {download}"


class BucketServer:
    """Server side of the sandbox's rules: a token bucket (rate/s, burst) announced in headers,
    a 429 with a fractional retry-after when empty, and a count of "early" requests (arrived
    before a retry-after it gave had passed)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.updated = time.monotonic()
        self.not_before = 0.0
        self.count = self.early = self.throttled = 0
        self.lock = threading.Lock()
        self.drained = False  # True: another client empties the bucket just before the first call

    def __call__(self, seen: Any) -> Canned:
        headers = {"x-rate-limit": f"{self.rate * 60:g}r/m", "x-burst": str(self.burst)}
        with self.lock:
            now = time.monotonic()
            self.count += 1
            if self.drained and self.count == 1:
                self.tokens, self.updated = 0.0, now
            if now < self.not_before:
                self.early += 1
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens < 1.0:
                self.throttled += 1
                wait = (1.0 - self.tokens) / self.rate
                self.not_before = now + wait
                return Canned(
                    429,
                    {"message": "429 Too many requests"},
                    {**headers, "retry-after": f"{wait:.3f}"},
                )
            self.tokens -= 1.0
            return Canned(200, {"data": []}, headers)


def run_pool(server: BucketServer, *, threads: int, each: int, **settings: Any) -> AlmClient:
    with ScriptedServer() as srv:
        srv.handle("GET", "/primeapi/v2/users/1/enrollments", server)
        sets = Settings(
            _env_file=None,
            base_url=srv.base_url,  # type: ignore[call-arg]
            access_token="tok-abcdefgh",
            **settings,
        )  # type: ignore[arg-type]
        with AlmClient(sets, concurrency=threads) as alm:

            def work() -> None:
                for _ in range(each):
                    alm.http.request("GET", "/users/1/enrollments")

            pool = [threading.Thread(target=work) for _ in range(threads)]
            for t in pool:
                t.start()
            for t in pool:
                t.join()
            return alm


def test_pool_paced_from_headers_sends_nothing_early() -> None:
    # The client's defaults are wrong (bigger burst, slower rate): it must learn from headers.
    server = BucketServer(rate=150.0, burst=4)
    alm = run_pool(server, threads=6, each=5, get_per_minute=600, get_burst=10)
    assert server.count == 30 + server.throttled
    assert alm.stats.throttled == server.throttled
    assert server.early == 0
    assert alm.http.limiter.describe()["GET"] == "8955/min, burst 4"  # 9,000/min less 0.5 %


def test_drained_server_bucket_429s_are_honoured_by_every_thread() -> None:
    server = BucketServer(rate=100.0, burst=2)
    server.drained = True  # another client has just used the allowance (however slow the start)
    alm = run_pool(server, threads=4, each=4, get_per_minute=6000, get_burst=2)
    assert server.throttled >= 1 and alm.stats.throttled == server.throttled
    assert server.count == 16 + server.throttled
    assert server.early <= 1  # at most the requests already on the wire when the 429 left
