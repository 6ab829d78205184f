"""Secrets never leave the process: one registry of secret values, masked everywhere we print."""

from __future__ import annotations

import logging
import re
import threading

_lock = threading.Lock()
_secrets: set[str] = set()
MASK = "***"
# Query or form parameters that carry secrets, whatever their value.
_PARAMS = re.compile(
    r"((?:access_token|refresh_token|client_secret|code)=)[^&\s\"']+", re.IGNORECASE
)
# An Authorization value ("oauth <token>", "Bearer <token>"), with or without the header name.
_AUTH = re.compile(r"\b(oauth|bearer)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)


def register_secrets(values: list[str]) -> None:
    """Remember secret values (4+ characters) so ``redact`` masks them wherever they appear."""
    with _lock:
        _secrets.update(v for v in values if v and len(v) >= 4)


def mask(text: str, secrets: set[str] | frozenset[str] = frozenset()) -> str:
    """Mask ``secrets`` and every registered secret value, secret-bearing parameters and
    Authorization values in ``text``: the one place redaction happens."""
    if not text:
        return text
    with _lock:
        values = sorted(_secrets | secrets, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    text = _PARAMS.sub(lambda m: m.group(1) + MASK, text)
    return _AUTH.sub(lambda m: f"{m.group(1)} {MASK}", text)


def redact(text: str) -> str:
    """Mask registered secret values, secret-bearing URL parameters and Authorization values."""
    return mask(text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = ()
        return True
