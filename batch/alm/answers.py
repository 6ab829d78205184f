"""What one of ALM's answers means: its class (``classify``) and its error (``parse_error``).

The request loop in ``http.py`` acts on the class; the policy per class lives there (a write
that met a server fault is never re-sent blindly). Kept apart so each rule is read, and tested,
on its own (singer-sdk's ``validate_response`` is the model).
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from batch.errors import ApiError
from batch.redact import mask


class Verdict(enum.Enum):
    OK = "ok"  # 2xx: the answer
    RETRY = "retry"  # a server fault (5xx): a read is sent again; a write may have landed
    REFUSE = "refuse"  # any other status: ALM's answer stands, never sent again as it is
    AUTH = "auth"  # 401: the access token was refused (refresh it, then send again)
    RATE_LIMITED = "rate-limited"  # 429: nothing more to this bucket before retry_after


@dataclass(frozen=True, slots=True)
class Classified:
    verdict: Verdict
    retry_after: float | None = None  # seconds ALM asked us to wait (any status may carry it)


def classify(status: int, headers: Mapping[str, str]) -> Classified:
    """The class of an answer with ``status`` and ``headers`` (case-insensitive mapping)."""
    retry_after = parse_retry_after(headers.get("retry-after"))
    if 200 <= status < 300:
        verdict = Verdict.OK
    elif status == 401:
        verdict = Verdict.AUTH
    elif status == 429:
        verdict = Verdict.RATE_LIMITED
    elif status >= 500:
        verdict = Verdict.RETRY
    else:
        verdict = Verdict.REFUSE
    return Classified(verdict, retry_after)


def parse_retry_after(value: str | None) -> float | None:
    """``retry-after`` as fractional seconds (``10.752``); None when absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP-date: not what ALM sends; fall back to backoff
    return max(0.0, seconds) if seconds == seconds else None


def decode_json(text: str) -> Any:
    """The JSON in ``text``; None when it is empty or not JSON."""
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return None


def _masked(text: str | None) -> str:
    """Every registered secret masked (the default when no client's redactor is given)."""
    return mask(text or "")


def parse_error(
    status: int,
    text: str,
    *,
    method: str | None = None,
    path: str | None = None,
    redact: Callable[[str | None], str] = _masked,
    retry_after: float | None = None,
) -> ApiError:
    """One ``ApiError`` from any of ALM's error shapes (alm-api.md §7) or a non-JSON body.

    ``{"status": "BAD_REQUEST", "title", "source": {"info"}}``, ``{"meta": {"error", "detail"}}``,
    ``{"message"}``, JSON:API ``{"errors": [...]}``, or a body that is not JSON. A gateway's HTML
    page (any status) and any non-JSON 5xx body are never quoted: the error is the status and
    its reason phrase ("HTTP 502 Bad Gateway"); a short plain-text 4xx body is kept (shortened).
    """
    body = decode_json(text)
    code: str | None = None
    title = ""
    detail: str | None = None
    if isinstance(body, dict):
        if isinstance(body.get("errors"), list) and body["errors"]:
            body = body["errors"][0] if isinstance(body["errors"][0], dict) else body
        meta: dict[str, Any] = body["meta"] if isinstance(body.get("meta"), dict) else {}
        source: dict[str, Any] = body["source"] if isinstance(body.get("source"), dict) else {}
        raw_code = body.get("code") or (
            body.get("status") if isinstance(body.get("status"), str) else None
        )
        code = str(raw_code) if raw_code not in (None, "") else None
        title = str(
            body.get("title") or meta.get("error") or body.get("message") or body.get("error") or ""
        )
        info = source.get("info") or source.get("pointer") or source.get("parameter")
        found = info or meta.get("detail") or body.get("detail") or body.get("error_description")
        detail = str(found) if found not in (None, "") else None
    elif text.strip() and body is None and status < 500 and not _looks_like_html(text):
        flat = " ".join(text.split())
        title = flat[:200] + ("..." if len(flat) > 200 else "")
    if not title:
        title = reason_phrase(status)
    return ApiError(
        status,
        redact(title),
        redact(detail) if detail else None,
        code=code,
        method=method,
        path=path,
        retry_after=retry_after,
    )


_HTML = re.compile(r"^\s*(?:<!doctype\s+html|<html|<head|<body|<\?xml|<[a-z]+[\s>])", re.I)


def _looks_like_html(text: str) -> bool:
    """True for an HTML (or XML) page: a gateway's or a proxy's error page, never ALM's JSON."""
    return bool(_HTML.match(text[:512])) or "</html>" in text[-512:].lower()


def reason_phrase(status: int) -> str:
    """The standard reason phrase of an HTTP status ("Bad Gateway"), or a generic one."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Server Error" if status >= 500 else "Error"
