"""Request/response values, the route table and query helpers shared by the endpoint modules.

Routes are matched by method + path pattern and named by their endpoint template
(``/users/{id}/enrollments``): the books count calls and the limiter picks buckets by template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode

from batch.sandbox.failures import bad_request

if TYPE_CHECKING:
    from batch.sandbox.server import Sandbox

API_PREFIX = "/primeapi/v2"


@dataclass(slots=True)
class Request:
    method: str
    path: str  # without the query string, e.g. /primeapi/v2/users/123
    template: str  # e.g. /users/{id}
    params: dict[str, str]  # path parameters, URL-decoded
    query: dict[str, list[str]]
    body: bytes
    headers: dict[str, str]  # lower-cased names
    sandbox: Sandbox

    def arg(self, name: str) -> str | None:
        """A query parameter, matched case-insensitively (``filter.lotypes`` works too)."""
        if name in self.query:
            return self.query[name][0]
        low = name.lower()
        for key, values in self.query.items():
            if key.lower() == low:
                return values[0]
        return None

    def json(self) -> dict[str, Any]:
        """The JSON body; 400 when it is missing or not a JSON object."""
        try:
            value = json.loads(self.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise bad_request("Invalid JSON", f"request body is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise bad_request("Invalid JSON", "request body must be a JSON object")
        return value

    def url(self, updates: dict[str, str], drop: tuple[str, ...] = ()) -> str:
        """This request's absolute URL with query parameters replaced (for ``links``)."""
        query = {k: v[0] for k, v in self.query.items() if k not in drop}
        query.update(updates)
        base = f"{self.sandbox.base_url}{self.path}"
        return f"{base}?{urlencode(query, safe=':,[]')}" if query else base


@dataclass(slots=True)
class Response:
    status: int = 200
    body: dict[str, Any] | bytes | None = None
    content_type: str = "application/vnd.api+json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response]


@dataclass(slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    template: str
    handler: Handler
    write: bool = False  # a POST whose effect lost_response_rate may hide


def route(method: str, template: str, handler: Handler, *, write: bool = False) -> Route:
    """A route for ``template`` (under /primeapi/v2); ``{name}`` matches one path segment."""
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return Route(method, re.compile(f"^{re.escape(API_PREFIX)}{regex}$"), template, handler, write)


def match(
    routes: list[Route], method: str, path: str
) -> tuple[Route | None, dict[str, str], str | None]:
    """(route, path params, template of a route with this path but another method)."""
    other: str | None = None
    for r in routes:
        m = r.pattern.match(path)
        if m:
            if r.method == method:
                return r, {k: unquote(v) for k, v in m.groupdict().items()}, r.template
            other = r.template
    return None, {}, other


def page_limit(req: Request, *, default: int, cap: int, why: str) -> int:
    """``page[limit]`` in 1..cap, else a 400 naming the parameter and the cap."""
    text = req.arg("page[limit]")
    if text is None:
        return min(default, cap)
    try:
        value = int(text)
    except ValueError:
        raise bad_request(
            "Invalid page[limit]", f"page[limit] must be an integer, got {text!r}"
        ) from None
    if not 1 <= value <= cap:
        raise bad_request(
            "Invalid page[limit]", f"page[limit] must be between 1 and {cap} {why}, got {value}"
        )
    return value


def includes(req: Request, allowed: tuple[str, ...]) -> set[str]:
    """The ``include`` paths; 400 for one this endpoint does not know."""
    text = req.arg("include")
    if not text:
        return set()
    paths = {p.strip() for p in text.split(",") if p.strip()}
    for path in paths:
        if path not in allowed:
            raise bad_request(
                "Invalid include", f"include path {path!r} is not supported here; use {allowed}"
            )
    return paths
