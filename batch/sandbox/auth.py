"""OAuth as ALM does it for an integration: refresh-token flow, token check, header check.

alm-api.md §1: ``POST /oauth/token/refresh`` with form fields client_id, client_secret and
refresh_token; while the current access token is valid, refreshing returns *the same token*
(its expiry is not extended). ``token_ttl`` is read live from the config, so a test can shorten
the lifetime of a token already issued (lengthening it later does not revive an expired one). Both ``oauth <token>`` and ``Bearer <token>`` are
accepted, the scheme case-insensitively.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from batch.sandbox.config import SandboxConfig
from batch.sandbox.failures import ApiFailure

SCOPE = "admin:read,admin:write"


@dataclass(slots=True)
class Token:
    value: str
    issued: float  # real monotonic time
    expires: float = float("inf")  # only ever lowered: a longer token_ttl revives nothing


class TokenStore:
    """Issued access tokens; only the newest one is valid (ALM returns it until it expires)."""

    def __init__(self, config: Callable[[], SandboxConfig], account_id: str) -> None:
        self._config = config
        self._account_id = account_id
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}
        self._current: Token | None = None

    def _remaining(self, token: Token) -> float:
        token.expires = min(token.expires, token.issued + self._config().token_ttl)
        return token.expires - time.monotonic()

    def refresh(self, form: dict[str, str]) -> dict[str, Any]:
        """Answer ``POST /oauth/token/refresh`` (fields from the form body or the query)."""
        cfg = self._config()
        for name in ("client_id", "client_secret", "refresh_token"):
            if not form.get(name):
                raise ApiFailure(400, "Missing Param", name, extra={"error": "invalid_request"})
        if form["client_id"] != cfg.client_id or form["client_secret"] != cfg.client_secret:
            raise ApiFailure(
                401,
                "Invalid client",
                "client_id or client_secret is not valid for this account",
                extra={"error": "invalid_client"},
            )
        if form["refresh_token"] != cfg.refresh_token:
            raise ApiFailure(
                400,
                "Invalid refresh token",
                "the refresh_token is unknown or was revoked",
                extra={"error": "invalid_grant"},
            )
        with self._lock:
            token = self._current
            if token is None or self._remaining(token) <= 0:
                token = Token(secrets.token_hex(16), time.monotonic())
                self._tokens = {token.value: token}
                self._current = token
            expires = max(0, int(self._remaining(token)))
        return {
            "access_token": token.value,
            "refresh_token": cfg.refresh_token,
            "expires_in": expires,
            "token_type": "oauth",
        }

    def check(self, access_token: str) -> dict[str, Any]:
        """Answer ``GET /oauth/token/check?access_token=...``."""
        with self._lock:
            token = self._tokens.get(access_token)
        if token is None:
            raise ApiFailure(
                400, "Invalid token", "unknown access_token", extra={"error": "invalid_token"}
            )
        remaining = self._remaining(token)
        if remaining <= 0:
            raise ApiFailure(
                401, "Token expired", "the access_token has expired", extra={"error": "expired"}
            )
        return {
            "access_token": access_token,
            "client_id": self._config().client_id,
            "scope": "admin:read" if self._config().writes_forbidden else SCOPE,
            "role": "admin",
            "account_id": self._account_id,
            "user_id": "15263400",
            "expires_in": int(remaining),
        }

    def authorize(self, header: str | None) -> None:
        """Raise a 401 unless ``header`` is ``oauth <valid token>`` or ``Bearer <valid token>``."""
        if not header:
            raise ApiFailure(401, "Unauthorized", "Authorization header missing")
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() not in ("oauth", "bearer") or not value.strip():
            raise ApiFailure(
                401,
                "Unauthorized",
                "Authorization header must be 'oauth <access_token>' or 'Bearer <access_token>'",
            )
        with self._lock:
            token = self._tokens.get(value.strip())
        if token is None:
            raise ApiFailure(401, "Unauthorized", "invalid access token")
        if self._remaining(token) <= 0:
            raise ApiFailure(401, "Access token expired", "refresh the access token")

    def reset(self) -> None:
        with self._lock:
            self._tokens = {}
            self._current = None


def parse_form(body: bytes, query: dict[str, list[str]]) -> dict[str, str]:
    """Form fields from an urlencoded body, falling back to query parameters (as S23 sends)."""
    fields = {k: v[0] for k, v in query.items() if v}
    if body:
        parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        fields.update({k: v[0] for k, v in parsed.items() if v})
    return fields
