"""A tiny scripted HTTP server for client tests: real HTTP on 127.0.0.1, exact fault sequences.

Each route (method + path) has a queue of canned replies; the last one repeats. A reply can be
a status/body/headers triple, a delay (for timeouts), or a dropped connection (no answer at all).
Every request is recorded with its arrival time, headers, query and body, so tests can assert
what the client sent and when (e.g. nothing before a retry-after had passed).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Canned:
    status: int = 200
    body: Any = None  # dict/list -> JSON; str/bytes as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (client timeouts)
    drop: bool = False  # close the connection without answering


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    raw_query: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body.decode())

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())


Handler = Callable[[Seen], Canned]


class ScriptedServer:
    """``with ScriptedServer() as srv: srv.script("GET", "/primeapi/v2/users", Canned(...))``."""

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        """``tls``: (certificate, key) PEM files: serve HTTPS with that certificate."""
        self.routes: dict[tuple[str, str], list[Canned] | Handler] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    parts.query,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    time.monotonic(),
                )
                canned = server._next(seen)
                if canned.delay:
                    time.sleep(canned.delay)
                if canned.drop:
                    self.close_connection = True
                    return
                if isinstance(canned.body, dict | list):
                    payload = json.dumps(canned.body).encode()
                    ctype = "application/vnd.api+json"
                elif isinstance(canned.body, bytes):
                    payload, ctype = canned.body, "application/octet-stream"
                else:
                    payload, ctype = (canned.body or "").encode(), "text/plain"
                self.send_response(canned.status)
                headers = {"Content-Type": ctype, **canned.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{self.scheme}://{host!s}:{port}"

    def script(self, method: str, path: str, *replies: Canned) -> None:
        """Queue replies for ``method path`` (the last one repeats)."""
        self.routes[(method.upper(), path)] = list(replies)

    def handle(self, method: str, path: str, handler: Handler) -> None:
        """Answer ``method path`` with a function of the request (for stateful scripts)."""
        self.routes[(method.upper(), path)] = handler

    def _next(self, seen: Seen) -> Canned:
        with self._lock:
            self.seen.append(seen)
            route = self.routes.get((seen.method, seen.path))
            if route is None:
                return Canned(
                    404, {"status": "NOT_FOUND", "title": "No route", "source": {"info": seen.path}}
                )
            if callable(route):
                handler = route
            else:
                return route.pop(0) if len(route) > 1 else route[0]
        return handler(seen)

    def requests_to(self, method: str, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.method == method.upper() and s.path == path]

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class FakeClock:
    """A clock whose ``sleep`` advances time instantly (thread-safe); records every sleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(0.0, seconds)
