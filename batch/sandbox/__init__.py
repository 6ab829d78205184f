"""The embedded ALM sandbox: a real HTTP server on 127.0.0.1 that behaves like ALM API v2.

The demo, every test and the benchmarks run against it, and users try the tool on it, so it
follows ``alm-api.md`` rather than any one client. Usage (docs/architecture.md, "The sandbox
contract")::

    from batch.sandbox import Sandbox, SandboxConfig, load_seed
    with Sandbox(seed=load_seed("sample_data"), config=SandboxConfig(time_scale=60)) as sb:
        sb.env()          # ALM_BASE_URL, ALM_CLIENT_ID, ALM_CLIENT_SECRET, ALM_REFRESH_TOKEN
        sb.configure(error_rate=0.05)
        sb.books()

Choices where ALM is undocumented ([?] in alm-api.md), all visible to clients:

- ``Accept`` must name ``application/vnd.api+json`` or ``application/json``; a missing header or
  a bare ``*/*`` (the default of requests/curl) gets 406, as ALM "strictly requires" it.
- Deleted users are gone from the API: not listed by GET /users, not found by
  ``ids=email:``, 404 by id; only the users export CSV shows them (state DELETED, dateDeleted).
- One ``email:`` per ``ids`` (``multi_email_lookup`` allows several).
- Already enrolled: 409 CONFLICT "Already enrolled" (``already_enrolled_status=400``: a 400
  saying so; ``200``: the existing enrollment). Grades need an enrollment: 400 "Learner not
  enrolled" otherwise. Suspended users, retired courses/instances: 400 with a clear title.
- userModuleGrade: the default profile accepts the derived ``courseModule`` id and the raw
  loResource id, the instance as relationship, attribute or absent, course type ``course``;
  success is 200 with the learningObjectResourceGrade (``grade_success_status``: 201, or 202 /
  204 without a body). Other profiles (``SandboxConfig(profile=...)``, ``batch.sandbox.profiles``)
  accept one body and answer the others with ALM's 400 naming the field, or play the other
  undocumented answers (already enrolled, the export file URL, 403 on writes).
- Hourly buckets answer ``x-rate-limit: 500r/h`` (``r/m`` for the per-minute verb buckets);
  ``x-burst`` is the bucket's capacity.
- Jobs (``api_jobs``, ``jobs``, ``transcript``): the users export and the Learner Transcript,
  in the classic or the 2026 shape, a daily quota per type, one job at a time, a generation
  delay, an optional report lag and file links that expire. Learning programs and
  certifications (``programs``): sections, mapped instances, enrolling, roll-up. Their wire
  shapes and every reading of ALM they rest on: docs/sandbox.md.

Seed format (``sample_data/alm_seed.json``; ``load_seed`` takes the directory or the file)::

    {"format": "alm-batch-sandbox-seed/1",
     "account": {"id": "104510", "name": "Acme Corp"},
     "users": [{"id": "15263401", "email": "Maria.Gonzalez@acme-corp.example",
                "name": "Maria Gonzalez", "state": "ACTIVE|SUSPENDED|DELETED",
                "userType": "Internal", "roles": ["Learner"], "managerId": "15263440",
                "uniqueId": "E1001", "dateCreated": "...Z", "dateDeleted": "...Z"}],
     "learningObjects": [{"id": "course:7968486", "loType": "course",
                          "state": "Published|Retired", "loFormat": "Self Paced",
                          "dateCreated": "...Z",
                          "localizedMetadata": [{"locale": "en-US", "name": "Fire Safety 2025"}],
                          "modules": [{"id": "13210487", "loResourceType":
                                       "Content|Pre Work|Test Out", "resourceType": "Elearning",
                                       "mandatory": true, "localizedMetadata": [...]}],
                          "instances": [{"id": "course:7968486_8123456", "isDefault": true,
                                         "state": "Active|Retired",
                                         "localizedMetadata": [...]}]}],
     "enrollments": [{"userId": "15263405", "instanceId": "course:7968486_8123456",
                      "dateEnrolled": "...Z", "dateUnenrolled": "...Z (optional)",
                      "parentId": "learningProgram:131072 (optional)",
                      "grades": [{"moduleId": "13210487", "dateCompleted": "...Z",
                                  "score": 90}]}]}

A learning program or certification has no modules but ``sections`` ([{"id": "1", "loIds":
["course:..."], "mandatory": true, "mandatoryLOCount": 2, "localizedMetadata": [...]}]), and
its instances may give ``subLoInstances`` (course instance ids; unlisted courses map to their
default instance); a certification may say ``isExternal`` (no sections) or
``rootCertificationId`` (a recurrence: the first recurrence's id). A job aid may have no
instance. An enrollment may give ``dateCompleted`` for grades that carry no date of their own;
its ``state`` is never read: it is derived from the grades (COMPLETED when every Content module
of the instance has a completed grade, STARTED when some module is graded, else ENROLLED). A
program's or certification's enrollment also enrolls the learner in its courses the seed does
not list (``parentId`` marks a listed one as enrolled through it); its state is rolled up from
them, unless it gives ``dateCompleted`` (an approved external certification, an earlier
recurrence), which completes it as it stands. ``dateUnenrolled`` keeps an enrollment as history
(the transcript shows it "Unenrolled").
Every module exists in every instance of its course: the loResource id is
``<instanceId>_<moduleId>_<n>`` and the courseModule id ``<courseNum><moduleId><n>``, with ``n``
the config's ``resource_index`` (0; 1 in the ``resource-index-1`` profile).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from batch.sandbox.config import SandboxConfig
from batch.sandbox.generate import generate_completions, generate_seed
from batch.sandbox.limits import ManualClock
from batch.sandbox.seed import SeedData, default_seed_dir, load_seed, save_seed
from batch.sandbox.server import Sandbox

__all__ = [
    "ManualClock",
    "Sandbox",
    "SandboxConfig",
    "SeedData",
    "default_seed_dir",
    "generate_completions",
    "generate_seed",
    "load_seed",
    "save_seed",
    "serve",
]


def serve(
    port: int,
    seed_dir: Path | None,
    config: SandboxConfig,
    *,
    on_ready: Callable[[Sandbox], None] | None = None,
) -> None:
    """Serve a sandbox on 127.0.0.1:``port`` until Ctrl-C (for ``alm-batch sandbox``).

    Prints nothing: ``on_ready(sb)`` is called once the port is bound, so the CLI can print
    ``sb.base_url`` and ``sb.credentials``. Returns normally on KeyboardInterrupt; raises
    ``OSError`` when the port is taken and ``ValueError``/``OSError`` for a bad seed.
    """
    seed = load_seed(seed_dir if seed_dir is not None else default_seed_dir())
    sandbox = Sandbox(seed=seed, config=config, port=port)
    sandbox.start()
    try:
        if on_ready is not None:
            on_ready(sandbox)
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
