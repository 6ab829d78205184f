"""JSON:API documents from ALM -> ``batch.alm.types``, tolerant of what ALM leaves out.

ALM may omit fields, send ``data`` as an object where a list is expected (or the reverse), dates
with or without milliseconds or zone, and ids as numbers. Every helper here accepts all of that
and falls back to a neutral value rather than failing a whole run on one odd record.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from batch.alm.types import (
    CourseDetail,
    CourseSummary,
    Enrollment,
    Instance,
    Module,
    ModuleGrade,
    Section,
    User,
)

Resource = dict[str, Any]


def as_list(data: Any) -> list[Resource]:
    """``data`` as a list of resource objects, whatever shape it came in."""
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return [item for item in data if isinstance(item, dict)]
    return []


def str_id(value: Any) -> str:
    return "" if value is None else str(value).strip()


def attrs(resource: Resource) -> dict[str, Any]:
    found = resource.get("attributes")
    return found if isinstance(found, dict) else {}


def rel_ids(resource: Resource, name: str) -> list[str]:
    """The ids in ``relationships.<name>.data`` (object or list)."""
    rels = resource.get("relationships")
    rel = rels.get(name) if isinstance(rels, dict) else None
    data = rel.get("data") if isinstance(rel, dict) else None
    return [str_id(item.get("id")) for item in as_list(data) if item.get("id") is not None]


def rel_id(resource: Resource, name: str) -> str:
    ids = rel_ids(resource, name)
    return ids[0] if ids else ""


def parse_datetime(value: Any) -> datetime | None:
    """ISO 8601 with or without milliseconds / zone, or epoch milliseconds; naive = UTC."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = value / 1000.0 if value > 1e11 else float(value)
            return datetime.fromtimestamp(seconds, tz=UTC)
        parsed = datetime.fromisoformat(str(value).strip().replace(" ", "T", 1))
    except (ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_float(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def names_of(resource: Resource) -> dict[str, str]:
    """``localizedMetadata`` as locale -> name (names kept exactly as given)."""
    out: dict[str, str] = {}
    meta = attrs(resource).get("localizedMetadata")
    for entry in meta if isinstance(meta, list) else as_list(meta):
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            out[str(entry.get("locale") or "")] = entry["name"]
    if not out and isinstance(attrs(resource).get("name"), str):
        out[""] = attrs(resource)["name"]
    return out


def parse_user(resource: Resource) -> User:
    a = attrs(resource)
    return User(
        id=str_id(resource.get("id")),
        email=str(a.get("email") or "").strip(),
        state=str(a.get("state") or "ACTIVE").upper(),
        name=str(a.get("name") or ""),
    )


def parse_course_summary(resource: Resource) -> CourseSummary:
    a = attrs(resource)
    lo_id = str_id(resource.get("id"))
    lo_type = str(a.get("loType") or (lo_id.split(":", 1)[0] if ":" in lo_id else "course"))
    return CourseSummary(
        id=lo_id,
        state=str(a.get("state") or ""),
        names=names_of(resource),
        lo_type=lo_type,
        root_id=str_id(a.get("rootCertificationId")),
        is_external=bool(parse_bool(a.get("isExternal"))),
        date_created=parse_datetime(a.get("dateCreated")),
        instances=_related_count(resource, "instances"),
        description=_description(resource),
    )


def _related_count(resource: Resource, name: str) -> int | None:
    """How many ``relationships.<name>.data`` entries there are; None when it is absent."""
    rels = resource.get("relationships")
    rel = rels.get(name) if isinstance(rels, dict) else None
    if not isinstance(rel, dict) or "data" not in rel:
        return None
    return len(rel_ids(resource, name))


DESCRIPTION_CHARS = 80  # of a catalogue entry's description kept (to tell names apart)


def _description(resource: Resource) -> str:
    """The first non-blank description of ``localizedMetadata`` (en-US first), shortened."""
    meta = attrs(resource).get("localizedMetadata")
    entries = [
        e for e in (meta if isinstance(meta, list) else as_list(meta)) if isinstance(e, dict)
    ]
    entries.sort(key=lambda e: str(e.get("locale") or "") not in ("en-US", "en_US", "en"))
    for entry in entries:
        text = entry.get("description")
        if isinstance(text, str) and text.strip():
            text = " ".join(text.split())
            return text if len(text) <= DESCRIPTION_CHARS else text[: DESCRIPTION_CHARS - 3] + "..."
    return ""


def parse_sections(resource: Resource) -> tuple[Section, ...]:
    """``attributes.sections`` of a learning program or certification (April 2026 docs):
    ``loIds``, ``mandatory``, ``mandatoryLOCount``; a section without ``mandatory`` is read as
    mandatory, one without a count as needing every course (``Section.needed``)."""
    raw = attrs(resource).get("sections")
    out: list[Section] = []
    for index, section in enumerate(raw if isinstance(raw, list) else as_list(raw), start=1):
        if not isinstance(section, dict):
            continue
        ids = section.get("loIds")
        lo_ids = tuple(str_id(i) for i in (ids if isinstance(ids, list) else [ids]) if i)
        count = parse_float(section.get("mandatoryLOCount"))
        mandatory = parse_bool(section.get("mandatory"))
        out.append(
            Section(
                id=str_id(section.get("sectionId") or section.get("id") or index),
                lo_ids=tuple(f"course:{i}" if i.isdigit() else i for i in lo_ids),
                mandatory=True if mandatory is None else mandatory,
                count=None if count is None else int(count),
                names=names_of({"attributes": section}),
            )
        )
    return tuple(out)


def _index(included: Any) -> dict[tuple[str, str], Resource]:
    return {(str(r.get("type") or ""), str_id(r.get("id"))): r for r in as_list(included)}


def parse_module(resource: Resource, instance_id: str = "") -> Module:
    a = attrs(resource)
    mod_id = str_id(resource.get("id"))
    inst = instance_id or rel_id(resource, "loInstance") or "_".join(mod_id.split("_")[:2])
    mandatory = parse_bool(a.get("mandatory"))
    return Module(
        id=mod_id,
        instance_id=inst,
        lo_resource_type=str(a.get("loResourceType") or "Content"),
        names=names_of(resource),
        resource_type=str(a.get("resourceType") or ""),
        mandatory=True if mandatory is None else mandatory,
    )


def parse_course_detail(doc: Any) -> CourseDetail | None:
    """A course with its instances and modules, following the JSON:API relationships.

    Falls back on id prefixes (``course:1_2`` belongs to ``course:1``; ``course:1_2_3_0`` to
    instance ``course:1_2``) when a relationship is missing.
    """
    if not isinstance(doc, dict):
        return None
    items = as_list(doc.get("data"))
    if not items:
        return None
    lo = items[0]
    lo_id = str_id(lo.get("id"))
    included = as_list(doc.get("included"))
    by_key = _index(included)
    by_id = {str_id(r.get("id")): r for r in included}
    instance_ids = rel_ids(lo, "instances")
    for r in included:
        rid = str_id(r.get("id"))
        if (
            r.get("type") == "learningObjectInstance"
            and rid not in instance_ids
            and (rid.startswith(lo_id + "_") or rel_id(r, "learningObject") == lo_id)
        ):
            instance_ids.append(rid)
    resources = [r for r in included if r.get("type") == "learningObjectResource"]
    instances = []
    for inst_id in instance_ids:
        inst = (
            by_key.get(("learningObjectInstance", inst_id)) or by_id.get(inst_id) or {"id": inst_id}
        )
        mod_ids = rel_ids(inst, "loResources")
        if not mod_ids:
            mod_ids = [
                str_id(r.get("id"))
                for r in resources
                if rel_id(r, "loInstance") == inst_id
                or str_id(r.get("id")).startswith(inst_id + "_")
            ]
        modules = tuple(
            parse_module(
                by_key.get(("learningObjectResource", m)) or by_id.get(m) or {"id": m}, inst_id
            )
            for m in mod_ids
        )
        a = attrs(inst)
        instances.append(
            Instance(
                id=inst_id,
                state=str(a.get("state") or "Active"),
                is_default=bool(parse_bool(a.get("isDefault"))),
                names=names_of(inst),
                modules=modules,
                sub_instances=tuple(rel_ids(inst, "subLoInstances")),
            )
        )
    if len(instances) == 1 and "isDefault" not in attrs(by_id.get(instances[0].id, {})):
        instances[0] = replace(instances[0], is_default=True)
    a = attrs(lo)
    return CourseDetail(
        id=lo_id,
        state=str(a.get("state") or ""),
        names=names_of(lo),
        instances=tuple(instances),
        lo_type=str(a.get("loType") or lo_id.split(":", 1)[0] or "course"),
        sections=parse_sections(lo),
        sub_lo_ids=tuple(rel_ids(lo, "subLOs")),
        is_external=bool(parse_bool(a.get("isExternal"))),
        root_id=str_id(a.get("rootCertificationId")),
        date_created=parse_datetime(a.get("dateCreated")),
    )


def _grade_module_id(grade: Resource, user_id: str) -> str:
    """The loResource a grade belongs to: its relationship, else its id minus ``_<userId>``."""
    for name in ("loResource", "learningObjectResource", "module"):
        found = rel_id(grade, name)
        if found:
            return found
    gid = str_id(grade.get("id"))
    if user_id and gid.endswith("_" + user_id):
        return gid[: -len(user_id) - 1]
    return gid.rsplit("_", 1)[0] if gid.count("_") >= 4 else gid


def parse_grade(grade: Resource, user_id: str) -> ModuleGrade:
    a = attrs(grade)
    completed = parse_bool(a.get("completed"))
    progress = parse_float(a.get("progressPercent"))
    return ModuleGrade(
        module_id=_grade_module_id(grade, user_id),
        completed=bool(completed) or (progress is not None and progress >= 100),
        date_completed=parse_datetime(a.get("dateCompleted")),
        score=parse_float(a.get("score")),
        has_passed=parse_bool(a.get("hasPassed")),
    )


def parse_enrollment(resource: Resource, included: Any = None, user_id: str = "") -> Enrollment:
    a = attrs(resource)
    by_id = {str_id(r.get("id")): r for r in as_list(included)}
    instance_id = rel_id(resource, "loInstance")
    lo_id = rel_id(resource, "learningObject") or instance_id.split("_", 1)[0]
    user_id = user_id or rel_id(resource, "learner")
    grades: dict[str, ModuleGrade] = {}
    for gid in rel_ids(resource, "loResourceGrades"):
        grade = parse_grade(by_id.get(gid) or {"id": gid}, user_id)
        grades[grade.module_id] = grade
    return Enrollment(
        id=str_id(resource.get("id")),
        lo_id=lo_id,
        instance_id=instance_id,
        state=str(a.get("state") or "").upper(),
        date_enrolled=parse_datetime(a.get("dateEnrolled")),
        date_completed=parse_datetime(a.get("dateCompleted")),
        grades=grades,
    )


def _header_key(name: str) -> str:
    return "".join(ch for ch in name.casefold() if ch.isalnum())


_USER_COLUMNS = {
    "id": ("internaluserid", "userid", "id", "almuserid", "internalid"),
    "email": ("useremail", "email", "emailaddress", "emailid", "mail"),
    "name": ("name", "username", "fullname", "displayname"),
    "state": ("state", "userstate", "status", "accountstate"),
    "deleted": ("datedeleted", "deleteddate", "deletedon", "deletiondate"),
}


def parse_user_csv(content: bytes) -> Iterator[User]:
    """Users from a generateUsers export CSV, tolerant of column-name variants and encodings."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("cp1252", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return
    keys = [_header_key(h) for h in header]
    where: dict[str, int] = {}
    for field_name, aliases in _USER_COLUMNS.items():
        for alias in aliases:
            if alias in keys:
                where[field_name] = keys.index(alias)
                break
    if "id" not in where or "email" not in where:
        raise ValueError(
            "the users export has no user id / email column (columns: " + ", ".join(header) + ")"
        )

    def cell(row: list[str], field_name: str) -> str:
        index = where.get(field_name)
        return row[index].strip() if index is not None and index < len(row) else ""

    for row in reader:
        user_id = cell(row, "id")
        if not user_id:
            continue
        state = (cell(row, "state") or "ACTIVE").upper()
        if cell(row, "deleted"):
            state = "DELETED"
        yield User(id=user_id, email=cell(row, "email"), state=state, name=cell(row, "name"))
