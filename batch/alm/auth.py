"""OAuth tokens for one client, and the redaction of every secret from text we show.

Many worker threads share one access token. When several of them meet a 401 together, exactly one
refresh must happen: each thread says which token was refused, and a refresh only runs when that
token is still the current one (otherwise another thread already replaced it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from batch.errors import AbortError, ConfigError
from batch.redact import mask, register_secrets
from batch.settings import Settings


class Redactor:
    """The secrets one client knows (its settings' and every token it was issued), masked in
    text by ``batch.redact.mask``; each is also registered process-wide, so a token issued
    mid-run is masked in the CLI's messages and logs too."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        for secret in secrets or []:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret:
            with self._lock:
                self._secrets.add(secret)
            register_secrets([secret])

    def __call__(self, text: str | None) -> str:
        if not text:
            return ""
        with self._lock:
            secrets = frozenset(self._secrets)
        return mask(text, secrets)


def missing_credentials(settings: Settings) -> list[str]:
    """The variables to set when neither an access token nor a full refresh triple is given."""
    if settings.access_token is not None and settings.access_token.get_secret_value():
        return []
    missing = []
    if not settings.client_id:
        missing.append("ALM_CLIENT_ID")
    if settings.client_secret is None or not settings.client_secret.get_secret_value():
        missing.append("ALM_CLIENT_SECRET")
    if settings.refresh_token is None or not settings.refresh_token.get_secret_value():
        missing.append("ALM_REFRESH_TOKEN")
    return missing


def can_refresh(settings: Settings) -> bool:
    return not missing_credentials(settings.model_copy(update={"access_token": None}))


class TokenSource:
    """The current access token; refreshes lazily and at most once per refused token.

    ``refresher`` performs ``POST /oauth/token/refresh`` and returns the new access token (it
    raises ``AuthError`` when ALM refuses the credentials).
    """

    def __init__(
        self, settings: Settings, refresher: Callable[[], str], redactor: Redactor
    ) -> None:
        missing = missing_credentials(settings)
        if missing:
            raise ConfigError(
                "ALM credentials are missing: set "
                + ", ".join(missing)
                + " (or ALM_ACCESS_TOKEN) in the environment or a .env file."
            )
        self._refresher = refresher
        self._redactor = redactor
        self._lock = threading.Lock()
        self._can_refresh = can_refresh(settings)
        given = settings.access_token.get_secret_value() if settings.access_token else ""
        self._token: str | None = given or None
        self.from_env = bool(given)
        self.refreshes = 0
        # A refresh that stopped the run (refused, or ALM unreachable for give_up_after) is not
        # tried again by every waiting worker, one after the other: they all get its error.
        self._failed: AbortError | None = None

    @property
    def can_refresh(self) -> bool:
        return self._can_refresh

    def current(self) -> str:
        """The token to send now (the first call refreshes when no ALM_ACCESS_TOKEN was given)."""
        with self._lock:
            if self._token is None:
                self._token = self._do_refresh()
            return self._token

    def refresh(self, stale: str | None) -> str:
        """Replace ``stale`` (the token ALM just refused) unless another thread already did."""
        with self._lock:
            if self._token is not None and self._token != stale:
                return self._token
            self._token = self._do_refresh()
            return self._token

    def _do_refresh(self) -> str:
        if self._failed is not None:
            raise self._failed
        try:
            token = self._refresher()
        except AbortError as exc:
            self._failed = exc
            raise
        self._redactor.add(token)
        self.from_env = False
        self.refreshes += 1
        return token
