"""The one HTTP transport to ALM: a requests session, OAuth refresh, pacing, retries, errors.

The only module that sends HTTP. One ``HttpClient`` per run, shared by every thread; it holds one
``requests.Session`` whose adapter retries nothing (the retries are the product's rules, below).
Policy (house-style.md "Errors", alm-api.md §7), on the classes of ``answers.classify``:

- GETs are retried on 429, 5xx, timeouts and connection errors.
- Writes are retried only when they cannot have been applied: a 429, a 401 (refresh once), or a
  connection that failed before the request was sent. A 5xx or a lost answer after sending raises
  ``WriteUncertain``: the caller reads ALM's state before re-sending.
- A 429 blocks its bucket for every thread until ``retry-after`` (capped, plus a little jitter).
- No answer at all for longer than ``give_up_after`` seconds raises ``ApiUnreachable``.
- Once one of ``stops`` is set (Cancel, Ctrl-C, an abort), no request is sent any more: one waiting for the pacer,
  a retry or its first send raises ``NotSent``; only those already on the wire get their answer
  (``wire``: what is in flight, and how long ALM has been silent).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from http.client import RemoteDisconnected
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from batch import __version__
from batch.alm.answers import Classified, Verdict, classify, decode_json, parse_error
from batch.alm.auth import Redactor, TokenSource
from batch.alm.latency import LatencyMeter
from batch.alm.ratelimit import STOP_POLL, RateLimiter, Turn
from batch.alm.stats import API_PREFIX, CallStats, endpoint_template
from batch.alm.wire import Wire
from batch.errors import (
    ApiError,
    ApiUnreachable,
    AuthError,
    ConfigError,
    NotSent,
    WriteUncertain,
)
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
# What a failed exchange raises (requests wraps socket and urllib3 errors in these). Other
# requests errors are settings that cannot work (``_unusable``) or our own mistakes.
TRANSPORT_ERRORS = (
    requests.ConnectionError,  # refused, reset, dropped, DNS, TLS, proxy
    requests.Timeout,  # connecting or reading took longer than ALM_TIMEOUT_SECONDS
    requests.TooManyRedirects,
    requests.exceptions.ChunkedEncodingError,  # the answer broke off
    requests.exceptions.ContentDecodingError,  # its compression is broken
)


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


def new_session(pool_size: int) -> requests.Session:
    """The session every request to ALM goes through: requests' rules (redirects, and the
    Authorization header dropped when one leaves the host; compressed answers; proxies; TLS),
    ``pool_size`` connections per host, and no retry below ours. The environment is read once
    per host by ``Environment``, not on every request (``trust_env`` off): requests would also
    put ``~/.netrc`` credentials in place of ALM's token."""
    session = requests.Session()
    session.trust_env = False
    session.headers.update({"User-Agent": f"alm-batch/{__version__}", "Accept": JSON_API})
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


@dataclass(frozen=True, slots=True)
class Route:
    """The proxies and the CA bundle the environment sets for one host."""

    proxies: dict[str, str]
    verify: str | bool  # True: the bundled authorities (certifi); a path: that bundle


class Environment:
    """Proxies (``HTTPS_PROXY``, ``NO_PROXY``, ...) and the CA bundle (``REQUESTS_CA_BUNDLE``,
    ``CURL_CA_BUNDLE``), read by requests itself (``Session.merge_environment_settings``), once
    per scheme and host."""

    def __init__(self) -> None:
        self._reader = requests.Session()  # trust_env on: only reads the environment
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._bundle_checked = False

    def route(self, url: str) -> Route:
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        found = self._routes.get(key)
        if found is None:
            merged = self._reader.merge_environment_settings(url, {}, None, None, None)
            verify = merged["verify"]
            found = Route(dict(merged["proxies"] or {}), True if verify is None else verify)
            with self._lock:
                found = self._routes.setdefault(key, found)
        if parts.scheme == "https":
            self._check_bundle(found.verify)
        return found

    def _check_bundle(self, verify: str | bool) -> None:
        """A CA bundle variable that names nothing is a setting to fix, said before the first
        HTTPS request, not a failed connection to retry for minutes."""
        if self._bundle_checked or not isinstance(verify, str) or os.path.exists(verify):
            self._bundle_checked = True
            return
        name = next(
            (v for v in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE") if os.environ.get(v) == verify),
            "REQUESTS_CA_BUNDLE",
        )
        raise ConfigError(
            f"{name} names a CA bundle that does not exist: {verify}.",
            hint=f"Point {name} at the PEM file (or folder) of your organisation's "
            "certificate authorities, or unset it to use the bundled ones.",
        )


def _text(response: requests.Response) -> str:
    """The body as text: in the charset its Content-Type names (requests' reading of it: text/*
    without one is ISO-8859-1), else UTF-8, JSON's encoding. Never guessed from the bytes."""
    try:
        return response.content.decode(response.encoding or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return response.content.decode("utf-8", errors="replace")


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
        self.timeout = settings.timeout_seconds  # for connecting and for each read
        self.session = new_session(pool_size=max(4, concurrency + 2))
        self.environment = Environment()
        # A user name or password in ALM_BASE_URL is never sent (requests would send it as
        # Basic auth in place of ALM's token) and never logged.
        base = urlsplit(settings.base_url)
        self.base_url = base._replace(netloc=base.netloc.rpartition("@")[2]).geturl()
        self.wire = Wire(clock)
        self.stops: list[threading.Event] = []  # any one set: nothing more is sent (Cancel)

    def stopped(self) -> bool:
        return any(stop.is_set() for stop in self.stops)

    def _check_stop(self) -> None:
        if self.stopped():
            raise NotSent("Not sent: the run is stopping.")

    def pause(self, seconds: float) -> None:
        """Sleep before trying again; a run that stops meanwhile sends nothing more."""
        if not self.stops:
            self.sleep(seconds)
            return
        left = seconds
        while left > 0:
            self._check_stop()
            step = min(STOP_POLL, left)
            self.sleep(step)
            left -= step
        self._check_stop()

    def close(self) -> None:
        self.session.close()

    def url_for(self, path: str) -> str:
        """An absolute URL: API paths (``/users``) go under the API root; URLs stay as they are."""
        if path.startswith(("http://", "https://")):
            return path
        if path.startswith(API_PREFIX) or path.startswith("/oauth/"):
            return urljoin(self.base_url + "/", path.lstrip("/"))
        return f"{self.base_url}{API_PREFIX}/{path.lstrip('/')}"

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
        throttle_budget: float | None = None,
    ) -> Reply:
        """Send one logical request (with its retries) and return the 2xx ``Reply``.

        Raises ``ApiError`` for error answers, ``WriteUncertain`` when a write may have landed,
        ``AuthError`` when credentials are refused and ``ApiUnreachable`` after
        ``give_up_after`` seconds without an answer. ``retry_writes`` marks a write that is safe to
        repeat (the token refresh). ``auth=False`` sends no Authorization header (S3 downloads).
        ``throttle_budget``: the seconds of 429 waits this request may take in all; a 429 that
        asks for more is raised as its ``ApiError`` at once and blocks nobody's bucket (a job
        over ALM's daily quota may be told to come back tomorrow: the caller does without).
        """
        method = method.upper()
        url = self.url_for(path)
        template = endpoint_template(method, url)
        safe_to_repeat = method in READ_VERBS or retry_writes
        refused = 0  # 401s in a row for this request, each followed by a token refresh
        throttles = failures = 0
        silent_since: float | None = None  # start of the current run of "no answer"
        delay = 0.0  # the wait a 429 asked for
        throttled_for = 0.0  # 429 waits taken so far (``throttle_budget``)
        over_budget = False
        is_write = method not in READ_VERBS and auth and template != "POST /jobs"
        stopped = self.stopped if self.stops else None
        while True:
            self._check_stop()
            turn: AbstractContextManager[Turn] = (
                self.limiter.sending(method, template, stopped) if paced else nullcontext(Turn())
            )
            # The pacer's turn lasts until the answer (or the failure) only: a wait before
            # trying again is taken outside it, so it never holds a probe out.
            with turn as pace:
                token = self.tokens.current() if auth else None
                self._check_stop()  # the last moment a request can still stay unsent
                self.stats.count_call(template)
                started = self.clock()
                try:
                    with self.wire.sending(write=is_write):
                        response = self._send(method, url, params, body, form, headers, token)
                except TRANSPORT_ERRORS as exc:
                    failure: requests.RequestException | None = exc
                else:
                    failure = None
                    answer = self._answered(method, template, response, started, paced and auth)
                    self.wire.answered(write=is_write, usable=answer.verdict is not Verdict.RETRY)
                    if answer.verdict is Verdict.RATE_LIMITED:
                        throttles += 1
                        delay = self._throttle_delay(answer.retry_after, throttles)
                        asked = max(delay, answer.retry_after or 0.0)
                        over_budget = (
                            throttle_budget is not None and throttled_for + asked > throttle_budget
                        )
                        if not over_budget:
                            throttled_for += delay
                            pace.throttled(delay, response.headers.get("x-rate-limit"))
            if failure is not None:
                reason = self.redact(transport_reason(failure))
                self.wire.failed(reason)
                log.debug("%s %s -> %s", method, self.redact(url), reason)
                if not safe_to_repeat and not sent_nothing(failure):
                    raise WriteUncertain(
                        0, "no answer from ALM after sending", reason, method=method, path=template
                    ) from None
                silent_since = started if silent_since is None else silent_since
                failures += 1
                self._pause_or_give_up(silent_since, failures, reason)
                continue
            text = _text(response)
            verdict = answer.verdict
            if verdict is Verdict.OK:
                if method not in READ_VERBS and auth and template != "POST /jobs":  # jobs: reads
                    self.stats.count_write()
                return Reply(
                    response.status_code,
                    response.url,
                    response.headers,
                    text,
                    decode_json(text),
                    response.content,
                )
            if verdict is Verdict.AUTH and auth:
                # A token can expire between its refresh and its use (a short lifetime and a
                # retry backoff; or ALM handing back the current token just before it expires),
                # so a few refreshes in a row are allowed; bad credentials fail in the refresh.
                if refused >= MAX_TOKEN_REFRESHES or not self.tokens.can_refresh:
                    raise self._refused_token_error(text)
                refused += 1
                self.tokens.refresh(stale=token)
                self.stats.count_retry()
                continue
            refused = 0
            error = self._error(response.status_code, text, method, template, answer.retry_after)
            if verdict is Verdict.RATE_LIMITED:
                silent_since = None
                if throttles > MAX_THROTTLES or over_budget:
                    raise error
                if not paced:
                    self.pause(delay)
                self.stats.count_retry()
                continue
            if verdict is Verdict.RETRY:
                self.wire.failed(error.describe())
                if not safe_to_repeat:
                    raise WriteUncertain(
                        error.status,
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
            raise error

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        body: Any,
        form: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        token: str | None,
    ) -> requests.Response:
        """One exchange through the session (its redirects included). Raises
        ``TRANSPORT_ERRORS`` when it fails, ``ConfigError`` when a setting cannot work."""
        send_headers = dict(headers or {})
        if token is not None:
            send_headers["Authorization"] = f"{self.settings.auth_scheme} {token}"
        data: str | Mapping[str, str] | None = None
        if form is not None:
            data = form  # form-encoded by requests, with its Content-Type
        elif method in ("POST", "PATCH", "PUT"):
            if not any(name.lower() == "content-type" for name in send_headers):
                send_headers["Content-Type"] = JSON_API
            data = json.dumps(body) if body is not None else None
        route = self.environment.route(url)
        try:
            return self.session.request(
                method,
                url,
                params=params,
                data=data,
                headers=send_headers,
                timeout=self.timeout,
                proxies=route.proxies,
                verify=route.verify,
            )
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema) as exc:
            raise _unusable(route, exc) from None

    def _answered(
        self,
        method: str,
        template: str,
        response: requests.Response,
        started: float,
        timed: bool,
    ) -> Classified:
        """Count, log and learn from an answer (its rate headers, its latency); its class."""
        status = response.status_code
        if timed and status != 429:
            # ALM's API answering (not the token endpoint or a file download, and not a
            # gateway's instant 429): what the pool sizes follow.
            self.latency.observe(method, self.clock() - started)
        self.stats.count_status(status)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s -> %s", method, self.redact(response.url), status)
        self._observe_rate_headers(method, template, response.headers)
        return classify(status, response.headers)

    def _error(
        self, status: int, text: str, method: str, template: str, retry_after: float | None
    ) -> ApiError:
        """ALM's error answer as an ``ApiError`` (secrets redacted, gateway pages named)."""
        return parse_error(
            status,
            text,
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
        self.pause(delay)

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


def _unusable(route: Route, exc: requests.RequestException) -> ConfigError:
    """A URL requests cannot send to; the proxy's when one is set. Never quotes the URL: it may
    hold a password."""
    if route.proxies:
        return ConfigError(
            f"The proxy set in the environment is not a usable URL ({type(exc).__name__}).",
            hint="Check HTTPS_PROXY / HTTP_PROXY / ALL_PROXY (scheme://host:port); a SOCKS "
            "proxy needs PySocks (pip install PySocks).",
        )
    return ConfigError(
        f"A URL ALM gave or ALM_BASE_URL is not usable ({type(exc).__name__}).",
        hint="Check ALM_BASE_URL (https://learningmanager.adobe.com or your region's host).",
    )


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: requests wraps urllib3's error, which wraps the socket's."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        yield cause
        cause = cause.__cause__ or cause.__context__


_UNREACHABLE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH})


def sent_nothing(exc: BaseException) -> bool:
    """True when the exchange failed before any byte of the request left (safe to re-send):
    connecting timed out, was refused, found no host or no route. A read that failed or timed
    out, a dropped answer, a TLS failure: the request may have left."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    return any(
        isinstance(cause, ConnectionRefusedError | socket.gaierror)
        or (isinstance(cause, OSError) and cause.errno in _UNREACHABLE)
        for cause in _causes(exc)
    )


def transport_reason(exc: BaseException) -> str:
    """A short, human reason for a transport failure ("connection refused"), instead of
    requests' nested 'HTTPConnectionPool(...): Max retries exceeded ...' text (which names
    hosts and paths, never quoted)."""
    if isinstance(exc, requests.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.SSLError):
        verify_failed = "certificate verify failed" in str(exc).lower()
        return "TLS certificate not trusted" if verify_failed else "TLS handshake failed"
    for cause in _causes(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "host name not found"
        if isinstance(cause, RemoteDisconnected):
            return "connection closed without an answer"
        if isinstance(cause, ConnectionResetError):
            return "connection reset"
        if isinstance(cause, OSError) and cause.errno in _UNREACHABLE:
            return "network unreachable"
        if isinstance(cause, TimeoutError):
            return "timed out"
    if isinstance(exc, requests.exceptions.ProxyError):
        return "the proxy failed"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | requests.ConnectionError):
        return "connection dropped"
    return f"transport failure ({type(exc).__name__})"
