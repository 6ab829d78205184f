"""The run summary: the stderr block people read, the JSON schedulers read, secrets never shown."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from batch.models import RunSummary
from batch.reporting.summary import format_summary, human_duration, safe_host, summary_json

START = datetime(2026, 11, 26, 14, 15, 30, tzinfo=UTC)


def _summary(**kw: object) -> RunSummary:
    base: dict[str, object] = dict(
        run_id="r1", command="validate", dry_run=True, input_path="/data/hr/q3.xlsx",
        input_sha256="ab" * 32, alm_host="https://learningmanager.adobe.com",
        started_at=START, ended_at=START + timedelta(seconds=123),
    )  # fmt: skip
    base.update(kw)
    return RunSummary(**base)  # type: ignore[arg-type]


def test_dry_run_block_has_counts_estimate_paths_and_exit_meaning() -> None:
    summary = _summary(
        rows=1234,
        counts={"would_complete": 1200, "already_completed": 20, "invalid": 10, "user_not_found": 4},
        writes_planned=3900,
        estimate_seconds=7800.0,
        estimate_basis="1,100 learner reads at 100/min beside 3,900 writes at 30/min (default)",
        api_calls={"GET /users": 20, "GET /learningObjects/{id}": 12, "POST /jobs": 1,
                   "GET /learningObjects": 2, "GET /jobs/{id}": 5},
        throttled=2,
        report_paths=["/data/hr/q3.report.xlsx", "/data/hr/q3.failed.xlsx"],
        exit_status=1,
    )  # fmt: skip
    assert format_summary(summary) == "\n".join(
        [
            "alm-batch validate (dry run): q3.xlsx, 1,234 rows in 2 min 3 s",
            "  would_complete     1,200",
            "  already_completed     20",
            "  invalid               10",
            "  user_not_found         4",
            "writes: none made (dry run); the live run needs 3,900 writes, "
            "about 2 h 10 min (1,100 learner reads at 100/min beside 3,900 writes at 30/min "
            "(default))",
            "API calls: 40 (GET /users 20, GET /learningObjects/{id} 12, GET /jobs/{id} 5, 3 other)",
            "429s met: 2",
            "report: /data/hr/q3.report.xlsx",
            "failed rows: /data/hr/q3.failed.xlsx",
            "exit 1: 14 rows need attention: see the failed-rows file",
        ]
    )


def test_live_block_counts_writes_made() -> None:
    text = format_summary(
        _summary(
            dry_run=False,
            command="run",
            rows=1,
            counts={"completed": 1},
            writes_planned=2,
            writes_made=2,
            report_paths=["/r.csv"],
        )  # fmt: skip
    )
    assert "writes: 2 made of 2 planned" in text
    assert "API calls: 0" in text
    assert text.endswith("exit 0: every row ended well")
    assert "\n  completed          1\n" in text


@pytest.mark.parametrize(
    ("code", "meaning"),
    [
        (0, "exit 0: every row is ready for the live run"),
        (2, "exit 2: usage, configuration or unreadable input; nothing was written to ALM"),
        (3, "exit 3: ALM stopped the run (authentication refused, write scope missing, "
            "every grade body refused, or API unreachable); "
            "the report shows what was done"),
        (130, "exit 130: interrupted; report and ledger saved: run the same command again to resume"),
    ],
)  # fmt: skip
def test_exit_code_meanings(code: int, meaning: str) -> None:
    # rows=1: a run with no data rows is "nothing to do" (tests/test_allow_empty.py)
    assert format_summary(_summary(exit_status=code, rows=1)).splitlines()[-1] == meaning


def test_one_failed_row_without_failed_file_points_at_the_report() -> None:
    summary = _summary(counts={"failed": 1}, exit_status=1, report_paths=["/r.json"])
    assert format_summary(summary).endswith("exit 1: 1 row needs attention: see the report")


def test_quiet_prints_only_the_report_paths() -> None:
    summary = _summary(report_paths=["/a/q3.report.csv", "/a/q3.failed.csv"])
    assert format_summary(summary, quiet=True) == "/a/q3.report.csv\n/a/q3.failed.csv"


def test_summary_json_is_json_safe_and_secret_free() -> None:
    summary = _summary(
        counts={"invalid": 2},
        options={
            "client_secret": "S1",
            "ALM_REFRESH_TOKEN": "S2",
            "password": "S3",
            "access-token": "S4",
            "api_key": "S5",
            "some_value": SecretStr("S6"),
            "state_dir": Path("/var/state"),
            "since": START,
            "map": {"Mail": "email"},
            "tags": {"b", "a"},
            "verify": True,
        },  # fmt: skip
        alm_host="https://user:S7@learningmanager.adobe.com/primeapi/v2?access_token=S8",
        estimate_seconds=float("nan"),
    )
    data = summary_json(summary)
    text = json.dumps(data)  # raises if not JSON-safe
    assert not [s for s in ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8") if s in text]
    assert data["options"] == {
        "state_dir": "/var/state", "since": "2026-11-26T14:15:30+00:00",
        "map": {"Mail": "email"}, "tags": ["a", "b"], "verify": True,
    }  # fmt: skip
    assert data["alm_host"] == "https://learningmanager.adobe.com"
    assert data["started_at"] == "2026-11-26T14:15:30+00:00"
    assert data["duration_seconds"] == 123.0
    assert data["counts"]["invalid"] == 2 and data["counts"]["completed"] == 0
    assert data["rows_failed"] == 2 and data["estimate_seconds"] is None


def test_summary_json_before_the_end() -> None:
    data = summary_json(_summary(ended_at=None))
    assert data["ended_at"] is None and data["duration_seconds"] is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.02, "under 0.1 s"), (0.42, "0.4 s"), (42, "42 s"), (123, "2 min 3 s"), (120, "2 min"), (7800, "2 h 10 min"),
     (7200, "2 h"), (90000, "25 h")],
)  # fmt: skip
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(
    ("host", "safe"),
    [("learningmanager.adobe.com", "learningmanager.adobe.com"),
     ("http://127.0.0.1:8123/primeapi/v2", "http://127.0.0.1:8123")],
)  # fmt: skip
def test_safe_host(host: str, safe: str) -> None:
    assert safe_host(host) == safe


def test_json_summary_labels_the_report_files() -> None:
    both = summary_json(
        _summary(report_paths=["/data/hr/q3.report.xlsx", "/data/hr/q3.failed.xlsx"])
    )
    assert both["reports"] == {
        "report": "/data/hr/q3.report.xlsx",
        "failed_rows": "/data/hr/q3.failed.xlsx",
    }
    # Every row ended well: no failed-rows file, and the label says so rather than vanishing.
    alone = summary_json(_summary(report_paths=["/data/hr/q3.report.xlsx"]))
    assert alone["reports"] == {"report": "/data/hr/q3.report.xlsx", "failed_rows": None}
    assert json.loads(json.dumps(alone))["reports"]["failed_rows"] is None


def test_summary_sheet_says_durations_and_ttls_in_words_and_names_the_failed_rows_file() -> None:
    from batch.reporting.summary import summary_rows

    rows = summary_rows(
        _summary(
            options={"cache_ttl": 86400.0, "give_up_after": 200.0, "concurrency": 4},
            estimate_seconds=7800.0,
            report_paths=["/data/hr/q3.report.xlsx", "/data/hr/q3.failed.xlsx"],
        )
    )
    pairs = dict(rows)
    assert pairs["Duration"] == "2 min 3 s"  # 123 s
    assert "Duration (s)" not in pairs
    assert pairs["  cache_ttl"] == "24 h"
    assert pairs["  give_up_after"] == "3 min 20 s"
    assert pairs["  concurrency"] == 4  # a count stays a number
    assert pairs["Live run estimate"] == "2 h 10 min"
    assert ("Report file", "/data/hr/q3.report.xlsx") in rows
    assert ("Failed-rows file", "/data/hr/q3.failed.xlsx") in rows
    assert [label for label, _ in rows].count("Report file") == 1
