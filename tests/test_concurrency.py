"""Pool sizes follow the allowance ALM grants (its live headers) and its latency."""

import pytest

from batch.alm.ratelimit import RateLimiter
from batch.jobs.concurrency import readers, workers_for, write_concurrency


class _Client:
    """What the pool sizes ask of the client, backed by the real rate limiter."""

    def __init__(self, limiter: RateLimiter, latency: float | None = None) -> None:
        self.limiter = limiter
        self.latency = latency

    def allowance_per_minute(self, method: str) -> float:
        return self.limiter.allowance(method) * 60.0

    def latency_seconds(self, method: str) -> float | None:
        return self.latency


def limiter(post_per_minute: float = 30.0) -> RateLimiter:
    return RateLimiter(
        verb_limits={"GET": (100.0, 10), "POST": (post_per_minute, 10)},
        endpoint_limits={},
        endpoint_of=lambda method, template: None,
        clock=lambda: 0.0,
        sleep=lambda seconds: None,
    )


def test_writers_follow_the_write_allowance_before_any_answer_is_timed() -> None:
    assert workers_for(30.0, None) == 4  # ALM's documented admin POST limit
    assert workers_for(600.0, None) == 5  # 10 writes/s x 0.25 s x 2
    assert workers_for(1800.0, None) == 15  # 30 writes/s
    assert workers_for(10**6, None) == 32  # never more than the cap


def test_concurrency_follows_alms_header_once_seen_else_the_setting() -> None:
    rl = limiter(post_per_minute=30.0)
    client = _Client(rl)
    assert write_concurrency(client, None) == 4  # the setting: 30/min
    # ALM's documented header form, as the HTTP layer passes it on.
    rl.observe("POST", "/users/{id}/userModuleGrade", "2400r/m", "10")
    assert client.allowance_per_minute("POST") == pytest.approx(2400 * 0.995)
    assert write_concurrency(client, None) == 20  # 39.8 writes/s x 0.25 s x 2
    assert write_concurrency(client, 3) == 3  # --concurrency caps it


def test_a_get_header_does_not_change_the_write_allowance() -> None:
    rl = limiter(post_per_minute=30.0)
    rl.observe("GET", "/users", "600r/m", "10")
    assert _Client(rl).allowance_per_minute("POST") == 30.0


def test_pools_follow_latency_little_law() -> None:
    rl = limiter(post_per_minute=30.0)
    rl.observe("POST", "/users/{id}/userModuleGrade", "2400r/m", "10")
    rl.observe("GET", "/users/{id}/enrollments", "8000r/m", "100")
    fast, slow = _Client(rl, latency=0.08), _Client(rl, latency=0.45)
    assert write_concurrency(fast, None) == 7  # 39.8/s x 0.08 s x 2
    assert write_concurrency(slow, None) == 32  # 39.8/s x 0.45 s x 2 = 36: the cap
    assert readers(fast)() == 22  # 132.7/s x 0.08 s x 2
    assert readers(slow)() == 96  # the readers' cap
    assert readers(slow, 10)() == 10


def test_an_allowance_seen_on_an_earlier_run_sizes_the_pool_before_alm_answers() -> None:
    rl = limiter(post_per_minute=30.0)
    client = _Client(rl, latency=0.45)
    assert write_concurrency(client, None) == 4  # the setting alone: 30/min
    rl.expect("POST", 3600.0, 10)  # what the engine primes from allowance.json
    assert write_concurrency(client, None) == 32  # 60/s x 0.45 s x 2, capped
    assert write_concurrency(client, 8) == 8  # --concurrency still caps
