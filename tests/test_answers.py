"""What an answer of ALM means: its class (ok, retry, refuse, auth, rate-limited) with the
retry-after it carries, and the error parsed from any of ALM's error bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from requests.structures import CaseInsensitiveDict

from batch.alm.answers import Verdict, classify, parse_error, parse_retry_after


def headers(**values: str) -> CaseInsensitiveDict[str]:
    return CaseInsensitiveDict({k.replace("_", "-"): v for k, v in values.items()})


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_2xx_is_ok(status: int) -> None:
    assert classify(status, headers()).verdict is Verdict.OK


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599])
def test_5xx_is_retry_with_the_retry_after_it_carries(status: int) -> None:
    answer = classify(status, headers(Retry_After="2.5"))
    assert answer.verdict is Verdict.RETRY and answer.retry_after == 2.5
    assert classify(status, headers()).retry_after is None


@pytest.mark.parametrize("status", [400, 403, 404, 406, 409, 422, 302, 304])
def test_other_statuses_are_refusals(status: int) -> None:
    assert classify(status, headers()).verdict is Verdict.REFUSE


def test_401_is_auth() -> None:
    assert classify(401, headers()).verdict is Verdict.AUTH


def test_429_is_rate_limited_with_fractional_retry_after_whatever_the_header_case() -> None:
    answer = classify(429, CaseInsensitiveDict({"Retry-After": "10.752"}))
    assert answer.verdict is Verdict.RATE_LIMITED and answer.retry_after == 10.752
    unreadable = classify(429, headers(retry_after="Wed, 21 Oct 2015 07:28:00 GMT"))
    assert unreadable.verdict is Verdict.RATE_LIMITED and unreadable.retry_after is None


@pytest.mark.parametrize(
    "body, expected",
    [
        (
            {
                "status": "BAD_REQUEST",
                "title": "Field Type incorrect",
                "source": {"info": "incorrect relation type"},
            },
            ("BAD_REQUEST", "Field Type incorrect", "incorrect relation type"),
        ),
        (
            {"meta": {"error": "Not permitted", "detail": "scope admin:write"}},
            (None, "Not permitted", "scope admin:write"),
        ),
        ({"message": "429 Too many requests"}, (None, "429 Too many requests", None)),
        ({"errors": [{"code": "E1", "title": "Bad", "detail": "worse"}]}, ("E1", "Bad", "worse")),
        (  # a gateway's page is never quoted: the status's reason phrase instead
            "<html><body>Bad   Gateway</body></html>",
            (None, "Bad Request", None),
        ),
        ("Invalid   loInstanceId", (None, "Invalid loInstanceId", None)),
        ("", (None, "Bad Request", None)),
    ],
)
def test_errors_are_parsed_from_every_shape(body: Any, expected: tuple[Any, ...]) -> None:

    text = body if isinstance(body, str) else json.dumps(body)
    err = parse_error(400, text)
    assert (err.code, err.title, err.detail) == expected and err.status == 400


def test_retry_after_is_fractional_seconds_or_none() -> None:
    assert parse_retry_after("10.752") == 10.752
    assert parse_retry_after(" 2 ") == 2.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after(None) is None
