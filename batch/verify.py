"""``--verify``: after the run, re-read enrollments and flag rows ALM does not show completed.

Decision: a row whose grades ALM accepted keeps its ``completed`` / ``already_completed``
status and gets a warning in its message. Its writes did land, so ``failed`` would be false;
``unknown`` promises that a re-run settles it, which it would not (the ledger skips grades
already posted). The usual cause is the course's own completion rules (a mandatory-module
count, a minimum score), which only a person can judge. ``verify_results`` returns how many
rows were not confirmed so the caller can show it in the summary.
"""

from __future__ import annotations

from batch.errors import AbortError, ApiError
from batch.ledger import WriteKey, WriteKind
from batch.models import RowResult, RowStatus
from batch.plan import Plan
from batch.settle import WriteClient, course_enrollments, grade_landed

NOT_COMPLETED = (
    "ALM does not show the course as completed after the grades were posted: check the "
    "course's completion rules (mandatory modules, minimum score)."
)
_CHECKED = (RowStatus.COMPLETED, RowStatus.ALREADY_COMPLETED)


def verify_results(results: list[RowResult], plan: Plan, client: WriteClient) -> int:
    """Re-read each learner's enrollments once and extend the message of every completed row
    ALM does not confirm. Returns the number of rows not confirmed (or not checkable).

    A row that names one module (the ``module`` column) is checked for that module's grade,
    not for course completion, which it was never meant to bring about. A learner whose
    enrollments cannot be read gets "could not be verified"; when ALM stops the run
    (``AuthError`` / ``ApiUnreachable``), the rows left are marked the same way and the
    function returns instead of raising: the run itself is over and its report still matters.
    """
    plans = plan.rows if len(plan.rows) == len(results) else None
    by_user: dict[str, list[int]] = {}
    for i, result in enumerate(results):
        if result.status in _CHECKED and result.user_id and result.course_id:
            by_user.setdefault(result.user_id, []).append(i)
    unconfirmed = 0
    stopped: str | None = None
    for user_id, indexes in by_user.items():
        if stopped is None:
            try:
                enrollments = client.get_enrollments(user_id)
            except ApiError as exc:
                for i in indexes:
                    _note(results[i], f"Could not be verified: {exc.describe()}.")
                unconfirmed += len(indexes)
                continue
            except AbortError as exc:
                stopped = exc.message
        if stopped is not None:
            for i in indexes:
                _note(results[i], f"Could not be verified: {stopped}")
            unconfirmed += len(indexes)
            continue
        for i in indexes:
            result = results[i]
            completion = plans[i].checked.completion if plans is not None else None
            one_module = bool(completion is not None and completion.module)
            if one_module:
                missing = [
                    m
                    for m in result.module_ids
                    if not grade_landed(
                        enrollments,
                        WriteKey(
                            "", WriteKind.GRADE, user_id, result.course_id, result.instance_id, m
                        ),
                    )
                ]
                if missing:
                    _note(result, f"ALM does not show module {', '.join(missing)} as completed.")
                    unconfirmed += 1
                continue
            found = course_enrollments(enrollments, result.course_id, result.instance_id)
            if not any(e.completed for e in found):
                _note(result, NOT_COMPLETED)
                unconfirmed += 1
    return unconfirmed


def _note(result: RowResult, text: str) -> None:
    result.message = f"{result.message} {text}".strip() if result.message else text
