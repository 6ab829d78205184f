"""The exception tree for run-level problems, and the exit codes they map to.

Row-level problems are never exceptions: they are ``RowIssue`` data in ``batch.models``.
Messages must never contain a secret (client secret, refresh token, access token).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class ExitStatus(IntEnum):
    """Process exit codes, as in product.md."""

    OK = 0  # every row ended well
    ROWS_FAILED = 1  # some rows need a person
    RETRYABLE = 4  # no row needs a person; some failed for reasons a re-run can fix
    USAGE = 2  # usage, configuration or unreadable input: nothing was written
    ABORTED = 3  # aborted by ALM (auth refused, unreachable): report of what was done
    INTERRUPTED = 130  # Ctrl-C: report and ledger saved
    INTERNAL = 70  # a bug in alm-batch (sysexits' EX_SOFTWARE): never 1, which asks for a person


class BatchError(Exception):
    """A run-level error: the run stops with ``exit_status`` and this one-line message."""

    exit_status: ExitStatus = ExitStatus.USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class UsageError(BatchError):
    """Bad command-line options or arguments."""


class ConfigError(BatchError):
    """Missing or invalid configuration (environment / .env)."""


class InputError(BatchError):
    """The input file cannot be read, lacks required columns, or needs an option to be read."""


@dataclass(frozen=True)
class Choice:
    """One answer a person may give to a ``ShapeQuestion``.

    ``value`` is what the option is set to when picked (a header, a sheet name, a row number,
    a date order, "ignore" ...); ``label`` how it is shown; ``samples`` a few values of the file
    that tell the choices apart.
    """

    value: str
    label: str
    samples: tuple[str, ...] = ()


class ShapeQuestion(InputError):
    """A question about what the file means that only the person can answer (exit 2).

    Both front ends show it: the CLI prints ``message`` and then ``hint``, the exact option to
    pass; the page opens its Shape step on the shape option named by ``ask`` (a field of
    ``batch.jobs.options.ShapeOptions``: ``sheet``, ``header_row``, ``mapping``,
    ``date_format`` ...), for ``field`` when the question is about one input field, offers
    ``choices`` and pre-sets ``suggested``; it never shows ``hint``. So ``message`` names no
    command-line flag: it says what is unclear, where, with a few values.

    ``column`` names the one column a question is about, when it is about one (a column that
    looks like completion states): on a ``mapping`` question the choice ``"ignore"`` then means
    "add ``column`` to ``ignore_columns``", every other choice is a header to map to ``field``.
    """

    def __init__(
        self,
        message: str,
        *,
        ask: str,
        hint: str,
        field: str | None = None,
        choices: Sequence[Choice] = (),
        suggested: str | None = None,
        column: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.ask = ask
        self.field = field
        self.choices = tuple(choices)
        self.suggested = suggested
        self.column = column

    def answer(self, value: str | None = None) -> dict[str, Any]:
        """The shape options that answer this question with ``value`` (a choice's ``value``;
        default: ``suggested``, or the only choice), as ``batch.complete`` and
        ``ShapeOptions.parse`` take them: ``{"date_format": "DD/MM/YYYY"}``,
        ``{"mapping": {"Work Mail": "email"}}``, ``{"ignore_columns": ["Status"]}``. Raises
        ``ValueError`` when there is no value to default to (the person must pick)."""
        if value is None:
            value = self.suggested
        if value is None and len(self.choices) == 1:
            value = self.choices[0].value
        if value is None and self.ask == "ignore_columns" and self.choices:
            return {"ignore_columns": [c.value for c in self.choices]}  # the whole side table
        if value is None:
            picks = ", ".join(repr(c.value) for c in self.choices) or "a value"
            raise ValueError(f"Nothing is suggested for {self.ask}: pick one of {picks}.")
        if self.ask == "mapping":
            if value == IGNORE and self.column is not None:
                return {"ignore_columns": [self.column]}
            return {"mapping": {value: self.field}}
        if self.ask in ("ignore_columns", "completed_values"):
            return {self.ask: [value]}
        return {self.ask: value}


IGNORE = "ignore"  # the choice that leaves a column out (``ShapeQuestion.column``)


class EmptyInput(ShapeQuestion):
    """The file has a header but no data rows: nothing to do (a scheduler may accept that).

    The question is whether an empty export is normal (``allow_empty``): then the run ends with
    "nothing to do" and exit 0.
    """

    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            ask="allow_empty",
            hint="If an empty export is normal (a scheduled run in a quiet month), pass "
            "--allow-empty: nothing to do, exit 0.",
            choices=(Choice("true", "An empty export is normal: nothing to do"),),
        )


class StateError(BatchError):
    """The state directory is locked by another run or cannot be used."""


class AccountBusy(StateError):
    """Another live run on this machine holds the ALM account's writer lock (exit 2): its
    writes share one allowance, and two writers on one account could post the same grade
    twice. Nothing was written by this run."""


class AbortError(BatchError):
    """ALM stopped the run: nothing more can be done now (exit 3)."""

    exit_status = ExitStatus.ABORTED


class AuthError(AbortError):
    """ALM refused the credentials."""


class ApiUnreachable(AbortError):
    """ALM could not be reached for longer than the run is willing to wait."""


class WriteRefused(AbortError):
    """ALM refused a write in a way no other row can get past: the run stops (exit 3).

    The refused write was not applied (ALM applies nothing it answers 4xx), so its journal entry
    is closed as failed: a later run may send it again without reading first.
    """


class WriteScopeMissing(WriteRefused):
    """ALM answered 403 to a write: the token lacks the admin write scope (admin:write)."""


class GradeBodyRefused(WriteRefused):
    """ALM refused every known userModuleGrade body (or the one pinned by ALM_GRADE_*)."""


class StateWriteFailed(AbortError):
    """The state directory could not be written during a live run (its disk is full, it
    became read-only or was removed): the run ledger cannot journal the next write, so no
    write is sent unjournaled; the run stops as an abort does (writes in flight finish).

    Exit 4, as for failures a later run can fix: free some space and run again; what was
    journaled is kept, and writes whose answer was not recorded are settled by reading ALM
    before anything is sent again."""

    exit_status = ExitStatus.RETRYABLE


class Interrupted(BatchError):
    """The user pressed Ctrl-C; the run stopped cleanly."""

    exit_status = ExitStatus.INTERRUPTED


class NotSent(Interrupted):
    """A request that was never sent because the run is stopping (Cancel, Ctrl-C): it waited
    for the pacer, a pool slot or a retry, and nothing of it reached ALM. Safe to drop: a write
    that raises this was not applied."""


class ApiError(Exception):
    """An HTTP error answer from ALM, parsed from any of its three error body shapes.

    ``status`` is the HTTP status code (0 when no answer was received), ``code`` ALM's enum
    name (``BAD_REQUEST``) when it gave one, ``title`` and ``detail`` its human text.
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        code: str | None = None,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.code = code
        self.method = method
        self.path = path
        self.retry_after = retry_after
        super().__init__(self.describe())

    def describe(self) -> str:
        """A one-line, secret-free description for reports: 'HTTP 400 Missing Param: skills'."""
        head = f"HTTP {self.status}" if self.status else "no answer"
        text = self.title or ""
        if text.startswith(head):  # "no answer from ALM ..." already says it
            head = ""
        if self.detail and self.detail != self.title:
            text = f"{text}: {self.detail}" if text else self.detail
        return f"{head} {text}".strip()


class WriteUncertain(ApiError):
    """A POST may or may not have landed (5xx, read timeout, connection dropped after sending,
    a lost response). The caller must read ALM's state before re-sending (never re-send blindly).
    """
