"""State files hold learners' emails, ids and completions: the state directory alm-batch creates
is this user's only (0700), and so is every file it writes there (0600): the lookup cache, the
ledger and its lock, the remembered allowance and grade body, the page's uploads, job records,
row stores and reports."""

from __future__ import annotations

import stat
from pathlib import Path

from batch.demo import settings_for_sandbox
from batch.jobs import Job, JobOptions
from batch.sandbox import Sandbox
from tests.web_support import H, dry_run, site, upload, wait

SAMPLE = Path(__file__).parents[1] / "sample_data" / "completions.csv"
# The uploads store's remembered mappings: written by batch/web/uploads.py inside the page's
# private folder (0700), so no other user reaches it whatever its own mode.
NOT_OURS = {"web/mappings.json"}


def modes(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]
    }


def test_a_command_line_run_keeps_its_state_private(
    sb: Sandbox, sample: Path, tmp_path: Path
) -> None:
    state = tmp_path / "new" / "state"  # neither folder exists yet
    options = JobOptions(path=sample, dry_run=False, state_dir=state, report=tmp_path / "r.json")
    Job(options, settings_for_sandbox(sb)).run()
    found = modes(state)
    for name in ("cache.sqlite3", "ledger.sqlite3", "alm-batch.lock", "allowance.json"):
        assert found[name] == 0o600, (name, oct(found[name]))
    assert "grade_shapes.json" in found
    assert {n: oct(m) for n, m in found.items() if m != 0o600 and n != "."} == {}
    assert found["."] == 0o700 and stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


def test_the_page_keeps_uploads_jobs_and_reports_private(tmp_path: Path) -> None:
    with site(tmp_path) as s:
        c = s.client
        dry = dry_run(c, upload(c, SAMPLE)["upload_id"], remember=True)
        live = c.post(f"/api/jobs/{dry['job_id']}/run", json={}, headers=H).json()["job_id"]
        wait(c, live)
        assert c.get(f"/api/jobs/{live}/report.xlsx").status_code == 200
        found = modes(s.state_dir)
    folders = {n: m for n, m in found.items() if (s.state_dir / n).is_dir()}
    files = {n: m for n, m in found.items() if n not in folders and n not in NOT_OURS}
    assert {n: oct(m) for n, m in folders.items() if m != 0o700} == {}
    assert {n: oct(m) for n, m in files.items() if m != 0o600} == {}
    kinds = {Path(n).name for n in files}
    assert {"job.json", "page.json", "rows.sqlite3", "report.json"} <= kinds
    assert any(n.startswith("web/uploads/") for n in files)
    assert any(n.endswith(".report.xlsx") for n in files)
