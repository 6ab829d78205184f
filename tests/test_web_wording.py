"""No page text names a command-line flag or says "run the same command again": a message
names a run option in words with the CLI's flag in parentheses, and the page words it its own
way (``views.page_text``). Every row status, every question and the run-level errors are
rendered through the page and searched for a flag."""

from __future__ import annotations

import csv
import html
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from batch.cli import build_parser
from batch.errors import ConfigError, EmptyInput, UsageError
from batch.jobs.online import INTERRUPTED_LOOKUP, OFFLINE_VALID
from batch.models import RowResult, RowStatus
from batch.reporting.text import json_row
from batch.web.app import WebConfig, page_templates
from batch.web.views import RowQuery, error_text, page_text, posted
from tests.e2e_support import SAMPLE_CSV
from tests.meaning_support import AVA, FIRE
from tests.shape_files import QUESTIONS, no_date
from tests.web_support import H, dry_run, site, upload, wait

FLAG = re.compile(r"--[a-z]")
SAME_COMMAND = re.compile(r"same command", re.I)


def cli_flags() -> set[str]:
    """Every long option of every command of the CLI."""
    found: set[str] = set()
    parsers = [build_parser()]
    while parsers:
        parser = parsers.pop()
        for action in parser._actions:
            found.update(o for o in action.option_strings if o.startswith("--"))
            choices = getattr(action, "choices", None)
            if isinstance(choices, dict):
                parsers.extend(choices.values())
    return found - {"--help", "--version"}


def test_the_page_words_every_flag_of_the_command_line() -> None:
    flags = cli_flags()
    assert {"--map", "--completion-date", "--date-format", "--earliest-date"} <= flags
    for flag in sorted(flags):
        for text in (
            f"{flag} 'x' is not usable: check it.",  # the option as the subject
            f"Fill it in, or give one for every row ({flag} VALUE).",  # the option, named
            f"Nothing fits: run with {flag} auto or ask.",  # named in passing
        ):
            shown = page_text(text)
            assert not FLAG.search(shown), (flag, shown)
    assert page_text("--timezone 'Mars' is not a time zone name") == (
        "The time zone 'Mars' is not a time zone name"
    )
    assert page_text("or give one date for rows without one (--completion-date).") == (
        "or give one date for rows without one (on the Shape step)."
    )
    assert page_text("if the date is right, lower it (--earliest-date 1985-06-01).") == (
        "if the date is right, lower it."
    )
    assert page_text(INTERRUPTED_LOOKUP).endswith("Run the remaining rows to send them.")


def test_run_level_errors_show_no_flag_and_no_cli_hint() -> None:
    empty = EmptyInput("x.csv has a header (row 1) but no data rows.")
    assert error_text(empty) == "x.csv has a header (row 1) but no data rows."
    config = ConfigError("Missing configuration: ALM_CLIENT_ID.", hint="Use --offline.")
    assert error_text(config) == "Missing configuration: ALM_CLIENT_ID."
    usage = UsageError("--score-scale 'tenths' is not one of: fraction, as-written.")
    assert error_text(usage) == "The score scale 'tenths' is not one of: fraction, as-written."
    folder = UsageError("Bad folder.", hint="Choose another name.")
    assert error_text(folder) == "Bad folder. Choose another name."


def every_outcome(folder: Path) -> Path:
    """The sample file with a completion status column, and rows whose messages name options:
    a blank date, an unknown state, a date before 1990, one the file marks not done."""
    with SAMPLE_CSV.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    out = [[*rows[0], "Completion Status"], *([*r, "Completed"] for r in rows[1:])]
    extra = [("", "Completed"), ("2025-03-03", "Signed off"), ("1985-06-01", "Completed"),
             ("2025-03-03", "In Progress")]  # fmt: skip
    for date, state in extra:
        out.append([AVA, "Code of Conduct", date, "", "HR", state])
    path = folder / "every-outcome.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(out)
    return path


def test_every_row_status_of_a_dry_run_and_a_live_run_is_shown_without_a_flag(
    tmp_path: Path,
) -> None:
    with site(tmp_path) as s:
        c = s.client
        up = upload(c, every_outcome(tmp_path))
        job = dry_run(c, up["upload_id"])
        rows = c.get(f"/api/jobs/{job['job_id']}/rows", params={"limit": 500}).json()["rows"]
        messages = " ".join(r["message"] for r in rows)
        for flag in ("--completion-date", "--completed-values", "--earliest-date"):
            assert flag in messages  # the report's words, for the command line too
        seen = {r["status"] for r in rows}
        pages = [c.get(f"/jobs/{job['job_id']}", params={"limit": 250}).text]
        pages.append(c.get(f"/jobs/{job['job_id']}/confirm").text)
        r = c.post(f"/api/jobs/{job['job_id']}/run", json={"confirm": True}, headers=H)
        live = wait(c, r.json()["job_id"])
        pages.append(c.get(f"/jobs/{live['job_id']}", params={"limit": 250}).text)
        pages.append(c.get("/history").text)
        live_rows = c.get(f"/api/jobs/{live['job_id']}/rows", params={"limit": 500}).json()
        seen |= {r["status"] for r in live_rows["rows"]}
        assert seen >= {
            "would_complete", "completed", "already_completed", "duplicate", "not_completed",
            "invalid", "user_not_found", "course_not_found", "ambiguous_course", "rejected",
        }  # fmt: skip
        for page in pages:
            assert not FLAG.search(page) and not SAME_COMMAND.search(page)
        assert "or give one date for rows without one (on the Shape step)" in pages[0]
        for status in (job, live):
            assert not FLAG.search(c.get(f"/api/jobs/{status['job_id']}").json()["message"])


def test_every_status_renders_through_the_rows_table_without_a_flag(tmp_path: Path) -> None:
    """The statuses no sandbox run above produces (failed, unknown, valid) too: one row of
    each, with the words the stages write, through the results table of a dry run and of a
    live run."""
    messages = {
        RowStatus.UNKNOWN: INTERRUPTED_LOOKUP,
        RowStatus.VALID: OFFLINE_VALID,
        RowStatus.FAILED: "ALM refused the grade after 3 attempts: HTTP 400 Bad Request.",
        RowStatus.INVALID: "Completion Date is empty: fill in the date completed (YYYY-MM-DD),"
        " or give one date for rows without one (--completion-date).",
    }
    templates = page_templates(WebConfig(state_dir=tmp_path, settings_factory=lambda: None))  # type: ignore[arg-type, return-value]
    for kind in ("dry-run", "live"):
        items = []
        for number, status in enumerate(RowStatus, start=2):
            result = RowResult(
                number,
                {"Email": "a@acme.example", "Course": FIRE},
                status,
                messages.get(status, f"A row that is {status.value}."),
            )
            row = json_row(result, live=kind == "live")
            items.append({"row": row, "posted": posted(row), "suggestions": [],
                          "candidates": [], "courses": []})  # fmt: skip
        job = SimpleNamespace(
            job_id="0123456789ab", kind=kind, state="done", live_job=None, restored=False,
            upload=SimpleNamespace(file="x.csv"), edits=[],
        )  # fmt: skip
        table = templates.get_template("_rows.html").render(
            job=job, rows=items, query=RowQuery(), total=len(items), email_header="Email",
            course_header="Course", same_value_count=lambda h, v: 1,
        )  # fmt: skip
        for status in RowStatus:
            assert f'sev-{status.value}">{status.value.replace("_", " ")}<' in table
        assert not FLAG.search(table) and not SAME_COMMAND.search(table)


def test_every_question_and_the_shape_steps_errors_show_no_flag(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        c = s.client
        for name, (make, _ask, _field) in QUESTIONS.items():
            folder = tmp_path / name.replace(" ", "-")
            folder.mkdir()
            up = upload(c, make(folder))
            page = c.get(f"/uploads/{up['upload_id']}").text
            assert not FLAG.search(page), name
            refused: Any = c.post(f"/api/uploads/{up['upload_id']}/dry-run", json={}, headers=H)
            assert not FLAG.search(refused.text), name
        # a default date in the future, a time zone that does not exist: said on the Shape step
        up = upload(c, no_date(tmp_path))
        for params, said in (
            ({"completion_date": "2031-01-01"}, "The default completion date '2031-01-01' is"),
            (
                {"timezone": "Mars/Olympus", "completion_date": "2025-03-01"},
                "The time zone 'Mars/Olympus' is not a time zone",
            ),
        ):
            page = html.unescape(c.get(f"/uploads/{up['upload_id']}", params=params).text)
            assert said in page and not FLAG.search(page)
            r = c.post(f"/api/uploads/{up['upload_id']}/dry-run", json=params, headers=H)
            assert r.status_code == 400 and said in r.json()["error"]
