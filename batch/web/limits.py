"""Request bodies: a size cap and a pace rule, so no request can fill the memory or hold the
server with a trickle of bytes.

- Every body but an upload's is at most ``json_bytes`` (1 MB: the page's largest request, a
  row's edit, is a few kilobytes). It is read here, before the app sees it, and refused with
  413 beyond the cap (at once when ``Content-Length`` says so).
- Every body, uploads included, must keep pace: after ``grace_seconds`` it must have arrived at
  ``min_bytes_per_second`` on average. A client that trickles bytes is answered 408 and cut
  off. Uploads are streamed to disk by ``uploads.capped``, which applies the same rule and the
  upload cap (``--max-upload-mb``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from batch.web.asgi import SAFE_METHODS, ASGIApp, Message, Receive, Scope, Send, refuse

MB = 1024 * 1024
MAX_CELL_CHARS = 32_767  # what one Excel cell holds: the most an edit may put in a cell
T = TypeVar("T")


@dataclass(frozen=True)
class BodyRules:
    json_bytes: int = MB
    grace_seconds: float = 10.0
    # 16 KB/s is slower than any link anyone sends a 50 MB file over (that takes 53 minutes),
    # and far faster than a trickle (a byte a second is cut off after the grace).
    min_bytes_per_second: float = 16 * 1024

    def seconds_left(self, received: int, elapsed: float) -> float:
        """How long the next bytes may take before the body is too slow (<= 0: it is)."""
        return self.grace_seconds + received / self.min_bytes_per_second - elapsed

    def too_slow_message(self, received: int, elapsed: float) -> str:
        return (
            f"The request arrived too slowly ({received / 1024:,.0f} KB in {elapsed:.0f} s) "
            "and was stopped: check the network connection and send it again."
        )


class TooSlow(Exception):
    """The body did not keep the pace of ``BodyRules``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def paced(
    next_part: Callable[[], Awaitable[T]], rules: BodyRules, received: int, started: float
) -> T:
    """``await next_part()``, raising ``TooSlow`` when the body (``received`` bytes since
    ``started``, a ``time.monotonic()``) falls behind ``rules``."""
    left = rules.seconds_left(received, time.monotonic() - started)
    try:
        if left <= 0:
            raise TimeoutError
        return await asyncio.wait_for(next_part(), left)
    except TimeoutError:
        raise TooSlow(rules.too_slow_message(received, time.monotonic() - started)) from None


class BodyLimits:
    """Reads every body (but those of ``streamed`` routes) under ``rules`` before the app runs,
    then hands it to the app in one piece."""

    def __init__(
        self, app: ASGIApp, rules: BodyRules, streamed: frozenset[tuple[str, str]]
    ) -> None:
        self.app = app
        self.rules = rules
        self.streamed = streamed  # (method, path) of routes that stream their own body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in SAFE_METHODS
            or (scope["method"], scope["path"]) in self.streamed
        ):
            await self.app(scope, receive, send)
            return
        cap = self.rules.json_bytes
        too_big = (
            f"The request is larger than {cap / MB:g} MB, the most the page accepts outside an "
            "upload: send fewer changes at once."
        )
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > cap:
            await refuse(send, 413, too_big)
            return
        chunks: list[bytes] = []
        received, started = 0, time.monotonic()
        while True:
            try:
                message = await paced(receive, self.rules, received, started)
            except TooSlow as exc:
                await refuse(send, 408, exc.message, extra=[(b"connection", b"close")])
                return
            if message["type"] == "http.disconnect":
                return  # the client left: nobody to answer
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > cap:
                await refuse(send, 413, too_big, extra=[(b"connection", b"close")])
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: disconnect notices, as before

        await self.app(scope, replay, send)


def long_cell(cells: dict[str, str]) -> str | None:
    """Why an edit is refused (413) when one of its values is longer than a cell holds."""
    for header, value in cells.items():
        if len(value) > MAX_CELL_CHARS:
            return (
                f"The new value for {header[:60]!r} has {len(value):,} characters: a cell holds "
                f"at most {MAX_CELL_CHARS:,} (Excel's limit)."
            )
    return None
