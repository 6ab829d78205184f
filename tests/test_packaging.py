"""``pip install .`` ships what the demo and the sandbox need: the sample data lives
in the package (``batch/sandbox/data``), a byte-equal copy of the repository's ``sample_data/``.

The wheel is built offline from a copy of the sources (``--no-build-isolation``: setuptools and
wheel come from the test extras), installed with ``pip install --target`` into a temporary
folder, and ``alm-batch demo`` / ``alm-batch sandbox`` run from an unrelated folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
import zipfile
from pathlib import Path

from batch.sandbox.seed import default_seed_dir

REPO = Path(__file__).resolve().parent.parent
SHIPPED = ("alm_seed.json", "completions.csv", "README.md")


def test_the_packaged_sample_data_equals_sample_data() -> None:
    packaged = default_seed_dir()
    assert packaged == REPO / "batch" / "sandbox" / "data"
    for name in SHIPPED:
        assert (packaged / name).read_bytes() == (REPO / "sample_data" / name).read_bytes(), (
            f"batch/sandbox/data/{name} differs from sample_data/{name}: sample_data/ is the "
            f"canonical copy; run: cp sample_data/{name} batch/sandbox/data/{name}"
        )


def _env(site: Path) -> dict[str, str]:
    """No ALM_* settings, and the installed copy of ``batch`` first on the path (before the
    editable checkout the test venv also holds)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALM_", "PYTHON"))}
    env.update(PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    return env


def test_an_installed_wheel_runs_demo_and_sandbox_from_any_folder(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "batch", src / "batch", ignore=shutil.ignore_patterns("__pycache__"))
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", ".", "-w"]
    subprocess.run([*build, str(wheels)], cwd=src, check=True, timeout=180)
    (wheel,) = wheels.glob("alm_batch-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert {f"batch/sandbox/data/{name}" for name in SHIPPED} <= names
    install = [*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)]
    subprocess.run(install, check=True, timeout=180)
    script = site / "bin" / "alm-batch"
    assert script.is_file()
    elsewhere = tmp_path / "elsewhere"  # no sample_data, no checkout, no .env
    elsewhere.mkdir()

    demo = subprocess.run(
        [str(script), "demo"],
        cwd=elsewhere,
        env=_env(site),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    out = demo.stdout + demo.stderr
    assert str(site / "batch" / "sandbox" / "data") in out  # the installed copy, not the repo
    assert "0 posted twice" in out
    # the page is offered as this install runs it (no checkout's .venv), its sample on the page
    assert "alm-batch serve --sandbox" in out and ".venv" not in out
    reports = sorted(p.name for p in (elsewhere / "alm-batch-demo").glob("*.report.*"))
    assert reports == [
        "completions.dry-run.report.csv",
        "completions.live.report.xlsx",
        "completions.rerun.report.csv",
    ]

    proc = subprocess.Popen(
        [str(script), "sandbox", "--port", "0"],
        cwd=elsewhere,
        env=_env(site),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60.0, proc.kill)  # a hung child fails the test, never hangs it
    watchdog.start()
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().rstrip("\n") for _ in range(4)]
        base = next(x for x in lines if x.startswith("export ALM_BASE_URL=")).split("=", 1)[1]
        with urllib.request.urlopen(base + "/_sandbox/books", timeout=10) as resp:
            assert resp.status == 200 and "grades" in json.loads(resp.read())
    finally:
        watchdog.cancel()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert base.startswith("http://127.0.0.1:"), lines
    # 0 once its SIGTERM handler is in place; -15 when the signal beats it (it is installed
    # just after the export lines are printed)
    assert proc.returncode in (0, -signal.SIGTERM)
