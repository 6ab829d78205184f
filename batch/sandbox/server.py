"""``Sandbox``: a threaded HTTP server on 127.0.0.1 that behaves like ALM API v2.

Per /primeapi request, in order: count the call, check ``Accept`` (406), the token (401), the
rate limit (429 + retry-after), then faults (latency, drop, injected 5xx), then the endpoint;
a write may then lose its response (applied, answered 502 or dropped). ``/oauth`` follows
alm-api.md §1; ``/_sandbox`` is the test harness (books, config, reset, job downloads) and
needs no auth. Connections are HTTP/1.1 keep-alive with Nagle off, so a pooled client is fast.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from batch.sandbox import api_catalog, api_enrollments, api_grades, api_jobs, api_users, jobs
from batch.sandbox.auth import TokenStore, parse_form
from batch.sandbox.books import Books
from batch.sandbox.config import SandboxConfig
from batch.sandbox.failures import TOO_MANY_REQUESTS_BODY, ApiFailure
from batch.sandbox.faults import Faults
from batch.sandbox.limits import RateLimiter, SandboxClock
from batch.sandbox.routing import API_PREFIX, Request, Response, Route, match, route
from batch.sandbox.seed import SeedData, default_seed_dir, load_seed
from batch.sandbox.world import World

ROUTES: list[Route] = [
    route("GET", "/users", api_users.list_users),
    route("GET", "/users/{id}", api_users.get_user),
    route("GET", "/users/{id}/enrollments", api_enrollments.list_enrollments),
    route("POST", "/users/{id}/enrollments", api_enrollments.enroll, write=True),
    route("GET", "/users/{id}/enrollments/{enrollmentId}", api_enrollments.get_enrollment),
    route("DELETE", "/users/{id}/enrollments/{enrollmentId}", api_enrollments.unenroll, write=True),
    route("GET", "/loResourceGrades/{id}", api_enrollments.get_grade),
    route("POST", "/users/{id}/userModuleGrade", api_grades.post_grade, write=True),
    route("GET", "/learningObjects", api_catalog.list_learning_objects),
    route("GET", "/learningObjects/{id}", api_catalog.get_learning_object),
    route(
        "GET",
        "/learningObjects/{id}/applicableCertification",
        api_catalog.applicable_certification,
    ),
    route("POST", "/jobs", api_jobs.submit_job, write=True),
    route("GET", "/jobs/{id}", api_jobs.get_job),
]
ACCEPTABLE = ("application/vnd.api+json", "application/json")
LIMIT_FIELDS = ("_per_minute", "_per_hour", "_burst", "early_grace")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


class Sandbox:
    """The embedded ALM. See docs/architecture.md, "The sandbox contract"."""

    def __init__(
        self,
        seed: SeedData | None = None,
        config: SandboxConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: SandboxClock | None = None,
    ) -> None:
        if seed is None:
            seed = load_seed(default_seed_dir())
        self._seed = seed
        # A copy: the caller's object may be edited later without half-applying to us.
        self.config = dataclasses.replace(config) if config is not None else SandboxConfig()
        self.config.validate()
        # Injected in tests (limits.ManualClock) so job delays and expiries need no sleep.
        self.clock = clock if clock is not None else SandboxClock(self.config.time_scale)
        self.world = self._new_world()
        self.bookkeeper = Books()
        self.limiter = RateLimiter(self.config, self.clock)
        self.tokens = TokenStore(lambda: self.config, self.world.account_id)
        self.faults = Faults(self.config.random_seed)
        self.jobs = jobs.JobStore()
        self._host, self._port = host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._config_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()

    # --- lifecycle -----------------------------------------------------------------------
    def start(self, port: int | None = None) -> Sandbox:
        """Bind 127.0.0.1:``port`` (default: the constructor's, 0 = any free port) and serve."""
        if self._server is not None:
            return self
        if port is not None:
            self._port = port
        handler = type("SandboxHandler", (_Handler,), {"sandbox": self})
        self._server = _Server((self._host, self._port), handler)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"alm-sandbox-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._conn_lock:
            for conn in list(self._connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._connections.clear()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Block until interrupted (``start`` must have been called)."""
        while self._server is not None:
            time.sleep(0.2)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses and credentials ---------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def api_root(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def credentials(self) -> dict[str, str]:
        cfg = self.config
        return {
            "client_id": cfg.client_id,
            "client_secret": cfg.client_secret,
            "refresh_token": cfg.refresh_token,
        }

    def env(self) -> dict[str, str]:
        """The ``ALM_*`` variables that point the tool at this sandbox."""
        creds = self.credentials
        return {
            "ALM_BASE_URL": self.base_url,
            "ALM_CLIENT_ID": creds["client_id"],
            "ALM_CLIENT_SECRET": creds["client_secret"],
            "ALM_REFRESH_TOKEN": creds["refresh_token"],
        }

    # --- live control ----------------------------------------------------------------------
    def configure(self, **changes: Any) -> SandboxConfig:
        """Change config fields while serving (unknown names or bad values raise ValueError)."""
        with self._config_lock:
            old = self.config
            new = old.updated(changes)
            if new.resource_index != old.resource_index:
                raise ValueError(
                    "resource_index (set by a profile) is fixed once the sandbox is built; "
                    "start another sandbox with the profile instead"
                )
            if new.time_scale != old.time_scale:
                self.clock.set_scale(new.time_scale)
            if new.random_seed != old.random_seed:
                self.faults.reseed(new.random_seed)
            if new.time_scale != old.time_scale or any(k.endswith(LIMIT_FIELDS) for k in changes):
                self.limiter.reconfigure(new)
            self.world.rollup_delay = new.rollup_delay
            self.config = new
            return new

    def books(self) -> dict[str, Any]:
        return self.bookkeeper.snapshot()

    def reset_books(self) -> None:
        self.bookkeeper.reset()

    def reset_world(self) -> None:
        """Back to the seed: users, enrollments, grades and jobs as loaded (books untouched)."""
        self.world = self._new_world()
        self.jobs = jobs.JobStore()

    def _new_world(self) -> World:
        world = World(self._seed, resource_index=self.config.resource_index, clock=self.clock.now)
        world.rollup_delay = self.config.rollup_delay
        return world


class _Handler(BaseHTTPRequestHandler):
    sandbox: Sandbox
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections end after this
    server_version = "ALM-Sandbox/1.0"

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        with self.sandbox._conn_lock:
            self.sandbox._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.sandbox._conn_lock:
                self.sandbox._connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silent: the sandbox prints nothing (the CLI owns the terminal)."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # --- dispatch --------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = Request(method, path, path, {}, query, body, headers, self.sandbox)
        if path.startswith(API_PREFIX + "/") or path == API_PREFIX:
            self._api(req)
        elif path.startswith("/oauth/"):
            self._oauth(req)
        elif path.startswith("/_sandbox/"):
            self._harness(req)
        else:
            self._send(Response(404, ApiFailure(404, "Not Found", f"no such path {path}").body()))

    def _api(self, req: Request) -> None:
        sb = self.sandbox
        cfg = sb.config
        found, params, known = match(ROUTES, req.method, req.path)
        template = known or req.path.removeprefix(API_PREFIX)
        req.template, req.params = template, params
        sb.bookkeeper.call(f"{req.method} {template}")
        names = sb.limiter.bucket_names(req.method, template)
        limit_headers = sb.limiter.headers_for(names)
        try:
            _check_accept(req.headers.get("accept"))
            sb.tokens.authorize(req.headers.get("authorization"))
            decision = sb.limiter.check(names, cfg.limits_enabled)
            if decision.early:
                sb.bookkeeper.add("early_requests")
            if not decision.allowed:
                sb.bookkeeper.add("throttled")
                headers = dict(decision.headers)
                headers["retry-after"] = f"{decision.retry_after:.3f}"
                self._send(Response(429, TOO_MANY_REQUESTS_BODY, "application/json", headers))
                return
            if self._inject_faults(cfg):
                return
            if found is None:
                if known:
                    raise ApiFailure(405, "Method Not Allowed", f"{req.method} {req.path}")
                raise ApiFailure(404, "Not Found", f"no such endpoint {req.method} {req.path}")
            if found.write and cfg.writes_forbidden:
                raise ApiFailure(
                    403,
                    "Forbidden",
                    "the access token does not have the scope this call needs (admin:write)",
                )
            resp = found.handler(req)
            if found.write and sb.faults.roll(cfg.lost_response_rate):
                sb.bookkeeper.add("lost_responses")
                if sb.faults.choice((True, False)):
                    self._drop()
                else:
                    fail = ApiFailure(502, "Bad Gateway", "upstream connection reset")
                    self._send(Response(502, fail.body(), headers=limit_headers))
                return
        except ApiFailure as failure:
            resp = Response(failure.status, failure.body(), headers=dict(failure.headers))
        resp.headers.update(limit_headers)
        sb.bookkeeper.endpoint_status(f"{req.method} {template}", resp.status)
        self._send(resp)

    def _inject_faults(self, cfg: SandboxConfig) -> bool:
        """Latency, then maybe drop or a 5xx; True when the request has been answered."""
        sb = self.sandbox
        low, high = cfg.latency_ms
        delay = sb.faults.latency(low, high)
        if delay > 0:
            time.sleep(delay)
        if sb.faults.roll(cfg.drop_rate):
            sb.bookkeeper.add("dropped")
            self._drop()
            return True
        if sb.faults.roll(cfg.error_rate):
            sb.bookkeeper.add("errors_injected")
            status = sb.faults.choice((500, 502, 503))
            titles = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
            fail = ApiFailure(status, titles[status], "temporary failure, retry later")
            self._send(Response(status, fail.body()))
            return True
        return False

    def _oauth(self, req: Request) -> None:
        sb = self.sandbox
        known = {
            ("POST", "/oauth/token/refresh"): "refresh",
            ("GET", "/oauth/token/check"): "check",
        }
        action = known.get((req.method, req.path))
        sb.bookkeeper.call(f"{req.method} {req.path}")
        try:
            if sb.config.fault_oauth and self._inject_faults(sb.config):
                return
            if action == "refresh":
                body = sb.tokens.refresh(parse_form(req.body, req.query))
            elif action == "check":
                body = sb.tokens.check(req.arg("access_token") or "")
            else:
                raise ApiFailure(404, "Not Found", f"no such endpoint {req.method} {req.path}")
            self._send(Response(200, body, "application/json;charset=UTF-8"))
        except ApiFailure as failure:
            self._send(Response(failure.status, failure.body(), "application/json;charset=UTF-8"))

    def _harness(self, req: Request) -> None:
        sb = self.sandbox
        path = req.path
        try:
            if path.startswith("/_sandbox/downloads/"):
                sb.bookkeeper.call(f"{req.method} /_sandbox/downloads/{{file}}")
                name = path.rsplit("/", 1)[-1]
                self._send(api_jobs.download(req, name))
            elif path == "/_sandbox/books" and req.method == "GET":
                self._send(Response(200, sb.books(), "application/json"))
            elif path == "/_sandbox/config" and req.method == "GET":
                self._send(Response(200, sb.config.to_json(), "application/json"))
            elif path == "/_sandbox/config" and req.method == "POST":
                try:
                    new = sb.configure(**req.json())
                except (TypeError, ValueError) as exc:
                    raise ApiFailure(400, "Invalid config", str(exc)) from None
                self._send(Response(200, new.to_json(), "application/json"))
            elif path == "/_sandbox/reset" and req.method == "POST":
                options = req.json() if req.body.strip() else {}
                sb.reset_books()
                if options.get("world"):
                    sb.reset_world()
                self._send(
                    Response(
                        200,
                        {"reset": True, "world": bool(options.get("world"))},
                        "application/json",
                    )
                )
            else:
                raise ApiFailure(404, "Not Found", f"no such harness endpoint {req.method} {path}")
        except ApiFailure as failure:
            self._send(Response(failure.status, failure.body(), "application/json"))

    # --- output ----------------------------------------------------------------------------
    def _send(self, resp: Response) -> None:
        if isinstance(resp.body, bytes):
            payload = resp.body
        elif resp.body is None:
            payload = b""
        else:
            payload = json.dumps(resp.body, separators=(",", ":")).encode("utf-8")
        self.sandbox.bookkeeper.status(resp.status)
        self.send_response(resp.status)
        if resp.status != 204:
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(payload)))
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if payload and resp.status != 204:
            self.wfile.write(payload)

    def _drop(self) -> None:
        """Close the connection without a word (the client sees a connection error)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _check_accept(accept: str | None) -> None:
    """406 unless Accept names application/vnd.api+json or application/json.

    ALM "strictly requires" the header (alm-api.md §1): a missing Accept or a bare ``*/*`` (the
    default of requests and curl) is refused too.
    """
    types = {part.split(";")[0].strip().lower() for part in (accept or "").split(",")}
    if not types.intersection(ACCEPTABLE):
        raise ApiFailure(
            406,
            "Not Acceptable",
            "Add this header to your request: Accept: application/vnd.api+json",
        )
