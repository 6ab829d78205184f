"""One live run per ALM account on this machine, whatever the state directory.

Two live runs on one account share its write allowance, and with two state directories they
share no ledger either: a page run and a command-line run of the same file both posted the same
451 grades. The state-directory lock (``ledger.StateLock``) keeps one run per ledger; this lock
keeps one writer per account: every live run of either front end holds it while it runs.

The lock is an exclusive ``flock`` on a file named after a hash of the ALM host (with its port)
and the client id, in a per-user folder (the runtime folder, else the state folder, of
platformdirs; ``ALM_BATCH_LOCK_DIR`` chooses another). The OS drops it when the process dies,
even on kill -9. The file holds no secret: the pid, the start time and which run holds it, for
the refusal message. Across machines nothing is shared: see docs/reruns-and-ledger.md.
"""

from __future__ import annotations

import hashlib
import os
import sys
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from platformdirs import user_runtime_dir, user_state_dir

from batch.errors import AccountBusy, StateError
from batch.ledger import LockFile
from batch.settings import Settings, private_dir

LOCK_DIR_ENV = "ALM_BATCH_LOCK_DIR"


def lock_dir() -> Path:
    """Where account locks live: ``$ALM_BATCH_LOCK_DIR``, else the per-user runtime folder
    (cleared at boot) when the platform has one, else the per-user state folder."""
    configured = os.environ.get(LOCK_DIR_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    if sys.platform.startswith("linux") and not os.environ.get("XDG_RUNTIME_DIR"):
        # platformdirs would fall back to /tmp/runtime-<uid>, a name anyone can take first
        return Path(user_state_dir("alm-batch", appauthor=False)) / "locks"
    return Path(user_runtime_dir("alm-batch", appauthor=False)) / "locks"


def account_key(settings: Settings) -> str:
    """The account as a hash: ALM host and port (the unit of a write allowance) and the client
    id. Never the secret, never the raw URL (which may carry a password)."""
    parts = urlsplit(settings.base_url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    client = settings.client_id or "(access token)"
    return hashlib.sha256(f"{host}:{port}\n{client}".encode()).hexdigest()[:32]


class AccountLock:
    """The writer lock of one ALM account (see the module's docstring). ``holder`` says who
    holds it, for another run's refusal: ``alm-batch run march.csv``, ``the upload page ...``."""

    def __init__(self, settings: Settings, holder: str, folder: Path | None = None) -> None:
        self.folder = folder if folder is not None else lock_dir()
        self.path = self.folder / f"account-{account_key(settings)}.lock"
        self.host = settings.host.rsplit("@", 1)[-1]
        self.holder = holder
        self._lock = LockFile(self.path)

    @property
    def held(self) -> bool:
        return self._lock.held

    def acquire(self) -> None:
        """Take the lock now, or raise ``AccountBusy`` naming the run that holds it."""
        started = datetime.now().astimezone().isoformat(timespec="seconds")
        try:
            private_dir(self.folder)
            other = self._lock.acquire(started=started, run=self.holder[:200])
        except OSError as exc:
            raise StateError(
                f"The account lock folder {self.folder} cannot be used: {exc.strerror or exc}.",
                hint=f"Set {LOCK_DIR_ENV} to a folder of your own.",
            ) from exc
        if other is not None:
            raise AccountBusy(
                f"Another live run is writing to this ALM account ({self.host}): "
                f"{_describe(other)}. Its writes share the account's allowance, and two runs "
                "could post the same grade twice: wait for it to finish, then start this run "
                "again."
            )

    def release(self) -> None:
        self._lock.release()


def _describe(fields: dict[str, str]) -> str:
    """``alm-batch run march.csv (pid 4242, started 2026-12-07 14:05)`` from the lock file."""
    run = fields.get("run", "").strip() or "a run"
    details = []
    if fields.get("pid", "").strip():
        details.append(f"pid {fields['pid'].strip()}")
    if fields.get("started", "").strip():
        details.append(f"started {fields['started'].strip()[:16].replace('T', ' ')}")
    return f"{run} ({', '.join(details)})" if details else run
