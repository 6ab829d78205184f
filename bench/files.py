"""The files ``make bench`` runs, as people have them, and what ALM must record for each.

- the sample (``sample_data``): the file the demo runs, 39 rows of which some need a person;
- a monthly file: 20,000 rows of 2,000 learners in 40 courses, a 500-course catalogue;
- a backfill: 100,000 rows of 10,000 learners in 100 courses, a 2,000-course catalogue;
- a tenth of the monthly file (2,000 rows, 200 learners, the same shape) for the live run that
  is measured (the whole file's live run takes 32 hours at ALM's write limit: its calls and
  time are counted from its plan).

Each has the time scale its runs are measured at: fast enough to finish in seconds or a few
minutes, slow enough that the client's CPU stays a small share of the wall time.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from batch.sandbox import load_seed
from bench.common import World, make_world

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
SAMPLE_GRADES = 62  # sample_data/README.md: grades a live run records on a fresh sandbox


@dataclass(frozen=True)
class File:
    key: str
    label: str  # the table's group
    rows: int
    learners: int
    courses: int
    catalogue: int
    scale: float  # the sandbox's clock, times ALM's
    exit_status: int = 0  # what a run of it ends with (the sample has rows for a person)
    unknown_emails: int = 0  # emails ALM does not know: asked again on every run

    @property
    def generated(self) -> bool:
        return self.key != "sample"


FILES: dict[str, File] = {
    f.key: f
    for f in (
        File("sample", "the sample file: 39 rows, 35 learners", 39, 35, 19, 16, 20.0, 1, 1),
        File("monthly", "20,000 rows, 2,000 learners: a monthly file", 20_000, 2_000, 40, 500, 40.0),
        File("backfill", "100,000 rows, 10,000 learners: a backfill", 100_000, 10_000, 100, 2_000, 60.0),
        File("tenth", "20,000 rows, 2,000 learners: a monthly file", 2_000, 200, 40, 500, 120.0),
        File("quick-tenth", "20,000 rows, 2,000 learners: a monthly file", 500, 50, 40, 500, 120.0),
        File("tiny", "tiny (the smoke test)", 60, 20, 4, 150, 600.0),
    )
}  # fmt: skip


def world(file: File, folder: Path) -> World:
    """The file and the ALM account it is run against (the sample's, or a generated one)."""
    if not file.generated:
        return World(
            load_seed(SAMPLE), SAMPLE / "completions.csv", file.rows, file.learners,
            file.courses, file.catalogue,
        )  # fmt: skip
    return make_world(
        folder / file.key,
        rows=file.rows,
        distinct_users=file.learners,
        distinct_courses=file.courses,
        catalogue=file.catalogue,
    )


def learner_reads(w: World) -> tuple[int, int]:
    """(learners in a generated file that ALM knows, the reads of their state it takes: one
    each, and one more per extra page of 10 enrollments)."""
    by_email = {
        str(u["email"]).casefold(): u
        for u in w.seed["users"]
        if u.get("state", "ACTIVE") == "ACTIVE"
    }
    with w.path.open(newline="", encoding="utf-8") as handle:
        emails = {r["Learner Email"].strip().casefold() for r in csv.DictReader(handle)}
    counts: dict[str, int] = {}
    for e in w.seed.get("enrollments", []):
        counts[str(e["userId"])] = counts.get(str(e["userId"]), 0) + 1
    ids = [str(by_email[e]["id"]) for e in emails if e in by_email]
    return len(ids), sum(max(1, math.ceil(counts.get(i, 0) / 10)) for i in ids)


def expected_grades(w: World) -> set[tuple[str, str]]:
    """(user id, loResource id) of every grade a generated file needs, from the seed alone."""
    users = {str(u["email"]).casefold(): str(u["id"]) for u in w.seed["users"]}
    los = {str(lo["id"]): lo for lo in w.seed["learningObjects"]}
    names = {
        " ".join(str(m["name"]).split()).casefold(): str(lo["id"])
        for lo in w.seed["learningObjects"]
        for m in lo["localizedMetadata"]
    }
    enrolled = {
        (str(e["userId"]), str(e["instanceId"]).rsplit("_", 1)[0]): (
            str(e["instanceId"]),
            bool(e.get("grades")),
        )
        for e in w.seed.get("enrollments", [])
    }
    out: set[tuple[str, str]] = set()
    with w.path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            uid = users[row["Learner Email"].strip().casefold()]
            cell = row["Course"].strip()
            if cell.startswith("course:"):
                cid = cell
            elif cell.isdigit():
                cid = f"course:{cell}"
            else:
                cid = names[" ".join(cell.split()).casefold()]
            lo = los[cid]
            instance, completed = enrolled.get((uid, cid), (lo["instances"][0]["id"], False))
            if completed:  # generated enrollments are graded on every Content module or none
                continue
            for m in lo["modules"]:
                if m.get("loResourceType") == "Content":
                    out.add((uid, f"{instance}_{m['id']}_0"))
    return out
