"""Count a click at the edge, then send the visitor on.

Two modes, chosen at build time (the mode's trigger is attached by infra/edge.yaml):

every (viewer-request): one DynamoDB UpdateItem per click, conditioned on the link
  existing, not being expired and, for people, being under max_clicks. It counts the
  click (human or bot, per day, per country), sets first/last click and returns the long
  URL, so the function answers the redirect itself: 302 with Cache-Control private,
  no-store, which neither browsers nor CloudFront cache, so every click is seen.
  A failed condition returns the old item in the same call (ReturnValuesOnCondition-
  CheckFailure=ALL_OLD): missing -> the request goes on to S3 (its error document);
  expired or used up -> 410 with the expired page, or a redirect to the link's
  expired_url. DynamoDB errors or a blown time budget fail open: the request goes on
  to S3, whose 301 still gets the visitor there, and the click is logged "untracked".

first (origin-request): records the first human click (if_not_exists) and passes the
  request on to S3. Cheaper, but it only sees CloudFront cache misses.

No IP address or user agent is stored or logged: the user agent only decides human/bot.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from edge import bots

CONFIG_FILE = Path(__file__).with_name("edge_config.json")
MODES = ("every", "first")
CODE_PATTERN = re.compile(r"^/([A-Za-z0-9_-]{1,128})/?$")
COUNTRY_PATTERN = re.compile(r"^[A-Z]{2}$")
UNKNOWN_COUNTRY = "ZZ"
NO_STORE = "private, no-store"
LIVE_LINK = "attribute_exists(pk) AND (attribute_not_exists(expires_at) OR expires_at > :now)"
MAX_GENERATED_BODY = 40 * 1024  # viewer-trigger limit for a generated response

log = logging.getLogger("linktrail.edge")
log.setLevel(logging.INFO)

Event = dict[str, Any]
Result = dict[str, Any]


@dataclass(frozen=True)
class EdgeConfig:
    """What the build bakes into edge_config.json (Lambda@Edge has no env vars)."""

    table: str
    region: str
    mode: str = "every"
    stage: str = ""
    expired_html: str = "<!doctype html><title>Link expired</title><h1>This link has expired</h1>"
    expired_redirect_url: str = ""  # when set, expired links go here instead of a 410 page
    time_budget_ms: int = 1500
    connect_timeout_s: float = 1.0
    read_timeout_s: float = 1.0
    max_connections: int = 10
    endpoint_url: str = ""  # never baked; the local short domain and tests only

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if not self.table or not self.region:
            raise ValueError("table and region are required")
        if len(self.expired_html.encode()) > MAX_GENERATED_BODY:
            raise ValueError("expired page is over the 40 KB generated-response limit")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EdgeConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown edge config keys: {sorted(unknown)}")
        return cls(**values)

    @classmethod
    def load(cls, path: Path | None = None) -> EdgeConfig:
        return cls.from_dict(json.loads((path or CONFIG_FILE).read_text()))


@dataclass(frozen=True)
class Click:
    """What happened to one request; logged, never stored (no IP, no user agent)."""

    code: str
    visitor: str  # "human" | "bot"
    outcome: str  # redirect | gone | expired_redirect | missing | untracked | passed | ignored
    status: int  # what the visitor gets (0: decided by the origin)


def make_client(config: EdgeConfig) -> Any:
    """A DynamoDB client with tight timeouts and no retries: a click must not wait."""
    import boto3
    from botocore.config import Config

    client_config = Config(
        region_name=config.region,
        connect_timeout=config.connect_timeout_s,
        read_timeout=config.read_timeout_s,
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=config.max_connections,
        tcp_keepalive=True,
    )
    return boto3.session.Session().client(
        "dynamodb", endpoint_url=config.endpoint_url or None, config=client_config
    )


@dataclass
class ClickCounter:
    """The handler, built with an explicit config and DynamoDB client (tests, local)."""

    config: EdgeConfig
    dynamodb: Any
    clock: Callable[[], float] = time.time
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _pool_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __call__(self, event: Event, context: Any = None) -> Result:
        result, _click = self.handle(event)
        return result

    def handle(self, event: Event) -> tuple[Result, Click]:
        started = time.perf_counter()
        request: dict[str, Any] = event["Records"][0]["cf"]["request"]
        method = str(request.get("method", "GET")).upper()
        match = CODE_PATTERN.match(unquote(str(request.get("uri", ""))))
        if match is None or method not in ("GET", "HEAD"):
            # Not a short link (/, /favicon.ico, /expired.html) or not a visit: S3 answers.
            return request, Click("", "", "ignored", 0)
        code = match.group(1)
        visitor = "bot" if bots.is_bot(method, _header(request, "user-agent")) else "human"
        if self.config.mode == "every":
            result, click = self._count_every(request, code, visitor)
        else:
            result, click = self._record_first(request, code, visitor)
        log.info(
            json.dumps(
                {
                    "msg": "click",
                    "code": code,
                    "visitor": visitor,
                    "outcome": click.outcome,
                    "status": click.status,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                }
            )
        )
        return result, click

    # -- every click (viewer-request) -------------------------------------------------

    def _count_every(
        self, request: dict[str, Any], code: str, visitor: str
    ) -> tuple[Result, Click]:
        now = self.clock()
        moment = datetime.fromtimestamp(now, UTC)
        human = visitor == "human"
        counter = "human_clicks" if human else "bot_clicks"
        sets = [
            f"{counter} = if_not_exists({counter}, :zero) + :one",
            "last_click_at = :at",
            "clicks_by_day.#day = if_not_exists(clicks_by_day.#day, :zero) + :one",
            "clicks_by_country.#country = if_not_exists(clicks_by_country.#country, :zero) + :one",
        ]
        condition = LIVE_LINK
        if human:
            sets.append("first_click_at = if_not_exists(first_click_at, :at)")
            condition += " AND (attribute_not_exists(max_clicks) OR human_clicks < max_clicks)"
        try:
            answer = self._within_budget(
                lambda: self.dynamodb.update_item(
                    TableName=self.config.table,
                    Key=_link_key(code),
                    UpdateExpression="SET " + ", ".join(sets),
                    ConditionExpression=condition,
                    ExpressionAttributeNames={
                        "#day": moment.strftime("%Y-%m-%d"),
                        "#country": _country(request),
                    },
                    ExpressionAttributeValues={
                        ":zero": {"N": "0"},
                        ":one": {"N": "1"},
                        ":at": {"S": _iso(moment)},
                        ":now": {"N": str(int(now))},
                    },
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            )
        except _ConditionFailed as failed:
            return self._refused(request, code, visitor, failed.item, now)
        except Exception as error:
            return self._untracked(request, code, visitor, error)
        long_url = answer.get("Attributes", {}).get("long_url", {}).get("S", "")
        if not _safe_location(long_url):
            return self._untracked(request, code, visitor, ValueError("unusable long_url"))
        return _redirect(long_url), Click(code, visitor, "redirect", 302)

    def _refused(
        self,
        request: dict[str, Any],
        code: str,
        visitor: str,
        item: dict[str, Any] | None,
        now: float,
    ) -> tuple[Result, Click]:
        if not item:
            return request, Click(code, visitor, "missing", 0)  # S3's error document
        expired_url = item.get("expired_url", {}).get("S", "") or self.config.expired_redirect_url
        if _safe_location(expired_url):
            return _redirect(expired_url), Click(code, visitor, "expired_redirect", 302)
        return _gone(self.config.expired_html), Click(code, visitor, "gone", 410)

    def _untracked(
        self, request: dict[str, Any], code: str, visitor: str, error: BaseException
    ) -> tuple[Result, Click]:
        log.warning(
            json.dumps(
                {
                    "msg": "untracked",
                    "code": code,
                    "visitor": visitor,
                    "error": type(error).__name__,
                }
            )
        )
        return request, Click(code, visitor, "untracked", 0)

    # -- first click (origin-request) -------------------------------------------------

    def _record_first(
        self, request: dict[str, Any], code: str, visitor: str
    ) -> tuple[Result, Click]:
        if visitor != "human":
            return request, Click(code, visitor, "passed", 0)
        now = self.clock()
        try:
            self._within_budget(
                lambda: self.dynamodb.update_item(
                    TableName=self.config.table,
                    Key=_link_key(code),
                    UpdateExpression="SET first_click_at = if_not_exists(first_click_at, :at)",
                    ConditionExpression=LIVE_LINK,
                    ExpressionAttributeValues={
                        ":at": {"S": _iso(datetime.fromtimestamp(now, UTC))},
                        ":now": {"N": str(int(now))},
                    },
                    ReturnValues="NONE",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            )
        except _ConditionFailed as failed:
            if failed.item:  # exists but expired: S3 still holds it until the TTL delete
                return self._refused(request, code, visitor, failed.item, now)
            return request, Click(code, visitor, "missing", 0)
        except Exception as error:
            return self._untracked(request, code, visitor, error)
        return request, Click(code, visitor, "passed", 0)

    # -- the time budget --------------------------------------------------------------

    def _within_budget(self, call: Callable[[], Any]) -> Any:
        """Run `call` but give up after time_budget_ms (the worker finishes on its own;
        botocore's own timeouts bound it). A conditional failure becomes _ConditionFailed."""
        future = self._executor().submit(_conditional(self.dynamodb, call))
        try:
            return future.result(timeout=self.config.time_budget_ms / 1000)
        except FutureTimeout:
            raise TimeoutError(f"over the {self.config.time_budget_ms} ms budget") from None

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.config.max_connections, thread_name_prefix="click"
                )
            return self._pool


class _ConditionFailed(Exception):
    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("condition failed")
        self.item = item


def _conditional(dynamodb: Any, call: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        try:
            return call()
        except dynamodb.exceptions.ConditionalCheckFailedException as error:
            raise _ConditionFailed(error.response.get("Item")) from None

    return run


def _link_key(code: str) -> dict[str, Any]:
    return {"pk": {"S": f"link#{code}"}, "sk": {"S": "link"}}


def _header(request: dict[str, Any], name: str) -> str:
    values = request.get("headers", {}).get(name) or []
    return str(values[0].get("value", "")) if values else ""


def _country(request: dict[str, Any]) -> str:
    country = _header(request, "cloudfront-viewer-country").strip().upper()
    return country if COUNTRY_PATTERN.match(country) else UNKNOWN_COUNTRY


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _safe_location(url: str) -> bool:
    """CloudFront rejects a generated response with a malformed header (502)."""
    return (
        url.startswith(("https://", "http://"))
        and len(url) <= 2048
        and url.isascii()
        and url.isprintable()
        and " " not in url
    )


def _redirect(url: str) -> Result:
    return {
        "status": "302",
        "statusDescription": "Found",
        "headers": {
            "location": [{"key": "Location", "value": url}],
            "cache-control": [{"key": "Cache-Control", "value": NO_STORE}],
        },
    }


def _gone(html: str) -> Result:
    return {
        "status": "410",
        "statusDescription": "Gone",
        "headers": {
            "content-type": [{"key": "Content-Type", "value": "text/html; charset=utf-8"}],
            "cache-control": [{"key": "Cache-Control", "value": NO_STORE}],
        },
        "bodyEncoding": "text",
        "body": html,
    }


# -- the Lambda entry point: config from the zip, one client per container ------------

_COUNTER: ClickCounter | None = None
_COUNTER_LOCK = threading.Lock()


def handler(event: Event, context: Any = None) -> Result:
    """`edge_click.handler` in the zip."""
    global _COUNTER
    if _COUNTER is None:
        with _COUNTER_LOCK:
            if _COUNTER is None:
                config = EdgeConfig.load()
                _COUNTER = ClickCounter(config, make_client(config))
    return _COUNTER(event, context)
