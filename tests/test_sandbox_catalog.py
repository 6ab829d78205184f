"""Sandbox: GET /users (email lookup, caps, offset, cursors) and GET /learningObjects[/{id}]."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from batch.sandbox import Sandbox, SandboxConfig, load_seed
from batch.sandbox.seed import default_seed_dir
from tests.test_sandbox_support import Api, error_of

SEED = load_seed(default_seed_dir())
VISIBLE_USERS = sum(1 for u in SEED["users"] if u["state"] != "DELETED")


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    with Sandbox(seed=SEED, config=SandboxConfig(limits_enabled=False)) as sb:
        yield Api(sb)


def walk(api: Api, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """Every item, following links.next (absolute URLs) until it is absent."""
    resp = api.get(path, params)
    items: list[dict[str, Any]] = []
    while True:
        assert resp.status_code == 200, resp.text
        body = resp.json()
        items.extend(body["data"])
        nxt = body["links"].get("next")
        if not nxt:
            return items
        assert nxt.startswith(api.sb.base_url + "/primeapi/v2/") and "page[cursor]=" in nxt
        resp = api.get(nxt)


@pytest.mark.parametrize(
    "email",
    [
        "maria.gonzalez@acme-corp.example",
        "MARIA.GONZALEZ@ACME-CORP.EXAMPLE",
        "Maria.Gonzalez@acme-corp.example",
    ],
)
def test_email_lookup_is_case_insensitive_exact(api: Api, email: str) -> None:
    resp = api.get("/users", {"ids": f"email:{email}", "page[limit]": "10", "sort": "id"})
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert [u["id"] for u in data] == ["15263401"]
    user = data[0]
    assert user["type"] == "user"
    assert user["attributes"]["email"] == "Maria.Gonzalez@acme-corp.example"  # as stored
    assert user["attributes"]["state"] == "ACTIVE"
    assert user["attributes"]["userType"] == "Internal"
    assert "Learner" in user["attributes"]["roles"]
    assert user["relationships"]["account"]["data"] == {"id": "104510", "type": "account"}


@pytest.mark.parametrize(
    "email",
    ["nobody@acme-corp.example", "peter.novak@acme-corp.example", "maria.gonzalez@acme-corp"],
)
def test_unknown_partial_and_deleted_emails_find_nothing(api: Api, email: str) -> None:
    resp = api.get("/users", {"ids": f"email:{email}"})
    assert resp.status_code == 200
    assert resp.json()["data"] == []


def test_deleted_and_unknown_users_are_404_but_suspended_ones_show(api: Api) -> None:
    assert api.get("/users/15263438").status_code == 404  # peter.novak, DELETED
    missing = api.get("/users/99999999")
    assert missing.status_code == 404 and error_of(missing)[0] == "NOT_FOUND"
    suspended = api.get("/users/15263436").json()["data"]
    assert suspended["attributes"]["state"] == "SUSPENDED"


def test_one_email_per_call_unless_configured(api: Api) -> None:
    both = "email:maria.gonzalez@acme-corp.example,email:liam.chen@acme-corp.example"
    refused = api.get("/users", {"ids": both})
    assert refused.status_code == 400 and "ids" in error_of(refused)[2]
    api.sb.configure(multi_email_lookup=True)
    try:
        found = api.get("/users", {"ids": both}).json()["data"]
        assert [u["id"] for u in found] == ["15263401", "15263404"]
    finally:
        api.sb.configure(multi_email_lookup=False)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"page[limit]": "100"}, 200),
        ({"page[limit]": "101"}, 400),
        ({"page[limit]": "0"}, 400),
        ({"page[limit]": "ten"}, 400),
        ({"page[limit]": "10", "include": "account"}, 200),
        ({"page[limit]": "11", "include": "account"}, 400),
        ({"include": "nonsense"}, 400),
        ({"sort": "name"}, 400),
    ],
)
def test_users_page_limit_caps(api: Api, params: dict[str, str], status: int) -> None:
    resp = api.get("/users", params)
    assert resp.status_code == status, resp.text
    if status == 400:
        code, title, info = error_of(resp)
        assert code == "BAD_REQUEST"
        assert next(iter(params)) in title + info  # names the offending parameter


def test_users_include_account_lists_it_in_included(api: Api) -> None:
    body = api.get("/users", {"page[limit]": "3", "include": "account"}).json()
    assert body["included"] == [
        {"id": "104510", "type": "account", "attributes": {"name": "Acme Corp"}}
    ]


def test_users_offset_beyond_500_points_to_the_jobs_api(api: Api) -> None:
    assert api.get("/users", {"page[offset]": "500"}).status_code == 200
    resp = api.get("/users", {"page[offset]": "501"})
    assert resp.status_code == 400
    _, title, info = error_of(resp)
    assert "page[offset]" in title and "jobs" in info


def test_users_offset_page_links_continue_with_a_cursor(api: Api) -> None:
    body = api.get("/users", {"page[offset]": "5", "page[limit]": "5"}).json()
    assert [u["id"] for u in body["data"]] == [str(15263406 + n) for n in range(5)]
    assert "page[cursor]=15263410" in body["links"]["next"]
    assert "page[offset]" not in body["links"]["next"]


@pytest.mark.parametrize(("sort", "limit"), [("id", "7"), ("-id", "10"), ("id", "100")])
def test_users_cursor_pagination_visits_every_visible_user_once(
    api: Api, sort: str, limit: str
) -> None:
    users = walk(api, "/users", {"page[limit]": limit, "sort": sort})
    ids = [int(u["id"]) for u in users]
    assert len(ids) == len(set(ids)) == VISIBLE_USERS
    assert ids == sorted(ids, reverse=sort == "-id")
    assert 15263438 not in ids  # deleted


def test_catalogue_filters_by_type_and_pages_with_cursors(api: Api) -> None:
    courses = walk(api, "/learningObjects", {"filter.loTypes": "course", "page[limit]": "4"})
    assert len(courses) == 11
    assert all(c["type"] == "learningObject" for c in courses)
    assert all(c["attributes"]["loType"] == "course" for c in courses)
    programs = walk(api, "/learningObjects", {"filter.loTypes": "learningProgram"})
    assert [p["id"] for p in programs] == ["learningProgram:131072"]
    certifications = walk(api, "/learningObjects", {"filter.loTypes": "certification"})
    assert [c["id"] for c in certifications] == [
        "certification:150001",
        "certification:150002",
        "certification:170001",
        "certification:170002",
    ]
    everything = walk(api, "/learningObjects", {"page[limit]": "100"})
    assert len(everything) == 11 + 1 + 4 + 1  # courses, program, certifications, job aid
    states = {c["id"]: c["attributes"]["state"] for c in courses}
    assert states["course:7968582"] == "Retired"


def test_catalogue_names_live_in_localized_metadata_with_stray_spaces(api: Api) -> None:
    body = api.get("/learningObjects", {"ids": "course:7968517,course:7968486"}).json()
    by_id = {c["id"]: c["attributes"] for c in body["data"]}
    assert "name" not in by_id["course:7968517"]
    names = {m["locale"]: m["name"] for m in by_id["course:7968517"]["localizedMetadata"]}
    assert names == {"en-US": " Code of Conduct ", "fr-FR": "Code de conduite"}
    locales = {m["locale"] for m in by_id["course:7968486"]["localizedMetadata"]}
    assert locales == {"en-US", "fr-FR", "de-DE"}


def test_two_courses_share_the_name_safety_basics(api: Api) -> None:
    courses = walk(api, "/learningObjects", {"filter.loTypes": "course", "page[limit]": "100"})
    same = [
        c["id"]
        for c in courses
        if any(m["name"].strip() == "Safety Basics" for m in c["attributes"]["localizedMetadata"])
    ]
    assert sorted(same) == ["course:7968530", "course:7968544"]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"page[limit]": "100"}, 200),
        ({"page[limit]": "101"}, 400),
        ({"page[limit]": "10", "include": "instances"}, 200),
        ({"page[limit]": "11", "include": "instances.loResources"}, 400),
        ({"include": "instances.loResources.resources"}, 400),
        ({"filter.loTypes": "module"}, 400),
        ({"ids": ",".join(f"course:{n}" for n in range(11))}, 400),
        ({"ids": "7968486"}, 400),
        ({"sort": "rating"}, 400),
    ],
)
def test_catalogue_parameter_checks(api: Api, params: dict[str, str], status: int) -> None:
    resp = api.get("/learningObjects", params)
    assert resp.status_code == status, resp.text
    if status == 400:
        assert error_of(resp)[0] == "BAD_REQUEST"


def test_catalogue_ids_skip_unknown_and_include_instances(api: Api) -> None:
    body = api.get(
        "/learningObjects", {"ids": "course:7968486,course:1", "include": "instances"}
    ).json()
    assert [c["id"] for c in body["data"]] == ["course:7968486"]
    assert {i["id"] for i in body["included"]} == {
        "course:7968486_8123456",
        "course:7968486_8123457",
    }


def test_catalogue_sorts_by_name(api: Api) -> None:
    courses = walk(
        api, "/learningObjects", {"filter.loTypes": "course", "sort": "name", "page[limit]": "3"}
    )
    names = [
        next(m["name"] for m in c["attributes"]["localizedMetadata"] if m["locale"] == "en-US")
        .strip()
        .casefold()
        for c in courses
    ]
    assert names == sorted(names) and len(names) == 11


def test_course_detail_links_instances_and_lo_resources(api: Api) -> None:
    resp = api.get("/learningObjects/course:7968486", {"include": "instances.loResources"})
    assert resp.status_code == 200
    body = resp.json()
    lo = body["data"]
    assert lo["attributes"]["state"] == "Published"
    inst_refs = lo["relationships"]["instances"]["data"]
    assert [r["id"] for r in inst_refs] == ["course:7968486_8123456", "course:7968486_8123457"]
    included = {(o["type"], o["id"]): o for o in body["included"]}
    default = included[("learningObjectInstance", "course:7968486_8123456")]
    assert default["attributes"]["isDefault"] is True
    assert default["attributes"]["state"] == "Active"
    res_ids = [r["id"] for r in default["relationships"]["loResources"]["data"]]
    assert res_ids == [
        "course:7968486_8123456_13210480_0",
        "course:7968486_8123456_13210487_0",
        "course:7968486_8123456_13210488_0",
    ]
    kinds = [
        included[("learningObjectResource", r)]["attributes"]["loResourceType"] for r in res_ids
    ]
    assert kinds == ["Pre Work", "Content", "Content"]
    module = included[("learningObjectResource", res_ids[1])]
    assert module["attributes"]["resourceType"] == "Elearning"
    assert module["attributes"]["mandatory"] is True
    assert module["attributes"]["localizedMetadata"][0]["name"] == "Fire safety video"
    assert module["relationships"]["loInstance"]["data"]["id"] == "course:7968486_8123456"
    berlin = included[("learningObjectInstance", "course:7968486_8123457")]
    assert berlin["relationships"]["loResources"]["data"][1]["id"] == (
        "course:7968486_8123457_13210487_0"
    )


def test_course_detail_shows_retired_instances_and_without_include_no_included(api: Api) -> None:
    body = api.get("/learningObjects/course:7968559", {"include": "instances"}).json()
    states = {i["id"]: i["attributes"]["state"] for i in body["included"]}
    assert states == {"course:7968559_8123559": "Active", "course:7968559_8123558": "Retired"}
    assert "loResources" not in body["included"][0]["relationships"]
    assert "included" not in api.get("/learningObjects/course:7968559").json()


@pytest.mark.parametrize("lo_id", ["course:1", "7968486", "course:99999999"])
def test_unknown_learning_objects_are_404(api: Api, lo_id: str) -> None:
    resp = api.get(f"/learningObjects/{lo_id}")
    assert resp.status_code == 404
    assert error_of(resp)[0] == "NOT_FOUND"


def test_books_count_calls_by_endpoint_template(api: Api) -> None:
    api.sb.reset_books()
    api.get("/users/15263401")
    api.get("/users/15263402")
    api.get("/learningObjects/course:7968486")
    calls = api.sb.books()["calls"]
    assert calls == {"GET /users/{id}": 2, "GET /learningObjects/{id}": 1}
