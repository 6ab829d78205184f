"""Every question a run asks about the file (a ``ShapeQuestion``: the CLI answers it with a flag)
opens the page's Shape step on that choice, with the file's columns, the values that tell the
choices apart and the tool's suggestion pre-set; the answer is given there, never with a flag;
what the upload check learned pre-sets the lists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.shape_files import (
    QUESTIONS,
    answer,
    months,
    no_date,
    phase_column,
    summary_first,
    unknown_states,
    workday_names,
)
from tests.web_support import H, dry_run, problem_xlsx, site, upload, wait

FLAG = re.compile(r"--[a-z]")


def asked(body: dict[str, Any], ask: str) -> dict[str, Any]:
    found = [q for q in body["questions"] if q["ask"] == ask]
    assert found, body["questions"]
    return found[0]


def post_dry_run(c: Any, upload_id: str, **body: Any) -> Any:
    return c.post(f"/api/uploads/{upload_id}/dry-run", json=body, headers=H)


@pytest.mark.parametrize("name", list(QUESTIONS))
def test_each_question_opens_the_shape_step_on_its_choice(name: str, tmp_path: Path) -> None:
    from batch.web import shapeform

    make, ask, field = QUESTIONS[name]
    with site(tmp_path) as s:
        c = s.client
        up = upload(c, make(tmp_path))  # 201: the Shape step opens, whatever is asked
        question = asked(up, ask)
        assert question["field"] == field and "--" not in question["message"]
        page = c.get(f"/uploads/{up['upload_id']}")
        assert page.status_code == 200 and not FLAG.search(page.text)
        shape = c.get(f"/api/uploads/{up['upload_id']}").json()
        if question["in_table"]:  # a required field without a column: its own list asks
            assert f'id="missing-{field}"' in page.text
        else:
            assert f"<legend>{shapeform.title(question, shape)}</legend>" in page.text
            for choice in question["choices"][:3]:  # the values that tell the choices apart
                for sample in choice["samples"][:1]:
                    assert sample in page.text
        r = post_dry_run(c, up["upload_id"])
        if question["blocking"]:  # a run would stop on it: the page asks first
            assert r.status_code == 400 and not FLAG.search(r.json()["error"])
        else:
            assert r.status_code == 202


def test_a_workday_export_runs_once_the_email_question_is_answered(tmp_path: Path) -> None:
    """Today's CLI answer is --map "Email - Primary Work=email"; the page asks, with the
    addresses as samples, the column that holds them pre-set."""
    from batch.web import shapeform

    with site(tmp_path) as s:
        c = s.client
        up = upload(c, workday_names(tmp_path))
        question = asked(up, "mapping")
        assert question["suggested"] == "Email - Primary Work"
        assert (
            "'Learner' is named like an email column but holds no addresses"
            in (question["message"])
        )
        page = c.get(f"/uploads/{up['upload_id']}").text
        value = shapeform.answer_value(question, question["choices"][0])
        assert re.search(r'value="[^"]*Email - Primary Work=email[^"]*" checked', page)
        assert 'id="map-email"' not in page  # the question decides the email column
        job = dry_run(c, up["upload_id"], **{"answer-1": value})
        rows = c.get(f"/api/jobs/{job['job_id']}/rows").json()["rows"]
        assert [r["status"] for r in rows] == ["would_complete"] * 3
        after = c.get(f"/uploads/{up['upload_id']}").text  # the answer shows in its list
        assert 'value="Email - Primary Work=email" selected' in after


def test_the_sheet_question_is_pre_set_to_the_tab_the_workbook_opens_on(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        c = s.client
        up = upload(c, months(tmp_path))
        question = asked(up, "sheet")
        assert question["suggested"] == "April"
        assert [c["label"] for c in question["choices"]] == [
            "March (1 data rows)", "April (2 data rows)"]  # fmt: skip
        page = c.get(f"/uploads/{up['upload_id']}").text
        assert '<select id="sheet"' not in page  # the question, not a list, picks the sheet
        assert "e.g. 2025-04-01 · 2025-04-02" in page
        job = dry_run(c, up["upload_id"], **{"answer-1": answer({"sheet": "March"})})
        assert job["rows"] == 1
        # a Summary tab first: the page opens on the data tab, as the CLI reads it, and says why
        again = upload(c, summary_first(tmp_path))
        shape = c.get(f"/api/uploads/{again['upload_id']}").json()
        assert shape["sheet"] == "Data" and shape["questions"] == []
        assert "read sheet 'Data', the only sheet that has them" in " ".join(shape["notes"])


def test_an_answer_shows_in_its_own_control_and_can_be_taken_back(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        c = s.client
        up = upload(c, phase_column(tmp_path))
        uid = up["upload_id"]
        question = asked(up, "mapping")
        assert question["column"] == "Enrollment Phase"
        assert [ch["value"] for ch in question["choices"]] == ["Enrollment Phase", "ignore"]
        left_out = answer({"ignore_columns": ["Enrollment Phase"]})
        shape = c.get(f"/api/uploads/{uid}", params={"answer-1": left_out}).json()
        assert shape["questions"] == [] and shape["ignored"] == ["Enrollment Phase"]
        page = c.get(f"/uploads/{uid}", params={"answer-1": left_out}).text
        assert 'name="ignore_columns" value="Enrollment Phase" checked' in page
        # unticked again (the form then sends only its blank marker): the question is back
        page = c.get(f"/uploads/{uid}", params={"ignore_columns": ""}).text
        assert "Is column “Enrollment Phase” the completion status?" in page
        # used as the completion status: the row it marks In Progress is not posted
        used = answer({"map": ["Enrollment Phase=completion_status"]})
        job = dry_run(c, uid, **{"answer-1": used})
        rows = c.get(f"/api/jobs/{job['job_id']}/rows").json()["rows"]
        assert [r["status"] for r in rows] == ["would_complete", "not_completed", "would_complete"]


def test_values_that_mean_done_are_ticked_on_the_shape_step(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        c = s.client
        up = upload(c, unknown_states(tmp_path))
        question = asked(up, "completed_values")
        assert not question["blocking"] and question["multiple"]
        assert question["choices"] == [
            {"value": "Signed off", "label": "Signed off", "samples": ["2 rows"]}]  # fmt: skip
        job = dry_run(c, up["upload_id"])  # not answered: those rows say what is wrong
        rows = c.get(f"/api/jobs/{job['job_id']}/rows").json()["rows"]
        assert [r["status"] for r in rows] == ["would_complete", "invalid", "invalid"]
        assert "(--completed-values)" in rows[1]["message"]  # the report, for both
        page = c.get(f"/jobs/{job['job_id']}").text
        assert "add it to the completed values (on the Shape step)" in page
        assert not FLAG.search(page)
        job = dry_run(c, up["upload_id"], completed_values=["", "Signed off"])
        rows = c.get(f"/api/jobs/{job['job_id']}/rows").json()["rows"]
        assert [r["status"] for r in rows] == ["would_complete"] * 3
        shown = c.get(f"/uploads/{up['upload_id']}").text
        assert 'name="completed_values" value="Signed off" checked' in shown


def test_a_date_for_rows_without_one_answers_a_missing_date_column(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        c = s.client
        up = upload(c, no_date(tmp_path))
        assert up["missing"] == ["completion_date"]
        r = post_dry_run(c, up["upload_id"])
        assert r.status_code == 400 and r.json()["error"] == (
            "Choose the column that holds: Completion date.")  # fmt: skip
        page = c.get(f"/uploads/{up['upload_id']}").text
        assert 'id="completion_date" name="completion_date" type="date"' in page
        job = dry_run(c, up["upload_id"], completion_date="2025-03-01")
        rows = c.get(f"/api/jobs/{job['job_id']}/rows").json()["rows"]
        assert {r["date_completed"][:10] for r in rows} == {"2025-03-01"}


def test_an_empty_export_is_nothing_to_do_once_the_person_says_it_is_normal(
    tmp_path: Path,
) -> None:
    from tests.shape_files import empty

    with site(tmp_path) as s:
        c = s.client
        up = upload(c, empty(tmp_path))
        assert up["rows"] == 0 and asked(up, "allow_empty")["choices"][0]["value"] == "true"
        job = dry_run(c, up["upload_id"], **{"answer-1": answer({"allow_empty": "true"})})
        assert job["state"] == "done" and job["exit_code"] == 0 and job["rows"] == 0
        assert job["message"] == "Nothing to do: the file has a header but no data rows."


def test_what_the_upload_check_learned_pre_sets_the_lists(tmp_path: Path) -> None:
    """An email column no alias knows ("Work Mail"): the column holding addresses is chosen
    in the email list, marked as missing until the person confirms it."""
    with site(tmp_path) as s:
        c = s.client
        up = upload(c, problem_xlsx(tmp_path / "march.xlsx"))
        assert up["missing"] == ["email"]
        assert asked(up, "mapping")["suggested"] == "Work Mail"
        page = c.get(f"/uploads/{up['upload_id']}").text
        assert 'value="Work Mail=email" selected' in page
        assert "“Work Mail” looks like it: it is chosen, check it." in page
        job = dry_run(c, up["upload_id"], map=["Work Mail=email"])
        assert job["state"] == "done"


def test_remembered_answers_come_back_for_files_with_the_same_columns(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        c = s.client
        path = phase_column(tmp_path)
        up = upload(c, path)
        left_out = answer({"ignore_columns": ["Enrollment Phase"]})
        r = c.post(
            f"/api/uploads/{up['upload_id']}/dry-run",
            data={"answer-1": left_out, "remember": "true", "map": ""},
            headers={**H, "HX-Request": "true"},
        )
        assert r.status_code == 202
        wait(c, r.json()["job_id"])
        again = upload(c, path)
        assert again["remembered"] and again["questions"] == []
        shape = c.get(f"/api/uploads/{again['upload_id']}").json()
        assert shape["ignored"] == ["Enrollment Phase"]


def test_a_mapping_to_a_column_the_file_lacks_is_shown_in_that_fields_list(
    tmp_path: Path,
) -> None:
    from tests.e2e_support import SAMPLE_CSV

    with site(tmp_path) as s:
        c = s.client
        up = upload(c, SAMPLE_CSV, map="Work Mail=email")
        question = asked(up, "mapping")
        assert question["in_table"] and question["field"] == "email"
        assert (
            "the column chosen for email, 'Work Mail', is not in the file" in (question["message"])
        )
        page = c.get(f"/uploads/{up['upload_id']}").text
        assert "the column chosen for email, &#39;Work Mail&#39;, is not in the file" in page
        assert post_dry_run(c, up["upload_id"]).status_code == 400
        job = dry_run(c, up["upload_id"], map=["Learner Email=email"])  # the list, as sent
        assert job["state"] == "done"
