"""The CLI's own contract: every command has help and is in the README; exit codes for misuse."""

import io
import re
from pathlib import Path

import pytest

from batch.cli import COMMANDS, CliEnv, build_parser, main

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        list(argv), CliEnv(stdin=io.StringIO(""), stdout=out, stderr=err, interactive=False)
    )
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help_and_is_in_the_readme(command, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([command, "--help"])
    assert exc.value.code == 0
    assert "usage: alm-batch " + command in capsys.readouterr().out
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"alm-batch {command}\b", readme), (
        f"README does not show 'alm-batch {command}'"
    )


def test_no_command_prints_help_and_exits_2():
    code, _, err = run_cli()
    assert code == 2
    assert "COMMAND" in err


def test_unknown_option_is_a_usage_error():
    code, _, _ = run_cli("run", "x.csv", "--no-such-option")
    assert code == 2


def test_bad_duration_is_a_usage_error():
    code, _, _ = run_cli("validate", "x.csv", "--cache-ttl", "soon")
    assert code == 2


def test_version():
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--version"])
    assert exc.value.code == 0


def test_run_without_credentials_names_the_missing_settings(tmp_path, monkeypatch):
    for name in ("ALM_CLIENT_ID", "ALM_CLIENT_SECRET", "ALM_REFRESH_TOKEN", "ALM_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    src = tmp_path / "c.csv"
    src.write_text(
        "email,course,completion date\na@b.example,Fire Safety,2025-01-02\n", encoding="utf-8"
    )
    code, _, err = run_cli("validate", str(src), "--state-dir", str(tmp_path / "state"))
    assert code == 2
    assert "ALM_CLIENT_ID" in err and "ALM_REFRESH_TOKEN" in err and "--offline" in err
