"""Error answers in the three body shapes ALM uses (alm-api.md §7).

Handlers raise ``ApiFailure``; the server turns it into a response. Most endpoints answer
``{"status": "BAD_REQUEST", "title": ..., "source": {"info": ...}}``; the jobs endpoints answer the
newer ``{"meta": {"error": ..., "detail": ...}}``; the gateway's 429 is ``{"message": ...}``. A
client that only knows one shape breaks on the sandbox exactly as it would on ALM.
"""

from __future__ import annotations

from typing import Any, Literal

STATUS_NAMES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    500: "INTERNAL_SERVER_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
}

TOO_MANY_REQUESTS_BODY = {"message": "429 Too many requests"}


class ApiFailure(Exception):
    """An error answer: HTTP ``status``, a short ``title`` and the ``info`` detail."""

    def __init__(
        self,
        status: int,
        title: str,
        info: str = "",
        *,
        shape: Literal["alm", "meta"] = "alm",
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {info}")
        self.status = status
        self.title = title
        self.info = info
        self.shape = shape
        self.extra = extra or {}
        self.headers = headers or {}  # e.g. retry-after on a 429

    def body(self) -> dict[str, Any]:
        """The JSON body in this failure's shape."""
        if self.shape == "meta":
            return {"meta": {"error": self.title, "detail": self.info or self.title}}
        body: dict[str, Any] = {
            "status": STATUS_NAMES.get(self.status, str(self.status)),
            "title": self.title,
            "source": {"info": self.info or self.title},
        }
        body.update(self.extra)
        return body


def bad_request(title: str, info: str) -> ApiFailure:
    return ApiFailure(400, title, info)


def missing_param(name: str) -> ApiFailure:
    """ALM's "Missing Param" 400 (alm-api.md §5): ``source.info`` is the field's name."""
    return ApiFailure(400, "Missing Param", name)


def field_type_incorrect(info: str) -> ApiFailure:
    """ALM's "Field Type incorrect" 400 (alm-api.md §5)."""
    return ApiFailure(400, "Field Type incorrect", info)


def not_found(what: str) -> ApiFailure:
    return ApiFailure(404, "Not Found", what)
