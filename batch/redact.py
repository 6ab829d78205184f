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
    r"(?i)\b(access_token|refresh_token|client_secret|code)=([^&\s\"']+)"
)
_AUTH = re.compile(r"(?i)\b(authorization:\s*(?:oauth|bearer))\s+\S+")


def register_secrets(values: list[str]) -> None:
    """Remember secret values (4+ characters) so ``redact`` masks them wherever they appear."""
    with _lock:
        _secrets.update(v for v in values if v and len(v) >= 4)


def redact(text: str) -> str:
    """Mask registered secret values, secret-bearing URL parameters and Authorization headers."""
    if not text:
        return text
    with _lock:
        values = sorted(_secrets, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    text = _PARAMS.sub(lambda m: f"{m.group(1)}={MASK}", text)
    return _AUTH.sub(lambda m: f"{m.group(1)} {MASK}", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = ()
        return True
