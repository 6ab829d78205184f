"""docs/cli.md is the command line's reference, generated from the parser itself (as
sqlite-utils generates its CLI reference): a flag added, renamed or re-worded without the docs
fails here. Regenerate it with ``ALM_BATCH_UPDATE_DOCS=1 make test`` (or this file alone)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from batch.cli import build_parser

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
WIDTH = "100"  # argparse wraps help at the terminal's width: fixed, so the file is stable

HEAD = """# Command-line reference

Generated from the command line's own parser (`tests/test_cli_reference.py` checks it is
current). Every command also prints this with `alm-batch COMMAND --help`. What the commands are
for: the [README](../README.md) and [getting started](getting-started.md); exit codes:
[exit-codes.md](exit-codes.md).
"""


def render() -> str:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        parser = build_parser()
        parts = [HEAD, "```text", parser.format_help().rstrip(), "```", ""]
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        for name, command in sub.choices.items():
            parts += [
                f"## alm-batch {name}",
                "",
                "```text",
                command.format_help().rstrip(),
                "```",
                "",
            ]
        return "\n".join(parts)
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def test_the_cli_reference_is_generated_from_the_parser() -> None:
    text = render()
    if os.environ.get("ALM_BATCH_UPDATE_DOCS") == "1":
        DOC.write_text(text, encoding="utf-8")
    if not DOC.exists() or DOC.read_text(encoding="utf-8") != text:
        pytest.fail(
            "docs/cli.md is not what the parser prints: run "
            "ALM_BATCH_UPDATE_DOCS=1 .venv/bin/python -m pytest tests/test_cli_reference.py"
        )


def test_every_command_is_in_the_readme_and_has_help() -> None:
    readme = (DOC.parents[1] / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help for a in sub._choices_actions}
    for name in sub.choices:
        assert helps.get(name), f"alm-batch {name} has no help line"
        assert f"alm-batch {name}" in readme or name == "template", name
