"""Chaos: 20,000 rows, every sandbox fault at once, three SIGKILLs, then run to the end.

The sandbox runs in this process (time-scaled); the tool runs as ``python -m batch run FILE --yes``
in a subprocess, as a scheduler would run it. The tool is killed with SIGKILL three times at
random moments (the first while it is still reading and resolving, the others while it writes),
restarted with the same command each time, then re-run while it exits 3 or leaves rows
``failed``/``unknown`` (bounded). The oracle is computed from the seed, not from the tool: every
(user, module) the file needs is graded exactly once in the sandbox's books, nothing else is, and
the final report has every input row once with the right status.

``SOAK_CHAOS_ROWS`` and ``SOAK_SEED`` override the size and the random seed.
"""

from __future__ import annotations

import csv
import json
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from batch.sandbox import Sandbox, SandboxConfig, generate_completions, generate_seed
from bench.soak.runner import clean_env, start_cli, wait_rusage

ROWS = int(os.environ.get("SOAK_CHAOS_ROWS", "20000"))
SEED = int(os.environ.get("SOAK_SEED", str(random.SystemRandom().randrange(10_000))))
TIME_SCALE = 200.0
POST_PER_MINUTE = 300.0  # sandbox minutes: 1,000 writes per real second at TIME_SCALE
DEADLINE = 1080.0  # real seconds for the whole scenario
FINAL_RUNS = 6  # re-runs allowed after the kills while exit is 3 or rows are unsettled
OK_STATUSES = {"completed", "already_completed"}
BAD_ROWS = [  # (email, course, date, expected status)
    ("not-an-email", "{course}", "2025-02-03", "invalid"),
    ("{email}", "{course}", "2999-01-01", "invalid"),
    ("nobody.at.all@acme-corp.example", "{course}", "2025-02-03", "user_not_found"),
    ("{email}", "No Such Course Anywhere", "2025-02-03", "course_not_found"),
]

pytestmark = pytest.mark.timeout(DEADLINE + 120)


def expected_grades(seed: dict[str, Any], path: Path) -> tuple[set[tuple[str, str]], int]:
    """(user id, loResource id) pairs the file needs, from the seed alone; and the valid rows."""
    users = {u["email"].lower(): u for u in seed["users"]}
    courses: dict[str, dict[str, Any]] = {}
    for lo in seed["learningObjects"]:
        courses[lo["id"]] = lo
        courses[lo["id"].split(":", 1)[1]] = lo
        for meta in lo["localizedMetadata"]:
            courses[meta["name"].strip().casefold()] = lo
    graded = {
        (e["userId"], e["instanceId"], g["moduleId"])
        for e in seed["enrollments"]
        for g in e.get("grades", [])
    }
    needed: set[tuple[str, str]] = set()
    valid = 0
    with path.open(encoding="utf-8", newline="") as fh:
        for rec in csv.DictReader(fh):
            user = users.get(rec["Learner Email"].lower())
            lo = courses.get(rec["Course"]) or courses.get(rec["Course"].strip().casefold())
            if user is None or lo is None or rec["Completion Date"] > "2100":
                continue
            valid += 1
            inst = next(i for i in lo["instances"] if i.get("isDefault"))["id"]
            content = [m["id"] for m in lo["modules"] if m["loResourceType"] == "Content"]
            if all((user["id"], inst, m) in graded for m in content):
                continue  # ALM already shows it complete: nothing to post
            needed.update((user["id"], f"{inst}_{m}_0") for m in content)
    return needed, valid


def append_bad_rows(path: Path, rng: random.Random) -> dict[int, str]:
    """Add rows that must not be posted; returns spreadsheet row number -> expected status."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    email, course = rows[1][0], rows[1][1]
    expected = {}
    with path.open("a", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        for n, (e, c, d, status) in enumerate(BAD_ROWS):
            writer.writerow([e.format(email=email), c.format(course=course), d, ""])
            expected[len(rows) + 1 + n] = status
    return expected


class Weather:
    """Bounded background chaos on top of the steady faults: 429 bursts and latency spikes."""

    def __init__(self, sb: Sandbox, rng: random.Random) -> None:
        self.sb, self.rng = sb, rng
        self.stop = threading.Event()
        self.spells = {"429-burst": 0, "latency-spike": 0}
        self.thread = threading.Thread(target=self._run, name="soak-weather", daemon=True)

    def _run(self) -> None:
        for _ in range(10_000):  # bounded: about one spell every 8 s for far longer than needed
            if self.stop.wait(self.rng.uniform(4.0, 8.0)):
                return
            kind = self.rng.choice(list(self.spells))
            self.spells[kind] += 1
            if kind == "429-burst":  # a few seconds of a much smaller allowance, tiny bursts
                self.sb.configure(post_per_minute=POST_PER_MINUTE / 20, post_burst=2, get_burst=2)
                self.stop.wait(self.rng.uniform(1.0, 3.0))
                self.sb.configure(post_per_minute=POST_PER_MINUTE, post_burst=3, get_burst=5)
            else:
                self.sb.configure(latency_ms=(200.0, 1500.0))
                self.stop.wait(self.rng.uniform(1.0, 3.0))
                self.sb.configure(latency_ms=(0.0, 30.0))

    def __enter__(self) -> Weather:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def grade_posts(sb: Sandbox) -> int:
    return int(sb.books()["calls"].get("POST /users/{id}/userModuleGrade", 0))


def test_chaos_20000_rows_three_kills(tmp_path: Path, soak_line: Callable[[str], None]) -> None:
    started = time.monotonic()
    rng = random.Random(SEED)
    seed = generate_seed(1200, 60, random_seed=SEED)
    data = generate_completions(
        seed,
        ROWS,
        distinct_users=min(1000, ROWS),
        distinct_courses=20,
        path=tmp_path / "completions.csv",
        random_seed=SEED,
    )
    bad = append_bad_rows(data, rng)
    needed, valid_rows = expected_grades(seed, data)
    config = SandboxConfig(
        time_scale=TIME_SCALE,
        post_per_minute=POST_PER_MINUTE,
        post_burst=3,
        get_burst=5,
        error_rate=0.02,
        drop_rate=0.01,
        lost_response_rate=0.02,
        latency_ms=(0.0, 30.0),
        token_ttl=20.0,
        fault_oauth=True,
        random_seed=SEED,
    )
    state = tmp_path / "state"
    runs: list[dict[str, Any]] = []
    with Sandbox(seed=seed, config=config) as sb:
        env = clean_env(sb.env())
        env.update(
            {  # the tool's pacing defaults, scaled like the sandbox clock
                "ALM_POST_PER_MINUTE": str(POST_PER_MINUTE * TIME_SCALE),
                "ALM_GET_PER_MINUTE": str(100.0 * TIME_SCALE),
                "ALM_USERS_GET_PER_HOUR": str(500.0 * TIME_SCALE),
                "ALM_LO_GET_PER_HOUR": str(500.0 * TIME_SCALE),
            }
        )

        def run(n: int, kill_when: Callable[[], bool] | None) -> tuple[int | None, Path]:
            report = tmp_path / f"report-{n}.json"
            args = ["run", str(data), "--yes", "--state-dir", str(state), "--report", str(report)]
            out, err = tmp_path / f"stdout-{n}.txt", tmp_path / f"stderr-{n}.txt"
            t0 = time.monotonic()
            proc = start_cli(args, cwd=tmp_path, env=env, out=out, err=err, memory_limit=None)
            code, rss = wait_rusage(proc, started + DEADLINE, kill_when, poll=0.25)
            runs.append(
                {
                    "n": n,
                    "exit": code,
                    "seconds": round(time.monotonic() - t0, 1),
                    "rss_mb": round(rss),
                    "posts": grade_posts(sb),
                }
            )
            return code, report

        with Weather(sb, rng) as weather:
            t_first = rng.uniform(2.0, 6.0)
            first_at = time.monotonic()
            kills = [lambda: time.monotonic() - first_at > t_first]
            for fraction in sorted(rng.uniform(0.2, 0.8) for _ in range(2)):
                mark = int(fraction * len(needed))
                kills.append(lambda mark=mark: grade_posts(sb) >= mark)
            killed, n = 0, 0
            for kill_when in kills:
                for _ in range(3):  # a run may end (exit 3) before its kill moment: restart
                    code, _ = run(n, kill_when)
                    n += 1
                    assert time.monotonic() - started < DEADLINE, runs
                    if code is None:
                        killed += 1
                        break
            report: Path | None = None
            for m in range(n, n + FINAL_RUNS):
                code, report = run(m, None)
                assert code is not None, f"run {m} did not finish in time: {runs}"
                rows = load_rows(report) if report.exists() else []
                unsettled = [
                    r for r in rows if r["row"] not in bad and r["status"] not in OK_STATUSES
                ]
                if code in (0, 1) and rows and not unsettled:
                    break
        books = sb.books()

    assert report is not None and report.exists(), runs
    rows = load_rows(report)
    numbers = [r["row"] for r in rows]
    assert numbers == list(range(2, ROWS + len(BAD_ROWS) + 2)), "report rows missing or repeated"
    wrong = [
        (r["row"], r["status"], r["message"][:120])
        for r in rows
        if (r["status"] != bad[r["row"]] if r["row"] in bad else r["status"] not in OK_STATUSES)
    ]
    assert not wrong, wrong[:10]
    counts = {(g["user_id"], g["module_id"]): g["count"] for g in books["grades"]}
    doubles = {k: c for k, c in counts.items() if c != 1}
    missing = needed - counts.keys()
    extra = counts.keys() - needed
    seconds = time.monotonic() - started
    line = (
        f"SOAK chaos-{ROWS}: {{}} {valid_rows} valid rows, {len(needed)} grades needed, "
        f"{killed} kills, {len(runs)} runs (exits {[r['exit'] for r in runs]}), "
        f"{books['double_grades']} double grades, {len(missing)} missing, {len(extra)} extra; "
        f"faults: {books['errors_injected']} 5xx, {books['dropped']} drops, "
        f"{books['lost_responses']} lost responses, {books['throttled']} 429s "
        f"({weather.spells['429-burst']} bursts), {weather.spells['latency-spike']} latency "
        f"spikes, {books['calls'].get('POST /oauth/token/refresh', 0)} token refreshes; "
        f"seed {SEED}; {seconds:.0f} s"
    )
    ok = not doubles and not missing and not extra and books["double_grades"] == 0 and killed == 3
    soak_line(line.format("PASS" if ok else "FAIL"))
    (tmp_path / "runs.json").write_text(json.dumps(runs, indent=1))
    assert killed == 3, runs
    assert books["double_grades"] == 0 and not doubles, list(doubles.items())[:10]
    assert not missing, sorted(missing)[:10]
    assert not extra, sorted(extra)[:10]


def load_rows(report: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(report.read_text(encoding="utf-8"))["rows"]
    return rows
