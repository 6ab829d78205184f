"""The Shape step's form: shape options read from a form, a JSON body or a query, and the
questions about the file (``inspect.Question``) as the page asks them.

Every shape option has a control of its own on the Shape step (a list per field, the sheet, the
header row, the date order, a default completion date, the columns left out, ...), so a choice
survives each "Update the preview". A question is asked in a card of its own, above them, with
one radio button per choice (``answer-N``, its value the JSON of the options the choice sets:
``{"map": ["Learner Email=email"]}``, ``{"ignore_columns": ["Manager Status"]}``,
``{"sheet": "March"}``); the control it replaces is not shown meanwhile, so nothing is chosen
for the person by a control they did not see. Once answered, the choice shows in its control.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from batch.errors import IGNORE, BatchError
from batch.jobs.options import ShapeOptions

FIELD_LABELS = {
    "email": "Learner email",
    "course": "Course",
    "completion_date": "Completion date",
    "score": "Score",
    "min_score": "Passing score",
    "max_score": "Maximum score",
    "start_date": "Start date",
    "passed": "Passed",
    "completion_status": "Completion status",
    "module": "Module",
    "instance": "Instance",
}
DATE_FORMATS = (("", "Decide from the file"), ("DD/MM/YYYY", "Day first (31/12/2025)"),
                ("MM/DD/YYYY", "Month first (12/31/2025)"))  # fmt: skip
SCORE_SCALES = (("", "Ask when it matters"), ("fraction", "0.87 means 87"),
                ("as-written", "0.87 is the score"))  # fmt: skip
ANSWER = "answer-"  # the name prefix of a question's radio buttons


class FormError(Exception):
    """A form value the page cannot use (its message is shown)."""


def shape_choice(data: Any, base: ShapeOptions | None = None) -> ShapeOptions:
    """Shape options from a form, a JSON body or query parameters (``map`` = Header=field),
    with the answers to the Shape step's questions applied over the controls' values. Raises
    ``FormError`` with the option's own message when a value is not usable."""
    base = base or ShapeOptions()
    raw: dict[str, Any] = {}
    for name, spec in ShapeOptions.specs():
        key = "map" if name == "mapping" else name
        if hasattr(data, "getlist") and spec.kind in ("map", "list", "columns"):
            values = data.getlist(key)
            raw[name] = values if values else None
        elif hasattr(data, "get"):
            raw[name] = data.get(key)
    if isinstance(data, dict) and "mapping" in data and raw.get("mapping") is None:
        raw["mapping"] = data["mapping"]
    for answer in _answers(data):
        _apply(raw, answer, base)
    try:
        return ShapeOptions.parse(raw, base)
    except BatchError as exc:
        raise FormError(exc.message) from None


def _answers(data: Any) -> list[dict[str, Any]]:
    keys = [k for k in (data.keys() if hasattr(data, "keys") else ()) if k.startswith(ANSWER)]
    out = []
    for key in sorted(keys):
        values = data.getlist(key) if hasattr(data, "getlist") else data.get(key)
        for text in values if isinstance(values, list) else [values]:
            if not text:
                continue
            try:
                answer = json.loads(text)
            except (TypeError, ValueError):
                answer = None
            if not isinstance(answer, dict):
                raise FormError("An answer on the Shape step could not be read: reload the page.")
            out.append(answer)
    return out


def _apply(raw: dict[str, Any], answer: Mapping[str, Any], base: ShapeOptions) -> None:
    """Set the options an answer sets: a ``map`` answer replaces what fed its field (or came
    from its column); a list answer adds to the list; any other replaces the value."""
    kinds = dict(ShapeOptions.specs())
    for key, value in answer.items():
        name = "mapping" if key == "map" else str(key)
        spec = kinds.get(name)
        if spec is None:
            continue
        if spec.kind == "map":
            current = _listed(raw.get(name), [f"{h}={f}" for h, f in base.mapping.items()])
            for item in _listed(value, []):
                header, _, field = str(item).rpartition("=")
                current = [
                    m
                    for m in current
                    if m and m.rpartition("=")[0] != header and m.rpartition("=")[2] != field
                ]
                current.append(str(item))
            raw[name] = current
        elif spec.kind in ("list", "columns"):
            current = _listed(raw.get(name), list(getattr(base, name)))
            raw[name] = current + [str(v) for v in _listed(value, []) if str(v) not in current]
        else:
            raw[name] = value


def _listed(value: Any, default: list[str]) -> list[str]:
    if value is None:
        return list(default)
    return [value] if isinstance(value, str) else [str(v) for v in value]


# -- the questions, as the page asks them ------------------------------------------------------
def answer_value(question: Mapping[str, Any], choice: Mapping[str, Any]) -> str:
    """The JSON a question's choice submits: the options it sets."""
    ask, value, field = question["ask"], choice["value"], question.get("field")
    if ask == "mapping":
        column = question.get("column")
        if column is not None and value == IGNORE:
            return json.dumps({"ignore_columns": [column]})
        return json.dumps({"map": [f"{value}={field}"]})
    if ask == "ignore_columns":  # a second table: leaving it out leaves out every column of it
        return json.dumps({"ignore_columns": [c["value"] for c in question["choices"]]})
    return json.dumps({ask: value})


def choices(question: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The choices shown: a second table's columns are one choice (leave it out)."""
    if question["ask"] == "ignore_columns":
        names = ", ".join(c["value"] for c in question["choices"])
        return [{"value": "", "label": f"Leave the second table out ({names})", "samples": []}]
    return list(question["choices"])


def title(question: Mapping[str, Any], shape: Mapping[str, Any]) -> str:
    """The question in a few words (the card's legend)."""
    ask, field = question["ask"], question.get("field")
    label = FIELD_LABELS.get(field or "", field or "").lower()
    if ask == "sheet":
        return "Which sheet holds the rows to post?"
    if ask == "header_row":
        return "Which row holds the column names?"
    if ask == "mapping" and question.get("column"):
        return f"Is column “{question['column']}” the completion status?"
    if ask == "mapping":
        return f"Which column holds the {label}?"
    if ask == "ignore_columns":
        return "A second table beside the first"
    if ask == "date_format":
        header = (shape.get("mapping") or {}).get(field) or label
        return f"Which date order does “{header}” use?"
    if ask == "score_scale":
        return "How are scores between 0 and 1 meant?"
    if ask == "allow_empty":
        return "The file has no data rows"
    if ask == "completed_values":
        return f"Which values of “{question.get('column')}” mean the learner completed?"
    return "A question about the file"


def asked(shape: Mapping[str, Any]) -> dict[str, Any]:
    """What the questions in cards take over: ``options`` (shape options whose control is
    not shown while asked) and ``fields`` (fields whose list is not shown), and ``cards``."""
    cards = [q for q in shape.get("questions", []) if not q.get("in_table")]
    options = {q["ask"] for q in cards if q.get("blocking")}
    fields = {
        q["field"] for q in cards if q.get("blocking") and q["ask"] == "mapping" and q.get("field")
    }
    return {"cards": cards, "options": options, "fields": fields}


def in_table(shape: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """field -> the question answered by that field's list (a required field with no column)."""
    return {q["field"]: q for q in shape.get("questions", []) if q.get("in_table")}
