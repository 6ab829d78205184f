"""Per sandbox profile: rows completed and rejected grade posts in a first and a second run.

``python -m bench.grade_profiles`` (about 15 s). Each profile gets a fresh sandbox on the sample
seed and a fresh state directory; run 1 is a generated 100-row file (20 learners, 6 courses of
the sample seed), run 2 the sample's ``completions.csv`` on the same state directory, so it
starts on the grade body run 1 learned. "rejected" counts the sandbox's 400 answers to
``POST /users/{id}/userModuleGrade`` (its books), "doubles" modules graded twice.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from batch.cli import CliEnv, main
from batch.models import name_key
from batch.sandbox import Sandbox, SandboxConfig, generate_completions, load_seed
from batch.sandbox.profiles import PROFILES

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"
GRADE = "POST /users/{id}/userModuleGrade"
SCALE = 600.0


def _env(sb: Sandbox, state: Path) -> dict[str, str]:
    cfg = sb.config
    return {
        **sb.env(),
        "ALM_BATCH_STATE_DIR": str(state),
        "ALM_GET_PER_MINUTE": str(cfg.get_per_minute * SCALE),
        "ALM_POST_PER_MINUTE": str(cfg.post_per_minute * SCALE),
        "ALM_USERS_GET_PER_HOUR": str(cfg.users_per_hour * SCALE),
        "ALM_LO_GET_PER_HOUR": str(cfg.lo_per_hour * SCALE),
    }


def _generated(folder: Path) -> Path:
    seed = load_seed(SAMPLE)
    names = Counter(name_key(lo["localizedMetadata"][0]["name"]) for lo in seed["learningObjects"])
    seed["learningObjects"] = [
        lo
        for lo in seed["learningObjects"]
        if names[name_key(lo["localizedMetadata"][0]["name"])] == 1
    ]
    return generate_completions(
        seed,
        100,
        distinct_users=20,
        distinct_courses=6,
        path=folder / "generated.csv",
        random_seed=7,
    )


def _run(sb: Sandbox, folder: Path, name: str) -> tuple[int, int, int, int]:
    """(exit code, rows completed, rejected grade posts, doubles) of one live run."""
    sb.reset_books()
    report = folder / f"{name}.report.csv"
    code = main(
        ["run", name, "--yes", "--quiet", "--concurrency", "4", "--report", str(report)],
        CliEnv(stdout=io.StringIO(), stderr=io.StringIO(), interactive=False),
    )
    text = report.read_text(encoding="utf-8-sig")
    completed = sum(1 for line in text.splitlines()[1:] if ",completed," in line)
    books = sb.books()
    rejected = books["endpoint_statuses"].get(GRADE, {}).get("400", 0)
    return code, completed, rejected, books["double_grades"]


def measure(profile: str) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    folder = Path(tempfile.mkdtemp(prefix=f"grade-{profile}-"))
    shutil.copyfile(SAMPLE / "completions.csv", folder / "completions.csv")
    _generated(folder)
    cfg = SandboxConfig(time_scale=SCALE, profile=profile, job_delay=1.0)
    saved, cwd = dict(os.environ), os.getcwd()
    with Sandbox(seed=load_seed(SAMPLE), config=cfg) as sb:
        try:
            os.environ.update(_env(sb, folder / "state"))
            os.chdir(folder)
            return _run(sb, folder, "generated.csv"), _run(sb, folder, "completions.csv")
        finally:
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(saved)
            shutil.rmtree(folder, ignore_errors=True)


def main_table() -> None:
    print(
        "profile             | run 1 (100 rows): exit, completed, rejected, doubles "
        "| run 2 (sample, 35 rows): exit, completed, rejected, doubles"
    )
    for profile in PROFILES:
        (c1, d1, r1, x1), (c2, d2, r2, x2) = measure(profile)
        print(
            f"{profile:<19} | exit {c1}, {d1:>3} completed, {r1:>2} rejected, {x1} doubles "
            f"| exit {c2}, {d2:>2} completed, {r2:>2} rejected, {x2} doubles"
        )


if __name__ == "__main__":
    main_table()
