"""bench.bench_transcript at a tiny size, so it cannot rot between two ``make bench`` runs:
the four dry runs (per learner, transcript, kept snapshot, quota used up) run, count their
calls and report the same rows. Timings belong to ``make bench``."""

from __future__ import annotations

from pathlib import Path

from bench import bench_transcript

TINY = {"rows": 300, "distinct_users": 60, "distinct_courses": 6, "catalogue": 50}


def test_the_transcript_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    scenario = bench_transcript.run_large(tmp_path, 600.0, size=TINY, mode="transcript")
    d = scenario.details
    assert d["per-learner"]["calls"]["GET /users/{id}/enrollments"] >= 50
    assert d["transcript"]["jobs"]["generateLearnerTranscript"] == 1
    assert "GET /users/{id}/enrollments" not in d["transcript"]["calls"]
    assert d["kept"]["jobs"] == {} and d["kept"]["total"] == 0
    assert d["quota used up"]["calls"]["GET /users/{id}/enrollments"] >= 50
    by_name = {f.name: f for f in scenario.figures}
    assert by_name["rows identical in all four (status, message, writes)"].passed is True
    assert by_name["quota used up: falls back"].passed is True
    assert d["transcript"]["at_limits"]["generation_seconds"] == 60.0
