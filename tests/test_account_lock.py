"""One writer per ALM account on this machine, whatever the state directory: every live run of
either front end holds the account's lock; a second one is refused, naming the run that holds
it. The lock file names no secret (a hash of host, port and client id) and is this user's only.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from batch.errors import AccountBusy
from batch.jobs.account import AccountLock, account_key
from batch.settings import Settings
from tests.e2e_support import run_cli, sandbox_env, spawned, wait_for
from tests.web_support import H, dry_run, site, upload


def settings(base_url: str = "https://alm.example", client_id: str = "client-1") -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, base_url=base_url, client_id=client_id, client_secret="s3cret-value"
    )


def test_a_second_writer_on_the_account_is_refused_naming_the_first(tmp_path: Path) -> None:
    first = AccountLock(settings(), "alm-batch run march.csv", tmp_path)
    first.acquire()
    second = AccountLock(settings(), "a live run of the upload page, job 0123456789ab", tmp_path)
    with pytest.raises(AccountBusy) as refused:
        second.acquire()
    message = str(refused.value)
    assert message.startswith("Another live run is writing to this ALM account (alm.example)")
    assert f"alm-batch run march.csv (pid {os.getpid()}, started " in message
    assert refused.value.exit_status == 2
    first.release()
    second.acquire()  # free again once the first run ended
    assert second.held
    second.release()


def test_the_account_is_the_host_port_and_client_not_the_state_directory() -> None:
    base = account_key(settings())
    assert account_key(settings("https://ALM.example/")) == base
    assert account_key(settings("https://alm.example:443/primeapi/v2")) == base
    assert account_key(settings("https://alm.example:8443")) != base
    assert account_key(settings(client_id="client-2")) != base
    assert account_key(settings("https://learningmanagereu.adobe.com")) != base


def test_the_lock_file_holds_no_secret_and_is_private(tmp_path: Path) -> None:
    secretive = settings("https://admin:pa55word@alm.example", "client-7f3a")
    lock = AccountLock(secretive, "alm-batch run march.csv", tmp_path / "locks")
    lock.acquire()
    try:
        (path,) = (tmp_path / "locks").iterdir()
        assert path.name == f"account-{account_key(secretive)}.lock"
        text = path.read_text(encoding="utf-8")
        for secret in ("pa55word", "admin", "client-7f3a", "s3cret-value", "alm.example"):
            assert secret not in path.name and secret not in text
        assert f"pid={os.getpid()}" in text and "run=alm-batch run march.csv" in text
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "locks").stat().st_mode) == 0o700
    finally:
        lock.release()


def test_the_os_frees_the_lock_of_a_killed_process(tmp_path: Path) -> None:
    code = (
        "import sys, time\n"
        "from batch.jobs.account import AccountLock\n"
        "from batch.settings import Settings\n"
        "s = Settings(_env_file=None, base_url='https://alm.example', client_id='client-1')\n"
        f"AccountLock(s, 'alm-batch run held.csv', __import__('pathlib').Path({str(tmp_path)!r}))"
        ".acquire()\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(AccountBusy, match=r"alm-batch run held.csv \(pid \d+"):
            AccountLock(settings(), "second", tmp_path).acquire()
    finally:
        proc.kill()  # kill -9: the OS drops the flock
        proc.wait(timeout=10)
    lock = AccountLock(settings(), "third", tmp_path)
    lock.acquire()
    lock.release()


def test_a_page_run_and_a_command_line_run_never_write_to_one_account_at_once(
    tmp_path: Path,
) -> None:
    """The page writes (a slow account); the command line, with a state directory of its own,
    is refused, naming the page's run; then the other way round. Nothing is posted twice."""
    with site(tmp_path, sandbox={"time_scale": 20.0}) as s:
        c = s.client
        sample = Path(__file__).parents[1] / "sample_data" / "completions.csv"
        first = dry_run(c, upload(c, sample)["upload_id"])
        live = c.post(f"/api/jobs/{first['job_id']}/run", json={}, headers=H).json()["job_id"]
        assert wait_for(lambda: c.get(f"/api/jobs/{live}").json()["writes_made"] > 0, 30)
        (tmp_path / "cli").mkdir()
        cli_file = tmp_path / "cli" / "completions.csv"
        cli_file.write_bytes(sample.read_bytes())
        alm = sandbox_env(s.sandbox, tmp_path / "cli-state")  # another state directory
        refused = run_cli(["run", "completions.csv", "--yes"], cwd=tmp_path / "cli", alm=alm)
        assert refused.code == 2, refused
        assert "Another live run is writing to this ALM account" in refused.stderr
        assert f"a live run of the upload page, job {live}" in refused.stderr
        assert c.post(f"/api/jobs/{live}/cancel", headers=H).status_code == 202
        assert wait_for(lambda: c.get(f"/api/jobs/{live}").json()["state"] != "running", 30)

        # the command line writes now; the page's second dry run cannot go live meanwhile
        second = dry_run(c, upload(c, sample)["upload_id"])
        with spawned(
            ["run", "completions.csv", "--yes"], cwd=tmp_path / "cli", alm=alm, name="writer"
        ) as writer:
            lock_dir = Path(os.environ["ALM_BATCH_LOCK_DIR"])
            assert wait_for(
                lambda: any("run=alm-batch run" in p.read_text() for p in lock_dir.iterdir()),
                30,
            )
            busy = c.post(f"/api/jobs/{second['job_id']}/run", json={}, headers=H)
            writer.proc.kill()
        assert busy.status_code == 409
        assert "alm-batch run completions.csv (pid " in busy.json()["error"]
        assert s.sandbox.books()["double_grades"] == 0
