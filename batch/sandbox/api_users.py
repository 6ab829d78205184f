"""``GET /users`` and ``GET /users/{id}`` (alm-api.md §2).

- ``ids=email:<address>``: case-insensitive exact match, ``data`` is ``[user]`` or ``[]``. One
  email per call unless ``multi_email_lookup`` is configured (ALM's behaviour is unknown [?]).
- ``page[limit]``: default 10, at most 10 with ``include``, 100 without; ``page[offset]`` at
  most 500 (beyond that ALM says to use the jobs API); ``page[cursor]`` is the last user id of
  the previous page and ``links.next`` is a full URL carrying it; ``sort=id`` or ``-id`` (sorting
  by name was removed in March 2024 and answers 400).
- Deleted users are gone from the API: not listed, not found by email, 404 by id. Only the
  users export job still shows them (state DELETED, dateDeleted set).
"""

from __future__ import annotations

from typing import Any

from batch.sandbox import render
from batch.sandbox.failures import bad_request, not_found
from batch.sandbox.routing import Request, Response, includes, page_limit
from batch.sandbox.world import UserRec

MAX_OFFSET = 500
USER_INCLUDES = ("account", "manager")


def list_users(req: Request) -> Response:
    sb = req.sandbox
    world = sb.world
    inc = includes(req, USER_INCLUDES)
    limit = page_limit(
        req,
        default=10,
        cap=10 if inc else 100,
        why="when include is given" if inc else "(10 with include)",
    )
    sort = req.arg("sort") or "id"
    if sort not in ("id", "-id"):
        raise bad_request(
            "Invalid sort", f"sort={sort!r} is not supported on GET /users; use id or -id"
        )
    descending = sort == "-id"
    ids_arg = req.arg("ids")
    with world.lock:
        if ids_arg is not None:
            users = _by_ids(req, ids_arg)
            return _page(req, users, inc, next_cursor=None)
        offset_text, cursor_text = req.arg("page[offset]"), req.arg("page[cursor]")
        cursor = _int_param("page[cursor]", cursor_text) if cursor_text else None
        if offset_text is not None:
            offset = _int_param("page[offset]", offset_text)
            if offset > MAX_OFFSET:
                raise bad_request(
                    "Invalid page[offset]",
                    f"page[offset] must be at most {MAX_OFFSET}, got {offset}; to read every "
                    "user, use the jobs API (POST /jobs with jobType generateUsers)",
                )
            ids = world.listed_user_ids
            chosen = list(reversed(ids)) if descending else ids
            page_ids = [str(i) for i in chosen[offset : offset + limit]]
            more = offset + limit < len(ids)
        else:
            page_ids = world.user_ids_after(cursor, limit + 1, descending)
            more = len(page_ids) > limit
            page_ids = page_ids[:limit]
        users = [world.users[i] for i in page_ids]
        next_cursor = users[-1].id if more and users else None
        return _page(req, users, inc, next_cursor)


def get_user(req: Request) -> Response:
    world = req.sandbox.world
    inc = includes(req, USER_INCLUDES)
    with world.lock:
        user = world.visible_user(req.params["id"])
        if user is None:
            raise not_found(f"user {req.params['id']} not found")
        body: dict[str, Any] = {
            "data": render.user(user, world, req.sandbox.api_root),
            "links": {"self": req.url({})},
        }
        if inc:
            body["included"] = _included([user], inc, req)
        return Response(200, body)


def _by_ids(req: Request, ids_arg: str) -> list[UserRec]:
    world = req.sandbox.world
    parts = [p.strip() for p in ids_arg.split(",") if p.strip()]
    emails = [p for p in parts if p.lower().startswith("email:")]
    if len(emails) > 1 and not req.sandbox.config.multi_email_lookup:
        raise bad_request("Invalid ids", "only one email:<address> may be given per call in ids")
    if len(parts) > 100:
        raise bad_request("Invalid ids", "at most 100 ids per call")
    users: list[UserRec] = []
    for part in parts:
        if part.lower().startswith("email:"):
            user = world.user_by_email(part[len("email:") :])
        elif part.isdigit():
            user = world.visible_user(part)
        else:
            raise bad_request(
                "Invalid ids", f"ids entry {part!r} must be a user id or email:<address>"
            )
        if user is not None and user not in users:
            users.append(user)
    return users


def _page(req: Request, users: list[UserRec], inc: set[str], next_cursor: str | None) -> Response:
    links = {"self": req.url({})}
    if next_cursor is not None:
        links["next"] = req.url({"page[cursor]": next_cursor}, drop=("page[offset]",))
    body: dict[str, Any] = {
        "links": links,
        "data": [render.user(u, req.sandbox.world, req.sandbox.api_root) for u in users],
    }
    if inc:
        body["included"] = _included(users, inc, req)
    return Response(200, body)


def _included(users: list[UserRec], inc: set[str], req: Request) -> list[dict[str, Any]]:
    world = req.sandbox.world
    out: list[dict[str, Any]] = []
    if "account" in inc:
        out.append(render.account(world))
    if "manager" in inc:
        seen: set[str] = {u.id for u in users}
        for u in users:
            manager = world.visible_user(u.manager_id) if u.manager_id else None
            if manager is not None and manager.id not in seen:
                seen.add(manager.id)
                out.append(render.user(manager, world, req.sandbox.api_root))
    return out


def _int_param(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise bad_request(f"Invalid {name}", f"{name} must be an integer, got {text!r}") from None
    if value < 0:
        raise bad_request(f"Invalid {name}", f"{name} must be >= 0, got {value}")
    return value
