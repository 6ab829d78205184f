"""Decisions that travel with a failed-rows file, so re-running it asks nothing again.

A run settles things the file alone cannot say: which column feeds which field (``--map`` or
an alias), each date column's day/month order, the time zone of dates without one, an exact
``--date-format``, the columns left out (``--ignore-column``), the extra values that mean
done (``--completed-values``) and how to read scores between 0 and 1 (``--score-scale``). The failed-rows file (``hr.failed.csv``) is meant to be fixed and run
again as is; a few of its rows may no longer settle the date order, and its re-run must not
depend on the person retyping the options. So the writer puts the decisions in a small
sidecar next to it, ``hr.failed.decisions.json``, and ``open_table`` / ``check_rows`` pick it
up when present: options given on the command line still win.

The failed-rows file's own ``status`` and ``message`` columns (written by the previous run)
are recognised (from the sidecar, or from their names and values when the sidecar was lost)
and left out of the table, so the next report carries only fresh ones.

A failed-rows CSV has a ``'`` before every cell a spreadsheet would run as a formula
(``batch.formulas``): ``+44 20 7946 0000`` is written ``'+44 20 7946 0000``. The sidecar says
so (``neutralised``), and reading the file takes exactly those quotes back off
(``without_tool_quotes``), so a phone number does not grow a quote at each re-run. A quote a
person typed in their own file was doubled by the writer and comes back as typed; a file
without the sidecar is read as it is.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from batch.formulas import QUOTE, unquote
from batch.models import FIELDS, RowStatus

SIDECAR_SUFFIX = ".decisions.json"
FORMAT = "alm-batch decisions"
VERSION = 1
TOOL_COLUMNS = ("status", "message")
_STATUSES = frozenset(s.value for s in RowStatus)


@dataclass
class Decisions:
    """What the first run decided; every field optional."""

    mapping: dict[str, str] = field(default_factory=dict)  # field -> header
    date_orders: dict[str, str] = field(default_factory=dict)  # field -> DMY / MDY / YMD
    timezone: str | None = None
    date_format: str | None = None
    tool_columns: tuple[str, ...] = ()  # headers the tool wrote (status, message)
    # The file's cells were neutralised with ``batch.formulas.neutralise(reversible=True)``.
    neutralised: bool = False
    ignore_columns: tuple[str, ...] = ()
    completed_values: tuple[str, ...] = ()
    score_scale: str | None = None

    def to_json(self, source: str) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "source": source,
            "mapping": dict(self.mapping),
            "date_orders": dict(self.date_orders),
            "timezone": self.timezone,
            "date_format": self.date_format,
            "tool_columns": list(self.tool_columns),
            "neutralised": self.neutralised,
            "ignore_columns": list(self.ignore_columns),
            "completed_values": list(self.completed_values),
            "score_scale": self.score_scale,
        }

    @classmethod
    def from_json(cls, data: Any) -> Decisions | None:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        mapping = data.get("mapping") or {}
        orders = data.get("date_orders") or {}
        return cls(
            mapping={str(f): str(h) for f, h in mapping.items() if f in FIELDS},
            date_orders={str(f): str(o) for f, o in orders.items() if o in ("DMY", "MDY", "YMD")},
            timezone=str(data["timezone"]) if data.get("timezone") else None,
            date_format=str(data["date_format"]) if data.get("date_format") else None,
            tool_columns=tuple(str(c) for c in data.get("tool_columns") or ()),
            neutralised=data.get("neutralised") is True,
            ignore_columns=tuple(str(c) for c in data.get("ignore_columns") or ()),
            completed_values=tuple(str(c) for c in data.get("completed_values") or ()),
            score_scale=str(data["score_scale"]) if data.get("score_scale") else None,
        )


def sidecar_path(data_path: Path) -> Path:
    """``hr.failed.csv`` -> ``hr.failed.decisions.json``."""
    return data_path.with_suffix(SIDECAR_SUFFIX)


def read_sidecar(data_path: Path) -> Decisions | None:
    """The decisions saved beside ``data_path``, or None (absent or unreadable: ignored)."""
    path = sidecar_path(data_path)
    try:
        return Decisions.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def looks_like_tool_columns(columns: list[str], data: list[list[str]]) -> tuple[str, ...]:
    """Without a sidecar: the last two headers are ``status`` and ``message`` and every
    sampled status is one of the tool's, so this is a failed-rows file being re-run."""
    names = [c.strip().casefold().removesuffix(" (alm-batch)") for c in columns[-2:]]
    if len(columns) < 3 or names != list(TOOL_COLUMNS):
        return ()
    pos = len(columns) - 2
    values = [row[pos].strip() for row in data if pos < len(row) and row[pos].strip()]
    if values and all(v in _STATUSES for v in values):
        return tuple(columns[-2:])
    return ()


# The decisions of runs in this process, by input file: the failed-rows writer asks for them.
_RECENT: dict[Path, Decisions] = {}
_LOCK = threading.Lock()


def remember(input_path: Path, decisions: Decisions) -> None:
    """Called by validation once it has decided (see ``sidecar_content``)."""
    with _LOCK:
        _RECENT[_key(input_path)] = decisions
        while len(_RECENT) > 64:
            _RECENT.pop(next(iter(_RECENT)))


def sidecar_content(
    input_path: Path, tool_columns: tuple[str, ...] = TOOL_COLUMNS, *, neutralised: bool = False
) -> dict[str, Any] | None:
    """The sidecar JSON for the failed-rows file of a run of ``input_path``. None when there is
    nothing to say: nothing was decided in this process (e.g. a report rewritten from saved
    results) and the file's cells were not ``neutralised``."""
    with _LOCK:
        decisions = _RECENT.get(_key(input_path))
    if decisions is None:
        if not neutralised:
            return None
        decisions = Decisions()
    out = dataclasses.replace(decisions, tool_columns=tuple(tool_columns), neutralised=neutralised)
    return out.to_json(Path(input_path).name)


def write_sidecar(
    failed_path: Path | None,
    input_path: Path,
    tool_columns: tuple[str, ...] = TOOL_COLUMNS,
    *,
    neutralised: bool = False,
) -> Path | None:
    """Write (or remove, when there is nothing to say) the sidecar of a failed-rows file;
    ``neutralised``: the file's cells were written by ``neutralise(cell, reversible=True)``.

    Called by the report writer right after the failed-rows file is in place; never raises
    for the sidecar itself (the failed rows matter more than their notes)."""
    if failed_path is None:
        return None
    path = sidecar_path(failed_path)
    content = sidecar_content(input_path, tool_columns, neutralised=neutralised)
    try:
        if content is None:
            path.unlink(missing_ok=True)
            return None
        part = path.with_name(path.name + ".part")
        part.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", "utf-8")
        part.replace(path)
    except OSError:
        return None
    return path


def _key(path: Path) -> Path:
    try:
        return Path(path).resolve()
    except OSError:
        return Path(path).absolute()


class Records(Protocol):
    """A file's rows as read: ``(spreadsheet row number, cells as text)``."""

    def records(self) -> Iterator[tuple[int, list[str]]]: ...


@dataclass(frozen=True)
class _WithoutToolQuotes:
    inner: Records

    def records(self) -> Iterator[tuple[int, list[str]]]:
        for number, cells in self.inner.records():
            yield number, [unquote(c) if c.startswith(QUOTE) else c for c in cells]


def without_tool_quotes(source: Records, carried: Decisions | None) -> Records:
    """``source``, with the quotes the tool added before formula-like cells taken back off
    when the sidecar (``carried``) says the tool wrote the file that way; else ``source``."""
    if carried is None or not carried.neutralised:
        return source
    return _WithoutToolQuotes(source)
