"""RFC 9457 problem details: the one error format of every route.

Service code raises `Problem` (or a subclass); the app turns it into an
`application/problem+json` response. Chalice's own errors and API Gateway's gateway
errors are rewritten into the same shape (see app.py middleware, infra/api.yaml and
local/app_server.py).
"""

from __future__ import annotations

import json
from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://linktrail.dev/problems/"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

_SLUGS = {
    400: "invalid-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    410: "gone",
    413: "too-large",
    415: "unsupported-media-type",
    422: "unprocessable",
    429: "too-many-requests",
    500: "internal-error",
    502: "bad-gateway",
    503: "unavailable",
    504: "gateway-timeout",
}


class Problem(Exception):
    """An error that reaches the client as problem details."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        field: str | None = None,
        slug: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field
        self.slug = slug or _SLUGS.get(status, "error")
        self.title = title or _TITLES.get(status, "Error")
        self.headers = headers or {}
        self.extra = extra or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.field is not None:
            body["field"] = self.field
        body.update(self.extra)
        return body

    def body(self) -> str:
        return json.dumps(self.to_dict())


def problem_body(status: int, detail: str, **kwargs: Any) -> str:
    return Problem(status, detail, **kwargs).body()


class BadRequest(Problem):
    def __init__(self, detail: str, *, field: str | None = None, **kwargs: Any) -> None:
        super().__init__(400, detail, field=field, **kwargs)


class NotFound(Problem):
    def __init__(self, detail: str, **kwargs: Any) -> None:
        super().__init__(404, detail, **kwargs)


class Conflict(Problem):
    def __init__(self, detail: str, *, field: str | None = None, **kwargs: Any) -> None:
        super().__init__(409, detail, field=field, **kwargs)


class Unauthorized(Problem):
    def __init__(self, detail: str = "A valid API key is required.") -> None:
        super().__init__(401, detail, headers={"WWW-Authenticate": 'Bearer realm="linktrail"'})


class Unavailable(Problem):
    def __init__(self, detail: str, *, retry_after: int | None = None) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after else {}
        super().__init__(503, detail, headers=headers)
