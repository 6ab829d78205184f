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
    user_ids: set[str] = set()
    for user in seed.get("users", []):
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
    modules_of: dict[str, set[str]] = {}
    instances: set[str] = set()
    for lo in seed.get("learningObjects", []):
        lo_id = str(lo.get("id", ""))
        match = _LO_ID.match(lo_id)
        if not match:
            raise ValueError(f"learning object id must look like course:123, got {lo_id!r}")
        if lo.get("loType", match.group(1)) != match.group(1):
            raise ValueError(f"{lo_id}: loType does not match the id prefix")
        if lo.get("state", "Published") not in LO_STATES:
            raise ValueError(f"{lo_id}: state must be one of {LO_STATES}")
        if not lo.get("localizedMetadata"):
            raise ValueError(f"{lo_id}: localizedMetadata (names) missing")
        mods = {str(m["id"]) for m in lo.get("modules", [])}
        for module in lo.get("modules", []):
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
            instances.add(inst_id)
            modules_of[inst_id] = mods
        if defaults != 1:
            raise ValueError(f"{lo_id}: exactly one instance must be isDefault")
    seen: set[tuple[str, str]] = set()
    for enr in seed.get("enrollments", []):
        uid, inst_id = str(enr.get("userId")), str(enr.get("instanceId"))
        if uid not in user_ids:
            raise ValueError(f"enrollment for unknown user {uid}")
        if inst_id not in instances:
            raise ValueError(f"enrollment in unknown instance {inst_id}")
        key = (uid, inst_id.rsplit("_", 1)[0])
        if key in seen:
            raise ValueError(f"user {uid} enrolled twice in {key[1]}")
        seen.add(key)
        for grade in enr.get("grades", []):
            if str(grade.get("moduleId")) not in modules_of[inst_id]:
                raise ValueError(f"grade for unknown module {grade.get('moduleId')} in {inst_id}")
