"""Count a click at the edge, then send the visitor on.

Two modes, chosen at build time (the mode's trigger is attached by infra/edge.yaml):

every (viewer-request by default; origin-request with caching disabled when per-country
  counts matter, see edge/README.md): one DynamoDB UpdateItem per click on the link's
  counter item (`link#<code>` / `counter`: small, in no index, the same size at any age),
  conditioned on the link existing, not being expired and, for people, being under
  max_clicks. It counts the click (human or bot), sets first/last click and the click's
  attributes (`click`: time, visitor, country, device/browser/OS family, the referrer's
  host, trigger `qr` for ?qr=1 else `link`), which the links stream carries to the
  rollups, and returns the long URL, so the function answers the redirect itself: 302
  with Cache-Control private, no-store, which neither browsers nor CloudFront cache, so
  every click is seen. The logic is the same under either event type.
  A failed condition returns the old item in the same call (ReturnValuesOnCondition-
  CheckFailure=ALL_OLD): expired or used up -> 410 with the expired page, or a redirect
  to the link's expired_url. No old item -> the link is gone or never was: one GetItem
  reads its tombstone (written when the sweeper, a DELETE or the max_clicks retirement
  removed the link and its S3 object); a tombstone answers like an expired link, none
  (or an unreadable one) sends the request on to S3 (its error document). DynamoDB
  errors or a blown time budget fail open: the request goes on to S3, whose 301 still
  gets the visitor there, and the click is logged "untracked" ("may_count" when the
  write may still land: the budget ran out or the read timed out after sending).

first (origin-request): records the first human click (if_not_exists) and passes the
  request on to S3. Cheaper, but it only sees CloudFront cache misses. Refusals
  (expired, used up, tombstoned) are answered as in every mode.

The time budget covers the whole click, from the bot check to its last DynamoDB call: a
live link costs one call, a retired or unknown code two.

No IP address or user agent is stored or logged: the user agent only decides human/bot
and is reduced to its families; of the referrer only the host is kept.
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

from edge.attributes import click_attributes, header
from edge.config import MODE_SPELLINGS, EdgeConfig, mode_named
from edge.responses import gone, redirect, safe_location
from edge.shared import bots

# The configuration's names are part of this module's interface (the local short domain
# and CLI import them from here, beside the handler).
__all__ = ["MODE_SPELLINGS", "ClickCounter", "EdgeConfig", "handler", "make_client", "mode_named"]

CONFIG_FILE = Path(__file__).with_name("edge_config.json")
CODE_PATTERN = re.compile(r"/([A-Za-z0-9_-]{1,128})/?")  # the whole path (fullmatch)
COUNTER = "counter"  # the item a click writes: small, in no index (chalicelib/links/items.py)
LIVE_LINK = "attribute_exists(pk) AND (attribute_not_exists(expires_at) OR expires_at > :now)"
# What a tombstone read needs ("status" is a DynamoDB reserved word); pk proves it exists.
TOMBSTONE_PROJECTION = "pk, #status, expired_url"

log = logging.getLogger("linktrail.edge")
log.setLevel(logging.INFO)

Event = dict[str, Any]
Result = dict[str, Any]


@dataclass(frozen=True)
class Click:
    """What happened to one request; logged, never stored (no IP, no user agent)."""

    code: str
    visitor: str  # "human" | "bot"
    outcome: str  # redirect | gone | expired_redirect | missing | untracked | passed | ignored
    status: int  # what the visitor gets (0: decided by the origin)
    may_count: bool = False  # untracked, but the write was sent and may still land


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
    is_bot: Callable[..., bool] = bots.is_bot  # (user_agent, method=...) -> verdict
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _pool_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __call__(self, event: Event, context: Any = None) -> Result:
        result, _click = self.handle(event)
        return result

    def handle(self, event: Event) -> tuple[Result, Click]:
        started = time.perf_counter()
        # The budget covers the whole click, the bot check included: Lambda@Edge bills
        # the function's whole duration and fails a viewer trigger at 5 s.
        deadline = time.monotonic() + self.config.time_budget_ms / 1000
        cloudfront: dict[str, Any] = event["Records"][0]["cf"]
        request: dict[str, Any] = cloudfront["request"]
        method = str(request.get("method", "GET")).upper()
        match = CODE_PATTERN.fullmatch(unquote(str(request.get("uri", ""))))
        if match is None or method not in ("GET", "HEAD"):
            # Not a short link (/, /favicon.ico, /expired.html) or not a visit: S3 answers.
            return request, Click("", "", "ignored", 0)
        code = match.group(1)
        # What we counted is what S3 is asked for (/code, not /code/ or an escaped /code),
        # should the request go on to the origin.
        request["uri"] = "/" + code
        visitor = "bot" if self.is_bot(header(request, "user-agent"), method=method) else "human"
        if self.config.mode == "every":
            result, click = self._count_every(request, code, visitor, deadline)
        else:
            result, click = self._record_first(request, code, visitor, deadline)
        line: dict[str, Any] = {
            "msg": "click",
            "code": code,
            "visitor": visitor,
            "outcome": click.outcome,
            "status": click.status,
            # viewer-request or origin-request: the function behaves the same under both
            "trigger": str(cloudfront.get("config", {}).get("eventType", "")),
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }
        if click.outcome == "untracked":
            line["may_count"] = click.may_count
        log.info(json.dumps(line))
        return result, click

    # -- every click (viewer-request, or origin-request with caching disabled) ----------

    def _count_every(
        self, request: dict[str, Any], code: str, visitor: str, deadline: float
    ) -> tuple[Result, Click]:
        now = self.clock()
        moment = datetime.fromtimestamp(now, UTC)
        human = visitor == "human"
        counter = "human_clicks" if human else "bot_clicks"
        sets = [
            f"{counter} = if_not_exists({counter}, :zero) + :one",
            "last_click_at = :at",
            "click = :click",
        ]
        condition = LIVE_LINK
        if human:
            sets.append("first_click_at = if_not_exists(first_click_at, :at)")
            condition += " AND (attribute_not_exists(max_clicks) OR human_clicks < max_clicks)"
        try:
            answer = self._within_budget(
                lambda: self.dynamodb.update_item(
                    TableName=self.config.table,
                    Key=_link_key(code, COUNTER),
                    UpdateExpression="SET " + ", ".join(sets),
                    ConditionExpression=condition,
                    ExpressionAttributeValues={
                        ":zero": {"N": "0"},
                        ":one": {"N": "1"},
                        ":at": {"S": _iso(moment)},
                        ":now": {"N": str(int(now))},
                        ":click": {"M": click_attributes(request, visitor, _iso(moment))},
                    },
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                ),
                deadline,
            )
        except _ConditionFailed as failed:
            if failed.item:  # expired or used up, not yet retired
                return self._refused(code, visitor, failed.item)
            return self._after_missing(request, code, visitor, deadline)
        except Exception as error:
            return self._untracked(request, code, visitor, error)
        long_url = answer.get("Attributes", {}).get("long_url", {}).get("S", "")
        if not safe_location(long_url, self.config.allowed_destination_hosts):
            # Counted, but never sent: a browser would open somewhere else than the URL
            # reads (or CloudFront would 502 on the header), and S3's 301 to the same
            # URL would do no better.
            log.warning(json.dumps({"msg": "unusable long_url", "code": code}))
            return gone(self.config.expired_html), Click(code, visitor, "gone", 410)
        return redirect(long_url), Click(code, visitor, "redirect", 302)

    def _after_missing(
        self, request: dict[str, Any], code: str, visitor: str, deadline: float
    ) -> tuple[Result, Click]:
        """No link item: retired (tombstone) or never created. Retirement also deletes the
        S3 object, so without this read an expired link's 410 / expired_url would become
        S3's 404 once the sweeper ran. Only codes without a live link pay for it."""
        try:
            tombstone = self._within_budget(
                lambda: self.dynamodb.get_item(
                    TableName=self.config.table,
                    Key=_link_key(code, "tombstone"),
                    ProjectionExpression=TOMBSTONE_PROJECTION,
                    ExpressionAttributeNames={"#status": "status"},
                    ConsistentRead=True,  # retirement may have happened a moment ago
                ).get("Item"),
                deadline,
            )
        except Exception as error:
            log.warning(
                json.dumps({"msg": "tombstone unread", "code": code, "error": _name(error)})
            )
            return request, Click(code, visitor, "missing", 0)  # S3 decides, as before
        if not tombstone:
            return request, Click(code, visitor, "missing", 0)  # S3's error document
        return self._refused(code, visitor, tombstone)  # "expired" and "deleted" alike

    def _refused(self, code: str, visitor: str, item: dict[str, Any]) -> tuple[Result, Click]:
        """An expired, used-up or retired link: its expired_url if usable, else 410."""
        expired_url = item.get("expired_url", {}).get("S", "")
        if expired_url and safe_location(expired_url, self.config.allowed_destination_hosts):
            return redirect(expired_url), Click(code, visitor, "expired_redirect", 302)
        # The operator's own fallback is held to the URL rules, not to the link allowlist.
        expired_url = self.config.expired_redirect_url
        if safe_location(expired_url):
            return redirect(expired_url), Click(code, visitor, "expired_redirect", 302)
        return gone(self.config.expired_html), Click(code, visitor, "gone", 410)

    def _untracked(
        self, request: dict[str, Any], code: str, visitor: str, error: BaseException
    ) -> tuple[Result, Click]:
        may_count = _may_have_landed(error)
        log.warning(
            json.dumps(
                {
                    "msg": "untracked",
                    "code": code,
                    "visitor": visitor,
                    "error": _name(error),
                    "may_count": may_count,
                }
            )
        )
        return request, Click(code, visitor, "untracked", 0, may_count)

    # -- first click (origin-request) -------------------------------------------------

    def _record_first(
        self, request: dict[str, Any], code: str, visitor: str, deadline: float
    ) -> tuple[Result, Click]:
        if visitor != "human":
            return request, Click(code, visitor, "passed", 0)
        now = self.clock()
        try:
            self._within_budget(
                lambda: self.dynamodb.update_item(
                    TableName=self.config.table,
                    Key=_link_key(code, COUNTER),
                    UpdateExpression="SET first_click_at = if_not_exists(first_click_at, :at)",
                    ConditionExpression=LIVE_LINK,
                    ExpressionAttributeValues={
                        ":at": {"S": _iso(datetime.fromtimestamp(now, UTC))},
                        ":now": {"N": str(int(now))},
                    },
                    ReturnValues="NONE",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                ),
                deadline,
            )
        except _ConditionFailed as failed:
            if failed.item:  # exists but expired: S3 still holds it until it is retired
                return self._refused(code, visitor, failed.item)
            return self._after_missing(request, code, visitor, deadline)
        except Exception as error:
            return self._untracked(request, code, visitor, error)
        return request, Click(code, visitor, "passed", 0)

    # -- the time budget --------------------------------------------------------------

    def _within_budget(self, call: Callable[[], Any], deadline: float) -> Any:
        """Run `call` but give up at `deadline` (time.monotonic; the click's time_budget_ms
        covers all its calls). The worker finishes on its own, bounded by botocore's
        timeouts, so a write given up on may still land. A conditional failure becomes
        _ConditionFailed."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:  # spent before this call (the bot check, an earlier call)
            raise _OverBudget(self.config.time_budget_ms, sent=False)
        future = self._executor().submit(_conditional(self.dynamodb, call))
        try:
            return future.result(timeout=remaining)
        except FutureTimeout:
            raise _OverBudget(self.config.time_budget_ms, sent=True) from None

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.config.max_connections, thread_name_prefix="click"
                )
            return self._pool


class _OverBudget(TimeoutError):
    def __init__(self, budget_ms: int, *, sent: bool) -> None:
        super().__init__(f"over the {budget_ms} ms budget")
        self.sent = sent  # the call was started, so its write may still land


def _may_have_landed(error: BaseException) -> bool:
    """The write was sent and nobody knows whether DynamoDB applied it: our budget ran out
    while it ran, or botocore gave up reading the answer (a connect timeout never sent it)."""
    if isinstance(error, _OverBudget):
        return error.sent
    from botocore.exceptions import ReadTimeoutError  # loaded already: the client made it

    return isinstance(error, ReadTimeoutError)


def _name(error: BaseException) -> str:
    return type(error).__name__


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


def _link_key(code: str, kind: str = "link") -> dict[str, Any]:
    return {"pk": {"S": f"link#{code}"}, "sk": {"S": kind}}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- the Lambda entry point: config from the zip, one client per container ------------

_COUNTER: ClickCounter | None = None
_COUNTER_LOCK = threading.Lock()


def handler(event: Event, context: Any = None) -> Result:
    """`edge_click.handler` in the zip."""
    global _COUNTER
    if _COUNTER is None:
        with _COUNTER_LOCK:
            if _COUNTER is None:
                config = EdgeConfig.load(CONFIG_FILE)
                _COUNTER = ClickCounter(config, make_client(config))
    return _COUNTER(event, context)
