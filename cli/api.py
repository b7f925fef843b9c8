"""The CLI's HTTP client: the API key to call with, one call (reads, and creates sent
under an Idempotency-Key, retried on 5xx and network errors), and a problem answer
(RFC 9457) as the one line the operator sees."""

from __future__ import annotations

import http
import http.client
import json
import os
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from cli import PROJECT_DIR

LOCAL_KEY_FILE = PROJECT_DIR / ".local" / "admin-key"


class CliError(Exception):
    """Shown to the operator as one line; exit status 1."""


class _Retryable(Exception):
    pass


class Api:
    def __init__(self, base_url: str, key: str, timeout: float = 30.0) -> None:
        self._base = base_url.rstrip("/")
        self._key = key
        self._timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One API call; reads (GET) are retried on 5xx and network errors."""
        return self._call(method, path, body, retried=method == "GET")

    def create(self, path: str, body: Any) -> Any:
        """A POST that creates (a link, a campaign) under a fresh Idempotency-Key, retried on
        5xx and network errors: a retry after a lost answer gets what the first made."""
        key = {"Idempotency-Key": f"cli-{uuid.uuid4().hex}"}
        return self._call("POST", path, body, retried=True, headers=key)

    def _call(
        self, method: str, path: str, body: Any, *, retried: bool,
        headers: dict[str, str] | None = None,
    ) -> Any:
        attempts = 3 if retried else 1
        for attempt in range(attempts):
            try:
                return self._call_once(method, path, body, headers or {})
            except _Retryable as error:
                if attempt == attempts - 1:
                    raise CliError(str(error)) from None
                time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    def _call_once(self, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the operator chooses the URL
            self._base + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self._key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                **headers,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as answer:  # noqa: S310
                raw = answer.read()
        except urllib.error.HTTPError as error:
            line = problem_line(error.code, error.read(), str(error.reason or ""))
            if error.code >= 500:
                raise _Retryable(line) from None
            raise CliError(line) from None
        except urllib.error.URLError as error:
            raise _Retryable(f"cannot reach {self._base}: {error.reason}") from None
        except (http.client.HTTPException, OSError) as error:  # reset, timed out: no answer
            raise _Retryable(f"no answer from {self._base}: {type(error).__name__}") from None
        return json.loads(raw) if raw else None


def reason_phrase(status: int, given: str = "") -> str:
    """The standard phrase of a status (`Internal Server Error`), else the server's own."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return given


def problem_line(status: int, raw: bytes, reason: str = "") -> str:
    """An error answer as one line. Problem details give their title and detail; any other
    body (empty, not JSON, a gateway's own {"message": ...}) still names the status."""
    try:
        problem = json.loads(raw)
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        problem = {}
    if not problem.get("title"):
        problem["title"] = reason_phrase(status, reason)
    if not problem.get("detail"):
        # API Gateway's own answers (a 502 or 504 in front of the Lambda) say "message".
        problem["detail"] = problem.get("message") or problem.get("Message") or ""
    return describe_problem({**problem, "status": status})


def describe_problem(problem: dict[str, Any]) -> str:
    """Problem details (RFC 9457) as one line: `404 Not Found: ... [field]`."""
    where = f" [{problem['field']}]" if problem.get("field") else ""
    title = problem.get("title") or reason_phrase(int(problem["status"]))
    detail = f": {problem['detail']}" if problem.get("detail") else ""
    return f"{problem['status']} {title}{detail}{where}"


def resolve_key(given: str | None) -> str:
    key = given or os.environ.get("LINKTRAIL_API_KEY", "")
    if not key and LOCAL_KEY_FILE.exists():
        key = LOCAL_KEY_FILE.read_text().strip()
    if not key:
        raise CliError("no API key: pass --key, set LINKTRAIL_API_KEY, or run `make dev`")
    return key
