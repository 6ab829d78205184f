"""The command line: options, progress bars, prompts and exit codes; nothing else.

Every command calls the library (``batch.jobs``, ``batch.demo``, ``batch.doctor`` ...) and
maps what comes back, or the ``BatchError`` raised, to an exit code in ``_run_command``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from batch import __version__
from batch.errors import BatchError, ExitStatus, UsageError
from batch.jobs.events import (
    ConfirmationNeeded,
    JobEvent,
    StageProgress,
    StateStatus,
    WriteProgress,
)
from batch.models import RunSummary, counted
from batch.reporting.summary import human_duration
from batch.state_source import MODES as STATE_SOURCES

if TYPE_CHECKING:
    from batch.jobs import Job, JobOutcome

log = logging.getLogger("batch")


@dataclass
class CliEnv:
    """The world the CLI talks to, injectable for tests (httpie style)."""

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    interactive: bool | None = None  # None: ask isatty()

    def is_interactive(self) -> bool:
        if self.interactive is not None:
            return self.interactive
        try:
            return self.stdin.isatty() and self.stderr.isatty()
        except (AttributeError, ValueError):
            return False

    def err(self, text: str = "") -> None:
        print(text, file=self.stderr, flush=True)

    def out(self, text: str = "") -> None:
        print(text, file=self.stdout, flush=True)


# --------------------------------------------------------------------------- parser
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text}")
    return value


def _finite_positive(text: str) -> float:
    """A number above 0 that is neither ``inf`` nor ``nan`` (a size or an age)."""
    value = _positive_float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number above 0, got {text}")
    return value


def _allowed_host(text: str) -> str:
    from batch.web.hosts import parse_allowed_host

    try:
        parse_allowed_host(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _duration(text: str) -> float:
    """Seconds, or a number with s/m/h/d: '90', '30m', '24h'."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    raw = text.strip().lower()
    factor = units.get(raw[-1:], None)
    number = raw[:-1] if factor else raw
    try:
        value = float(number) * (factor or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 90, 30m or 24h, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a duration of 0 or more, got {text!r}")
    return value


def _add_shape_options(g: argparse._ArgumentGroup) -> None:
    """The shape options, from their one declaration (``ShapeOptions``); parsed by
    ``ShapeOptions.parse`` so the page and the CLI give the same messages."""
    from batch.jobs.options import ShapeOptions

    for name, spec in ShapeOptions.specs():
        if spec.kind == "flag":
            g.add_argument(spec.flag, dest=name, action="store_true", default=None, help=spec.help)
        elif spec.kind in ("map", "list", "columns"):
            g.add_argument(
                spec.flag, dest=name, action="append", metavar=spec.metavar, help=spec.help
            )
        else:
            g.add_argument(spec.flag, dest=name, metavar=spec.metavar, help=spec.help)


LOG_PII_HELP = "show learners' emails in the logs (masked as m***@acme.com by default)"


def _add_input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file",
        type=Path,
        help="the file of completions: CSV, or a workbook (.xlsx, .xlsm, .xls, .xlsb, .ods)",
    )
    g = p.add_argument_group("reading the file")
    _add_shape_options(g)
    g.add_argument(
        "--encoding",
        help="CSV encoding (default: detected: UTF-8, UTF-16, Windows-1252)",
        metavar="NAME",
    )
    g.add_argument("--earliest-date", default="1990-01-01", help="dates before it are invalid (default 1990-01-01)", metavar="DATE")  # fmt: skip
    g = p.add_argument_group("output")
    g.add_argument(
        "--report",
        type=Path,
        help="report path; format from the extension (.csv, .xlsx, .json)",
        metavar="PATH",
    )
    g.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="print only the paths of the report (and failed-rows file) on stdout",
    )
    g.add_argument("--verbose", "-v", action="store_true", help="log each API call to stderr")
    g.add_argument("--log-pii", action="store_true", help=LOG_PII_HELP)
    g.add_argument(
        "--json-summary", action="store_true", help="print the run summary as JSON on stdout"
    )


def _add_online_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("talking to ALM")
    g.add_argument(
        "--state-dir",
        type=Path,
        help="cache and ledger folder (env ALM_BATCH_STATE_DIR)",
        metavar="DIR",
    )
    g.add_argument(
        "--cache-ttl",
        type=_duration,
        default=86400.0,
        help="how long lookups stay fresh (default 24h)",
        metavar="DURATION",
    )
    g.add_argument(
        "--refresh-cache", action="store_true", help="ignore cached lookups and fetch again"
    )
    g.add_argument("--no-cache", action="store_true", help="do not read or write the lookup cache")
    g.add_argument(
        "--user-lookup",
        choices=["auto", "per-email", "export"],
        default="auto",
        help="how emails are resolved: one call each, or one users export job (default: auto)",
    )
    g.add_argument(
        "--state-source",
        choices=STATE_SOURCES,
        default="auto",
        help="where a dry run reads learners' enrollments: one read per learner, or one ALM "
        "learner transcript job, kept for --cache-ttl (default auto: the job when the reads "
        "would take longer; a live run always reads each learner it writes for)",
    )
    g.add_argument(
        "--concurrency",
        type=_positive_int,
        help="requests in flight for reads and for writes (default 8: enough for ALM's "
        "documented limits; raise it for a raised allowance or slow answers)",
        metavar="N",
    )
    g.add_argument(
        "--max-rps", type=_positive_float, help="ceiling on requests per second", metavar="R"
    )
    g.add_argument(
        "--give-up-after",
        type=_duration,
        default=600.0,
        help="stop (exit 3) when ALM is unreachable this long (default 10m)",
        metavar="DURATION",
    )
    g.add_argument(
        "--overwrite", action="store_true", help="re-grade learners ALM already shows complete"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alm-batch",
        description="Mark learners complete in Adobe Learning Manager in bulk from a spreadsheet.",
    )
    parser.add_argument("--version", action="version", version=f"alm-batch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="the whole pipeline, live (asks before writing on a terminal)")
    _add_input_options(p)
    _add_online_options(p)
    p.add_argument("--dry-run", action="store_true", help="read, validate, resolve and plan only")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask before writing")
    p.add_argument("--verify", action="store_true", help="re-read enrollments after the run")

    p = sub.add_parser("validate", help="dry run: check the file against ALM with read-only calls")
    _add_input_options(p)
    _add_online_options(p)
    p.add_argument("--offline", action="store_true", help="check the file only, without ALM")

    p = sub.add_parser("template", help="write the input template (CSV or Excel)")
    p.add_argument(
        "--format", choices=["csv", "xlsx"], default=None, help="default: from -o, else csv"
    )
    p.add_argument(
        "-o", "--output", type=Path, help="where to write it (default completions.<format>)"
    )

    from batch.sandbox.profiles import PROFILES, profiles_help

    p = sub.add_parser(
        "sandbox",
        help="start the embedded ALM sandbox on 127.0.0.1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="profiles (--profile): readings of what ALM does where Adobe documents nothing\n"
        + profiles_help(),
    )
    p.add_argument(
        "--profile",
        choices=list(PROFILES),
        default="default",
        metavar="NAME",
        help="how the sandbox answers where ALM is undocumented (listed below; default: default)",
    )
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument(
        "--seed", type=Path, help="seed folder (default: the sample data shipped in the package)"
    )
    p.add_argument(
        "--time-scale",
        type=_positive_float,
        default=1.0,
        help="run the sandbox clock N times faster",
    )
    p.add_argument("--token-ttl", type=_positive_float, help="access token lifetime in seconds")
    p.add_argument("--latency-ms", help="added latency as MIN,MAX milliseconds, e.g. 50,150")
    p.add_argument("--error-rate", type=float, default=0.0, help="share of answers that are 5xx")
    p.add_argument("--drop-rate", type=float, default=0.0, help="share of connections dropped")
    p.add_argument(
        "--lost-response-rate", type=float, default=0.0, help="share of writes whose answer is lost"
    )
    p.add_argument("--no-limits", action="store_true", help="switch rate limits off")

    p = sub.add_parser(
        "demo", help="run sample_data against an in-process sandbox (dry run, then live)"
    )
    p.add_argument(
        "--output", type=Path, default=Path("alm-batch-demo"), help="folder for the reports"
    )
    p.add_argument("--quiet", "-q", action="store_true", help="print less")

    p = sub.add_parser("serve", help="the upload page for HR: a local web app on 127.0.0.1")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8700, help="port (default 8700; 0 picks a free one)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--sandbox", action="store_true", help="run against an in-process sandbox")
    p.add_argument(
        "--state-dir", type=Path, help="cache, ledger and uploads (default as run)", metavar="DIR"
    )
    p.add_argument(
        "--max-upload-mb", type=_finite_positive, default=50.0, help="upload size cap (default 50)"
    )
    p.add_argument(
        "--keep-days", type=_finite_positive, default=30.0, help="delete uploads after N days"
    )
    p.add_argument(
        "--allow-host",
        type=_allowed_host,
        action="append",
        default=[],
        metavar="NAME",
        help="another name the page answers to (Host header), e.g. a reverse proxy's; repeatable",
    )
    p.add_argument(
        "--max-rows",
        type=_positive_int,
        default=200_000,
        help="data rows per upload (default 200000): bounds the page's memory",
    )
    p.add_argument(
        "--state-source",
        choices=STATE_SOURCES,
        default="auto",
        help="where the page's dry runs take learner state from (default auto), as for "
        "'run' and 'validate'",
    )

    p = sub.add_parser(
        "doctor",
        help="check the configuration against ALM, read-only (--write-check: one test learner)",
        description="Check the configuration against ALM with read-only calls. With "
        "--write-check --email E --course C it then marks one designated test learner complete "
        "in one course (enrolling them if needed, grading every Content module), reads it back, "
        "and says which grade body ALM accepted (remembered in the state directory for runs).",
    )
    p.add_argument("--verbose", "-v", action="store_true", help="log each API call to stderr")
    p.add_argument(
        "--write-check",
        action="store_true",
        help="also write: mark the test learner --email complete in --course, then read it back",
    )
    p.add_argument("--email", help="the test learner's email (with --write-check)")
    p.add_argument(
        "--course", help="the course: course:<number>, <number> or its exact name (--write-check)"
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        help="where the learned grade body is remembered (default: ALM_BATCH_STATE_DIR or the "
        "user data folder, as for run)",
        metavar="DIR",
    )
    p.add_argument("--log-pii", action="store_true", help=LOG_PII_HELP)
    return parser


# --------------------------------------------------------------------------- helpers
def _setup_logging(verbose: bool, env: CliEnv, log_pii: bool = False) -> None:
    """Log lines carry a UTC timestamp; secrets are masked, and learners' emails unless
    ``--log-pii``."""
    from batch.redact import RedactingFilter, RedactingFormatter

    handler = logging.StreamHandler(env.stderr)
    handler.setFormatter(RedactingFormatter(pii=log_pii))
    handler.addFilter(RedactingFilter(pii=log_pii))
    root = logging.getLogger("batch")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    root.propagate = False


def _load_settings() -> Any:
    from pydantic import ValidationError

    from batch.errors import ConfigError
    from batch.redact import register_secrets
    from batch.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "ALM_" + str(first["loc"][0]).upper() if first.get("loc") else "ALM_*"
        raise ConfigError(
            f"{name}: {first['msg']}.", hint="Fix it in the environment or .env."
        ) from None
    register_secrets(settings.secrets())
    return settings


class _Progress:
    """The job's events on a terminal: tqdm bars for the stages and the writes (silent when
    not on a terminal or --quiet); without a terminal, a one-line heartbeat at most every
    ``heartbeat`` seconds so a scheduler's log shows that a long run is alive."""

    def __init__(
        self,
        env: CliEnv,
        *,
        bars: bool,
        heartbeat: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.env = env
        self.enabled = bars
        self.heartbeat = heartbeat
        self.clock = clock
        self.last_beat = clock()
        self.bars: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.last_state = ""

    def __call__(self, event: JobEvent) -> None:
        if isinstance(event, StageProgress):
            self.stage(event.stage, event.done, event.total)
        elif isinstance(event, WriteProgress):
            self.writes(event)
        elif isinstance(event, StateStatus):
            self.state(event)
        elif isinstance(event, ConfirmationNeeded):
            self.close()  # the lookup bars are done: the question gets a clean screen

    def _bar(self, name: str, total: int, unit: str) -> Any:
        from tqdm import tqdm

        bar = self.bars.get(name)
        if bar is None:
            bar = tqdm(
                total=total or None,
                desc=name,
                unit=unit,
                file=self.env.stderr,
                leave=True,
                dynamic_ncols=True,
            )
            self.bars[name] = bar
        return bar

    def stage(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            self._beat(f"{stage}: {done:,} of {total:,}")
            return
        with self.lock:
            bar = self._bar(stage, total, "it")
            if total and bar.total != total:
                bar.total = total
            bar.n = done
            bar.refresh()

    def state(self, event: StateStatus) -> None:
        """Where learner state comes from and what the run waits for (a transcript job): a
        line when that changes; while waiting, the heartbeat (without a terminal)."""
        waiting = event.message.startswith("waiting")
        key = event.message.split(" (", 1)[0] if waiting else event.message
        with self.lock:
            new = key != self.last_state
            self.last_state = key
        if not new:
            if not self.enabled:
                self._beat(event.message)
            return
        if self.enabled:
            from tqdm import tqdm

            tqdm.write(event.message, file=self.env.stderr)
        elif self.heartbeat is not None:
            stamp = datetime.now().astimezone().strftime("%H:%M:%S")
            self.env.err(f"[{stamp}] {event.message}")

    def writes(self, event: WriteProgress) -> None:
        if not self.enabled:
            eta = f", about {human_duration(event.eta_seconds)} left" if event.eta_seconds else ""
            self._beat(
                f"rows {event.rows_done:,} of {event.rows_total:,}, writes {event.writes_done:,}"
                f" of {event.writes_total:,} ({event.rate_per_s:.1f}/s){eta}"
            )
            return
        with self.lock:
            for name, unit, done, total in (
                ("rows", "row", event.rows_done, event.rows_total),
                ("writes", "write", event.writes_done, event.writes_total),
            ):
                if not total:
                    continue
                bar = self._bar(name, total, unit)
                bar.total = total
                bar.update(max(0, done - bar.n))

    def _beat(self, text: str) -> None:
        if self.heartbeat is None:
            return
        with self.lock:
            now = self.clock()
            if now - self.last_beat < self.heartbeat:
                return
            self.last_beat = now
        stamp = datetime.now().astimezone().strftime("%H:%M:%S")
        self.env.err(f"[{stamp}] progress: {text}")

    def close(self) -> None:
        with self.lock:
            for bar in self.bars.values():
                bar.close()
            self.bars.clear()


def _confirm(env: CliEnv) -> Callable[[RunSummary], bool]:
    from batch.reporting import format_plan

    def ask(summary: RunSummary) -> bool:
        env.err(format_plan(summary))
        env.stderr.write("Proceed and write to ALM? [y/N] ")
        env.stderr.flush()
        answer = env.stdin.readline().strip().lower()
        return answer in ("y", "yes")

    return ask


# --------------------------------------------------------------------------- commands
HEARTBEAT_SECONDS = 30.0


def _cmd_job(args: argparse.Namespace, env: CliEnv) -> int:
    from batch.jobs import Job, JobOptions
    from batch.jobs.options import ShapeOptions
    from batch.reporting import format_summary, summary_json

    dry_run = args.command == "validate" or getattr(args, "dry_run", False)
    shape = ShapeOptions.parse(vars(args))
    options = JobOptions(
        **vars(shape),
        path=args.file,
        dry_run=dry_run,
        offline=getattr(args, "offline", False),
        report=args.report,
        encoding=args.encoding,
        earliest_date=args.earliest_date,
        state_dir=args.state_dir,
        concurrency=args.concurrency,
        max_rps=args.max_rps,
        verify=getattr(args, "verify", False),
        overwrite=args.overwrite,
        cache_ttl=args.cache_ttl,
        refresh_cache=args.refresh_cache,
        no_cache=args.no_cache,
        user_lookup=args.user_lookup,
        state_source=args.state_source,
        give_up_after=args.give_up_after,
        command=args.command,
    )
    interactive = env.is_interactive()
    progress = _Progress(
        env,
        bars=interactive and not args.quiet,
        heartbeat=None if (interactive or args.quiet) else HEARTBEAT_SECONDS,
    )
    ask = interactive and not dry_run and not getattr(args, "yes", False)
    settings = None if options.offline else _load_settings()
    job = Job(options, settings, confirm=_confirm(env) if ask else None)
    job.subscribe(progress)
    with _sigint_cancels(job):
        try:
            outcome = job.run()
        finally:
            progress.close()
    for warning in outcome.warnings:
        env.err(f"warning: {warning}")
    if outcome.cancelled:
        env.err("Nothing was written: you answered no. The plan is in the report.")
    if outcome.interrupted:
        env.err(_stopped_note(outcome))
    if outcome.aborted is not None:
        env.err(f"alm-batch: stopped: {outcome.aborted}")
    if args.json_summary:
        env.out(json.dumps(summary_json(outcome.summary), indent=2, sort_keys=True))
    if not args.quiet:
        env.err(format_summary(outcome.summary))
    elif not args.json_summary:
        # For scripts: the paths of what was written, report first, on stdout; nothing else.
        env.out(format_summary(outcome.summary, quiet=True))
    return int(outcome.exit_status)


def _stopped_note(outcome: JobOutcome) -> str:
    """After Ctrl-C: what was not sent, and how to finish."""
    text = "Stopped: nothing more was sent after Ctrl-C."
    not_run = outcome.summary.counts.get("not_run", 0)
    if not_run:
        text += f" {counted(not_run, 'row')} not run."
    if outcome.enrolled_not_graded:
        text += f" {counted(outcome.enrolled_not_graded, 'learner')} enrolled but not yet graded."
    return text + " Run the same command again to finish: nothing is posted twice."


class _sigint_cancels:
    """First Ctrl-C cancels the job: nothing more is sent, the writes already on the wire get
    their answers, the ledger and the report are saved. A second one stops at once."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.previous: Any = None

    def __enter__(self) -> _sigint_cancels:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.getsignal(signal.SIGINT)

            def handler(signum: int, frame: Any) -> None:
                if self.job.cancelling:
                    raise KeyboardInterrupt
                self.job.cancel()
                print(
                    "\nInterrupted: nothing more is sent; the writes already on their way to "
                    "ALM get their answers, then the ledger and the report are saved. Press "
                    "Ctrl-C again to stop at once.",
                    file=sys.stderr,
                    flush=True,
                )

            signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def _cmd_template(args: argparse.Namespace, env: CliEnv) -> int:
    from batch.template import write_template

    fmt = args.format
    if fmt is None:
        fmt = "xlsx" if args.output and args.output.suffix.lower() in (".xlsx", ".xlsm") else "csv"
    output = args.output or Path(f"completions.{fmt}")
    if output.exists():
        raise UsageError(
            f"{output} already exists.", hint="Choose another path with -o, or delete it first."
        )
    path = write_template(fmt, output)
    env.out(str(path))
    return 0


def _cmd_sandbox(args: argparse.Namespace, env: CliEnv) -> int:
    from batch.demo import find_sample_dir, sandbox_env
    from batch.sandbox import Sandbox, SandboxConfig, load_seed

    config = SandboxConfig(time_scale=args.time_scale, profile=args.profile)
    changes: dict[str, Any] = {
        "error_rate": args.error_rate,
        "drop_rate": args.drop_rate,
        "lost_response_rate": args.lost_response_rate,
    }
    if args.token_ttl:
        changes["token_ttl"] = args.token_ttl
    if args.latency_ms:
        try:
            low, high = (float(x) for x in args.latency_ms.split(","))
        except ValueError:
            raise UsageError(
                f"--latency-ms must be MIN,MAX such as 50,150, got {args.latency_ms!r}."
            ) from None
        changes["latency_ms"] = (low, high)
    if args.no_limits:
        changes["limits_enabled"] = False
    for key, value in changes.items():
        setattr(config, key, value)
    seed_dir = args.seed or find_sample_dir()
    sandbox = Sandbox(seed=load_seed(seed_dir), config=config)
    # SIGTERM stops it cleanly from the first moment (a supervisor may stop it at once).
    stopped = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
    try:
        sandbox.start(port=args.port)
    except OSError as exc:
        signal.signal(signal.SIGTERM, previous)
        raise UsageError(
            f"Cannot listen on 127.0.0.1:{args.port}: {exc.strerror}.", hint="Try --port 0."
        ) from None
    env.err(
        f"ALM sandbox listening on {sandbox.base_url} (seed: {seed_dir}, profile: "
        f"{config.profile}). Ctrl-C stops it."
    )
    env.err("Point alm-batch at it with:")
    for key, value in sandbox_env(sandbox).items():
        env.out(f"export {key}={value}")
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sandbox.stop()
        env.err("sandbox stopped")
    return 0


def _cmd_demo(args: argparse.Namespace, env: CliEnv) -> int:
    from batch.demo import run_demo

    return run_demo(args.output, emit=env.err, quiet=args.quiet)


def _cmd_serve(args: argparse.Namespace, env: CliEnv) -> int:
    from batch.web import ServeOptions, serve

    options = ServeOptions(
        host=args.host,
        port=args.port,
        open_browser=not args.no_browser,
        sandbox=args.sandbox,
        state_dir=args.state_dir,
        max_upload_mb=args.max_upload_mb,
        keep_days=args.keep_days,
        allow_hosts=tuple(args.allow_host),
        max_rows=args.max_rows,
        state_source=args.state_source,
    )
    return serve(options, emit=env.err)


def _cmd_doctor(args: argparse.Namespace, env: CliEnv) -> int:
    from batch.doctor import DoctorCheck, run_doctor

    if args.write_check and not (args.email and args.course):
        missing = " and ".join(
            name
            for name, value in (("--email", args.email), ("--course", args.course))
            if not value
        )
        raise UsageError(
            f"doctor --write-check needs {missing}.",
            hint="Name a designated test learner and a course, e.g. alm-batch doctor "
            "--write-check --email test.learner@example.com --course course:1234567 (the "
            "learner is marked complete in that course).",
        )
    if (args.email or args.course) and not args.write_check:
        raise UsageError(
            "--email and --course only apply with --write-check.",
            hint="Add --write-check to mark that test learner complete (it writes to ALM).",
        )
    settings = _load_settings()

    def show(checks: list[DoctorCheck]) -> int:
        failed = 0
        for check in checks:
            mark = "FAIL" if not check.ok else ("warn" if check.warning else "ok  ")
            env.err(f"[{mark}] {check.name}: {check.detail}")
            failed += 0 if check.ok else 1
            if check.fix and (not check.ok or check.warning):
                env.err(f"       fix: {check.fix}")
        return failed

    failed = show(run_doctor(settings))
    if failed:
        env.err(
            f"{counted(failed, 'check')} failed." + (" No write check." if args.write_check else "")
        )
        return int(ExitStatus.ABORTED)
    env.err("All checks passed.")
    if not args.write_check:
        return 0
    from batch.doctor import run_write_check
    from batch.settings import resolve_state_dir

    state_dir = resolve_state_dir(args.state_dir, settings)
    env.err(f"Write check: marking the test learner complete in {args.course} ...")
    result = run_write_check(settings, args.email, args.course, state_dir=state_dir)
    show(result.checks)
    if result.exit_status == ExitStatus.OK:
        env.err(f"Write check passed. Grade body: {result.grade_body}.")
    else:
        env.err(f"Write check failed (exit {int(result.exit_status)}).")
    return int(result.exit_status)


COMMANDS: dict[str, Callable[[argparse.Namespace, CliEnv], int]] = {
    "run": _cmd_job,
    "validate": _cmd_job,
    "template": _cmd_template,
    "sandbox": _cmd_sandbox,
    "demo": _cmd_demo,
    "doctor": _cmd_doctor,
    "serve": _cmd_serve,
}


def main(argv: Sequence[str] | None = None, env: CliEnv | None = None) -> int:
    """Entry point. Returns the exit code; the one place exceptions become exit codes."""
    env = env or CliEnv()
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # argparse already printed usage/help
        return int(exc.code or 0) if exc.code in (0, None) else int(ExitStatus.USAGE)
    if not args.command:
        parser.print_help(env.stderr)
        return int(ExitStatus.USAGE)
    _setup_logging(getattr(args, "verbose", False), env, getattr(args, "log_pii", False))
    try:
        return COMMANDS[args.command](args, env)
    except BatchError as exc:
        from batch.redact import redact

        env.err(f"alm-batch: {redact(str(exc))}")
        return int(exc.exit_status)
    except KeyboardInterrupt:
        # Raised by a second Ctrl-C, possibly mid-run: writes may have been made (the ledger
        # has them), so never claim that nothing changed.
        env.err(
            "alm-batch: stopped at once (Ctrl-C); no report was written. Anything already sent "
            "to ALM is in the ledger: run the same command again to finish (nothing is posted "
            "twice)."
        )
        return int(ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitStatus.USAGE)
    except Exception as exc:  # noqa: BLE001 - a bug: its own exit code, one line, no traceback
        from batch.redact import redact

        if getattr(args, "verbose", False):
            logging.getLogger("batch").exception("internal error")
        detail = " ".join(redact(str(exc)).split())[:200]
        more = " Run it with --verbose for the details." if hasattr(args, "verbose") else ""
        env.err(
            f"alm-batch: internal error ({type(exc).__name__}: {detail}), a bug in alm-batch. "
            "Anything already sent to ALM is in the ledger: running the same command again "
            f"finishes without posting twice.{more}"
        )
        return int(ExitStatus.INTERNAL)
