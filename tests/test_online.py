"""Online-job helpers: the write allowance and the default concurrency drawn from it."""

from batch.online import default_concurrency, writes_per_minute
from batch.settings import Settings


def settings() -> Settings:
    return Settings(_env_file=None, post_per_minute=30.0)  # type: ignore[call-arg]


def test_write_allowance_comes_from_alms_headers_else_the_setting() -> None:
    assert writes_per_minute({"POST": "30r/m"}, settings()) == 30.0
    assert writes_per_minute({"POST": "2r/s"}, settings()) == 120.0
    assert writes_per_minute({"POST": "600r/h"}, settings()) == 10.0
    assert writes_per_minute({"GET": "100r/m"}, settings()) == 30.0  # no POST header: setting


def test_default_concurrency_follows_the_write_allowance() -> None:
    assert default_concurrency(30.0) == 4  # ALM's documented admin POST limit
    assert default_concurrency(600.0) == 5  # 10 writes/s x 0.25 s x 2
    assert default_concurrency(1800.0) == 15  # 30 writes/s
    assert default_concurrency(10**6) == 32  # never more than the cap
