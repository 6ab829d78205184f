"""The one HTTP transport to ALM: session, OAuth refresh, pacing, retries and error parsing.

The only module that imports ``requests``. One ``HttpClient`` per run, shared by every thread.
Policy (house-style.md "Errors", alm-api.md §7):

- GETs are retried on 429, 5xx, timeouts and connection errors.
- Writes are retried only when they cannot have been applied: a 429, a 401 (refresh once), or a
  connection that failed before the request was sent. A 5xx or a lost answer after sending raises
  ``WriteUncertain``: the caller reads ALM's state before re-sending.
- A 429 blocks its bucket for every thread until ``retry-after`` (capped, plus a little jitter).
- No answer at all for longer than ``give_up_after`` seconds raises ``ApiUnreachable``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from batch import __version__
from batch.alm.auth import Redactor, TokenSource
from batch.alm.latency import LatencyMeter
from batch.alm.ratelimit import RateLimiter
from batch.alm.stats import API_PREFIX, CallStats, endpoint_template
from batch.errors import ApiError, ApiUnreachable, AuthError, WriteUncertain
from batch.settings import Settings

log = logging.getLogger("batch.alm")

JSON_API = "application/vnd.api+json"
MAX_THROTTLES = 30  # consecutive 429s for one request before giving up on it
MAX_TOKEN_REFRESHES = 3  # refresh-and-retry cycles on consecutive 401s for one request
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
READ_VERBS = frozenset({"GET", "HEAD", "OPTIONS"})
_ENDPOINT_BUCKETS = {
    "GET /users": "GET /users",
    "GET /users/{id}": "GET /users",
    "GET /learningObjects": "GET /learningObjects",
    "GET /learningObjects/{id}": "GET /learningObjects",
}


def endpoint_bucket(method: str, template: str) -> str | None:
    """The hourly-limited endpoint a request counts against (alm-api.md §2, §3), if any."""
    return _ENDPOINT_BUCKETS.get(template)


@dataclass
class Reply:
    """A successful answer, decoupled from ``requests``."""

    status: int
    url: str
    headers: Mapping[str, str]
    text: str
    data: Any = None  # decoded JSON, None when the body is not JSON
    content: bytes = field(default=b"", repr=False)


_NO_SECRETS = Redactor()


def _decode(text: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return None


def parse_error(
    status: int,
    text: str,
    *,
    method: str | None = None,
    path: str | None = None,
    redact: Callable[[str | None], str] = _NO_SECRETS,
    retry_after: float | None = None,
) -> ApiError:
    """One ``ApiError`` from any of ALM's error shapes (alm-api.md §7) or a non-JSON body.

    ``{"status": "BAD_REQUEST", "title", "source": {"info"}}``, ``{"meta": {"error", "detail"}}``,
    ``{"message"}``, JSON:API ``{"errors": [...]}``, or a body that is not JSON. A gateway's HTML
    page (any status) and any non-JSON 5xx body are never quoted: the error is the status and
    its reason phrase ("HTTP 502 Bad Gateway"); a short plain-text 4xx body is kept (shortened).
    """
    body = _decode(text)
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


def parse_retry_after(value: str | None) -> float | None:
    """``retry-after`` as fractional seconds (``10.752``); None when absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP-date: not what ALM sends; fall back to backoff
    return max(0.0, seconds) if seconds == seconds else None


def _sent_nothing(exc: requests.RequestException) -> bool:
    """True when the connection failed before any byte of the request left (safe to re-send)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError) or isinstance(
        exc, requests.exceptions.ReadTimeout
    ):
        return False
    reason: object = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


class HttpClient:
    """Sends requests to ALM with auth, pacing, retries and counting. Thread-safe."""

    def __init__(
        self,
        settings: Settings,
        *,
        concurrency: int = 4,
        max_rps: float | None = None,
        give_up_after: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        stats: CallStats | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.give_up_after = give_up_after
        self.clock = clock
        self.sleep = sleep
        self.stats = stats if stats is not None else CallStats()
        self.rng = rng or random.Random()
        self.redact = Redactor(settings.secrets())
        self.tokens = TokenSource(settings, self._refresh_token, self.redact)
        self.limiter = RateLimiter(
            verb_limits={
                "GET": (settings.get_per_minute, settings.get_burst),
                "POST": (settings.post_per_minute, settings.post_burst),
            },
            endpoint_limits={
                "GET /users": (
                    settings.users_get_per_hour,
                    max(1, int(settings.users_get_per_hour)),
                ),
                "GET /learningObjects": (
                    settings.lo_get_per_hour,
                    max(1, int(settings.lo_get_per_hour)),
                ),
            },
            endpoint_of=endpoint_bucket,
            max_rps=max_rps,
            clock=clock,
            sleep=sleep,
        )
        self.last_rate_headers: dict[str, str] = {}
        self.latency = LatencyMeter()
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": f"alm-batch/{__version__}", "Accept": JSON_API})
        pool = max(4, concurrency + 2)
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # requests reads the proxy settings from the environment on every request (trust_env),
        # which cost more CPU than the rest of a small request (a dry run of 2,000 learners
        # spent most of its client time there). Read them once per host instead, with the same
        # rules (HTTPS_PROXY, NO_PROXY, ...), and the CA bundle variables once.
        self.session.trust_env = False
        self.session.verify = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        )
        self._proxies: dict[str, dict[str, str]] = {}

    def close(self) -> None:
        self.session.close()

    def _proxies_for(self, url: str) -> dict[str, str]:
        """The proxies the environment sets for this URL's host (NO_PROXY honoured), once."""
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        found = self._proxies.get(key)
        if found is None:
            found = dict(requests.utils.get_environ_proxies(url))
            self._proxies[key] = found
        return found

    def url_for(self, path: str) -> str:
        """An absolute URL: API paths (``/users``) go under the API root; URLs stay as they are."""
        if path.startswith(("http://", "https://")):
            return path
        if path.startswith(API_PREFIX) or path.startswith("/oauth/"):
            return urljoin(self.settings.base_url + "/", path.lstrip("/"))
        return self.settings.api_root + "/" + path.lstrip("/")

    # --- the request loop -----------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        form: Mapping[str, str] | None = None,
        auth: bool = True,
        paced: bool = True,
        retry_writes: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send one logical request (with its retries) and return the 2xx ``Reply``.

        Raises ``ApiError`` for error answers, ``WriteUncertain`` when a write may have landed,
        ``AuthError`` when credentials are refused and ``ApiUnreachable`` after
        ``give_up_after`` seconds without an answer. ``retry_writes`` marks a write that is safe to
        repeat (the token refresh). ``auth=False`` sends no Authorization header (S3 downloads).
        """
        method = method.upper()
        url = self.url_for(path)
        template = endpoint_template(method, url)
        safe_to_repeat = method in READ_VERBS or retry_writes
        refused = 0  # 401s in a row for this request, each followed by a token refresh
        throttles = failures = 0
        silent_since: float | None = None  # start of the current run of "no answer"
        while True:
            if paced:
                self.limiter.acquire(method, template)
            try:
                token = self.tokens.current() if auth else None
            except BaseException:
                # The first token refresh failed (refused, unreachable): this request, maybe
                # the probe, is never sent, so free its buckets or the pool waits for it.
                if paced:
                    self.limiter.settled(method, template)
                raise
            send_headers = dict(headers or {})
            if token is not None:
                send_headers["Authorization"] = f"{self.settings.auth_scheme} {token}"
            data: str | Mapping[str, str] | None = None
            if form is not None:
                data = form
            elif method in ("POST", "PATCH", "PUT"):
                send_headers.setdefault("Content-Type", JSON_API)
                data = json.dumps(body) if body is not None else None
            self.stats.count_call(template)
            started = self.clock()
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=send_headers,
                    timeout=self.settings.timeout_seconds,
                    proxies=self._proxies_for(url),
                )
            except requests.RequestException as exc:
                if paced:
                    self.limiter.settled(method, template)
                reason = self.redact(transport_reason(exc))
                log.debug("%s %s -> %s", method, self.redact(url), reason)
                if not safe_to_repeat and not _sent_nothing(exc):
                    raise WriteUncertain(
                        0, "no answer from ALM after sending", reason, method=method, path=template
                    ) from None
                silent_since = started if silent_since is None else silent_since
                failures += 1
                self._pause_or_give_up(silent_since, failures, reason)
                continue
            status = resp.status_code
            if paced and auth and status != 429:
                # ALM's API answering (not the token endpoint or a file download, and not a
                # gateway's instant 429): what the pool sizes follow.
                self.latency.observe(method, self.clock() - started)
            self.stats.count_status(status)
            log.debug("%s %s -> %s", method, self.redact(resp.url), status)
            self._observe_rate_headers(method, template, resp.headers)
            if paced and status != 429:
                self.limiter.settled(method, template)
            if 200 <= status < 300:
                if method not in READ_VERBS and auth and template != "POST /jobs":  # export: a read
                    self.stats.count_write()
                return Reply(
                    status, resp.url, resp.headers, resp.text, _decode(resp.text), resp.content
                )
            if status == 401 and auth:
                # A token can expire between its refresh and its use (a short lifetime and a
                # retry backoff; or ALM handing back the current token just before it expires),
                # so a few refreshes in a row are allowed; bad credentials fail in the refresh.
                if refused >= MAX_TOKEN_REFRESHES or not self.tokens.can_refresh:
                    raise self._refused_token_error(resp.text)
                refused += 1
                self.tokens.refresh(stale=token)
                self.stats.count_retry()
                continue
            refused = 0
            retry_after = parse_retry_after(resp.headers.get("retry-after"))
            if status == 429:
                silent_since = None
                throttles += 1
                if throttles > MAX_THROTTLES:
                    raise self._error(resp, method, template, retry_after)
                delay = self._throttle_delay(retry_after, throttles)
                if paced:
                    self.limiter.throttled(
                        method, template, delay, resp.headers.get("x-rate-limit")
                    )
                else:
                    self.sleep(delay)
                self.stats.count_retry()
                continue
            if status >= 500:
                error = self._error(resp, method, template, retry_after)
                if not safe_to_repeat:
                    raise WriteUncertain(
                        status,
                        error.title,
                        error.detail,
                        code=error.code,
                        method=method,
                        path=template,
                    )
                silent_since = started if silent_since is None else silent_since
                failures += 1
                self._pause_or_give_up(silent_since, failures, error.describe())
                continue
            raise self._error(resp, method, template, retry_after)

    def _error(
        self, resp: requests.Response, method: str, template: str, retry_after: float | None
    ) -> ApiError:
        """ALM's error answer as an ``ApiError`` (secrets redacted, gateway pages named)."""
        return parse_error(
            resp.status_code,
            resp.text,
            method=method,
            path=template,
            redact=self.redact,
            retry_after=retry_after,
        )

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter added on top (never below the base delay)."""
        base = min(BACKOFF_CAP, BACKOFF_BASE * (2.0 ** max(0, attempt - 1)))
        return base + self.rng.uniform(0.0, base * 0.25)

    def _throttle_delay(self, retry_after: float | None, throttles: int) -> float:
        """How long a 429 blocks its bucket: the capped retry-after plus a little added jitter."""
        if retry_after is None:
            return self._backoff(throttles)
        capped = min(retry_after, self.settings.max_retry_after)
        return capped + 0.01 + self.rng.uniform(0.0, min(0.5, 0.05 * capped + 0.02))

    def _pause_or_give_up(self, silent_since: float, failures: int, reason: str) -> None:
        waited = self.clock() - silent_since
        delay = self._backoff(failures)
        if waited + delay > self.give_up_after:
            raise ApiUnreachable(
                f"ALM at {self.settings.host} gave no usable answer for {waited:.0f} s "
                f"({failures} attempts; last: {reason}).",
                hint="Check ALM_BASE_URL, the network or proxy, and ALM's status; then re-run "
                "(the ledger resumes where this run stopped).",
            )
        self.stats.count_retry()
        self.sleep(delay)

    def _observe_rate_headers(self, method: str, template: str, headers: Mapping[str, str]) -> None:
        rate, burst = headers.get("x-rate-limit"), headers.get("x-burst")
        if rate is None and burst is None:
            return
        key = endpoint_bucket(method, template) or method
        self.last_rate_headers[key] = f"x-rate-limit: {rate or '-'}; x-burst: {burst or '-'}"
        self.limiter.observe(method, template, rate, burst)

    # --- OAuth ----------------------------------------------------------------------------
    def _refused_token_error(self, text: str) -> AuthError:
        if self.tokens.can_refresh:
            return AuthError(
                "ALM refused the access token it had just issued (HTTP 401).",
                hint="Check that ALM_CLIENT_ID / ALM_CLIENT_SECRET / ALM_REFRESH_TOKEN belong to "
                f"an application of this account and that ALM_BASE_URL ({self.settings.host})"
                " is the account's region.",
            )
        return AuthError(
            "ALM refused ALM_ACCESS_TOKEN (HTTP 401); it may have expired or belong to another "
            "account or region.",
            hint="Set a fresh ALM_ACCESS_TOKEN, or set ALM_CLIENT_ID, ALM_CLIENT_SECRET and "
            "ALM_REFRESH_TOKEN so the tool can refresh it.",
        )

    def _refresh_token(self) -> str:
        """POST /oauth/token/refresh (form fields); returns the access token. Never logs secrets."""
        settings = self.settings
        form = {
            "client_id": settings.client_id or "",
            "client_secret": settings.client_secret.get_secret_value()
            if settings.client_secret
            else "",
            "refresh_token": settings.refresh_token.get_secret_value()
            if settings.refresh_token
            else "",
        }
        try:
            reply = self.request(
                "POST",
                "/oauth/token/refresh",
                form=form,
                auth=False,
                paced=False,
                retry_writes=True,
                headers={"Accept": "application/json"},
            )
        except WriteUncertain as exc:  # cannot happen with retry_writes; keep mypy honest
            raise AuthError(f"The token refresh failed: {exc.describe()}") from None
        except ApiUnreachable:
            raise
        except ApiError as exc:
            raise self._refresh_refused(exc) from None
        data = reply.data if isinstance(reply.data, dict) else {}
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError(
                f"{settings.host} answered the token refresh without an access token; it does "
                "not look like Adobe Learning Manager.",
                hint="Check ALM_BASE_URL (https://learningmanager.adobe.com, "
                "learningmanagereu… or learningmanagerapac…).",
            )
        return token

    def _refresh_refused(self, exc: ApiError) -> AuthError:
        text = f"{exc.title} {exc.detail or ''} {exc.code or ''}".lower()
        if exc.status == 404:
            culprit = (
                f"ALM_BASE_URL ({self.settings.host}): it has no /oauth/token/refresh; "
                "use your account's region host"
            )
        elif "secret" in text:
            culprit = "ALM_CLIENT_SECRET"
        elif "client" in text or "application" in text:
            culprit = "ALM_CLIENT_ID (and ALM_CLIENT_SECRET)"
        elif "refresh" in text or "grant" in text or "token" in text:
            culprit = "ALM_REFRESH_TOKEN"
        else:
            culprit = (
                "ALM_CLIENT_ID, ALM_CLIENT_SECRET and ALM_REFRESH_TOKEN, and that "
                f"ALM_BASE_URL ({self.settings.host}) is the account's region"
            )
        return AuthError(
            f"ALM refused the token refresh ({exc.describe()}).", hint=f"Check {culprit}."
        )


def transport_reason(exc: requests.RequestException) -> str:
    """A short, human reason for a transport failure ("connection refused"), instead of
    urllib3's nested 'HTTPConnectionPool(...): Max retries exceeded ...' text."""
    text = str(exc)
    lowered = text.lower()
    for needle, reason in (
        ("connection refused", "connection refused"),
        ("name or service not known", "host name not found"),
        ("nodename nor servname", "host name not found"),
        ("temporary failure in name resolution", "host name not found (DNS)"),
        ("certificate verify failed", "TLS certificate not trusted"),
        ("remotedisconnected", "connection closed without an answer"),
        ("connection aborted", "connection dropped"),
        ("connection reset", "connection reset"),
        ("network is unreachable", "network unreachable"),
    ):
        if needle in lowered:
            return reason
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return f"{type(exc).__name__}: {text[:200]}"
