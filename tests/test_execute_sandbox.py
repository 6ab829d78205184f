"""execute_plan through the real AlmClient against the embedded sandbox, with faults on.

The FakeWriter tests prove each recovery rule in isolation; this proves that over real HTTP,
with 5xx answers, dropped connections and lost responses mixed in at random, re-running the
same plan finishes the job and the sandbox never records a grade twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batch.alm.api import AlmClient
from batch.cache import LookupCache
from batch.execute import ExecuteOptions, execute_plan
from batch.journal import apply_ledger
from batch.ledger import LEDGER_NAME, Ledger
from batch.models import CheckedRow, Completion, CourseRef, InputRow, RowStatus
from batch.plan import PlanOptions, build_plan
from batch.resolve import Resolver
from batch.sandbox import Sandbox, SandboxConfig
from batch.settings import Settings

USERS = 16
WHEN = datetime(2025, 5, 6, tzinfo=UTC)


def _course(num: int, modules: list[int]) -> dict[str, Any]:
    return {
        "id": f"course:{num}",
        "loType": "course",
        "state": "Published",
        "localizedMetadata": [{"locale": "en-US", "name": f"Course {num}"}],
        "modules": [
            {"id": str(m), "loResourceType": "Content", "localizedMetadata": []} for m in modules
        ],
        "instances": [
            {"id": f"course:{num}_1", "state": "Active", "isDefault": True, "localizedMetadata": []}
        ],
    }


SEED: dict[str, Any] = {
    "users": [
        {"id": str(500 + n), "email": f"learner{n}@acme.com", "name": f"L{n}", "state": "ACTIVE"}
        for n in range(USERS)
    ],
    "learningObjects": [_course(10, [7001, 7002]), _course(20, [7101, 7102])],
    "enrollments": [],
}


FAST = {"get_per_minute": 12000.0, "get_burst": 100, "post_per_minute": 6000.0, "post_burst": 50}


def settings_for(sb: Any, **limits: float) -> Settings:
    """Client settings at the sandbox's (test-sized) limits from the first call on."""
    values: dict[str, Any] = {**FAST, **limits, **sb.credentials}
    return Settings(_env_file=None, base_url=sb.base_url, **values)  # type: ignore[call-arg]


def rows() -> list[CheckedRow]:
    out: list[CheckedRow] = []
    for n in range(USERS):
        for course in ("10", "20"):
            email = f"learner{n}@acme.com"
            completion = Completion(email, CourseRef(course, f"course:{course}"), WHEN, score=88.0)
            values = {"Email": email, "Course": course}
            out.append(CheckedRow(InputRow(len(out) + 2, values, {}), completion))
    return out


def test_faulty_alm_reruns_finish_with_every_grade_once(tmp_path: Path) -> None:
    config = SandboxConfig(post_per_minute=6000.0, post_burst=50, get_per_minute=12000.0)
    with Sandbox(seed=SEED, config=config) as sb:
        settings = settings_for(sb)
        client = AlmClient(settings, concurrency=4, give_up_after=30.0)
        cache = LookupCache(None, settings.base_url)
        ledger = Ledger(tmp_path / LEDGER_NAME)
        try:
            planned = build_plan(iter(rows()), Resolver(client, cache), PlanOptions())
            wanted = {(g.user_id, g.module_id) for rp in planned.rows for g in rp.grades}
            assert len(wanted) == USERS * 4
            sb.configure(error_rate=0.05, drop_rate=0.02, lost_response_rate=0.05)
            final: list[RowStatus] = []
            for attempt in range(4):  # the same command, again, until the job is done
                plan = build_plan(iter(rows()), Resolver(client, cache), PlanOptions())
                apply_ledger(plan, ledger, settings.base_url, overwrite=False)
                options = ExecuteOptions(f"run-{attempt}", settings.base_url, "sha", concurrency=4)
                result = execute_plan(plan, client, ledger, options)
                assert result.aborted is None
                final = [r.status for r in result.results]
                if all(s.ok for s in final):
                    break
            books = sb.books()
        finally:
            ledger.close()
            cache.close()
            client.close()
    assert all(s.ok for s in final), final
    assert books["lost_responses"] + books["dropped"] + books["errors_injected"] > 0
    assert books["double_grades"] == 0
    recorded = {(g["user_id"], g["module_id"]) for g in books["grades"]}
    assert recorded == wanted
    assert len(books["grades"]) == len(wanted)
    assert all(g["count"] == 1 for g in books["grades"])
    assert ledger_pending_free(tmp_path / LEDGER_NAME, settings.base_url)


def ledger_pending_free(path: Path, base_url: str) -> bool:
    with Ledger(path) as ledger:
        return ledger.pending(base_url) == []


CHILD = """
import sys
from pathlib import Path
from batch.alm.api import AlmClient
from batch.cache import LookupCache
from batch.execute import ExecuteOptions, execute_plan
from batch.ledger import Ledger
from batch.journal import apply_ledger
from batch.plan import PlanOptions, build_plan
from batch.resolve import Resolver
from batch.settings import Settings
from tests.test_execute_sandbox import rows

base_url, client_id, secret, refresh, ledger_path = sys.argv[1:6]
settings = Settings(_env_file=None, base_url=base_url, client_id=client_id,
                    client_secret=secret, refresh_token=refresh, get_per_minute=12000.0,
                    get_burst=100, post_per_minute=600.0, post_burst=2)
client = AlmClient(settings, concurrency=4, give_up_after=30.0)
plan = build_plan(iter(rows()), Resolver(client, LookupCache(None, base_url)), PlanOptions())
ledger = Ledger(Path(ledger_path))
apply_ledger(plan, ledger, base_url, overwrite=False)
print("planned", flush=True)
execute_plan(plan, client, ledger, ExecuteOptions("run-killed", base_url, "sha", concurrency=4))
print("finished", flush=True)
"""


def test_kill_9_mid_run_then_rerun_posts_every_grade_once(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    repo = Path(__file__).resolve().parent.parent
    path = tmp_path / LEDGER_NAME
    config = SandboxConfig(
        post_per_minute=600.0, post_burst=2, get_per_minute=12000.0, lost_response_rate=0.05
    )
    with Sandbox(seed=SEED, config=config) as sb:
        creds = sb.credentials
        args = [sb.base_url, creds["client_id"], creds["client_secret"], creds["refresh_token"]]
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, *args, str(path)],
            cwd=repo,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "planned"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with Ledger(path) as peek:
                    if peek.counts().get("done", 0) >= 12:
                        break
                time.sleep(0.05)
        finally:
            child.kill()  # SIGKILL: no cleanup, no finally blocks, writes may be in flight
            child.wait(timeout=10)
        killed_at = sb.books()
        assert 0 < len(killed_at["grades"]) < USERS * 4  # really stopped mid-run
        sb.configure(post_per_minute=6000.0, post_burst=50)
        settings = settings_for(sb)
        client = AlmClient(settings, concurrency=4, give_up_after=30.0)
        cache = LookupCache(None, settings.base_url)
        try:
            with Ledger(path) as ledger:
                for attempt in range(3):
                    plan = build_plan(iter(rows()), Resolver(client, cache), PlanOptions())
                    apply_ledger(plan, ledger, settings.base_url, overwrite=False)
                    options = ExecuteOptions(f"run-{attempt}", settings.base_url, "sha")
                    result = execute_plan(plan, client, ledger, options)
                    if all(r.status.ok for r in result.results):
                        break
                assert ledger.pending(settings.base_url) == []
            books = sb.books()
        finally:
            cache.close()
            client.close()
    assert all(r.status.ok for r in result.results)
    assert books["double_grades"] == 0
    assert len(books["grades"]) == USERS * 4
    assert all(g["count"] == 1 for g in books["grades"])
