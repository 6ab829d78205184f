"""Secrets never leave the process: one registry of secret values, masked everywhere we print.

Learners' emails stay out of logs: ``mask_emails`` (used by the log formatter, unless a person
asks for them with ``--log-pii``) keeps the first character and the domain, ``m***@acme.com``.
Reports are the HR person's own data and keep the emails as read.
"""

from __future__ import annotations

import logging
import re
import threading
import time

_lock = threading.Lock()
_secrets: set[str] = set()
MASK = "***"
# Query or form parameters that carry secrets, whatever their value.
_PARAMS = re.compile(
    r"((?:access_token|refresh_token|client_secret|code)=)[^&\s\"']+", re.IGNORECASE
)
# An Authorization value ("oauth <token>", "Bearer <token>"), with or without the header name.
_AUTH = re.compile(r"\b(oauth|bearer)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)


# An email address, as typed (maria@acme.com) or percent-encoded in a URL (maria%40acme.com,
# maria%2Bhr%40acme.com). The local part may hold %XX escapes; the domain has a dot.
_LOCAL = r"(?:[A-Za-z0-9._+\-]|%[0-9A-Fa-f]{2})+"
_EMAIL = re.compile(
    rf"(?<![A-Za-z0-9._+%\-])({_LOCAL})(@|%40)([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)",
    re.IGNORECASE,
)
# ALM's user lookup by email: ``ids=email:<address>`` (``email%3A...`` once encoded).
_EMAIL_ID = re.compile(r"(\bemail(?::|%3A))([^&\s\"'#,;<>]+)", re.IGNORECASE)


def _mask_address(match: re.Match[str]) -> str:
    local = match.group(1)
    first = local[0] if not local.startswith("%") else ""
    return f"{first}{MASK}{match.group(2)}{match.group(3)}"


def mask_emails(text: str) -> str:
    """Mask every email address in ``text`` (plain or URL-encoded): ``m***@acme.com``.

    The value of an ``email:`` id (``GET /users?ids=email:...``) is masked whatever it looks like.
    """
    if not text:
        return text

    def _id(match: re.Match[str]) -> str:
        masked = _EMAIL.sub(_mask_address, match.group(2))
        return match.group(1) + (masked if masked != match.group(2) else MASK)

    text = _EMAIL_ID.sub(_id, text)
    return _EMAIL.sub(_mask_address, text)


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
    """A logging filter that redacts the formatted message before any handler sees it:
    secrets always, learners' emails unless ``pii`` (``--log-pii``)."""

    def __init__(self, *, pii: bool = False) -> None:
        super().__init__()
        self.pii = pii

    def filter(self, record: logging.LogRecord) -> bool:
        message = redact(record.getMessage())
        record.msg = message if self.pii else mask_emails(message)
        record.args = ()
        return True


class RedactingFormatter(logging.Formatter):
    """``2026-11-30T18:33:31.123Z DEBUG batch.alm: ...``: a UTC ISO 8601 timestamp on every
    line (a scheduler's log shows when), and the whole formatted record (tracebacks included)
    redacted: secrets always, emails unless ``pii``."""

    def __init__(self, *, pii: bool = False) -> None:
        super().__init__(
            "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s",
            datefmt="%Y-%m-%dT%H:%M:%S",
        )
        self.pii = pii

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return time.strftime(datefmt or "%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))

    def format(self, record: logging.LogRecord) -> str:
        text = redact(super().format(record))
        return text if self.pii else mask_emails(text)
