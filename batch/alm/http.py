"""The one HTTP transport to ALM: connection pools, OAuth refresh, pacing, retries and errors.

The only module that speaks HTTP (urllib3's pools; requests' rules for proxies and CA bundles).
One ``HttpClient`` per run, shared by every thread. Policy (house-style.md "Errors",
alm-api.md §7):

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
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import urllib3
from requests.utils import (
    DEFAULT_CA_BUNDLE_PATH,
    get_auth_from_url,
    get_environ_proxies,
    select_proxy,
)
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util import Retry, Timeout, make_headers

from batch import __version__
from batch.alm.auth import Redactor, TokenSource
from batch.alm.latency import LatencyMeter
from batch.alm.ratelimit import RateLimiter
from batch.alm.stats import API_PREFIX, CallStats, endpoint_template
from batch.errors import ApiError, ApiUnreachable, AuthError, ConfigError, WriteUncertain
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
# The encodings urllib3 can decode, as requests announces them ("gzip, deflate").
_ACCEPT_ENCODING = ", ".join(
    part.strip() for part in make_headers(accept_encoding=True)["accept-encoding"].split(",")
)


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


def _sent_nothing(exc: BaseException) -> bool:
    """True when the connection failed before any byte of the request left (safe to re-send):
    no connection could be made, or making one timed out. A read that failed or timed out, a
    dropped answer, a proxy or TLS failure: the request may have left."""
    reason = exc.reason if isinstance(exc, MaxRetryError) else None
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


class RedirectLoop(Urllib3Error):
    """More than ``MAX_REDIRECTS`` redirects for one request: a transport failure."""


# What a failed exchange raises: urllib3's errors (a socket's OSError comes wrapped in them).
TRANSPORT_ERRORS = (Urllib3Error, OSError)
MAX_REDIRECTS = 30  # as requests: more is a loop
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_BODY_HEADERS = frozenset({"content-length", "content-type", "transfer-encoding"})
# urllib3 retries nothing (our loop does, by policy) and follows no redirect (``Transport``
# does, by requests' rules); read errors are raised as they are, connection errors wrapped in
# MaxRetryError: exactly what requests' adapter asked of urllib3.
_NO_RETRIES = Retry(0, read=False)


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer, read in full (the body decompressed)."""

    status: int
    url: str  # the URL that answered (after redirects)
    headers: Mapping[str, str]  # case-insensitive (urllib3's HTTPHeaderDict)
    content: bytes

    @property
    def text(self) -> str:
        return body_text(self.content, self.headers.get("content-type"))


@lru_cache(maxsize=64)
def _charset(content_type: str | None) -> str:
    """The charset a Content-Type names; else ISO-8859-1 for text/* (requests' rule) and
    UTF-8 for anything else (JSON, ALM's application/vnd.api+json)."""
    if not content_type:
        return "utf-8"
    mime, _, params = content_type.partition(";")
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip("'\""):
            return value.strip().strip("'\"")
    return "ISO-8859-1" if "text" in mime.lower() else "utf-8"


def body_text(content: bytes, content_type: str | None) -> str:
    """A body as text, in the charset its Content-Type names (undecodable bytes replaced)."""
    try:
        return content.decode(_charset(content_type), errors="replace")
    except LookupError:  # a charset Python does not know
        return content.decode("utf-8", errors="replace")


def _strip_auth(old_url: str, new_url: str) -> bool:
    """Whether a redirect leaves the origin the Authorization header was meant for (requests'
    rule: another host, port or scheme; http -> https on the default ports keeps it)."""
    old, new = urlsplit(old_url), urlsplit(new_url)
    if old.hostname != new.hostname:
        return True
    if (
        old.scheme == "http"
        and old.port in (80, None)
        and new.scheme == "https"
        and new.port in (443, None)
    ):
        return False
    default = ({"http": 80, "https": 443}.get(old.scheme), None)
    if old.scheme == new.scheme and old.port in default and new.port in default:
        return False
    return old.port != new.port or old.scheme != new.scheme


def _ca_locations(verify: str | bool) -> dict[str, Any]:
    """urllib3's TLS keywords for a CA bundle (file or folder) as requests builds them."""
    location = DEFAULT_CA_BUNDLE_PATH if verify is True else str(verify)
    if os.path.isdir(location):
        return {"cert_reqs": "CERT_REQUIRED", "ca_cert_dir": location}
    return {"cert_reqs": "CERT_REQUIRED", "ca_certs": location}


class Transport:
    """HTTP/1.1 through urllib3's connection pools, thread-safe.

    What requests did for this client, without its per-request cost (preparing, merging
    settings, hooks: more CPU than the rest of a small request): the environment's proxies
    (``HTTPS_PROXY``, ``NO_PROXY``...; read once per host), TLS verified against
    ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` or certifi's bundle (read once), one timeout
    for connecting and for each read, compressed answers decoded, and redirects followed by
    requests' rules (at most 30; 301/302/303 turn a POST into a GET without its body; the
    Authorization header is dropped when the redirect leaves the host). Nothing is retried here.
    """

    def __init__(self, *, pool_size: int, timeout: float, headers: Mapping[str, str]) -> None:
        self.headers = dict(headers)
        self.timeout = Timeout(connect=timeout, read=timeout)
        # requests' variables, read once: REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE, else certifi.
        self._ca_variable = next(
            (name for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE") if os.environ.get(name)), ""
        )
        self.verify: str | bool = os.environ[self._ca_variable] if self._ca_variable else True
        self._pool_kw: dict[str, Any] = {
            "num_pools": 4,
            "maxsize": pool_size,
            "block": False,
            **_ca_locations(self.verify),
        }
        self.direct = urllib3.PoolManager(**self._pool_kw)
        self._proxied: dict[str, urllib3.PoolManager] = {}
        self._routes: dict[str, tuple[dict[str, str], urllib3.PoolManager]] = {}
        self._lock = threading.Lock()
        self._ca_checked = False

    def close(self) -> None:
        with self._lock:
            managers = [self.direct, *self._proxied.values()]
        for manager in managers:
            manager.clear()

    def proxies_for(self, url: str) -> dict[str, str]:
        """The proxies the environment sets for this URL's host (NO_PROXY honoured), once."""
        return self._route(url)[0]

    def _route(self, url: str) -> tuple[dict[str, str], urllib3.PoolManager]:
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        found = self._routes.get(key)
        if found is None:
            proxies = dict(get_environ_proxies(url))
            proxy = select_proxy(url, proxies)
            found = (proxies, self._proxy_manager(proxy) if proxy else self.direct)
            with self._lock:
                found = self._routes.setdefault(key, found)
        return found

    def _check_ca_bundle(self) -> None:
        """Before the first HTTPS request: a CA bundle variable naming nothing is a setting to
        fix, said once, not a failed connection to retry for minutes."""
        if self._ca_checked or self.verify is True:
            return
        if os.path.exists(str(self.verify)):
            self._ca_checked = True
        else:
            name = self._ca_variable
            raise ConfigError(
                f"{name} names a CA bundle that does not exist: {self.verify}.",
                hint=f"Point {name} at the PEM file (or folder) of your organisation's "
                "certificate authorities, or unset it to use the bundled ones.",
            )

    def _proxy_manager(self, proxy: str) -> urllib3.PoolManager:
        if "://" not in proxy:
            proxy = f"http://{proxy}"  # "proxy:3128" means an HTTP proxy (requests' rule)
        with self._lock:
            manager = self._proxied.get(proxy)
        if manager is not None:
            return manager
        username, password = get_auth_from_url(proxy)
        try:
            if proxy.lower().startswith("socks"):
                from urllib3.contrib.socks import SOCKSProxyManager

                manager = SOCKSProxyManager(
                    proxy, username=username or None, password=password or None, **self._pool_kw
                )
            else:
                auth = make_headers(proxy_basic_auth=f"{username}:{password}") if username else None
                manager = urllib3.ProxyManager(proxy, proxy_headers=auth, **self._pool_kw)
        except ImportError:
            raise ConfigError(
                "A SOCKS proxy is set (ALL_PROXY / HTTPS_PROXY) but PySocks is not installed.",
                hint="pip install PySocks, or use an HTTP proxy.",
            ) from None
        except (ValueError, Urllib3Error) as exc:  # never quote the URL: it may hold a password
            raise ConfigError(
                f"The proxy set in the environment is not a usable URL ({type(exc).__name__}).",
                hint="Check HTTPS_PROXY / HTTP_PROXY / ALL_PROXY (scheme://host:port).",
            ) from None
        with self._lock:
            return self._proxied.setdefault(proxy, manager)

    def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> Answer:
        """Send one request (and its redirects); raises ``TRANSPORT_ERRORS`` when the exchange
        fails, ``ConfigError`` when the proxy or CA settings cannot work."""
        sent = dict(headers)
        for _ in range(MAX_REDIRECTS + 1):
            if url[:6].lower() == "https:":
                self._check_ca_bundle()
            manager = self._route(url)[1]
            response = manager.urlopen(
                method,
                url,
                body=body,
                headers=sent,
                redirect=False,
                retries=_NO_RETRIES,
                timeout=self.timeout,
            )
            status = response.status
            location = response.headers.get("location") if status in _REDIRECTS else None
            if not location:
                return Answer(status, url, response.headers, response.data)
            try:  # http.client reads headers as latin-1; a UTF-8 location reads back as sent
                location = location.encode("latin1").decode("utf8")
            except UnicodeError:
                pass
            target = urljoin(url, location)
            if (status in (302, 303) and method != "HEAD") or (status == 301 and method == "POST"):
                method = "GET"
            if status not in (307, 308):
                body = None
                sent = {k: v for k, v in sent.items() if k.lower() not in _BODY_HEADERS}
            sent = {k: v for k, v in sent.items() if k.lower() != "cookie"}
            if _strip_auth(url, target):
                sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
            url = target
        raise RedirectLoop(f"more than {MAX_REDIRECTS} redirects")


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
        self.transport = Transport(
            pool_size=max(4, concurrency + 2),
            timeout=settings.timeout_seconds,
            headers={
                "User-Agent": f"alm-batch/{__version__}",
                "Accept-Encoding": _ACCEPT_ENCODING,
                "Accept": JSON_API,
                "Connection": "keep-alive",
            },
        )

    def close(self) -> None:
        self.transport.close()

    def _proxies_for(self, url: str) -> dict[str, str]:
        """The proxies the environment sets for this URL's host (NO_PROXY honoured), once."""
        return self.transport.proxies_for(url)

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
        target = with_params(url, params)
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
            send_headers = self.transport.headers
            if headers:
                send_headers = _merged(send_headers, headers)
            if token is not None:
                send_headers = {
                    **send_headers,
                    "Authorization": f"{self.settings.auth_scheme} {token}",
                }
            data: bytes | None = None
            if form is not None:
                data = urlencode([(k, v) for k, v in form.items() if v is not None]).encode()
                send_headers = _merged(
                    {"Content-Type": "application/x-www-form-urlencoded"}, send_headers
                )
            elif method in ("POST", "PATCH", "PUT"):
                send_headers = _merged({"Content-Type": JSON_API}, send_headers)
                data = json.dumps(body).encode() if body is not None else None
            self.stats.count_call(template)
            started = self.clock()
            try:
                answer = self.transport.send(method, target, send_headers, data)
            except TRANSPORT_ERRORS as exc:
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
            except BaseException:
                if paced:  # never sent (a proxy or CA setting that cannot work): free the bucket
                    self.limiter.settled(method, template)
                raise
            status = answer.status
            text = answer.text
            if paced and auth and status != 429:
                # ALM's API answering (not the token endpoint or a file download, and not a
                # gateway's instant 429): what the pool sizes follow.
                self.latency.observe(method, self.clock() - started)
            self.stats.count_status(status)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s -> %s", method, self.redact(answer.url), status)
            self._observe_rate_headers(method, template, answer.headers)
            if paced and status != 429:
                self.limiter.settled(method, template)
            if 200 <= status < 300:
                if method not in READ_VERBS and auth and template != "POST /jobs":  # export: a read
                    self.stats.count_write()
                return Reply(
                    status, answer.url, answer.headers, text, _decode(text), answer.content
                )
            if status == 401 and auth:
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
            retry_after = parse_retry_after(answer.headers.get("retry-after"))
            if status == 429:
                silent_since = None
                throttles += 1
                if throttles > MAX_THROTTLES:
                    raise self._error(status, text, method, template, retry_after)
                delay = self._throttle_delay(retry_after, throttles)
                if paced:
                    self.limiter.throttled(
                        method, template, delay, answer.headers.get("x-rate-limit")
                    )
                else:
                    self.sleep(delay)
                self.stats.count_retry()
                continue
            if status >= 500:
                error = self._error(status, text, method, template, retry_after)
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
            raise self._error(status, text, method, template, retry_after)

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


def with_params(url: str, params: Mapping[str, str] | None) -> str:
    """``url`` with ``params`` added to its query, form-encoded as requests encodes them
    (``page[limit]`` -> ``page%5Blimit%5D``, ``email:a@b`` -> ``email%3Aa%40b``)."""
    if not params:
        return url
    query = urlencode([(k, v) for k, v in params.items() if v is not None])
    if not query:
        return url
    base, _, fragment = url.partition("#")
    joined = f"{base}{'&' if urlsplit(base).query else '?'}{query}"
    return f"{joined}#{fragment}" if fragment else joined


def _merged(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """``base`` with ``extra``'s headers, names compared without case (extra's spelling wins)."""
    out = dict(base)
    for name, value in extra.items():
        for old in [k for k in out if k.lower() == name.lower()]:
            del out[old]
        out[name] = value
    return out


def transport_reason(exc: BaseException) -> str:
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
        ("connection broken", "connection dropped"),
        ("connection reset", "connection reset"),
        ("network is unreachable", "network unreachable"),
        ("redirects", "too many redirects"),
    ):
        if needle in lowered:
            return reason
    cause = exc.reason if isinstance(exc, MaxRetryError) else exc
    timed_out = isinstance(cause, ReadTimeoutError | TimeoutError) or (
        isinstance(cause, ConnectTimeoutError) and not isinstance(cause, NewConnectionError)
    )
    if timed_out:
        return "timed out"
    if isinstance(cause, NewConnectionError | ProtocolError | OSError | Urllib3Error):
        return "connection failed"
    return f"{type(exc).__name__}: {text[:200]}"
