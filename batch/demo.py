"""``alm-batch demo``: the sample file against an in-process sandbox, dry run then live.

Works on a fresh machine with no ALM account: the sandbox is real HTTP on 127.0.0.1, seeded from
``sample_data/``. Output goes to a folder the demo owns (marked with a ``.alm-batch-demo`` file so
a second demo can clear it without ever touching a folder it did not create).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from batch.errors import ExitStatus, UsageError
from batch.settings import Settings

MARKER = ".alm-batch-demo"
SAMPLE_FILE = "completions.csv"


def find_sample_dir() -> Path:
    """The sample data shipped inside the package (``batch/sandbox/data``, a copy of the
    repository's ``sample_data/``): found from any folder, in a checkout or an installed wheel."""
    from batch.sandbox.seed import SEED_FILE, default_seed_dir

    candidate = default_seed_dir()
    if (candidate / SAMPLE_FILE).is_file() and (candidate / SEED_FILE).is_file():
        return candidate
    raise UsageError(
        f"The sample data is missing from the installed package ({candidate}).",
        hint="Reinstall alm-batch (pip install --force-reinstall alm-batch), or pass the "
        "seed folder with --seed.",
    )


def settings_for_sandbox(sandbox: Any, **overrides: Any) -> Settings:
    """Settings that point at ``sandbox``, with default limits scaled like its clock.

    The client paces from ALM's headers once it sees them; until then it uses the defaults in
    Settings. A time-scaled sandbox grants N times ALM's allowance, so the defaults are scaled
    the same way (and never include a user's own ALM_* environment or .env).
    """
    config = sandbox.config
    scale = config.time_scale
    creds = sandbox.credentials
    values: dict[str, Any] = {
        "base_url": sandbox.base_url,
        "client_id": creds["client_id"],
        "client_secret": creds["client_secret"],
        "refresh_token": creds["refresh_token"],
        "access_token": None,
        "get_per_minute": config.get_per_minute * scale,
        "get_burst": config.get_burst,
        "post_per_minute": config.post_per_minute * scale,
        "post_burst": config.post_burst,
        "users_get_per_hour": config.users_per_hour * scale,
        "lo_get_per_hour": config.lo_per_hour * scale,
        # ALM's jobs are polled on the sandbox's clock too (every 5 of its seconds).
        "job_poll_seconds": Settings.model_fields["job_poll_seconds"].default / scale,
        "transcript_job_seconds": Settings.model_fields["transcript_job_seconds"].default / scale,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def sandbox_env(sandbox: Any) -> dict[str, str]:
    """The ``ALM_*`` variables that point the tool at ``sandbox`` (as ``alm-batch sandbox``
    prints them). A time-scaled sandbox grants N times ALM's limits: the client's default
    limits are scaled too, so it paces at the sandbox's speed before it has seen any header."""
    env = dict(sandbox.env())
    settings = settings_for_sandbox(sandbox)
    if sandbox.config.time_scale != 1.0:
        for name in (
            "get_per_minute",
            "post_per_minute",
            "users_get_per_hour",
            "lo_get_per_hour",
            "job_poll_seconds",
            "transcript_job_seconds",
        ):
            env[f"ALM_{name.upper()}"] = f"{getattr(settings, name):g}"
    return env


def prepare_output(output: Path) -> None:
    if output.exists():
        if not output.is_dir():
            raise UsageError(f"{output} exists and is not a folder.", hint="Pass --output DIR.")
        if any(output.iterdir()) and not (output / MARKER).exists():
            raise UsageError(
                f"{output} already holds files that the demo did not write.",
                hint="Pass --output with a new or empty folder.",
            )
        shutil.rmtree(output)
    output.mkdir(parents=True)
    (output / MARKER).write_text("written by alm-batch demo; safe to delete\n", encoding="utf-8")


def run_demo(output: Path, *, emit: Callable[[str], None], quiet: bool = False) -> int:
    from batch.jobs import Job, JobOptions
    from batch.redact import register_secrets
    from batch.reporting import format_summary
    from batch.sandbox import Sandbox, SandboxConfig, load_seed

    sample_dir = find_sample_dir()
    prepare_output(output)
    input_path = output / SAMPLE_FILE
    shutil.copyfile(sample_dir / SAMPLE_FILE, input_path)
    state_dir = output / "state"

    # One sandbox minute per real second: ALM's documented limits, sixty times faster.
    with Sandbox(seed=load_seed(sample_dir), config=SandboxConfig(time_scale=60.0)) as sandbox:
        settings = settings_for_sandbox(sandbox)
        register_secrets(settings.secrets())
        emit(f"alm-batch demo: sandbox ALM at {sandbox.base_url}, input {input_path}")
        emit("")
        steps = [  # (title, report name, dry run, verify)
            (
                "1. Dry run (read-only): what would happen to each row",
                "dry-run.report.csv",
                True,
                False,
            ),
            (
                "2. Live run: enroll where needed and post the grades",
                "live.report.xlsx",
                False,
                True,
            ),
            (
                "3. Re-run of the same file: nothing is posted twice",
                "rerun.report.csv",
                False,
                False,
            ),
        ]
        outcomes = []
        for title, report, dry_run, verify in steps:
            emit(f"== {title} ==")
            options = JobOptions(
                path=input_path,
                dry_run=dry_run,
                verify=verify,
                state_dir=state_dir,
                report=output / f"completions.{report}",
                command="demo",
            )
            outcomes.append(Job(options, settings).run())
            emit(format_summary(outcomes[-1].summary, quiet=quiet))
            emit("")
        _, live, again = outcomes
        books = sandbox.books()

    emit(
        f"Sandbox books: {len(books['grades'])} module grades recorded, "
        f"{books['double_grades']} posted twice, {books['throttled']} answered 429, "
        f"{books['early_requests']} requests sent before a retry-after had passed."
    )
    emit(
        f"Reports are in {output}/. The rows that fail do so on purpose: see {sample_dir}/README.md."
    )
    emit(
        "Try the same in a browser: alm-batch serve --sandbox (the upload page offers the sample)."
    )
    healthy = (
        live.aborted is None
        and live.exit_status in (ExitStatus.OK, ExitStatus.ROWS_FAILED)
        and books["double_grades"] == 0
        and again.summary.writes_made == 0
    )
    return int(ExitStatus.OK if healthy else ExitStatus.ROWS_FAILED)
