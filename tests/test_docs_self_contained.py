"""The README and docs/ stand on their own: no pointer to files outside the repository, and the
field guide for a first real run names only commands the CLI accepts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from batch.cli import build_parser

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_no_pointer_outside_the_repository(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "../shared" not in text and "shared/docs" not in text
    for target in re.findall(r"\]\(([^)#]+)", text):  # every relative markdown link resolves
        if not target.startswith(("http://", "https://", "mailto:")):
            assert (path.parent / target).exists(), target
    # "alm-api.md" alone meant the file outside the repository; ours is docs/alm-api.md
    assert path.name == "alm-api.md" or not re.search(r"(?<![\w/])alm-api\.md", text)


def test_field_guide_names_only_commands_that_exist() -> None:
    guide = (REPO / "docs" / "first-real-run.md").read_text(encoding="utf-8")
    commands = re.findall(r"`alm-batch ([^`]+)`", re.sub(r"\s+", " ", guide))
    commands += [
        line.strip().removeprefix("alm-batch ")
        for line in re.findall(r"```sh\n(.*?)```", guide, re.S)[0].splitlines()
        if line.strip().startswith("alm-batch ")
    ]
    parser = build_parser()
    seen = set()
    for command in commands:
        args = shlex.split(command.strip())
        if not args or args[0] not in {"doctor", "validate", "run", "sandbox", "demo"}:
            continue
        parser.parse_args(args)  # exits (SystemExit) on an unknown command or option
        seen.add(args[0] + (" --write-check" if "--write-check" in args else ""))
    assert {"doctor", "doctor --write-check", "validate", "run"} <= seen


def test_the_readme_stays_a_door() -> None:
    """The README says what the tool is, how to install and try it, one example per front end,
    and links to the task pages; the rest lives in docs/."""
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) <= 160


def test_the_readmes_python_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from batch.sandbox import Sandbox, SandboxConfig, load_seed
    from tests.e2e_support import sandbox_env

    text = (REPO / "README.md").read_text(encoding="utf-8")
    [code] = re.findall(r"```python\n(.*?)```", text, re.S)
    with Sandbox(seed=load_seed(REPO / "sample_data"), config=SandboxConfig(time_scale=60)) as sb:
        monkeypatch.chdir(tmp_path)
        for key, value in sandbox_env(sb, tmp_path / "state").items():
            monkeypatch.setenv(key, value)
        exec(compile(code, "README.md", "exec"), {})
        assert sb.books()["grades"] == []  # a dry run: nothing written
    assert capsys.readouterr().out.strip() == "{'would_complete': 1}"
