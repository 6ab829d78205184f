"""Sandbox profiles: readings of ALM's undocumented behaviour, one per profile.

Adobe documents neither the exact ``userModuleGrade`` body nor several answers (docs/alm-api.md),
so the sandbox can play each plausible reading; the jobs, the Learner Transcript's file and the
roll-up of programs have profiles of their own (docs/sandbox.md). A profile is a named preset of ``SandboxConfig``
fields: ``alm-batch sandbox --profile NAME`` or ``SandboxConfig(profile=NAME)``. The sandbox's
own notion of the accepted grade body lives in ``grade_module`` / ``grade_instance`` /
``grade_course_type`` (see ``api_grades``); it is not derived from the client's list of shapes,
and a strict profile answers every other body as ALM does since May 2025: a 400
``{"status": "BAD_REQUEST", "title": "Field Type incorrect", "source": {"info": "incorrect
relation type - ..."}}`` (or "Missing Param") naming the relationship or field.
"""

from __future__ import annotations

import textwrap
from typing import Any

DEFAULT_PROFILE = "default"

# name -> (one line for --help, the config fields it sets)
PROFILES: dict[str, tuple[str, dict[str, Any]]] = {
    DEFAULT_PROFILE: (
        "lenient, as the demo needs: either module id form, the instance as relationship, "
        "attribute or absent, course type course",
        {},
    ),
    "lo-resource": (
        "grade body: the loResource id as module (type learningObjectResource), no instance "
        "field, course type learningObject",
        {
            "grade_module": "loResource",
            "grade_instance": "none",
            "grade_course_type": "learningObject",
        },
    ),
    "instance-attribute": (
        "grade body: the concatenated courseModule id, the instance as attribute loInstanceId "
        "(required), course type course",
        {
            "grade_module": "courseModule",
            "grade_instance": "attribute",
            "grade_course_type": "course",
        },
    ),
    "resource-index-1": (
        "loResource ids end in _1 (course:1_2_3_1); grade body: the courseModule id built from "
        "them, the instance as relationship loInstance (required), course type course",
        {
            "resource_index": 1,
            "grade_module": "courseModule",
            "grade_instance": "relationship",
            "grade_course_type": "course",
        },
    ),
    "no-grade-body": (
        "refuses every grade body (the module relationship is never of an accepted type)",
        {"grade_module": "none"},
    ),
    "enroll-409": ("already enrolled answers 409 CONFLICT", {"already_enrolled_status": 409}),
    "enroll-400": (
        'already enrolled answers 400 "User is already enrolled in ..."',
        {"already_enrolled_status": 400},
    ),
    "enroll-200": (
        "already enrolled answers 200 with the existing enrollment",
        {"already_enrolled_status": 200},
    ),
    "export-url-nested": (
        "a job's file URL sits where no document puts it (attributes.result.files[0].href)",
        {"job_url_at": "nested"},
    ),
    "jobs-2026": (
        "GET /jobs/{id} in the 2026 shape: attributes.status QUEUED/IN_PROGRESS/COMPLETED/FAILED, "
        "the file at attributes.result.downloadUrl with expiresAt",
        {"job_shape": "2026"},
    ),
    "job-quota-429": (
        "a job over the daily quota, or while another runs, answers 429 with a retry-after "
        "(up to a day) instead of 400",
        {"job_quota_status": 429},
    ),
    "no-transcript-job": (
        "the account lacks the Learner Transcript job: generateLearnerTranscript answers 400",
        {"job_types_refused": "generateLearnerTranscript"},
    ),
    "transcript-bare-ids": (
        "transcript Training ID as a bare number (7968486) and Module ID as the module number",
        {"transcript_ids": "bare"},
    ),
    "transcript-enrollment-ids": (
        "transcript Training ID is a number per enrollment (no learning object id in the file), "
        "Module ID the courseModule id",
        {"transcript_ids": "enrollment"},
    ),
    "transcript-renamed": (
        "the transcript of another release: columns renamed and reordered, a byte order mark, "
        "no Root Training ID",
        {"transcript_columns": "renamed"},
    ),
    "transcript-lag": (
        "the transcript shows the account as it was 15 minutes before the job (ALM's "
        "documented report lag)",
        {"transcript_lag": 900.0},
    ),
    "report-timezone": (
        "the account reports in America/Los_Angeles: transcript dates and headers in that zone",
        {"report_timezone": "America/Los_Angeles"},
    ),
    "slow-rollup": (
        "a program or certification shows complete 5 minutes after its last course does",
        {"rollup_delay": 300.0},
    ),
    "read-only-token": (
        "the token lacks admin:write: every write answers 403 FORBIDDEN",
        {"writes_forbidden": True},
    ),
    "grade-no-body": ("a grade is answered 202 with an empty body", {"grade_success_status": 202}),
}


def profile_changes(name: str) -> dict[str, Any]:
    """The config fields profile ``name`` sets; ValueError naming the known ones otherwise."""
    if name not in PROFILES:
        raise ValueError(f"unknown sandbox profile {name!r}; known: {', '.join(PROFILES)}")
    return dict(PROFILES[name][1])


def profiles_help(columns: int = 96) -> str:
    """The profiles, wrapped, for ``alm-batch sandbox --help``."""
    width = max(len(n) for n in PROFILES)
    indent = " " * (width + 4)
    return "\n".join(
        textwrap.fill(
            text,
            width=columns,
            initial_indent=f"  {name:<{width}}  ",
            subsequent_indent=indent,
        )
        for name, (text, _) in PROFILES.items()
    )
