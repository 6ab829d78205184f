"""The page's guards, as ASGI middleware: safety headers, Host check, password, cross-site.

- Every answer, the guards' own refusals included, carries the safety headers: a Content
  Security Policy that runs only the page's own script files (no inline script, no eval), no
  framing, no MIME sniffing, no Referer.
- The Host header must be a name this server can be reached by, with the server's port: a DNS
  rebinding page, whose Host is its own domain, is refused. Bound to loopback: localhost,
  127.0.0.1 and [::1]. Bound to another address (0.0.0.0 included): those, the machine's host
  name and addresses, and the names given with ``--allow-host`` (``hosts.py``).
- A password (HTTP Basic, any user name) when the server is bound beyond the loopback interface;
  repeated wrong passwords from one client address lock that address out for a growing time.
- Every request that changes state (any method but GET/HEAD/OPTIONS) must carry
  ``X-Requested-By: alm-batch``: a cross-site form or image cannot set a custom header, and the
  server answers no CORS preflight, so no other site's script can either. A request whose
  ``Origin`` names another site (or another port) is refused as well.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Callable

from batch.web.asgi import SAFE_METHODS, ASGIApp, Message, Receive, Scope, Send, refuse
from batch.web.hosts import AllowedHosts, split_host
from batch.web.limits import BodyLimits, BodyRules

REQUESTED_BY = "alm-batch"

# The page runs only its own files: /static/htmx.min.js and /static/app.js (htmx's eval is off,
# see base.html's htmx-config), /static/app.css, and the progress stream on the same origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# No other site may frame the page (a framed "Run live now" could be clicked by trickery), sniff
# a download into HTML, embed the JSON API as a script or image, or learn job addresses from the
# Referer.
SAFETY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class AddHeaders:
    """Adds ``make(started)`` to the headers of every answer (``started``: when the request
    reached this layer, a ``time.perf_counter()``)."""

    def __init__(self, app: ASGIApp, make: Callable[[float], list[tuple[bytes, bytes]]]) -> None:
        self.app = app
        self.make = make

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.make(started)]
            await send(message)

        await self.app(scope, receive, with_headers)


def safety_headers(started: float) -> list[tuple[bytes, bytes]]:
    return SAFETY_HEADERS


def server_timing(started: float) -> list[tuple[bytes, bytes]]:
    """``Server-Timing: app;dur=<ms>``: how long the app took to start answering (the figure the
    benchmarks read)."""
    ms = (time.perf_counter() - started) * 1000
    return [(b"server-timing", f"app;dur={ms:.1f}".encode())]


class LoginThrottle:
    """Wrong passwords per client address: the first ``FREE`` are answered at once (typos);
    each later one locks the address out for twice as long as the one before (1 s, 2 s, 4 s...
    up to ``MAX_LOCK``). A right password clears the count; so does an hour without a failure.
    At most ``MAX_CLIENTS`` addresses are remembered (the oldest failure is forgotten first)."""

    FREE = 5
    FIRST_LOCK = 1.0
    MAX_LOCK = 300.0
    FORGET_AFTER = 3600.0
    MAX_CLIENTS = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._failures: dict[str, tuple[int, float]] = {}  # address -> (count, locked until)

    def wait_seconds(self, client: str) -> float:
        """How long ``client`` must wait before its password is looked at again (0: now)."""
        count, until = self._failures.get(client, (0, 0.0))
        now = self.clock()
        if count and now - until > self.FORGET_AFTER:
            del self._failures[client]
            return 0.0
        return max(0.0, until - now)

    def failed(self, client: str) -> None:
        count, _ = self._failures.pop(client, (0, 0.0))
        count += 1
        extra = count - self.FREE
        lock = 0.0 if extra <= 0 else min(self.FIRST_LOCK * 2 ** (extra - 1), self.MAX_LOCK)
        self._failures[client] = (count, self.clock() + lock)  # re-inserted: newest last
        while len(self._failures) > self.MAX_CLIENTS:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        hosts: AllowedHosts,
        password: str | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.hosts = hosts
        self._password = password.encode() if password else None
        self.throttle = LoginThrottle(clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "").strip()
        server = scope.get("server")
        if not self.hosts.accepts(host, server[1] if server else None, scope.get("scheme", "")):
            shown = host[:100]
            await refuse(
                send,
                400,
                f"Host {shown!r} is not an address this server answers to: open the page at the "
                "address alm-batch serve printed, or ask whoever started it to add "
                f"--allow-host {shown or 'NAME'}.",
            )
            return
        if self._password is not None and not await self._authorised(scope, headers, send):
            return
        if scope["method"] not in SAFE_METHODS:
            if headers.get("x-requested-by") != REQUESTED_BY:
                await refuse(
                    send,
                    403,
                    "Refused: a request that changes something must come from the alm-batch "
                    "page (header X-Requested-By: alm-batch is missing).",
                )
                return
            origin = headers.get("origin")
            if origin and origin != "null" and not same_site(origin, host):
                await refuse(send, 403, "Refused: a request from another site.")
                return
        await self.app(scope, receive, send)

    async def _authorised(self, scope: Scope, headers: dict[str, str], send: Send) -> bool:
        """True when the request carries the password; otherwise answers 401 or 429."""
        client = (scope.get("client") or ("", 0))[0]
        wait = self.throttle.wait_seconds(client)
        if wait > 0:
            seconds = max(1, round(wait))
            await refuse(
                send,
                429,
                f"Too many wrong passwords from this address: wait {seconds} s and try again.",
                extra=[(b"retry-after", str(seconds).encode())],
            )
            return False
        header = headers.get("authorization", "")
        if header and self._matches(header):
            self.throttle.succeeded(client)
            return True
        if header:  # a guess (a browser's first request carries no password: not counted)
            self.throttle.failed(client)
        await refuse(
            send,
            401,
            "This page needs the password set in ALM_BATCH_WEB_PASSWORD.",
            extra=[(b"www-authenticate", b'Basic realm="alm-batch", charset="UTF-8"')],
        )
        return False

    def _matches(self, header: str) -> bool:
        assert self._password is not None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        _, _, given = decoded.partition(b":")
        return hmac.compare_digest(given, self._password)


def same_site(origin: str, host: str) -> bool:
    """The ``Origin`` names the host and port the request was sent to.

    Only a port written in ``Host`` is compared (behind an HTTPS proxy, ``Host`` often has none
    while ``Origin`` implies 443)."""
    scheme, _, rest = origin.partition("://")
    try:
        origin_name, origin_port = split_host(rest.split("/", 1)[0])
        host_name, host_port = split_host(host)
    except ValueError:
        return False
    if origin_port is None:
        origin_port = 443 if scheme.lower() == "https" else 80
    return origin_name == host_name and (host_port is None or host_port == origin_port)


def protect(
    app: ASGIApp,
    *,
    host: str,
    password: str | None,
    allow_hosts: tuple[str, ...] = (),
    body_rules: BodyRules | None = None,
    streamed: frozenset[tuple[str, str]] = frozenset(),
) -> ASGIApp:
    """``app`` behind every guard, outermost first: the safety headers (so refusals carry them
    too), the Host check, the password and cross-site checks, the body limits (only for requests
    that passed the guard), the timing header."""
    timed = AddHeaders(app, server_timing)
    bodies = BodyLimits(timed, body_rules or BodyRules(), streamed)
    hosts = AllowedHosts.for_binding(host, allow_hosts)
    return AddHeaders(Guard(bodies, hosts=hosts, password=password), safety_headers)
