"""The one route helper every blueprint uses: views that may raise `Problem`, JSON and
HTML answers, body parsing, the role each /api route needs, and the API key that called
it.

Errors leave as RFC 9457 problem details, whoever raised them: a view's `Problem`,
Chalice's own errors (malformed JSON, wrong Content-Type, an unhandled exception) and
the API key and role checks, which the HTTP middleware runs before any /api view. AWS
throttling that outlasted botocore's retries, in a view or in the key check, is a 503 with
Retry-After: nothing was lost, the client tries again.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from botocore.exceptions import ClientError
from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.core import logs, payloads
from chalicelib.core.aws import error_code, throttled
from chalicelib.core.problems import PROBLEM_CONTENT_TYPE, NotFound, Problem, Unavailable
from chalicelib.core.static_files import StaticFiles
from chalicelib.system.keys import ApiKey
from chalicelib.system.roles import Role, covers

log = logging.getLogger("linktrail.http")

View = Callable[..., Response]
Middleware = Callable[[Request, Callable[[Request], Response]], Response]


class Authenticator(Protocol):
    def authenticate(self, authorization: str | None) -> ApiKey: ...


def problem_response(problem: Problem) -> Response:
    return Response(
        body=problem.body(),
        status_code=problem.status,
        headers={"Content-Type": PROBLEM_CONTENT_TYPE, **problem.headers},
    )


def throttled_response(error: ClientError) -> Response:
    """The 503 of a request AWS throttled past botocore's retries (logged by its code)."""
    log.warning("AWS throttled the request", extra={"error": error_code(error)})
    return problem_response(
        Unavailable("AWS is throttling this service's requests; try again.", retry_after=1)
    )


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        body=json.dumps(body),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def html_response(
    body: str, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(body=body, status_code=status, headers={**(headers or {})})


def static_file(files: StaticFiles, name: str, request: Request) -> Response:
    """One of a page's files, or a 404 problem for a name it does not serve."""
    answer = files.answer(name, request.headers.get("if-none-match"))
    if answer is None:
        page = request.path.split("/")[1]  # the route as declared: /dashboard/{asset}
        raise NotFound(f"/{page} has no file {name!r}.")
    return Response(body=answer.body, status_code=answer.status, headers={**answer.headers})


def no_content(headers: Mapping[str, str] | None = None) -> Response:
    return Response(body="", status_code=204, headers={**(headers or {})})


# The role each /api route needs, by (method, route path as Chalice matched it). Filled
# by `Api.route`; an /api route missing here needs `admin`, so forgetting fails closed.
ROUTE_ROLES: dict[tuple[str, str], Role] = {}


def required_role(method: str, route_path: str) -> Role:
    return ROUTE_ROLES.get((method.upper(), route_path), "admin")


class Api(Blueprint):
    """A Chalice blueprint whose views may raise `Problem`, answered as problem details.
    /api routes say which key role they need: `@bp.route(path, role="read")`."""

    def route(self, path: str, role: Role | None = None, **kwargs: Any) -> Callable[[View], View]:
        register = super().route(path, **kwargs)
        if role is not None:
            for method in kwargs.get("methods", ["GET"]):
                ROUTE_ROLES[(method.upper(), path)] = role

        def decorator(view: View) -> View:
            @functools.wraps(view)
            def answered(**params: Any) -> Response:
                try:
                    return view(**params)
                except Problem as problem:
                    return problem_response(problem)
                except ClientError as error:
                    if throttled(error):
                        return throttled_response(error)
                    raise

            register(answered)
            return answered

        return decorator

    @property
    def request(self) -> Request:
        """The request being handled (only called while one is)."""
        return self.current_request

    def json_body(self, max_bytes: int = payloads.MAX_JSON_BYTES) -> dict[str, Any]:
        """The request's JSON object body, validated (400/413/415 problems)."""
        request = self.request
        content_type = request.headers.get("content-type")
        return payloads.parse_json_object(request.raw_body, content_type, max_bytes=max_bytes)


# The key the middleware accepted; set per request (chalice local serves from threads).
_calling_key: contextvars.ContextVar[ApiKey | None] = contextvars.ContextVar(
    "calling_key", default=None
)


def calling_key() -> ApiKey:
    """The API key the middleware accepted for this /api request (checked once)."""
    key = _calling_key.get()
    assert key is not None, "only /api routes have a calling key"
    return key


def problems_and_keys(keys: Callable[[], Authenticator]) -> Middleware:
    """The HTTP middleware: a correlation id per request, an API key whose role covers the
    route on every /api path, and problem details for every error Chalice itself answers."""

    def middleware(event: Request, get_response: Callable[[Request], Response]) -> Response:
        token = logs.correlation_id.set(request_id(event))
        _calling_key.set(None)
        try:
            if event.path.startswith("/api/"):
                try:
                    _calling_key.set(authorised_key(keys(), event))
                except Problem as problem:
                    return problem_response(problem)
                except ClientError as error:
                    if throttled(error):
                        return throttled_response(error)
                    raise
            return as_problem(get_response(event))
        finally:
            logs.correlation_id.reset(token)

    return middleware


def authorised_key(keys: Authenticator, event: Request) -> ApiKey:
    """The request's API key (401 without a valid one), if its role covers the route's
    (403 if not). `event.path` is the route's path as declared, parameters unfilled."""
    key = keys.authenticate(event.headers.get("authorization"))
    needed = required_role(event.method, event.path)
    if not covers(key.role, needed):
        raise Problem(
            403,
            f"This API key's role, {key.role}, does not cover {event.method} {event.path}"
            f" (it needs {needed}).",
            extra={"role": key.role, "required_role": needed},
        )
    return key


def request_id(event: Request) -> str:
    """API Gateway's request id; under `chalice local`, which has none, Lambda's."""
    found = event.context.get("requestId")
    if found:
        return str(found)
    return str(getattr(getattr(event, "lambda_context", None), "aws_request_id", "") or "")


def as_problem(response: Response) -> Response:
    """Rewrite Chalice's own error bodies ({"Code", "Message"}: malformed JSON, wrong
    Content-Type, unhandled errors) into problem details."""
    body = response.body
    if response.status_code < 400 or not isinstance(body, dict) or "Code" not in body:
        return response
    detail = str(body.get("Message", body["Code"]))
    if response.status_code >= 500:
        detail = "An internal error occurred; it has been logged."
    return problem_response(Problem(response.status_code, detail))
