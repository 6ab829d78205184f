"""Default write concurrency follows the allowance ALM grants, read from its live headers."""

from batch.alm.ratelimit import RateLimiter
from batch.jobs.concurrency import default_concurrency, readers, write_concurrency


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


def test_default_concurrency_follows_the_write_allowance() -> None:
    assert default_concurrency(30.0) == 4  # ALM's documented admin POST limit
    assert default_concurrency(600.0) == 5  # 10 writes/s x 0.25 s x 2
    assert default_concurrency(1800.0) == 15  # 30 writes/s
    assert default_concurrency(10**6) == 32  # never more than the cap


def test_concurrency_follows_alms_header_once_seen_else_the_setting() -> None:
    rl = limiter(post_per_minute=30.0)
    client = _Client(rl)
    assert write_concurrency(client, None) == 4  # the setting: 30/min
    # ALM's documented header form, as the HTTP layer passes it on.
    rl.observe("POST", "/users/{id}/userModuleGrade", "2400r/m", "10")
    assert client.allowance_per_minute("POST") == 2400 * 0.97
    assert write_concurrency(client, None) == 20  # 38.8 writes/s x 0.25 s x 2
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
    assert write_concurrency(fast, None) == 7  # 38.8/s x 0.08 s x 2
    assert write_concurrency(slow, None) == 32  # 38.8/s x 0.45 s x 2 = 35: the cap
    assert readers(fast)() == 21  # 129/s x 0.08 s x 2
    assert readers(slow)() == 96  # the readers' cap
    assert readers(slow, 10)() == 10
