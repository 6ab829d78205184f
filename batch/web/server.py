"""Start the upload page: bind, say where it is, open the browser, stop cleanly on Ctrl-C or
SIGTERM (running jobs are cancelled like Ctrl-C in the CLI: writes in flight finish, reports
and ledger saved)."""

from __future__ import annotations

import math
import os
import socket
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch.errors import UsageError
from batch.settings import Settings
from batch.web.hosts import AllowedHosts, is_loopback, parse_allowed_host

PASSWORD_ENV = "ALM_BATCH_WEB_PASSWORD"
MIN_PASSWORD_CHARS = 12
CLEAN_EVERY_SECONDS = 3600.0


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8700
    open_browser: bool = True
    sandbox: bool = False
    state_dir: Path | None = None
    max_upload_mb: float = 50.0
    keep_days: float = 30.0
    allow_hosts: tuple[str, ...] = ()  # --allow-host: more names the page answers to
    max_rows: int = 200_000  # data rows per upload (registry.MAX_ROWS)
    state_source: str = "auto"  # where dry runs take learner state from (--state-source)


class Running:
    """A started server (used by ``serve`` and by tests that need a real port)."""

    def __init__(
        self, server: Any, thread: threading.Thread, url: str, app: Any, port: int = 0
    ) -> None:
        self.server = server
        self.thread = thread
        self.url = url
        self.app = app
        self.port = port

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def check_binding(host: str, password: str | None) -> None:
    """Off loopback a password is required; any password the page asks for must be long enough
    to resist guessing (the page also slows repeated wrong ones)."""
    if not is_loopback(host) and not password:
        raise UsageError(
            f"Refusing to listen on {host}: anyone on the network could use the page.",
            hint=f"Set {PASSWORD_ENV} to a password of at least {MIN_PASSWORD_CHARS} characters "
            "(the browser asks for it), or keep the default --host 127.0.0.1.",
        )
    if password and len(password.strip()) < MIN_PASSWORD_CHARS:
        raise UsageError(
            f"{PASSWORD_ENV} is too short: the page's password needs at least "
            f"{MIN_PASSWORD_CHARS} characters.",
            hint="Choose a longer one, e.g. three or four unrelated words.",
        )


def check_limits(options: ServeOptions) -> None:
    """``--max-upload-mb`` and ``--keep-days`` are finite numbers above 0 (``inf`` or ``nan``
    would make every upload fail or nothing ever be deleted); ``--allow-host`` values are names."""
    for flag, value in (
        ("--max-upload-mb", options.max_upload_mb),
        ("--keep-days", options.keep_days),
    ):
        if not (math.isfinite(value) and value > 0):
            raise UsageError(f"{flag} must be a number above 0, got {value}.")
    for name in options.allow_hosts:
        try:
            parse_allowed_host(name)
        except ValueError as exc:
            raise UsageError(f"--allow-host {exc}.") from None


def start_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> Running:
    """Serve ``app`` with uvicorn on a thread; returns once it accepts connections."""
    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"Cannot listen on {host}:{port}: {exc.strerror}.", hint="Try another --port."
        ) from None
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", timeout_graceful_shutdown=3, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="alm-batch-web", daemon=True
    )
    thread.start()
    while not server.started and thread.is_alive():
        threading.Event().wait(0.02)
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return Running(server, thread, f"http://{shown}:{bound_port}/", app, bound_port)


def build(options: ServeOptions, emit: Callable[[str], None]) -> tuple[Any, Callable[[], None]]:
    """The app for ``options`` and a function that releases what it started (the sandbox)."""
    from batch.redact import register_secrets
    from batch.web.app import WebConfig, create_app
    from batch.web.registry import default_state_dir, sandbox_settings

    password = os.environ.get(PASSWORD_ENV) or None
    check_binding(options.host, password)
    check_limits(options)
    if password:
        register_secrets([password])
    release: Callable[[], None] = lambda: None  # noqa: E731
    sample: Path | None = None  # the sandbox's sample file, offered on the page
    if options.sandbox:
        from batch.demo import find_sample_dir
        from batch.sandbox import Sandbox, SandboxConfig, load_seed

        sandbox = Sandbox(seed=load_seed(find_sample_dir()), config=SandboxConfig(time_scale=60.0))
        sandbox.start(port=0)
        settings = sandbox_settings(sandbox)
        register_secrets(settings.secrets())
        factory: Callable[[], Settings] = lambda: settings  # noqa: E731
        note = (
            f"Sandbox mode: a pretend ALM account on {sandbox.base_url} (nothing real is written)."
        )
        sample = find_sample_dir() / "completions.csv"
        release = sandbox.stop
        state_dir = options.state_dir or Path(sandbox_state_dir())
    else:
        settings = Settings()
        register_secrets(settings.secrets())
        factory = Settings
        note = f"ALM account at {settings.host}."
        state_dir = options.state_dir or default_state_dir(settings)
    config = WebConfig(
        state_dir=state_dir,
        settings_factory=factory,
        host=options.host,
        password=password,
        max_upload_mb=options.max_upload_mb,
        keep_days=options.keep_days,
        max_rows=options.max_rows,
        account_note=note,
        allow_hosts=options.allow_hosts,
        sample=sample,
        state_source=options.state_source,
    )
    return create_app(config), release


def sandbox_state_dir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="alm-batch-serve-sandbox-")


def network_notes(options: ServeOptions, port: int) -> list[str]:
    """What ``serve`` says at start when the page is reachable from the network."""
    if is_loopback(options.host):
        return []
    names = AllowedHosts.for_binding(options.host, options.allow_hosts).shown()
    return [
        f"Listening on {options.host}: the page asks for the password in {PASSWORD_ENV}.",
        f"It answers to {', '.join(names)} on port {port} (add a name with --allow-host NAME). "
        "Beyond one trusted network, put HTTPS in front of it (a reverse proxy).",
    ]


def serve(options: ServeOptions, emit: Callable[[str], None]) -> int:
    """``alm-batch serve``: runs until Ctrl-C or SIGTERM; returns the exit code."""
    import signal

    app, release = build(options, emit)
    running = start_in_thread(app, options.host, options.port)
    try:
        emit(f"alm-batch upload page: {running.url}")
        for line in network_notes(options, running.port):
            emit(line)
        emit("Press Ctrl-C to stop.")
        if options.open_browser:
            threading.Thread(target=webbrowser.open, args=(running.url,), daemon=True).start()
        stopped = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
        store_clean = getattr(app, "clean", None)
        try:
            while not stopped.wait(0.5):
                if not running.thread.is_alive():
                    break
                if store_clean is not None:
                    store_clean()
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        emit("Stopping: running jobs finish their writes in flight and save their reports…")
        running.server.should_exit = True
        left = app.registry.shutdown()
        running.stop()
        release()
        jobs = "1 running job" if len(left) == 1 else f"{len(left)} running jobs"
        emit(f"Stopped ({jobs} cancelled)." if left else "Stopped.")
    return 0
