"""Seed data: the JSON format, loading it and checking it before a sandbox serves it.

The format is documented in ``batch.sandbox``'s module docstring and ``sample_data/README.md``.
A seed is a plain JSON-ready dict (``SeedData``) so that generated seeds can be written to disk,
diffed and reloaded; ``check_seed`` catches mistakes (dangling ids, bad states) at load time
instead of as a 500 in the middle of a benchmark.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

SeedData = dict[str, Any]

SEED_FILE = "alm_seed.json"
SEED_FORMAT = "alm-batch-sandbox-seed/1"

USER_STATES = ("ACTIVE", "SUSPENDED", "DELETED")
LO_STATES = ("Published", "Retired")
INSTANCE_STATES = ("Active", "Retired")
LO_TYPES = ("course", "learningProgram", "certification", "jobAid")
RESOURCE_TYPES = ("Content", "Pre Work", "Test Out")

_LO_ID = re.compile(r"^(course|learningProgram|certification|jobAid):(\d+)$")
_INSTANCE_ID = re.compile(r"^(course|learningProgram|certification|jobAid):(\d+)_(\d+)$")


def default_seed_dir() -> Path:
    """The sample data shipped inside the package (``batch/sandbox/data``): the seed, the
    sample file and its README, so ``alm-batch demo``, ``sandbox`` and ``serve --sandbox``
    work from any folder after ``pip install .``. A copy of the repository's ``sample_data/``
    (a test keeps them byte-equal)."""
    return Path(__file__).resolve().parent / "data"


def load_seed(path: str | Path) -> SeedData:
    """Read a seed from a directory (its ``alm_seed.json``) or a JSON file, and check it."""
    path = Path(path)
    if path.is_dir():
        path = path / SEED_FILE
    with path.open(encoding="utf-8") as handle:
        seed: SeedData = json.load(handle)
    check_seed(seed)
    return seed


def save_seed(seed: SeedData, path: str | Path) -> Path:
    """Write a seed as pretty JSON (a directory gets ``alm_seed.json``)."""
    path = Path(path)
    if path.is_dir():
        path = path / SEED_FILE
    path.write_text(json.dumps(seed, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def check_seed(seed: SeedData) -> None:
    """Raise ``ValueError`` naming the first inconsistency in ``seed``."""
    if not isinstance(seed, dict):
        raise ValueError("seed must be a JSON object")
    user_ids = _check_users(seed.get("users", []))
    los: dict[str, dict[str, Any]] = {}
    modules_of: dict[str, set[str]] = {}
    for lo in seed.get("learningObjects", []):
        lo_id = _check_lo(lo)
        los[lo_id] = lo
        mods = {str(m["id"]) for m in lo.get("modules", [])}
        for inst in lo.get("instances", []):
            modules_of[str(inst["id"])] = mods
    for lo in los.values():
        _check_structure(lo, los)
    _check_enrollments(seed.get("enrollments", []), user_ids, los, modules_of)


def _check_users(users: list[dict[str, Any]]) -> set[str]:
    user_ids: set[str] = set()
    for user in users:
        uid = str(user.get("id", ""))
        if not uid.isdigit():
            raise ValueError(f"user id must be digits: {uid!r}")
        if uid in user_ids:
            raise ValueError(f"duplicate user id {uid}")
        user_ids.add(uid)
        if "@" not in str(user.get("email", "")):
            raise ValueError(f"user {uid}: email missing")
        if user.get("state", "ACTIVE") not in USER_STATES:
            raise ValueError(f"user {uid}: state must be one of {USER_STATES}")
    return user_ids


def _check_lo(lo: dict[str, Any]) -> str:
    """One learning object on its own: id, type, state, names, modules, instances."""
    lo_id = str(lo.get("id", ""))
    match = _LO_ID.match(lo_id)
    if not match:
        raise ValueError(f"learning object id must look like course:123, got {lo_id!r}")
    kind = match.group(1)
    if lo.get("loType", kind) != kind:
        raise ValueError(f"{lo_id}: loType does not match the id prefix")
    if lo.get("state", "Published") not in LO_STATES:
        raise ValueError(f"{lo_id}: state must be one of {LO_STATES}")
    if not lo.get("localizedMetadata"):
        raise ValueError(f"{lo_id}: localizedMetadata (names) missing")
    for module in lo.get("modules", []):
        if kind != "course":
            raise ValueError(f"{lo_id}: only courses have modules")
        if not str(module["id"]).isdigit():
            raise ValueError(f"{lo_id}: module id must be digits")
        if module.get("loResourceType", "Content") not in RESOURCE_TYPES:
            raise ValueError(f"{lo_id}: loResourceType must be one of {RESOURCE_TYPES}")
    defaults = 0
    for inst in lo.get("instances", []):
        inst_id = str(inst.get("id", ""))
        if not inst_id.startswith(lo_id + "_") or not _INSTANCE_ID.match(inst_id):
            raise ValueError(f"{lo_id}: instance id {inst_id!r} must be {lo_id}_<digits>")
        if inst.get("state", "Active") not in INSTANCE_STATES:
            raise ValueError(f"{inst_id}: state must be one of {INSTANCE_STATES}")
        defaults += bool(inst.get("isDefault"))
    # Job aids have no enrollment, so they may have no instance at all (alm-api.md §12).
    if defaults != 1 and not (kind == "jobAid" and not lo.get("instances")):
        raise ValueError(f"{lo_id}: exactly one instance must be isDefault")
    mapped = any(inst.get("subLoInstances") for inst in lo.get("instances", []))
    if ("sections" in lo or mapped) and kind not in ("learningProgram", "certification"):
        raise ValueError(f"{lo_id}: only learning programs and certifications have sections")
    if kind != "certification" and ("isExternal" in lo or "rootCertificationId" in lo):
        raise ValueError(f"{lo_id}: isExternal and rootCertificationId are for certifications")
    return lo_id


def _check_structure(lo: dict[str, Any], los: dict[str, dict[str, Any]]) -> None:
    """Sections name published courses; instances map only those courses; roots exist."""
    lo_id = str(lo["id"])
    sections = lo.get("sections", [])
    external = bool(lo.get("isExternal"))
    if external and sections:
        raise ValueError(f"{lo_id}: an external certification has no courses")
    needs_sections = lo_id.startswith("learningProgram:") or (
        lo_id.startswith("certification:") and not external
    )
    if needs_sections and not any(s.get("mandatory", True) for s in sections):
        raise ValueError(f"{lo_id}: needs at least one mandatory section of courses")
    courses: set[str] = set()
    for section in sections:
        ids = [str(i) for i in section.get("loIds", [])]
        if not ids:
            raise ValueError(f"{lo_id}: a section without loIds")
        for cid in ids:
            if not cid.startswith("course:") or cid not in los:
                raise ValueError(f"{lo_id}: section names {cid}, which is not a course here")
            if cid in courses:
                raise ValueError(f"{lo_id}: {cid} is in two sections")
            courses.add(cid)
        count = section.get("mandatoryLOCount", len(ids))
        if not isinstance(count, int) or not 0 <= count <= len(ids):
            raise ValueError(f"{lo_id}: mandatoryLOCount must be 0..{len(ids)}")
    for inst in lo.get("instances", []):
        for sub in inst.get("subLoInstances", []):
            course_id = str(sub).rsplit("_", 1)[0]
            known = {str(i["id"]) for i in los.get(course_id, {}).get("instances", [])}
            if course_id not in courses or str(sub) not in known:
                raise ValueError(
                    f"{inst['id']}: subLoInstances names {sub}, not one of its courses"
                )
    root = lo.get("rootCertificationId")
    if root is not None:
        root_lo = los.get(str(root))
        if root_lo is None or str(root_lo.get("rootCertificationId", root)) != str(root):
            raise ValueError(f"{lo_id}: rootCertificationId {root} is not a root certification")


def _check_enrollments(
    enrollments: list[dict[str, Any]],
    user_ids: set[str],
    los: dict[str, dict[str, Any]],
    modules_of: dict[str, set[str]],
) -> None:
    seen: set[tuple[str, str]] = set()
    for enr in enrollments:
        uid, inst_id = str(enr.get("userId")), str(enr.get("instanceId"))
        if uid not in user_ids:
            raise ValueError(f"enrollment for unknown user {uid}")
        if inst_id not in modules_of:
            raise ValueError(f"enrollment in unknown instance {inst_id}")
        key = (uid, inst_id.rsplit("_", 1)[0])
        if not enr.get("dateUnenrolled"):  # an unenrolled record is history, not a second one
            if key in seen:
                raise ValueError(f"user {uid} enrolled twice in {key[1]}")
            seen.add(key)
        for grade in enr.get("grades", []):
            if str(grade.get("moduleId")) not in modules_of[inst_id]:
                raise ValueError(f"grade for unknown module {grade.get('moduleId')} in {inst_id}")
        if not key[1].startswith("course:") and enr.get("grades"):
            raise ValueError(f"{inst_id}: a program or certification enrollment has no grades")
        parent = enr.get("parentId")
        if parent is not None:
            sections = los.get(str(parent), {}).get("sections", [])
            if not any(key[1] in s.get("loIds", []) for s in sections):
                raise ValueError(f"{inst_id}: parentId {parent} has no such course")
