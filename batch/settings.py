"""Configuration from the environment or a ``.env`` file (pydantic-settings).

Secrets are ``SecretStr``: they print as ``**********`` and never reach output, logs or reports.
Choices that ``alm-api.md`` marks [?] live here, in one place, each with its default documented.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from platformdirs import user_data_dir
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from batch.errors import StateError

DEFAULT_BASE_URL = "https://learningmanager.adobe.com"
REGION_HOSTS = {
    "us": "https://learningmanager.adobe.com",
    "eu": "https://learningmanagereu.adobe.com",
    "apac": "https://learningmanagerapac.adobe.com",
}
STATE_DIR_ENV = "ALM_BATCH_STATE_DIR"


class Settings(BaseSettings):
    """Everything the tool reads from ``ALM_*`` variables (or ``.env``)."""

    model_config = SettingsConfigDict(
        env_prefix="ALM_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    base_url: str = DEFAULT_BASE_URL
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    access_token: SecretStr | None = None
    auth_scheme: Literal["oauth", "Bearer"] = "oauth"

    # --- [?] choices of the grade body (docs/alm-api.md, "The grade body") ------------------
    # Unset (the default), alm-batch learns the body ALM accepts from its answers and remembers
    # it per host in the state directory. Each one set narrows the shapes tried; all three set
    # pin one body (no learning). How the module is named in POST userModuleGrade:
    #   "course_module": the courseModule id of Adobe's sample, <courseNum><moduleNum><n>
    #                    derived from the loResource id course:<courseNum>_<inst>_<moduleNum>_<n>
    #   "lo_resource":   the loResource id as the API returns it (course:1_2_3_0), type
    #                    learningObjectResource
    grade_module_id_form: Literal["course_module", "lo_resource"] | None = None
    # How the instance is passed (Oct 2025 change; field name undocumented):
    #   "none":         not sent (ALM uses the learner's enrollment), as in Adobe's sample
    #   "relationship": relationships.loInstance = {data: [{id, type: learningObjectInstance}]}
    #   "attribute":    attributes.loInstanceId = "course:1_2"
    grade_instance_field: Literal["relationship", "attribute", "none"] | None = None
    # The course relationship's JSON:API type (truncated in every stored copy of the sample):
    # "course" or "learningObject" are tried; any other value is sent as given.
    grade_course_type: str | None = None

    # --- limits used when ALM sends no x-rate-limit / x-burst headers (alm-api.md §7) -----
    get_per_minute: float = 100.0
    get_burst: int = 10
    post_per_minute: float = 30.0
    post_burst: int = 10
    users_get_per_hour: float = 500.0  # admin GET /users
    lo_get_per_hour: float = 500.0  # admin GET /learningObjects
    timeout_seconds: float = 30.0
    max_retry_after: float = 300.0  # cap on a single retry-after wait
    # A write that meets transient faults (5xx, dropped connection, timeout, lost answer) is
    # tried again, after a backoff and a read of ALM's state, at most this many times and for
    # at most this many seconds from its first send; what outlasts that is a retryable failure
    # (exit 4). Env: ALM_WRITE_RETRIES, ALM_WRITE_RETRY_SECONDS.
    write_retries: int = Field(default=8, ge=0, le=100)
    write_retry_seconds: float = Field(default=300.0, ge=0.0)
    # How often ALM's jobs (the users export, the learner transcript) are polled; each poll is an
    # admin GET out of the run's allowance. Adobe's own client polls every 5 s; the first poll
    # comes after 0.6 of it. Env: ALM_JOB_POLL_SECONDS.
    job_poll_seconds: float = Field(default=5.0, gt=0.0)
    # How long ALM's learner transcript job is expected to take before one has been timed on
    # this host (the state directory remembers the last one): what --state-source auto weighs
    # against one read per learner. Env: ALM_TRANSCRIPT_JOB_SECONDS.
    transcript_job_seconds: float = Field(default=120.0, gt=0.0)

    # The state directory (cache + ledger). Env: ALM_BATCH_STATE_DIR.
    batch_state_dir: Path | None = Field(default=None)

    @field_validator("base_url")
    @classmethod
    def _normalise_base_url(cls, value: str) -> str:
        value = value.strip()
        if value.lower() in REGION_HOSTS:
            return REGION_HOSTS[value.lower()]
        value = value.rstrip("/")
        for suffix in ("/primeapi/v2", "/primeapi"):
            if value.endswith(suffix):
                value = value[: -len(suffix)]
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"ALM_BASE_URL must be an http(s) URL such as {DEFAULT_BASE_URL}, got "
                f"{without_credentials(value)!r}"
            )
        return without_credentials(value)

    @field_validator(
        "client_id",
        "grade_module_id_form",
        "grade_instance_field",
        "grade_course_type",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def api_root(self) -> str:
        """The API root: ``<base_url>/primeapi/v2``."""
        return f"{self.base_url}/primeapi/v2"

    @property
    def host(self) -> str:
        """ALM's host (and port, when not the scheme's default), as shown to people and as the
        key of what the state directory remembers per account: never a user name or password
        that ``ALM_BASE_URL`` may carry."""
        return host_of(self.base_url)

    def secrets(self) -> list[str]:
        """Every secret value set, for redaction of anything that might echo one."""
        out = []
        for secret in (self.client_secret, self.refresh_token, self.access_token):
            if secret is not None and secret.get_secret_value():
                out.append(secret.get_secret_value())
        return out


def without_credentials(url: str) -> str:
    """``https://user:pass@lms.example/x`` -> ``https://lms.example/x``. ALM takes its token,
    never a user name or password in the URL, so ``ALM_BASE_URL`` is kept without them: nothing
    keyed by it (the lookup cache, the ledger, the page's jobs) can carry a password to disk."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def host_of(url: str) -> str:
    """``https://user:pass@LMS.example:8443/x`` -> ``lms.example:8443``; the default port of
    the scheme is left out (``https://h:443`` -> ``h``). Also takes a bare ``host[:port]``."""
    parts = urlsplit(url if "//" in url else f"//{url}")
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: keep none of it
        port = None
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return f"{host}:{port}" if port is not None and port != default else host


# --- the state directory (lookup cache + ledger) ------------------------------------------------
def default_state_dir(configured: Path | str | None = None) -> Path:
    """The state directory: ``configured`` (``--state-dir`` / ``settings.batch_state_dir``),
    else ``$ALM_BATCH_STATE_DIR``, else the per-user data directory of the platform."""
    if configured:
        return Path(configured).expanduser()
    env = os.environ.get(STATE_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path(user_data_dir("alm-batch", appauthor=False))


def resolve_state_dir(explicit: Path | None, settings: Settings) -> Path:
    """The state directory a run uses, created if missing (``0700``): ``explicit``
    (``--state-dir``), else ``ALM_BATCH_STATE_DIR`` (the setting or the environment), else the
    platform's per-user data directory. ``StateError`` (exit 2) with a hint when it cannot be
    created."""
    state_dir = default_state_dir(explicit or settings.batch_state_dir)
    try:
        private_dir(state_dir)
    except OSError as exc:
        raise StateError(
            f"Cannot create the state directory {state_dir}: {exc.strerror or exc}.",
            hint="Pass --state-dir DIR (or set ALM_BATCH_STATE_DIR) to a writable folder.",
        ) from exc
    return state_dir


# --- state files: learners' emails, ids and completions, for this user only ---------------------
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable by this user only. A folder that already
    exists keeps its mode: it may be one the person chose and shares on purpose; the files
    alm-batch writes in it are private either way (``private_file``)."""
    missing = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue
        os.chmod(folder, PRIVATE_DIR)  # mkdir's mode is masked by the umask
    if not path.is_dir():
        raise NotADirectoryError(20, "Not a directory", str(path))
    return path


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists and is readable by this user only (``0600``), before SQLite or
    anything else writes learners' data into it: a new file is created empty with that mode
    (SQLite gives its -wal and -shm files the mode of the database), and a file alm-batch
    created earlier with a wider mode is narrowed."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
    return path


def write_private_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (a temporary file beside it, then a rename),
    readable by this user only. ``OSError`` when the disk is full or the folder is gone."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
