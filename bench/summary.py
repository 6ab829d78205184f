"""The one table of ``make bench``: every run in what its user waits for, then local costs.

Lines print under their group (the file or the setting), groups in the order they first come;
local costs (no ALM) last. A scenario without lines (figures only) prints its figures as text
under its own name, so every benchmark's figures are in the one table.
"""

from __future__ import annotations

from collections.abc import Iterable

from bench import limits
from bench.common import Figure, Line, Scenario, duration, fmt

CPU_TRUSTED = 0.25  # above this share of the wall time, a time-scaled figure is not trusted
HEAD = (
    "run",
    "GET",
    "POST",
    "/users",
    "/LOs",
    "polls",
    "at ALM's limits",
    "measured",
    "used",
    "est/act",
    "429/early",
    "CPU",
    "targets",
)
LEGEND = f"""\
GET, POST, /users, /LOs, polls: requests ALM's API received (the sandbox's books, 429s included)
per rate-limited bucket: every GET (the job polls among them), every POST, GET /users[/id],
GET /learningObjects[/id].
at ALM's limits: the least time those calls take at ALM's documented limits (GET 100/min burst
100; POST 30/min burst 10; GET /users and GET /learningObjects 500/h; the learningObject API
15/min), and what binds: GET, POST, users (500/h), LO/h (500/h), LO/min (15/min), burst (every
call fits a burst); +job: the users export's or the transcript's generation time (the
sandbox's: ALM's is not documented).
measured: the run in ALM's time, on a sandbox N times faster than ALM (xN) with ALM's 300-600 ms
answers: its network time x N plus its local time. "est": the dry run's estimate of a run not
made here. A local cost: wall seconds on this machine, shared with other work; the targets
judge its CPU seconds.
used: at ALM's limits / measured, the share of the allowance the run used. est/act: the dry
run's estimate / measured. CPU: the client's CPU time / wall time; "!" above {CPU_TRUSTED:.0%}: the
time-scaled figures of that line are not trusted (the client's own time counts N times)."""


def render(scenarios: Iterable[Scenario]) -> str:
    """The table: a heading, then each group's heading and lines, then the legend."""
    runs: dict[str, list[list[str]]] = {}
    local: dict[str, list[list[str]]] = {}
    for scenario in scenarios:
        checks = {id(c) for line in scenario.lines for c in line.checks}
        texts = [[f"  {_text(f)}"] for f in scenario.figures if id(f) not in checks]
        if texts:
            runs.setdefault(scenario.name, []).extend(texts)
        for line in scenario.lines:
            (local if line.local else runs).setdefault(line.group, []).append(_cells(line))
    rows: list[list[str]] = [list(HEAD)]
    for groups in (runs, local):
        for group, members in groups.items():
            rows.append([group])
            # The row-by-row script's line closes its file's group, after the tool's runs.
            rows.extend(sorted(members, key=lambda r: r[0].startswith("  row-by-row")))
    return _aligned(rows) + "\n\n" + LEGEND


def _cells(line: Line) -> list[str]:
    cells = ["  " + line.run]
    if line.calls is None:
        cells += [""] * 5
    else:
        counts = limits.per_bucket(line.calls)
        cells += [
            fmt(counts[limits.GET.column]),
            fmt(counts[limits.POST.column]),
            fmt(counts[limits.USERS.column]),
            fmt(counts[limits.LEARNING_OBJECTS.column]),
            fmt(counts[limits.POLLS]),
        ]
    seconds = line.limits_seconds
    if seconds is None:
        cells.append("")
    else:
        cells.append(line.binding if seconds == 0 else f"{duration(seconds)} {line.binding}")
    cells.append(line.measured)
    cells.append("" if line.used is None else f"{line.used:.0%}")
    cells.append("" if line.estimate_ratio is None else f"{line.estimate_ratio:.2f}")
    cells.append("" if line.throttled is None else f"{line.throttled}/{line.early}")
    cpu = line.cpu_share
    cells.append("" if cpu is None else f"{cpu:.0%}" + ("!" if cpu > CPU_TRUSTED else ""))
    cells.append(_targets(line.checks))
    return cells


def _targets(checks: list[Figure]) -> str:
    """ "4/4", or "3/4 FAIL: <what failed>"; "(+1 not trusted)" for checks left unjudged."""
    judged = [c for c in checks if c.passed is not None]
    failed = [c.name for c in judged if c.passed is False]
    unjudged = len(checks) - len(judged)
    if not checks:
        return ""
    text = f"{len(judged) - len(failed)}/{len(judged)}"
    if failed:
        text += " FAIL: " + "; ".join(failed)
    if unjudged:
        text += f" (+{unjudged} not trusted)"
    return text


def _text(figure: Figure) -> str:
    """A figure that is not a run, as one line of text."""
    text = f"{figure.name}: {fmt(figure.value)}"
    if figure.note:
        text += f" ({figure.note})"
    if figure.target:
        text += f"  [target {figure.target}: {figure.verdict}]"
    return text


def _aligned(rows: list[list[str]]) -> str:
    """Full rows in fixed-width columns; a row of one cell (a heading, a text) runs across."""
    full = [r for r in rows if len(r) == len(HEAD)]
    widths = [max(len(r[i]) for r in full) for i in range(len(HEAD))]
    right = {1, 2, 3, 4, 5}  # the counts
    out = []
    for r in rows:
        if len(r) != len(HEAD):
            out.append(r[0])
            continue
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)
