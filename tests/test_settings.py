"""Settings: where the state directory is, and what happens when it cannot be made."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch.errors import StateError
from batch.settings import Settings, default_state_dir, resolve_state_dir


def test_default_state_dir_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ALM_BATCH_STATE_DIR", str(tmp_path / "env"))
    assert default_state_dir(tmp_path / "flag") == tmp_path / "flag"
    assert default_state_dir() == tmp_path / "env"
    monkeypatch.delenv("ALM_BATCH_STATE_DIR")
    assert default_state_dir().name == "alm-batch"


def test_resolve_state_dir_prefers_the_flag_then_the_setting_and_creates_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ALM_BATCH_STATE_DIR", raising=False)
    settings = Settings(batch_state_dir=tmp_path / "from-setting")
    got = resolve_state_dir(tmp_path / "from-flag" / "deep", settings)
    assert got == tmp_path / "from-flag" / "deep" and got.is_dir()
    got = resolve_state_dir(None, settings)
    assert got == tmp_path / "from-setting" and got.is_dir()


def test_resolve_state_dir_blocked_by_a_file_says_how_to_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StateError) as info:
        resolve_state_dir(blocker / "state", Settings())
    assert f"Cannot create the state directory {blocker / 'state'}" in info.value.message
    assert info.value.hint is not None and "--state-dir" in info.value.hint
