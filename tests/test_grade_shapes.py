"""Learning the userModuleGrade body: which 400s are about the shape, one advance per shape
however many workers, the bound, the store per host, pinning with ALM_GRADE_*."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from batch.alm.grade_shapes import (
    SHAPES_FILE,
    GradeShape,
    GradeShapes,
    ShapeStore,
    all_shapes,
    allowed_shapes,
    is_shape_refusal,
)
from batch.errors import AbortError, ApiError, ExitStatus, GradeBodyRefused
from batch.settings import Settings


def settings(**kw: Any) -> Settings:
    values: dict[str, Any] = {"base_url": "https://learningmanagereu.adobe.com"}
    return Settings(_env_file=None, **{**values, **kw})  # type: ignore[call-arg]


def shape_400(info: str = "incorrect relation type - course: 'course'") -> ApiError:
    return ApiError(400, "Field Type incorrect", info, code="BAD_REQUEST")


@pytest.mark.parametrize(
    "title, detail",
    [
        ("Field Type incorrect", "incorrect relation type - module: 'courseModule'"),
        ("Field Type incorrect", "incorrect relation type - course: 'course'"),
        ("Field Type incorrect", "unknown attribute - loInstanceId"),
        ("Missing Param", "loInstance"),
        ("Missing Param", "loInstanceId"),
        ("Bad Request", "relationship loInstance is not supported"),
        ("Invalid module", "module 7968486132104870 not found"),
    ],
)
def test_shape_refusals(title: str, detail: str) -> None:
    assert is_shape_refusal(ApiError(400, title, detail))


@pytest.mark.parametrize(
    "status, title, detail",
    [
        (400, "Learner not enrolled", "learner: user 1 is not enrolled in course:2; enroll first"),
        (400, "User not active", "user 15263404 is suspended"),
        (400, "Invalid dateCompleted", "dateCompleted 2030-01-01 is in the future"),
        (400, "Invalid score", "score 120 is outside [minScore, maxScore]"),
        (400, "Course retired", "course: course:1 is Retired"),
        (400, "Missing Param", "dateCompleted"),
        (404, "Not Found", "incorrect relation type - module"),
        (409, "Conflict", "course"),
    ],
)
def test_data_errors_are_not_shape_refusals(status: int, title: str, detail: str) -> None:
    assert not is_shape_refusal(ApiError(status, title, detail))


def test_first_shape_is_adobe_sample_and_every_combination_is_there() -> None:
    shapes = all_shapes()
    assert shapes[0] == GradeShape("course_module", "none", "course")
    assert len(shapes) == len(set(shapes)) == 12
    assert all(GradeShape.from_key(s.key) == s for s in shapes)


def test_settings_narrow_or_pin_the_shapes() -> None:
    assert allowed_shapes(settings()) == all_shapes()
    narrowed = allowed_shapes(settings(grade_instance_field="attribute"))
    assert len(narrowed) == 4 and {s.instance_field for s in narrowed} == {"attribute"}
    pinned = allowed_shapes(
        settings(
            grade_module_id_form="lo_resource",
            grade_instance_field="none",
            grade_course_type="course",
        )
    )
    assert pinned == (GradeShape("lo_resource", "none", "course"),)
    assert allowed_shapes(settings(grade_course_type=" ")) == all_shapes()  # blank = unset


def test_refusals_advance_then_exhaust_with_alm_answers_quoted(tmp_path: Path) -> None:
    learner = GradeShapes(settings(), ShapeStore(tmp_path / SHAPES_FILE))
    index, shape = learner.acquire()
    seen = [shape]
    for n in range(11):
        again = learner.refused(index, shape_400(f"incorrect relation type - module: n{n}"))
        assert again is not None  # the same worker posts again with the next shape
        index, shape = again
        seen.append(shape)
    with pytest.raises(GradeBodyRefused) as err:
        learner.refused(index, shape_400("incorrect relation type - module: last"))
    assert seen == list(all_shapes())
    assert isinstance(err.value, AbortError) and err.value.exit_status == ExitStatus.ABORTED
    assert "12 tried" in err.value.message and "incorrect relation type - module: n0" in str(
        err.value
    )
    with pytest.raises(GradeBodyRefused):  # every later post stops at once
        learner.acquire()
    assert not (tmp_path / SHAPES_FILE).exists()  # nothing learned, nothing stored


def test_concurrent_workers_probe_one_at_a_time_and_advance_once(tmp_path: Path) -> None:
    """Eight workers post at once: a refused shape costs one post, not one per worker."""
    learner = GradeShapes(settings(), ShapeStore(tmp_path / SHAPES_FILE))
    accepted_index = 3
    lock = threading.Lock()
    posts: list[int] = []

    def worker() -> None:
        for _ in range(5):
            index, _shape = learner.acquire()
            while True:
                with lock:
                    posts.append(index)
                if index == accepted_index:
                    learner.accepted(index)
                    break
                again = learner.refused(index, shape_400())
                assert again is not None
                index = again[0]

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    rejected = [i for i in posts if i != accepted_index]
    assert sorted(rejected) == [0, 1, 2]  # each refused shape exactly once
    assert posts.count(accepted_index) == 40
    assert learner.rejected == 3
    stored = json.loads((tmp_path / SHAPES_FILE).read_text())
    assert stored["learningmanagereu.adobe.com"]["shape"] == all_shapes()[3].key


def test_accepted_shape_is_remembered_per_host_and_sticks(tmp_path: Path) -> None:
    path = tmp_path / SHAPES_FILE
    first = GradeShapes(settings(), ShapeStore(path), today=lambda: "2026-11-30")
    index, _ = first.acquire()
    again = first.refused(index, shape_400())
    assert again is not None
    index, shape = again
    first.accepted(index)
    assert first.description() == f"{shape.describe()}; learned on 2026-11-30"
    # once accepted, a shape-looking 400 is that row's problem: no advance
    assert first.refused(index, shape_400()) is None and first.current == shape

    again = GradeShapes(settings(), ShapeStore(path), today=lambda: "2027-01-01")
    assert again.current == shape and "learned on 2026-11-30" in again.description()
    index, got = again.acquire()
    again.accepted(index)
    assert got == shape and again.rejected == 0
    assert "learned on 2026-11-30" in again.description()  # the date of learning stays

    other = GradeShapes(settings(base_url="https://learningmanager.adobe.com"), ShapeStore(path))
    assert other.current == all_shapes()[0]  # another host learns on its own
    assert "not learned yet" in other.description()


def test_pinned_shape_is_used_alone_and_says_so(tmp_path: Path) -> None:
    pinned = settings(
        grade_module_id_form="lo_resource", grade_instance_field="none", grade_course_type="x"
    )
    learner = GradeShapes(pinned, ShapeStore(tmp_path / SHAPES_FILE))
    assert learner.description().endswith("pinned by ALM_GRADE_* settings")
    index, _ = learner.acquire()
    with pytest.raises(GradeBodyRefused) as err:
        learner.refused(index, shape_400())
    assert "pinned by the ALM_GRADE_* settings" in err.value.message
    assert "Unset ALM_GRADE_MODULE_ID_FORM" in (err.value.hint or "")


def test_an_unreadable_store_is_empty(tmp_path: Path) -> None:
    path = tmp_path / SHAPES_FILE
    path.write_text("{not json")
    assert ShapeStore(path).load("h") is None
    path.write_text(json.dumps({"h": {"shape": "bogus/none/course"}}))
    assert ShapeStore(path).load("h") is None


def test_one_learner_at_a_time_is_enrolled_until_a_body_is_accepted(tmp_path: Path) -> None:
    """A run whose every body is refused leaves at most one learner enrolled and not graded."""
    learner = GradeShapes(settings(), ShapeStore(tmp_path / SHAPES_FILE))
    learner.before_enroll()  # worker 1 enrolls its learner
    entered = threading.Event()
    outcome: list[str] = []

    def second_worker() -> None:
        try:
            learner.before_enroll()
            entered.set()
            outcome.append("enrolled")
        except GradeBodyRefused:
            outcome.append("refused")

    other = threading.Thread(target=second_worker)
    other.start()
    assert not entered.wait(0.3)  # waits: worker 1's learner has not been graded yet
    index, _ = learner.acquire()  # worker 1 probes
    assert not entered.wait(0.3)  # still waits: a probe is in flight
    for _ in range(len(all_shapes()) - 1):
        again = learner.refused(index, shape_400())
        assert again is not None
        index = again[0]
    with pytest.raises(GradeBodyRefused):
        learner.refused(index, shape_400())
    other.join(5)
    assert outcome == ["refused"]  # never enrolled


def test_enrollments_go_ahead_once_a_body_is_accepted(tmp_path: Path) -> None:
    learner = GradeShapes(settings(), ShapeStore(tmp_path / SHAPES_FILE))
    learner.before_enroll()
    done = threading.Event()
    threads = [
        threading.Thread(target=lambda: (learner.before_enroll(), done.set())) for _ in range(3)
    ]
    for t in threads:
        t.start()
    assert not done.wait(0.2)
    index, _ = learner.acquire()
    learner.accepted(index)
    for t in threads:
        t.join(5)
    assert done.is_set() and not any(t.is_alive() for t in threads)


def test_a_failed_enrollment_lets_the_next_one_go(tmp_path: Path) -> None:
    learner = GradeShapes(settings(), ShapeStore(tmp_path / SHAPES_FILE))
    learner.before_enroll()
    done = threading.Event()
    other = threading.Thread(target=lambda: (learner.before_enroll(), done.set()))
    other.start()
    assert not done.wait(0.2)
    learner.enroll_failed()
    other.join(5)
    assert done.is_set()


def test_a_remembered_shape_is_trusted_from_the_first_grade(tmp_path: Path) -> None:
    """A later run on the host posts the remembered shape from every worker at once: no probe,
    and enrollments are not held back (it starts at full speed)."""
    path = tmp_path / SHAPES_FILE
    ShapeStore(path).save(settings().host, all_shapes()[2], "2026-11-01", [])
    shapes = GradeShapes(settings(), ShapeStore(path))
    first, second = shapes.acquire(), shapes.acquire()  # neither waits for a verdict
    assert first == second == (0, all_shapes()[2])
    shapes.before_enroll()
    shapes.before_enroll()  # another learner's enrollment is not held either
    shapes.accepted(0)
    assert shapes.confirmed and shapes.rejected == 0


def test_a_remembered_shape_refused_goes_back_to_probing(tmp_path: Path) -> None:
    """ALM changed: the remembered shape is refused for its body. The refused grade probes the
    next shape alone; a grade refused in the old shape meanwhile waits for that verdict and is
    re-posted in the accepted shape (a 400 is never applied)."""
    path = tmp_path / SHAPES_FILE
    ShapeStore(path).save(settings().host, all_shapes()[0], "2026-11-01", [])
    shapes = GradeShapes(settings(), ShapeStore(path), today=lambda: "2026-11-30")
    a, b = shapes.acquire(), shapes.acquire()  # two grades in flight in the remembered shape
    probe = shapes.refused(a[0], shape_400())
    assert probe == (1, all_shapes()[1])
    got: list[tuple[int, object]] = []
    waiter = threading.Thread(target=lambda: got.append(shapes.refused(b[0], shape_400())))
    waiter.start()
    waiter.join(timeout=0.2)
    assert waiter.is_alive()  # waits for the probe's verdict, posts nothing meanwhile
    shapes.accepted(probe[0])
    waiter.join(timeout=5)
    assert got == [(1, all_shapes()[1])]
    assert shapes.current == all_shapes()[1] and "learned on 2026-11-30" in shapes.description()
    assert json.loads(path.read_text())[settings().host]["shape"] == all_shapes()[1].key


def test_the_remembered_shape_stands_when_alm_takes_it_after_all(tmp_path: Path) -> None:
    """One shape-looking 400 on the remembered shape (a row's own problem, worded like one
    about the body) while another grade in that shape is accepted: the remembered shape stays,
    and the probe of the next shape, refused, is re-posted in it."""
    path = tmp_path / SHAPES_FILE
    ShapeStore(path).save(settings().host, all_shapes()[0], "2026-11-01", [])
    shapes = GradeShapes(settings(), ShapeStore(path))
    a, b = shapes.acquire(), shapes.acquire()
    probe = shapes.refused(a[0], shape_400())
    assert probe is not None and probe[0] == 1
    shapes.accepted(b[0])  # ALM took the remembered shape for the other grade
    assert shapes.current == all_shapes()[0] and shapes.confirmed
    assert shapes.refused(probe[0], shape_400()) == (0, all_shapes()[0])
    assert shapes.refused(0, shape_400()) is None  # now a row's problem
