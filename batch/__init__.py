"""alm-batch: mark learners complete in Adobe Learning Manager in bulk from HR spreadsheets.

From Python (docs/python-api.md)::

    import batch
    outcome = batch.complete(rows)   # rows: mappings or a pandas DataFrame; a dry run
    outcome.to_dataframe()           # or outcome.rows / outcome.results without pandas

The names below are loaded when first used, so ``import batch`` (and the CLI, which imports
it for its version) pays nothing for the job engine, pydantic or pandas until they are needed.
"""

from __future__ import annotations

from importlib import import_module

# typing.TYPE_CHECKING without importing typing (a third of the cost of ``import batch``);
# mypy and import-linter read any TYPE_CHECKING this way.
TYPE_CHECKING = False

__version__ = "0.3.0.dev0"

# name -> the module that defines it
_EXPORTS = {
    "complete": "batch.api",
    "Outcome": "batch.api",
    "Job": "batch.jobs.engine",
    "JobOptions": "batch.jobs.options",
    "ShapeOptions": "batch.jobs.options",
    "Settings": "batch.settings",
    "RowStatus": "batch.models",
    "RowResult": "batch.models",
    "RunSummary": "batch.models",
    "ExitStatus": "batch.errors",
    "BatchError": "batch.errors",
    "UsageError": "batch.errors",
    "ConfigError": "batch.errors",
    "InputError": "batch.errors",
    "ShapeQuestion": "batch.errors",
    "AccountBusy": "batch.errors",
    "AbortError": "batch.errors",
}

__all__ = [
    "AbortError",
    "AccountBusy",
    "BatchError",
    "ConfigError",
    "ExitStatus",
    "InputError",
    "Job",
    "JobOptions",
    "Outcome",
    "RowResult",
    "RowStatus",
    "RunSummary",
    "Settings",
    "ShapeOptions",
    "ShapeQuestion",
    "UsageError",
    "complete",
]  # the keys of _EXPORTS (tests/test_python_api.py)

if TYPE_CHECKING:  # for type checkers and editors; at run time, __getattr__ below
    from typing import Any

    from batch.api import Outcome, complete
    from batch.errors import (
        AbortError,
        AccountBusy,
        BatchError,
        ConfigError,
        ExitStatus,
        InputError,
        ShapeQuestion,
        UsageError,
    )
    from batch.jobs.engine import Job
    from batch.jobs.options import JobOptions, ShapeOptions
    from batch.models import RowResult, RowStatus, RunSummary
    from batch.settings import Settings


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'batch' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
