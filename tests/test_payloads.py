"""The userModuleGrade body (docs/alm-api.md) in each shape the client may try."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from batch.alm.grade_shapes import GradeShape, all_shapes
from batch.alm.payloads import alm_datetime, derive_course_module_id, grade_payload
from batch.alm.types import GradeRequest

FIRST = all_shapes()[0]


def shape(**kw: Any) -> GradeShape:
    values: dict[str, Any] = {"module_form": "course_module", "instance_field": "none"}
    values["course_type"] = "course"
    values.update(kw)
    return GradeShape(**values)


GRADE = GradeRequest(
    user_id="13230830",
    course_id="course:7968486",
    instance_id="course:7968486_55",
    module_id="course:7968486_55_13210487_0",
    date_completed=datetime(2023, 9, 20, 9, 36, 36, tzinfo=UTC),
    date_started=datetime(2023, 9, 19, 9, 35, 57, tzinfo=UTC),
    score=20.0,
    min_score=10.0,
    max_score=20.0,
)


def test_first_shape_is_adobe_sample_without_instance() -> None:
    assert FIRST == shape()
    body = grade_payload(GRADE, FIRST)
    assert body == {
        "data": {
            "type": "userModuleGrade",
            "attributes": {
                "duration": 1,
                "score": 20,
                "minScore": 10,
                "maxScore": 20,
                "dateCompleted": "2023-09-20T09:36:36.000Z",
                "dateSuccess": "2023-09-20T09:36:36.000Z",
                "dateStarted": "2023-09-19T09:35:57.000Z",
                "started": True,
                "completed": True,
                "success": True,
            },
            "relationships": {
                "learner": {"data": [{"id": "13230830", "type": "user"}]},
                "module": {"data": [{"id": "7968486132104870", "type": "courseModule"}]},
                "course": {"data": [{"id": "7968486", "type": "course"}]},
            },
        }
    }


def test_lo_resource_form_attribute_instance_and_course_type() -> None:
    body = grade_payload(
        GRADE,
        shape(module_form="lo_resource", instance_field="attribute", course_type="learningObject"),
    )["data"]
    assert body["relationships"]["module"]["data"] == [
        {"id": "course:7968486_55_13210487_0", "type": "learningObjectResource"}
    ]
    assert body["relationships"]["course"]["data"] == [{"id": "7968486", "type": "learningObject"}]
    assert "loInstance" not in body["relationships"]
    assert body["attributes"]["loInstanceId"] == "course:7968486_55"


def test_no_instance_and_minimal_grade() -> None:
    grade = GradeRequest(
        user_id="1",
        course_id="course:2",
        instance_id="course:2_3",
        module_id="course:2_3_4_0",
        date_completed=datetime(2025, 1, 2, 3, 4, 5, 678900, tzinfo=timezone(timedelta(hours=2))),
    )
    body = grade_payload(grade, shape())["data"]
    attrs = body["attributes"]
    assert "loInstance" not in body["relationships"] and "loInstanceId" not in attrs
    assert not {"score", "minScore", "maxScore"} & attrs.keys()
    assert attrs["dateCompleted"] == "2025-01-02T01:04:05.678Z"  # converted to UTC
    assert attrs["dateStarted"] == attrs["dateCompleted"]  # no start date: same instant
    assert body["relationships"]["module"]["data"][0]["id"] == "240"


def test_failed_attempt_has_no_success_date() -> None:
    grade = GradeRequest(
        **{
            **{f: getattr(GRADE, f) for f in GRADE.__slots__},  # type: ignore[arg-type]
            "passed": False,
            "score": 4.5,
        }
    )
    attrs = grade_payload(grade, FIRST)["data"]["attributes"]
    assert attrs["success"] is False and "dateSuccess" not in attrs
    assert attrs["completed"] is True and attrs["score"] == 4.5


@pytest.mark.parametrize(
    "lo_resource, expected",
    [
        ("course:7968486_55_13210487_0", "7968486132104870"),
        ("course:1_2_3_4", "134"),
        (" course:10_20_30_1 ", "10301"),
    ],
)
def test_derive_course_module_id(lo_resource: str, expected: str) -> None:
    assert derive_course_module_id(lo_resource) == expected


@pytest.mark.parametrize("bad", ["course:1_2", "course:1_2_x_0", "", "course:1_2_3_0_resource"])
def test_derive_course_module_id_refuses_other_shapes(bad: str) -> None:
    with pytest.raises(ValueError, match="loResource id"):
        derive_course_module_id(bad)


def test_naive_datetime_is_utc() -> None:
    assert alm_datetime(datetime(2024, 2, 29, 23, 59, 59)) == "2024-02-29T23:59:59.000Z"


def test_instance_as_relationship() -> None:
    rels = grade_payload(GRADE, shape(instance_field="relationship"))["data"]["relationships"]
    assert rels["loInstance"] == {
        "data": [{"id": "course:7968486_55", "type": "learningObjectInstance"}]
    }


def test_module_id_keeps_the_resource_index() -> None:
    """loResource ids do not always end in _0 (alm-api.md §11): the derived id keeps the index."""
    grade = GradeRequest(
        **{
            **{f: getattr(GRADE, f) for f in GRADE.__slots__},
            "module_id": "course:15067_30122_41715_1",
        }
    )  # type: ignore[arg-type]
    module = grade_payload(grade, FIRST)["data"]["relationships"]["module"]["data"][0]
    assert module == {"id": "15067417151", "type": "courseModule"}
