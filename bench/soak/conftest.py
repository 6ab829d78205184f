"""The reliability suite (``make soak``): chaos, hostile input, secrets. Not part of ``make test``.

Every scenario records one line (``soak_line``); the lines are printed together at the end of the
run, ready to paste into a closing note. Long scenarios set their own ``pytest.mark.timeout``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

SOAK_LINES: list[str] = []


@pytest.fixture
def soak_line() -> Callable[[str], None]:
    """Record one result line: ``SOAK <scenario>: PASS|FAIL ...``."""

    def record(text: str) -> None:
        SOAK_LINES.append(text)
        print(text, flush=True)

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SOAK_LINES:
        terminalreporter.section("soak results")
        for line in SOAK_LINES:
            terminalreporter.write_line(line)
