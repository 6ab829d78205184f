import logging

from batch.redact import MASK, RedactingFilter, redact, register_secrets


def test_registered_secret_values_are_masked_everywhere():
    register_secrets(["s3cr3t-value-123", "rt-abcdef-999"])
    text = "refresh failed for s3cr3t-value-123 with rt-abcdef-999 at host"
    out = redact(text)
    assert "s3cr3t-value-123" not in out and "rt-abcdef-999" not in out
    assert out.count(MASK) == 2


def test_secret_parameters_and_authorization_headers_are_masked_without_registration():
    out = redact(
        "GET /oauth/token/check?access_token=tok123456&x=1 Authorization: oauth abc.def.ghi"
    )
    assert "tok123456" not in out and "abc.def.ghi" not in out
    assert "access_token=***" in out and "x=1" in out


def test_logging_filter_redacts_formatted_messages():
    register_secrets(["log-secret-42"])
    record = logging.LogRecord(
        "batch", logging.INFO, __file__, 1, "sent %s", ("log-secret-42",), None
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == f"sent {MASK}"
