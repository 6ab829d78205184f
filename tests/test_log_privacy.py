"""``--verbose`` logs: a timestamp on every line, and never a learner's email unless
``--log-pii`` (for schedulers and privacy)."""

from __future__ import annotations

import csv
import logging
import re
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from batch.redact import MASK, RedactingFilter, RedactingFormatter, mask_emails, register_secrets
from batch.sandbox import Sandbox
from tests.e2e_support import run_cli, sandbox_env

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR) batch")


@pytest.mark.parametrize(
    "text, masked",
    [
        (
            "GET https://h/primeapi/v2/users?ids=email%3AMaria.Gonzalez%40acme-corp.example&x=1",
            "GET https://h/primeapi/v2/users?ids=email%3AM***%40acme-corp.example&x=1",
        ),
        ("GET /users?ids=email:ann@acme.com -> 404", "GET /users?ids=email:a***@acme.com -> 404"),
        ("ids=email:not-an-address", "ids=email:***"),
        ("to=jo%2Bhr%40acme.com&y=2", "to=j***%40acme.com&y=2"),
        (
            "Could not read ann.lee@acme.co.uk's enrollments",
            "Could not read a***@acme.co.uk's enrollments",
        ),
        ("user 15263401, course:123_4, 2025-05-06", "user 15263401, course:123_4, 2025-05-06"),
    ],
)
def test_emails_are_masked_in_text_and_urls(text: str, masked: str) -> None:
    assert mask_emails(text) == masked


def test_the_log_formatter_masks_emails_and_secrets_even_in_tracebacks() -> None:
    register_secrets(["tok-secret-9876"])
    try:
        raise RuntimeError("lookup of bob@acme.com with tok-secret-9876 failed")
    except RuntimeError:
        record = logging.LogRecord(
            "batch.x", logging.ERROR, __file__, 1, "row for %s", ("bob@acme.com",), True
        )
        record.exc_info = sys.exc_info()
    line = RedactingFormatter().format(record)
    assert STAMP.match(line), line
    assert "bob@acme.com" not in line and "tok-secret-9876" not in line
    assert "b***@acme.com" in line and MASK in line
    shown = RedactingFormatter(pii=True).format(record)
    assert "bob@acme.com" in shown and "tok-secret-9876" not in shown  # secrets: never
    kept = logging.LogRecord("batch", logging.DEBUG, __file__, 1, "%s", ("eve@acme.com",), None)
    assert RedactingFilter(pii=True).filter(kept) and kept.getMessage() == "eve@acme.com"


def emails_of(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [r[0].strip() for r in list(csv.reader(fh))[1:] if "@" in r[0]]


def test_verbose_logs_have_timestamps_and_no_email_unless_log_pii(
    sb: Sandbox, sample: Path, tmp_path: Path
) -> None:
    emails = emails_of(sample)
    assert len(emails) > 10
    alm = sandbox_env(sb, tmp_path / "state")
    args = ["validate", str(sample), "--verbose", "--report", str(tmp_path / "r.csv")]
    masked = run_cli(args, cwd=tmp_path, alm=alm, timeout=120)
    assert masked.code in (0, 1), masked
    logs = [line for line in masked.stderr.splitlines() if " batch." in line]
    assert any("ids=email" in line for line in logs), "the user lookups are logged"
    assert logs and all(STAMP.match(line) for line in logs), logs[:3]
    text = masked.stderr.casefold()
    for email in emails:
        assert email.casefold() not in text, email
        assert quote(email, safe="").casefold() not in text, email
    shown = run_cli([*args, "--log-pii", "--refresh-cache"], cwd=tmp_path, alm=alm, timeout=120)
    assert shown.code == masked.code, shown
    assert any(quote(e, safe="") in shown.stderr or e in shown.stderr for e in emails)
