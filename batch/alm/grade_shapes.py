"""Which ``userModuleGrade`` body ALM accepts, learned from its answers (docs/alm-api.md).

Three details of the grade body are not documented (the module id form, the instance field and
the course relationship's type), so the client holds the ordered list of body *shapes* built from
them, starting with the one closest to Adobe's only public sample (no instance field).

``GradeShapes`` is the run's shared knowledge, used by every worker thread:

* While no shape has been accepted in this run, one grade at a time is posted (a *probe*); the
  other workers wait for its verdict. So a refused shape costs exactly one rejected post, however
  many workers there are: at most ``len(shapes) - 1`` rejected posts for a whole run.
* A 400 about the body's shape (``is_shape_refusal``) moves to the next shape; a 400 is never
  applied, so re-posting the same grade with the next shape is safe. Once every shape has been
  refused, ``GradeBodyRefused`` (exit 3) quotes ALM's answers.
* Once a shape is accepted it stays for the run: a later shape-looking 400 is a row's problem.
* The accepted shape is remembered per ALM host in ``grade_shapes.json`` in the state
  directory, so later runs start with it and trust it: no probe, every worker posts from the
  first grade on. Should ALM refuse it for its shape before it is accepted again in the run
  (ALM changed), the run goes back to probing the next shapes, one grade at a time; the grades
  already in flight with the remembered shape may be refused too (never applied: a 400), and
  are re-posted in the shape that ALM then accepts.
* ``ALM_GRADE_MODULE_ID_FORM`` / ``ALM_GRADE_INSTANCE_FIELD`` / ``ALM_GRADE_COURSE_TYPE`` narrow
  the list to the shapes they allow; all three set pin one shape (no learning).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from batch.alm.hostfile import HostFile
from batch.alm.ratelimit import STOP_POLL
from batch.errors import ApiError, GradeBodyRefused, NotSent
from batch.settings import Settings

log = logging.getLogger("batch.alm")

ModuleForm = Literal["course_module", "lo_resource"]
InstanceField = Literal["none", "relationship", "attribute"]

SHAPES_FILE = "grade_shapes.json"
_FILE_FORMAT = "alm-batch-grade-shapes/1"
MODULE_FORMS: tuple[ModuleForm, ...] = ("course_module", "lo_resource")
INSTANCE_FIELDS: tuple[InstanceField, ...] = ("none", "relationship", "attribute")
COURSE_TYPES: tuple[str, ...] = ("course", "learningObject")
PROBE_WAIT = 0.5  # seconds between checks of a waiting worker (it also wakes on every verdict)
# While no body is accepted, one learner at a time may be enrolled ahead of its first grade; if
# that worker never posts (its row stopped), the others go ahead after this many seconds.
ENROLL_HOLD = 3.0
Stopped = Callable[[], bool]  # True once the run is stopping (Cancel, Ctrl-C, an abort)


@dataclass(frozen=True, slots=True)
class GradeShape:
    """One way of writing the uncertain parts of the grade body."""

    module_form: ModuleForm
    instance_field: InstanceField
    course_type: str

    @property
    def key(self) -> str:
        """Stable text id, as stored in ``grade_shapes.json``: ``course_module/none/course``."""
        return f"{self.module_form}/{self.instance_field}/{self.course_type}"

    @classmethod
    def from_key(cls, key: str) -> GradeShape | None:
        parts = key.split("/")
        if len(parts) != 3 or parts[0] not in MODULE_FORMS or parts[1] not in INSTANCE_FIELDS:
            return None
        form = next(f for f in MODULE_FORMS if f == parts[0])
        field = next(f for f in INSTANCE_FIELDS if f == parts[1])
        return cls(form, field, parts[2]) if parts[2] else None

    def describe(self) -> str:
        module = (
            "courseModule id (course + module + index)"
            if self.module_form == "course_module"
            else "loResource id"
        )
        instance = {
            "none": "no instance field",
            "relationship": "instance as relationship loInstance",
            "attribute": "instance as attribute loInstanceId",
        }[self.instance_field]
        return f"module id: {module}, {instance}, course type {self.course_type}"


def all_shapes() -> tuple[GradeShape, ...]:
    """Every shape, first the one closest to Adobe's sample; the course type varies fastest,
    then the instance field, then the module id form."""
    return tuple(
        GradeShape(form, field, course)
        for form in MODULE_FORMS
        for field in INSTANCE_FIELDS
        for course in COURSE_TYPES
    )


def allowed_shapes(settings: Settings) -> tuple[GradeShape, ...]:
    """The shapes the ``ALM_GRADE_*`` settings allow (all of them when none is set); a course
    type outside the known two is honoured as given."""
    forms = (settings.grade_module_id_form,) if settings.grade_module_id_form else MODULE_FORMS
    fields = (settings.grade_instance_field,) if settings.grade_instance_field else INSTANCE_FIELDS
    types = (settings.grade_course_type,) if settings.grade_course_type else COURSE_TYPES
    return tuple(GradeShape(m, i, c) for m in forms for i in fields for c in types)


def pinned_by_settings(settings: Settings) -> bool:
    return bool(
        settings.grade_module_id_form or settings.grade_instance_field or settings.grade_course_type
    )


# --- which 400s are about the body's shape -------------------------------------------------
# A 400 about the data of one row (the same in every shape) is never a reason to change the
# body: checked first. Unknown modules and courses are not in this list on purpose: their ids
# come from ALM's own course structure, read moments before, so "not found" means the id form.
_DATA = re.compile(
    r"\benrol|\bnot active\b|\binactive\b|\bsuspended\b|\bdeleted\b|\bretired\b"
    r"|\bdate[a-z]*\b|\b(?:min|max)?score\b|\blearner\b|\busers?\b|\bquota\b"
    r"|\bduration\b|\bpermission\b|\bscope\b"
)
# Words that name a part of the body that differs between shapes, or say a field is wrong.
_SHAPE = re.compile(
    r"relation type|relationship|field type|unknown (?:attribute|field)|unrecogni[sz]ed"
    r"|not supported|not allowed|loinstance|\binstance|coursemodule|learningobjectresource"
    r"|learningobject|\bmodule|\bcourse|missing param"
)


def is_shape_refusal(error: ApiError) -> bool:
    """True for a 400 about the grade body's shape (a relationship, type or field ALM does not
    take: "Field Type incorrect", "incorrect relation type - course", "Missing Param: loInstance"),
    False for a data error of one row (unknown or inactive learner, not enrolled, bad date)."""
    if error.status != 400:
        return False
    text = f"{error.title} {error.detail or ''}".casefold()
    if _DATA.search(text):
        return False
    return bool(_SHAPE.search(text))


# --- the store: one small JSON file in the state directory -----------------------------------
class ShapeStore:
    """``{host: {"shape": key, "learned_on": "YYYY-MM-DD", "refused_answers": [...]}}`` in one
    file (``hostfile.HostFile``: keyed by host and port, never a password; never raises)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file = HostFile(path)

    def load(self, host: str) -> tuple[GradeShape, str] | None:
        entry = self._file.entry(host)
        shape = GradeShape.from_key(str(entry.get("shape", "")))
        return (shape, str(entry.get("learned_on", ""))) if shape else None

    def save(self, host: str, shape: GradeShape, learned_on: str, answers: list[str]) -> None:
        entry = {"shape": shape.key, "learned_on": learned_on, "refused_answers": answers}
        self._file.update(host, entry, format=_FILE_FORMAT)


class GradeShapes:
    """The run's grade body: which shape to post with, learned from ALM's answers. Thread-safe."""

    def __init__(
        self,
        settings: Settings,
        store: ShapeStore,
        *,
        today: Callable[[], str] | None = None,
    ) -> None:
        self.host = settings.host
        self.store = store
        self.pinned = pinned_by_settings(settings)
        shapes = list(allowed_shapes(settings))
        self.learned_on = ""
        stored = store.load(self.host)
        # ALM accepted the shape at index 0 on this host before: post it without a probe.
        self._trusted = self._remembered = False
        if stored is not None and stored[0] in shapes:
            # Start with the remembered shape; the others follow in their usual order.
            start = shapes.index(stored[0])
            shapes = shapes[start:] + shapes[:start]
            self.learned_on = stored[1]
            self._trusted = self._remembered = True
        self.shapes: tuple[GradeShape, ...] = tuple(shapes)
        self._today = today or (lambda: datetime.now(UTC).date().isoformat())
        self._cond = threading.Condition()
        self._index = 0  # the shape in use
        self._confirmed = False  # ALM accepted the current shape in this run
        self._probing = False  # a grade with the unconfirmed shape is in flight
        self._enrolling: tuple[int, float] | None = None  # (thread, since): enrolled, not graded
        self._answers: list[str] = []  # ALM's refusals, one per refused shape
        self._failure: GradeBodyRefused | None = None
        self.rejected = 0  # grade posts refused for their shape in this run

    # --- what the client asks ----------------------------------------------------------------
    def acquire(self, stopped: Stopped | None = None) -> tuple[int, GradeShape]:
        """The shape to post with, and its index (hand it back to ``accepted`` / ``refused`` /
        ``release``). Blocks while another worker probes an unconfirmed shape; raises
        ``GradeBodyRefused`` once every shape has been refused, and ``NotSent`` as soon as
        ``stopped()`` (the run is stopping: a Cancel does not wait for the probe's answer)."""
        with self._cond:
            return self._acquire_locked(stopped)

    def _acquire_locked(self, stopped: Stopped | None = None) -> tuple[int, GradeShape]:
        me = threading.get_ident()
        if self._enrolling is not None and self._enrolling[0] == me:
            self._enrolling = None  # this worker's enrollment now gets its grade
        while True:
            if self._failure is not None:
                raise self._failure
            if self._confirmed or self._trusted:
                return self._index, self.shapes[self._index]
            if not self._probing:
                self._probing = True
                return self._index, self.shapes[self._index]
            self._wait(stopped)

    def before_enroll(self, stopped: Stopped | None = None) -> None:
        """Call before an enrollment. Until a body is accepted, only one learner at a time is
        enrolled ahead of its first grade, and never while a grade probes: a run whose every
        grade body is refused leaves at most one learner enrolled and not graded. Raises
        ``GradeBodyRefused`` once every shape was refused, and ``NotSent`` as soon as
        ``stopped()``: a Cancel never waits out the hold of a learner whose grades it stopped."""
        me = threading.get_ident()
        with self._cond:
            while True:
                if self._failure is not None:
                    raise self._failure
                if self._confirmed or self._trusted:
                    return
                held = self._enrolling
                if held is not None and (held[0] == me or time.monotonic() - held[1] > ENROLL_HOLD):
                    held = None
                if not self._probing and held is None:
                    self._enrolling = (me, time.monotonic())
                    return
                self._wait(stopped)

    def _wait(self, stopped: Stopped | None) -> None:
        """Wait for a verdict (held: the condition's lock), looking whether the run stopped
        every ``STOP_POLL`` seconds: nothing more is sent once it has."""
        if stopped is None:
            self._cond.wait(PROBE_WAIT)
            return
        if stopped():
            raise NotSent("Not sent: the run is stopping.")
        self._cond.wait(min(PROBE_WAIT, STOP_POLL))
        if stopped():
            raise NotSent("Not sent: the run is stopping.")

    def enroll_failed(self) -> None:
        """The enrollment announced by ``before_enroll`` did not happen: let another go."""
        with self._cond:
            if self._enrolling is not None and self._enrolling[0] == threading.get_ident():
                self._enrolling = None
            self._cond.notify_all()

    def accepted(self, index: int) -> None:
        """ALM took a grade posted with shape ``index``."""
        save: tuple[GradeShape, str, list[str]] | None = None
        with self._cond:
            if index == 0 and self._index != 0 and not self._confirmed and self._remembered:
                # The remembered shape was refused once (a row's own 400 that looked like one
                # about the body?) but ALM took it for another grade: it stands; the probe of
                # the next shape, still out, is answered on its own.
                self._index, self._probing = 0, False
                self._failure = None
            if index == self._index and not self._confirmed:
                self._confirmed = True
                self._trusted = False
                shape = self.shapes[index]
                stored = self.store.load(self.host)
                if stored is None or stored[0] != shape:
                    self.learned_on = self._today()
                    save = (shape, self.learned_on, list(self._answers))
                elif not self.learned_on:
                    self.learned_on = stored[1]
            if index == self._index:
                self._probing = False
            self._cond.notify_all()
        if save is not None:
            self.store.save(self.host, *save)
            log.info("grade body learned for %s: %s", self.host, save[0].describe())

    def refused(self, index: int, error: ApiError) -> tuple[int, GradeShape] | None:
        """ALM refused a grade posted with shape ``index`` for its shape.

        Returns the shape to post the same grade with next (the caller keeps the probe, so no
        other worker posts or enrolls in between); None when the shape was already accepted in
        this run, so the 400 is that row's problem. Raises ``GradeBodyRefused`` when every shape
        has now been refused.
        """
        with self._cond:
            self.rejected += 1
            if self._confirmed:
                if index != self._index:
                    # Posted in a shape ALM refuses while another was accepted meanwhile: the
                    # 400 was not applied, so the same grade goes again in the accepted shape.
                    return self._index, self.shapes[self._index]
                return None
            if self._trusted and index == self._index:
                # The remembered shape, refused before any grade in it was accepted in this
                # run: probe the next shapes from here, one grade at a time (this one first).
                self._trusted = False
                self._probing = True
            if index != self._index or not self._probing:  # not this caller's probe (defensive)
                return self._acquire_locked()
            self._answers.append(_short(error))
            if self._index + 1 >= len(self.shapes):
                self._probing = False
                self._failure = self._exhausted()
                self._cond.notify_all()
                raise self._failure
            self._index += 1
            log.warning(
                "ALM refused the grade body (%s): %s; trying %s",
                self.shapes[index].describe(),
                self._answers[-1],
                self.shapes[self._index].describe(),
            )
            return self._index, self.shapes[self._index]

    def release(self, index: int) -> None:
        """The post ended without a verdict on the shape (a lost answer, another error)."""
        with self._cond:
            if index == self._index and not self._confirmed:
                self._probing = False
            self._cond.notify_all()

    # --- what people see ---------------------------------------------------------------------
    @property
    def current(self) -> GradeShape:
        with self._cond:
            return self.shapes[self._index]

    @property
    def confirmed(self) -> bool:
        with self._cond:
            return self._confirmed

    def description(self) -> str:
        """ "module id: ..., no instance field, course type course; learned on 2026-11-30"."""
        with self._cond:
            shape = self.shapes[self._index]
            confirmed = self._confirmed
        text = shape.describe()
        if self.pinned and len(self.shapes) == 1:
            return f"{text}; pinned by ALM_GRADE_* settings"
        if self.learned_on and (confirmed or self._index == 0):
            return f"{text}; learned on {self.learned_on}"
        if confirmed:
            return f"{text}; accepted"
        return f"not learned yet (the first write tries {text})"

    def _exhausted(self) -> GradeBodyRefused:
        distinct = list(dict.fromkeys(self._answers))
        quoted = "; ".join(f'"{a}"' for a in distinct[:3])
        more = f" (and {len(distinct) - 3} other answers)" if len(distinct) > 3 else ""
        which = (
            "the grade body pinned by the ALM_GRADE_* settings"
            if self.pinned and len(self.shapes) == 1
            else f"every known grade body ({len(self.shapes)} tried)"
        )
        hint = (
            "Nothing was graded by these attempts (ALM applies nothing it answers 400). "
            + (
                "Unset ALM_GRADE_MODULE_ID_FORM / ALM_GRADE_INSTANCE_FIELD / "
                "ALM_GRADE_COURSE_TYPE to let alm-batch try the others, or pin another shape"
                if self.pinned
                else "Check the answers against docs/alm-api.md and pin the body ALM wants with "
                "ALM_GRADE_MODULE_ID_FORM / ALM_GRADE_INSTANCE_FIELD / ALM_GRADE_COURSE_TYPE"
            )
            + "; then run the same command again."
        )
        return GradeBodyRefused(f"ALM refused {which}: {quoted}{more}.", hint=hint)


def _short(error: ApiError, limit: int = 140) -> str:
    from batch.redact import mask

    text = mask(error.describe())
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
