"""The page's guards, as one ASGI middleware: password, Host check, cross-site protection.

- A password (HTTP Basic, any user name) when the server is bound beyond the loopback interface.
- The Host header must name the bound address (or localhost when bound to loopback): a DNS
  rebinding page, whose Host is its own domain, is refused.
- Every request that changes state (any method but GET/HEAD/OPTIONS) must carry
  ``X-Requested-By: alm-batch``: a cross-site form or image cannot set a custom header, and the
  server answers no CORS preflight, so no other site's script can either. A request whose
  ``Origin`` names another site is refused as well.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUESTED_BY = "alm-batch"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


def allowed_host_names(bound: str) -> frozenset[str]:
    """The Host names a request may use for a server bound to ``bound``."""
    if is_loopback(bound):
        return frozenset({"127.0.0.1", "localhost", "[::1]", bound})
    if bound in ("0.0.0.0", "::"):
        return frozenset()  # any name: the password is the guard (said so at start)
    return frozenset({bound, "127.0.0.1", "localhost"})


def host_name(header: str) -> str:
    """``example.com:8080`` -> ``example.com``; ``[::1]:80`` -> ``[::1]``."""
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard:
    def __init__(self, app: ASGIApp, *, bound_host: str, password: str | None) -> None:
        self.app = app
        self.allowed = allowed_host_names(bound_host)
        self._password = password.encode() if password else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = host_name(headers.get("host", "").strip().lower())
        if self.allowed and host not in self.allowed:
            await _refuse(
                send,
                400,
                f"Host {host!r} is not this server's address: open the page at the address "
                "alm-batch serve printed.",
            )
            return
        if self._password is not None and not self._authorised(headers.get("authorization", "")):
            await _refuse(
                send,
                401,
                "This page needs the password set in ALM_BATCH_WEB_PASSWORD.",
                extra=[(b"www-authenticate", b'Basic realm="alm-batch", charset="UTF-8"')],
            )
            return
        if scope["method"] not in SAFE_METHODS:
            if headers.get("x-requested-by") != REQUESTED_BY:
                await _refuse(
                    send,
                    403,
                    "Refused: a request that changes something must come from the alm-batch "
                    "page (header X-Requested-By: alm-batch is missing).",
                )
                return
            origin = headers.get("origin")
            if origin and origin != "null":
                origin_host = host_name(origin.split("://", 1)[-1].split("/", 1)[0].lower())
                if origin_host != host:
                    await _refuse(send, 403, "Refused: a request from another site.")
                    return
        await self.app(scope, receive, send)

    def _authorised(self, header: str) -> bool:
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


async def _refuse(
    send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# No other site may frame the page (a framed "Run live now" could be clicked by trickery), sniff
# a download into HTML, or learn job addresses from the Referer.
SAFETY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class ServerTiming:
    """Adds ``Server-Timing: app;dur=<ms>`` to every answer (how long the app took to start
    answering: the figure the benchmarks read) and the safety headers above."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={ms:.1f}".encode()))
                headers.extend(SAFETY_HEADERS)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, timed)
