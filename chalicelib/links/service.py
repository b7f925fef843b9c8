"""Links: validated input, the link item, its S3 redirect object, and its tombstone.

Items in the links table (pk / sk):
  link#<code> / link        the live link (attribute contract in the team brief)
  link#<code> / expiry      expiry marker, present iff the link has an expiry: the sweeper's
                            sparse index (gsi1 partition expiry#<shard>, sorted by expires_at)
  link#<code> / tombstone   what is left once a link expired or was deleted: its final state
                            and counters. It has no TTL, so GET keeps answering "expired" or
                            "deleted" and the code is never handed out again.

Indexes (both projected ALL):
  gsi1  "links" / "<created_at>#<code>"              every link and tombstone, newest first
  gsi1  "expiry#<0-3>" / "<expires_at:012d>#<code>"  expiry markers (overloaded gsi1)
  gsi2  "campaign#<id>" / "<created_at>#<code>"      one campaign's links and tombstones

The list partition is a single one: newest-first over shards needs a k-way merge and a cursor
per shard, and one GSI partition takes about 1,000 writes/s, far above what link creation
reaches (the API, plus campaign workers whose concurrency the queue bounds). Expiry markers
need no order across partitions, so they are spread over four shards for free.

Creating a link is two AWS calls: one TransactWriteItems (tombstone absent, link absent, put
link and marker) and one PutObject. If the PutObject fails the items are removed again and the
caller gets 503, so there is never an item without its object or an object without its item.
Should that removal fail too (retried a few times), an API link gets a repair marker instead:
an expiry marker due at once, carrying `undo_of` (the link's created_at), which the sweeper
turns into the removal within minutes. A campaign link is repaired by its chunk's redelivery
(the recipient's claim survives with it; ensure_redirect puts the object back).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import math
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core import phones, urlsafety
from chalicelib.core.clock import from_epoch, iso, now
from chalicelib.core.payloads import reject_unknown_fields
from chalicelib.core.problems import BadRequest, Conflict, NotFound, Problem, Unavailable
from chalicelib.core.settings import Settings

log = logging.getLogger("linktrail.links")

CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
GENERATED_CODE_LENGTH = 7
CODE_ATTEMPTS = 6
CUSTOM_CODE = re.compile(r"^[A-Za-z0-9_-]{3,64}\Z")
# Paths the app or the short domain serve themselves, and the demo site's pages.
RESERVED_CODES = frozenset(
    {
        "api",
        "ping",
        "events",
        "healthz",
        "journey",
        "journeys",
        "webhooks",
        "outbox",
        "about-me",
        "blog",
        "no-audit",
        "site",
        "static",
        "assets",
        "index",
        "expired",
        "favicon",
        "robots",
        "__health",
        "admin",
        "login",
        "demo",
    }
)
MAX_URL_LENGTH = 2000  # S3 accepts WebsiteRedirectLocation up to 2 KB
MAX_CLICKS = 1_000_000_000  # far above any campaign; keeps the number a plain DynamoDB N
MAX_TAGS = 20
TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:/+-]{0,49}\Z")
TTL_GRACE_SECONDS = 3600  # DynamoDB TTL is only the backstop behind the sweeper
EXPIRY_SHARDS = 4
LIST_PARTITION = "links"
# A cursor we hand out is ~300 characters (four keys, a 64-character code at most). 1,024
# decode to 768 bytes: no forged key can exceed DynamoDB's key sizes (1,024/2,048 bytes)
# and no JSON can nest deep enough to trouble the parser.
MAX_CURSOR_CHARS = 1024
# What a tombstone drops from the message: the plain number (to_masked stays).
PERSONAL_MESSAGE_FIELDS = frozenset({"to"})
# Bounds how long a cached S3 301 can outlive its link: the sweeper's own 5 minutes.
REDIRECT_CACHE_CONTROL = "public, max-age=300"
# Removing the items of a create whose PutObject failed: the pause before each attempt.
# Short: the client is waiting for its 503.
UNDO_ATTEMPT_PAUSES = (0.0, 0.05, 0.25)

CREATE_FIELDS = frozenset(
    {"url", "code", "expires_at", "ttl", "max_clicks", "expired_url", "tags", "webhook_url", "sms"}
)
PATCH_FIELDS = frozenset({"url", "expires_at", "ttl", "max_clicks", "expired_url"})
LIST_PARAMS = frozenset({"campaign_id", "tag", "limit", "cursor"})
CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9]{12}\Z")

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


# --- DynamoDB JSON ------------------------------------------------------------------------


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values -> DynamoDB JSON (None values are left out)."""
    return {k: _SERIALIZER.serialize(v) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB JSON -> plain values, numbers as int where integral; others (a message's
    price) stay Decimal, exact, and go back in as they came out."""
    return {k: _plain(_DESERIALIZER.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def link_key(code: str, kind: str = "link") -> dict[str, Any]:
    return {"pk": {"S": f"link#{code}"}, "sk": {"S": kind}}


def expiry_shard(code: str) -> str:
    return f"expiry#{ord(code[0]) % EXPIRY_SHARDS}"


def expiry_sort_key(expires_at: int, code: str) -> str:
    return f"{expires_at:012d}#{code}"


def cancellation_codes(error: ClientError) -> list[str]:
    return [r.get("Code", "None") for r in error.response.get("CancellationReasons", [])]


# --- input ------------------------------------------------------------------------------


def parse_url(value: Any, field_name: str, allowed_hosts: tuple[str, ...] = ()) -> str:
    """An absolute http(s) URL S3 can redirect to, or 400 naming `field_name`."""
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{field_name} must be a non-empty string.", field=field_name)
    if len(value) > MAX_URL_LENGTH:
        raise BadRequest(
            f"{field_name} is {len(value)} characters; at most {MAX_URL_LENGTH} are allowed.",
            field=field_name,
        )
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise BadRequest(
            f"{field_name} must not contain spaces or control characters.", field=field_name
        )
    if not value.isascii():
        raise BadRequest(
            f"{field_name} must be ASCII; percent-encode other characters.", field=field_name
        )
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise BadRequest(f"{field_name} is not a valid URL.", field=field_name) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BadRequest(f"{field_name} must be an absolute http or https URL.", field=field_name)
    if not hostname:
        raise BadRequest(f"{field_name} has no host.", field=field_name)
    if "@" in parts.netloc:
        raise BadRequest(f"{field_name} must not carry user:password@.", field=field_name)
    if allowed_hosts and not any(
        hostname == host or (host.startswith("*.") and hostname.endswith(host[1:]))
        for host in (h.lower() for h in allowed_hosts)
    ):
        raise BadRequest(
            f"{field_name}: destination host {hostname!r} is not on the operator's allowlist.",
            field=field_name,
        )
    return value


def parse_webhook_url(value: Any, settings: Settings, field_name: str = "webhook_url") -> str:
    """A URL the service may POST to later: no private or metadata addresses (SSRF guard;
    the local stage allows private hosts so a receiver on 127.0.0.1 works)."""
    url = parse_url(value, field_name)
    return urlsafety.check_webhook_url(url, field=field_name, allow_private=settings.is_local)


def require_link_shape(code: str) -> None:
    """404 for a code no link can have (nor a key DynamoDB would take), before any read."""
    if not CUSTOM_CODE.match(code):
        raise NotFound(f"No link {code!r}.")


def parse_code(value: Any) -> str:
    if not isinstance(value, str) or not CUSTOM_CODE.match(value):
        raise BadRequest(
            "code must be 3-64 characters from A-Z, a-z, 0-9, '_' and '-'.", field="code"
        )
    if value.lower() in RESERVED_CODES:
        raise BadRequest(f"code {value!r} is reserved.", field="code")
    return value


def parse_expiry(body: Mapping[str, Any], at: datetime, max_lifetime: int) -> int | None:
    """Epoch seconds from `expires_at` (ISO 8601 with offset, or epoch seconds) or `ttl`."""
    if "expires_at" in body and "ttl" in body:
        raise BadRequest("Give expires_at or ttl, not both.", field="ttl")
    current = int(at.timestamp())
    if "ttl" in body:
        ttl = body["ttl"]
        if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1:
            raise BadRequest("ttl must be a whole number of seconds, at least 1.", field="ttl")
        if ttl > max_lifetime:
            raise BadRequest(f"ttl is at most {max_lifetime} seconds.", field="ttl")
        return current + ttl
    if "expires_at" not in body:
        return None
    raw = body["expires_at"]
    if isinstance(raw, bool):
        raise BadRequest("expires_at must be ISO 8601 or epoch seconds.", field="expires_at")
    moment: int | float
    if isinstance(raw, float) and not math.isfinite(raw):
        raise BadRequest("expires_at must be a finite number of epoch seconds.", field="expires_at")
    if isinstance(raw, int | float):
        moment = raw  # ints stay ints: Python compares them with floats exactly, any size
    elif isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            raise BadRequest(
                "expires_at must be ISO 8601 with an offset, e.g. 2030-01-01T00:00:00Z.",
                field="expires_at",
            ) from None
        if parsed.tzinfo is None:
            raise BadRequest("expires_at needs a UTC offset (Z or +hh:mm).", field="expires_at")
        moment = parsed.timestamp()
    else:
        raise BadRequest("expires_at must be ISO 8601 or epoch seconds.", field="expires_at")
    if moment <= at.timestamp():
        raise BadRequest("expires_at must be in the future.", field="expires_at")
    if moment > current + max_lifetime:
        raise BadRequest(
            f"expires_at is at most {max_lifetime} seconds from now.", field="expires_at"
        )
    return int(moment)


def parse_max_clicks(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_CLICKS:
        raise BadRequest(
            f"max_clicks must be a whole number from 1 to {MAX_CLICKS:,}.", field="max_clicks"
        )
    return value


def parse_tag(value: Any, field_name: str = "tags") -> str:
    if not isinstance(value, str) or not TAG.match(value):
        raise BadRequest(
            "A tag is 1-50 characters: letters, digits, space and _ . : / + -.", field=field_name
        )
    return value


def parse_tags(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise BadRequest("tags must be a list of strings.", field="tags")
    if len(value) > MAX_TAGS:
        raise BadRequest(f"At most {MAX_TAGS} tags.", field="tags")
    return list(dict.fromkeys(parse_tag(tag) for tag in value))


@dataclass(frozen=True)
class NewLink:
    """A link to create: already validated."""

    url: str
    code: str | None = None
    expires_at: int | None = None
    max_clicks: int | None = None
    expired_url: str | None = None
    tags: list[str] = field(default_factory=list)
    webhook_url: str | None = None
    campaign_id: str | None = None
    ref: str | None = None


def parse_new_link(body: Mapping[str, Any], settings: Settings, at: datetime) -> NewLink:
    """Validate a POST /api/links body (everything but `sms`, which messaging owns)."""
    reject_unknown_fields(dict(body), CREATE_FIELDS)
    if "url" not in body:
        raise BadRequest("url is required.", field="url")
    return NewLink(
        url=parse_url(body["url"], "url", settings.allowed_destination_hosts),
        code=parse_code(body["code"]) if body.get("code") is not None else None,
        expires_at=parse_expiry(body, at, settings.max_link_lifetime_seconds),
        max_clicks=parse_max_clicks(body["max_clicks"]) if "max_clicks" in body else None,
        expired_url=parse_url(
            body["expired_url"], "expired_url", settings.allowed_destination_hosts
        )
        if body.get("expired_url") is not None
        else None,
        tags=parse_tags(body["tags"]) if "tags" in body else [],
        webhook_url=parse_webhook_url(body["webhook_url"], settings)
        if body.get("webhook_url") is not None
        else None,
    )


@dataclass(frozen=True)
class LinkPatch:
    """Changes to a link; `None` in a `clear_*` flag's field means "remove it"."""

    url: str | None = None
    expires_at: int | None = None
    clear_expiry: bool = False
    max_clicks: int | None = None
    clear_max_clicks: bool = False
    expired_url: str | None = None
    clear_expired_url: bool = False

    @property
    def changes_expiry(self) -> bool:
        return self.expires_at is not None or self.clear_expiry


def parse_link_patch(body: Mapping[str, Any], settings: Settings, at: datetime) -> LinkPatch:
    reject_unknown_fields(dict(body), PATCH_FIELDS)
    if not body:
        raise BadRequest(f"Nothing to change; give one of {', '.join(sorted(PATCH_FIELDS))}.")
    clear_expiry = "expires_at" in body and body["expires_at"] is None and "ttl" not in body
    expiry_fields = {k: v for k, v in body.items() if k in ("expires_at", "ttl")}
    return LinkPatch(
        url=parse_url(body["url"], "url", settings.allowed_destination_hosts)
        if "url" in body
        else None,
        expires_at=None
        if clear_expiry
        else parse_expiry(expiry_fields, at, settings.max_link_lifetime_seconds),
        clear_expiry=clear_expiry,
        max_clicks=parse_max_clicks(body["max_clicks"])
        if body.get("max_clicks") is not None
        else None,
        clear_max_clicks="max_clicks" in body and body["max_clicks"] is None,
        expired_url=parse_url(
            body["expired_url"], "expired_url", settings.allowed_destination_hosts
        )
        if body.get("expired_url") is not None
        else None,
        clear_expired_url="expired_url" in body and body["expired_url"] is None,
    )


@dataclass(frozen=True)
class ListQuery:
    campaign_id: str | None = None
    tag: str | None = None
    limit: int = 25
    cursor: str | None = None


def parse_list_query(params: Mapping[str, str] | None) -> ListQuery:
    params = params or {}
    unknown = sorted(set(params) - LIST_PARAMS)
    if unknown:
        raise BadRequest(f"Unknown query parameter(s): {', '.join(unknown)}.", field=unknown[0])
    campaign_id = params.get("campaign_id")
    if campaign_id is not None and not CAMPAIGN_ID.match(campaign_id):
        raise BadRequest("campaign_id is 12 letters or digits.", field="campaign_id")
    limit_raw = params.get("limit", "25")
    if not re.fullmatch(r"[0-9]{1,6}", limit_raw) or not 1 <= int(limit_raw) <= 100:
        raise BadRequest("limit is a whole number from 1 to 100.", field="limit")
    return ListQuery(
        campaign_id=campaign_id,
        tag=parse_tag(params["tag"], "tag") if "tag" in params else None,
        limit=int(limit_raw),
        cursor=params.get("cursor"),
    )


# --- views ------------------------------------------------------------------------------


def status_of(item: Mapping[str, Any], at_epoch: float) -> str:
    if item.get("sk") == "tombstone":
        return str(item.get("status", "expired"))
    expires_at = item.get("expires_at")
    if expires_at is not None and expires_at <= at_epoch:
        return "expired"
    max_clicks = item.get("max_clicks")
    if max_clicks is not None and item.get("human_clicks", 0) >= max_clicks:
        return "expired"
    return "active"


def public_view(item: Mapping[str, Any], short_base_url: str, at_epoch: float) -> dict[str, Any]:
    """What the API shows of a link or tombstone (plain values, see from_item)."""
    code = str(item["code"])
    expires_at = item.get("expires_at")
    return {
        "code": code,
        "short_url": f"{short_base_url}/{code}",
        "url": item.get("long_url"),
        "status": status_of(item, at_epoch),
        "created_at": item.get("created_at"),
        "expires_at": iso(from_epoch(expires_at)) if expires_at is not None else None,
        "ended_at": item.get("ended_at"),
        "ended_reason": item.get("reason"),
        "max_clicks": item.get("max_clicks"),
        "expired_url": item.get("expired_url"),
        "tags": item.get("tags", []),
        "campaign_id": item.get("campaign_id"),
        "ref": item.get("ref"),
        "webhook_url": item.get("webhook_url"),
        "clicks": {"human": item.get("human_clicks", 0), "bot": item.get("bot_clicks", 0)},
        "first_click_at": item.get("first_click_at"),
        "last_click_at": item.get("last_click_at"),
        "clicks_by_day": item.get("clicks_by_day", {}),
        "clicks_by_country": item.get("clicks_by_country", {}),
        "message": public_message(item.get("message")),
        "webhook": public_webhook(item),
    }


def public_webhook(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """Click-webhook delivery failures recorded by clickhooks, or None when there are none."""
    failures = int(item.get("webhook_failures") or 0)
    if not failures and not item.get("last_webhook_error"):
        return None
    return {
        "failures": failures,
        "last_error": item.get("last_webhook_error"),
        "last_error_at": item.get("last_webhook_error_at"),
    }


def public_message(message: Any) -> dict[str, Any] | None:
    """The API's view of a link item's `message` attribute (masked number, status, error,
    price), as read with the low-level client ({"M": {...}}) or already deserialized;
    None when there is no message."""
    if isinstance(message, dict) and set(message) <= {"M", "NULL"}:
        message = _DESERIALIZER.deserialize(cast(Any, message)) if message else None
    if not isinstance(message, dict):
        return None
    answer: dict[str, Any] = {
        "uuid": message.get("uuid"),
        "channel": message.get("channel"),
        "to": message.get("to_masked") or phones.mask(str(message.get("to", ""))),
        "status": message.get("status"),
        "status_at": message.get("status_at"),
    }
    if message.get("error"):
        answer["error"] = message["error"]
    if message.get("retry_after") is not None and message.get("status") == "throttled":
        answer["retry_after"] = int(message["retry_after"])
    if message.get("price") is not None:
        price = message["price"]
        answer["price"] = format(price, "f") if isinstance(price, Decimal) else str(price)
        answer["currency"] = message.get("currency")
    return answer


def encode_cursor(key: Mapping[str, Any]) -> str:
    plain = {k: v["S"] for k, v in key.items()}
    raw = json.dumps(plain, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, index: str, partition: str) -> dict[str, Any]:
    if len(cursor) > MAX_CURSOR_CHARS:
        raise BadRequest("cursor is not one this API handed out.", field="cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        plain = json.loads(raw)
    except (ValueError, binascii.Error, RecursionError):
        raise BadRequest("cursor is not one this API handed out.", field="cursor") from None
    expected = {"pk", "sk", f"{index}pk", f"{index}sk"}
    if (
        not isinstance(plain, dict)
        or set(plain) != expected
        or not all(isinstance(v, str) for v in plain.values())
        or plain[f"{index}pk"] != partition
    ):
        raise BadRequest("cursor is not one this API handed out.", field="cursor")
    return {k: {"S": v} for k, v in plain.items()}


# --- the service ------------------------------------------------------------------------


class CodeTaken(Exception):
    """The code belongs to a live link or a tombstone."""


class RecipientClaimed(Exception):
    """A campaign recipient already has its link (a redelivered queue message)."""


@dataclass(frozen=True)
class RecipientClaim:
    """Put alongside a campaign link, in the same transaction: at most one link per
    recipient, whatever the queue redelivers."""

    campaign_id: str
    index: int
    ref: str | None

    @property
    def key(self) -> dict[str, Any]:
        return {
            "pk": {"S": f"campaign#{self.campaign_id}"},
            "sk": {"S": f"recipient#{self.index:05d}"},
        }


class LinkService:
    """Links in the links table and their redirect objects in the bucket.

    Handed its clients and settings so tests can point it at anything (a missing bucket,
    another table)."""

    def __init__(self, dynamodb: Any, s3: Any, settings: Settings) -> None:
        self._ddb = dynamodb
        self._s3 = s3
        self._settings = settings
        self._table = settings.links_table
        self._bucket = settings.redirect_bucket

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def short_base_url(self) -> str:
        return self._settings.short_base_url

    def short_url(self, code: str) -> str:
        return f"{self._settings.short_base_url}/{code}"

    # creation

    def create(
        self, new: NewLink, key_id: str, *, recipient: RecipientClaim | None = None
    ) -> dict[str, Any]:
        """Store the link and its redirect object; the stored item (plain values).

        Raises Conflict (custom code taken), RecipientClaimed, or Unavailable (S3 failed,
        nothing left behind)."""
        attempts = 1 if new.code else CODE_ATTEMPTS
        for _ in range(attempts):
            code = new.code or generate_code()
            item = self._new_item(new, code, key_id)
            try:
                self._ddb.transact_write_items(TransactItems=self._create_actions(item, recipient))
            except self._ddb.exceptions.TransactionCanceledException as error:
                reasons = cancellation_codes(error)
                if recipient is not None and reasons[-1] == "ConditionalCheckFailed":
                    raise RecipientClaimed(recipient.key["sk"]["S"]) from None
                if "ConditionalCheckFailed" not in reasons:
                    raise Unavailable("The link store is busy; try again.", retry_after=1) from None
                if new.code:
                    raise Conflict(f"code {code!r} is taken.", field="code") from None
                continue
            self._put_redirect_or_undo(item, recipient)
            return item
        raise Unavailable("No free code was found; try again.", retry_after=1)

    def _new_item(self, new: NewLink, code: str, key_id: str) -> dict[str, Any]:
        created_at = iso(now())
        item: dict[str, Any] = {
            "pk": f"link#{code}",
            "sk": "link",
            "code": code,
            "long_url": new.url,
            "created_at": created_at,
            "key_id": key_id,
            "tags": list(new.tags),
            "human_clicks": 0,
            "bot_clicks": 0,
            "clicks_by_day": {},
            "clicks_by_country": {},
            "gsi1pk": LIST_PARTITION,
            "gsi1sk": f"{created_at}#{code}",
            "expires_at": new.expires_at,
            "ttl": new.expires_at + TTL_GRACE_SECONDS if new.expires_at is not None else None,
            "max_clicks": new.max_clicks,
            "expired_url": new.expired_url,
            "webhook_url": new.webhook_url,
            "campaign_id": new.campaign_id,
            "ref": new.ref,
        }
        if new.campaign_id:
            item["gsi2pk"] = f"campaign#{new.campaign_id}"
            item["gsi2sk"] = f"{created_at}#{code}"
        return {k: v for k, v in item.items() if v is not None}

    def _create_actions(
        self, item: dict[str, Any], recipient: RecipientClaim | None
    ) -> list[dict[str, Any]]:
        code = item["code"]
        actions: list[dict[str, Any]] = [
            {
                "ConditionCheck": {
                    "TableName": self._table,
                    "Key": link_key(code, "tombstone"),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(item),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        if "expires_at" in item:
            actions.append({"Put": {"TableName": self._table, "Item": self._marker(item)}})
        if recipient is not None:
            actions.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            **recipient.key,
                            **to_item(
                                {
                                    "code": code,
                                    "ref": recipient.ref,
                                    "created_at": item["created_at"],
                                }
                            ),
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        return actions

    def _marker(self, item: Mapping[str, Any]) -> dict[str, Any]:
        code, expires_at = item["code"], int(item["expires_at"])
        return to_item(
            {
                "pk": f"link#{code}",
                "sk": "expiry",
                "code": code,
                "expires_at": expires_at,
                "ttl": expires_at + TTL_GRACE_SECONDS,
                "gsi1pk": expiry_shard(code),
                "gsi1sk": expiry_sort_key(expires_at, code),
            }
        )

    def _put_redirect_or_undo(self, item: dict[str, Any], recipient: RecipientClaim | None) -> None:
        try:
            self.put_redirect(item["code"], item["long_url"])
        except (ClientError, BotoCoreError) as error:
            if self._undo_create(item, recipient):
                detail = "The redirect could not be stored; nothing was created. Try again."
            else:
                detail = (
                    "The redirect could not be stored; the link was not created. Try again "
                    "(a custom code may stay taken for a few minutes)."
                )
            raise Unavailable(detail, retry_after=2) from error

    def _undo_create(self, item: Mapping[str, Any], recipient: RecipientClaim | None) -> bool:
        """Remove what the create transaction wrote, retrying briefly. True when removed;
        otherwise the link is left for a repair (see the module docstring) and logged."""
        code = item["code"]
        undo: list[dict[str, Any]] = [
            {"Delete": {"TableName": self._table, "Key": link_key(code)}},
            {"Delete": {"TableName": self._table, "Key": link_key(code, "expiry")}},
        ]
        if recipient is not None:
            undo.append({"Delete": {"TableName": self._table, "Key": recipient.key}})
        failure = _attempt(lambda: self._ddb.transact_write_items(TransactItems=undo))
        if failure is None:
            return True
        repair = "the campaign chunk's redelivery puts the object back"
        if recipient is None:
            marker = self._repair_marker(item)
            marked = _attempt(lambda: self._ddb.put_item(TableName=self._table, Item=marker))
            repair = (
                "the sweeper removes the link (repair marker written)"
                if marked is None
                else f"none ({marked}): remove link#{code} items link and expiry by hand"
            )
        # The code and AWS error codes only: the URL may carry a customer's tokens.
        log.error(
            "link item left without its redirect object: the undo failed",
            extra={"code": code, "error": failure, "repair": repair},
        )
        return False

    def _repair_marker(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """An expiry marker due now, naming the link it must remove by its created_at (so a
        link created again under the code later is left alone). No ttl: it stays until the
        sweeper has acted on it."""
        code, due = item["code"], int(now().timestamp())
        return to_item(
            {
                "pk": f"link#{code}",
                "sk": "expiry",
                "code": code,
                "expires_at": due,
                "undo_of": item["created_at"],
                "gsi1pk": expiry_shard(code),
                "gsi1sk": expiry_sort_key(due, code),
            }
        )

    def finish_undo(self, marker: Mapping[str, Any]) -> bool:
        """The sweeper's half of a failed undo: remove the link the repair marker names
        (same created_at) and the marker, in one transaction; the stream handler then
        deletes any object. A link created again since, or a marker replaced meanwhile, is
        left alone. True when the link was removed now."""
        code, created_at = marker["code"], marker["undo_of"]
        items = self.items_for(code)
        if items.get("expiry", {}).get("undo_of") != created_at:
            return False  # replaced (a PATCH set a real expiry) or already acted on
        ours = {":created": {"S": created_at}}
        marker_delete = {
            "TableName": self._table,
            "Key": link_key(code, "expiry"),
            "ConditionExpression": "undo_of = :created",
            "ExpressionAttributeValues": ours,
        }
        link = items.get("link")
        if link is None or link.get("created_at") != created_at:
            with contextlib.suppress(self._ddb.exceptions.ConditionalCheckFailedException):
                self._ddb.delete_item(**marker_delete)
            return False
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": link_key(code),
                            "ConditionExpression": "created_at = :created",
                            "ExpressionAttributeValues": ours,
                        }
                    },
                    {"Delete": marker_delete},
                ]
            )
        except self._ddb.exceptions.TransactionCanceledException:
            return False  # changed meanwhile; the next run reads it again
        log.info("failed create undone", extra={"code": code})
        return True

    def put_redirect(self, code: str, long_url: str) -> None:
        """Idempotent: the object named by the code answers a 301 to long_url."""
        self._s3.put_object(
            Bucket=self._bucket,
            Key=code,
            Body=b"",
            WebsiteRedirectLocation=long_url,
            CacheControl=REDIRECT_CACHE_CONTROL,
            ContentType="text/html",
        )

    def delete_redirect(self, code: str) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=code)

    def delete_redirects(self, codes: list[str]) -> None:
        """Idempotent: deleting an object that is already gone succeeds."""
        for start in range(0, len(codes), 1000):
            chunk = codes[start : start + 1000]
            if len(chunk) == 1:
                self.delete_redirect(chunk[0])
                continue
            answer = self._s3.delete_objects(
                Bucket=self._bucket,
                Delete={"Objects": [{"Key": c} for c in chunk], "Quiet": True},
            )
            if answer.get("Errors"):
                # Raise so the stream batch is retried; deletes are idempotent.
                raise RuntimeError(
                    f"S3 refused {len(answer['Errors'])} deletes: {answer['Errors'][:3]}"
                )

    def has_redirect(self, code: str) -> bool:
        try:
            self._s3.head_object(Bucket=self._bucket, Key=code)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def ensure_redirect(self, code: str, long_url: str) -> bool:
        """Put the object of a link read earlier only if it is missing (a crash between the
        create transaction and its PutObject), then check the link still exists: a sweeper
        or DELETE that retired it meanwhile must not be undone by a resurrected object.
        True when the link is live with its object."""
        if self.has_redirect(code):
            return True
        self.put_redirect(code, long_url)
        if "link" in self.items_for(code):
            return True
        self.delete_redirect(code)
        return False

    def mark_unsent(self, code: str, kind: str, message: Mapping[str, Any]) -> bool:
        """Record a terminal message state (a campaign recipient skipped) on the code's link
        or tombstone, unless it already has a message. True when written."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=link_key(code, kind),
                UpdateExpression="SET #m = :message",
                ConditionExpression="attribute_exists(pk) AND "
                "(attribute_not_exists(#m) OR attribute_type(#m, :null))",
                ExpressionAttributeNames={"#m": "message"},
                ExpressionAttributeValues={
                    ":message": _SERIALIZER.serialize(dict(message)),
                    ":null": {"S": "NULL"},
                },
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # reading

    def items_for(self, code: str) -> dict[str, dict[str, Any]]:
        """The code's items by kind (link, expiry, tombstone), read consistently."""
        answer = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"link#{code}"}},
            ConsistentRead=True,
        )
        found = {str(i["sk"]["S"]): from_item(i) for i in answer.get("Items", [])}
        # An item another writer created by updating a missing key has no long_url: ignore it.
        if "link" in found and "long_url" not in found["link"]:
            found.pop("link")
        return found

    def links_for(self, codes: list[str]) -> dict[str, dict[str, Any] | None]:
        """Each code's live link, or None when it has none, read consistently 100 at a time
        (BatchGetItem: one call where items_for would take 100). Codes DynamoDB left
        unprocessed are left out; the caller reads those itself."""
        found: dict[str, dict[str, Any] | None] = {}
        unique = list(dict.fromkeys(codes))
        for start in range(0, len(unique), 100):
            chunk = unique[start : start + 100]
            answer = self._ddb.batch_get_item(
                RequestItems={
                    self._table: {"Keys": [link_key(c) for c in chunk], "ConsistentRead": True}
                }
            )
            for raw in answer.get("Responses", {}).get(self._table, []):
                link = from_item(raw)
                # As in items_for: an item without long_url is not a link.
                found[str(raw["pk"]["S"]).removeprefix("link#")] = (
                    link if "long_url" in link else None
                )
            left = answer.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
            unprocessed = {str(key["pk"]["S"]).removeprefix("link#") for key in left}
            for code in chunk:
                if code not in unprocessed:
                    found.setdefault(code, None)
        return found

    def get(self, code: str) -> dict[str, Any]:
        """The public view of a live link or of its tombstone; 404 when neither exists."""
        require_link_shape(code)
        items = self.items_for(code)
        item = items.get("link") or items.get("tombstone")
        if item is None:
            raise NotFound(f"No link {code!r}.")
        return public_view(item, self.short_base_url, now().timestamp())

    def page(self, query: ListQuery) -> dict[str, Any]:
        """One page of links and tombstones, newest first."""
        if query.campaign_id:
            index, partition = "gsi2", f"campaign#{query.campaign_id}"
        else:
            index, partition = "gsi1", LIST_PARTITION
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": f"{index}pk = :p",
            "ExpressionAttributeValues": {":p": {"S": partition}},
            "ScanIndexForward": False,
            "Limit": query.limit,
        }
        if query.cursor:
            kwargs["ExclusiveStartKey"] = decode_cursor(query.cursor, index, partition)
        if query.tag:
            # A filtered Query: reads the partition newest first and keeps tagged links.
            # Read cost grows with the untagged links skipped; pages stay bounded below.
            kwargs["FilterExpression"] = "contains(tags, :tag)"
            kwargs["ExpressionAttributeValues"][":tag"] = {"S": query.tag}
            kwargs["Limit"] = max(query.limit, 100)
        keys = ("pk", "sk", f"{index}pk", f"{index}sk")
        found: list[dict[str, Any]] = []
        next_key: dict[str, Any] | None = None
        for _ in range(10):
            page = self._ddb.query(**kwargs)
            items = page.get("Items", [])
            for position, raw in enumerate(items):
                found.append(raw)
                if len(found) == query.limit:
                    more = position < len(items) - 1 or "LastEvaluatedKey" in page
                    next_key = {k: raw[k] for k in keys} if more else None
                    break
            else:
                next_key = page.get("LastEvaluatedKey")
            if len(found) == query.limit or next_key is None:
                break
            kwargs["ExclusiveStartKey"] = next_key
        at = now().timestamp()
        return {
            "links": [public_view(from_item(i), self.short_base_url, at) for i in found],
            "next_cursor": encode_cursor(next_key) if next_key else None,
        }

    # changing

    def patch(self, code: str, patch: LinkPatch) -> dict[str, Any]:
        require_link_shape(code)
        items = self.items_for(code)
        link = items.get("link")
        if link is None:
            if "tombstone" in items:
                raise Problem(410, f"Link {code!r} has {items['tombstone']['status']}.")
            raise NotFound(f"No link {code!r}.")
        sets: dict[str, Any] = {}
        removes: list[str] = []
        if patch.url is not None:
            sets["long_url"] = patch.url
        if patch.expires_at is not None:
            sets["expires_at"] = patch.expires_at
            sets["ttl"] = patch.expires_at + TTL_GRACE_SECONDS
        if patch.clear_expiry:
            removes += ["expires_at", "ttl"]
        if patch.max_clicks is not None:
            sets["max_clicks"] = patch.max_clicks
        if patch.clear_max_clicks:
            removes.append("max_clicks")
        if patch.expired_url is not None:
            sets["expired_url"] = patch.expired_url
        if patch.clear_expired_url:
            removes.append("expired_url")
        names = {f"#{n}": n for n in [*sets, *removes]}
        expression = ""
        if sets:
            expression += "SET " + ", ".join(f"#{n} = :{n}" for n in sets)
        if removes:
            expression += " REMOVE " + ", ".join(f"#{n}" for n in removes)
        names["#long_url"] = "long_url"
        values = {f":{n}": _SERIALIZER.serialize(v) for n, v in sets.items()}
        values[":old_url"] = {"S": link["long_url"]}
        actions: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": link_key(code),
                    "UpdateExpression": expression.strip(),
                    # The URL we may have to restore must be the one we read.
                    "ConditionExpression": "#long_url = :old_url",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        if patch.expires_at is not None:
            marker = self._marker({"code": code, "expires_at": patch.expires_at})
            actions.append({"Put": {"TableName": self._table, "Item": marker}})
        elif patch.clear_expiry:
            actions.append({"Delete": {"TableName": self._table, "Key": link_key(code, "expiry")}})
        try:
            self._ddb.transact_write_items(TransactItems=actions)
        except self._ddb.exceptions.TransactionCanceledException:
            raise Conflict(f"Link {code!r} changed meanwhile; read it and try again.") from None
        if patch.url is not None and patch.url != link["long_url"]:
            try:
                self.put_redirect(code, patch.url)
            except (ClientError, BotoCoreError) as error:
                self._restore_url(code, written=patch.url, previous=link["long_url"])
                raise Unavailable(
                    "The redirect could not be changed; the link is unchanged "
                    "apart from the other fields.",
                    retry_after=2,
                ) from error
        return self.get(code)

    def _restore_url(self, code: str, *, written: str, previous: str) -> None:
        """Undo this PATCH's long_url, unless a newer PATCH (or a retirement) came since:
        then its value stands."""
        # A failed condition means it changed again meanwhile: nothing of ours to undo.
        with contextlib.suppress(self._ddb.exceptions.ConditionalCheckFailedException):
            self._ddb.update_item(
                TableName=self._table,
                Key=link_key(code),
                UpdateExpression="SET long_url = :old",
                ConditionExpression="long_url = :written",
                ExpressionAttributeValues={":old": {"S": previous}, ":written": {"S": written}},
            )

    def delete(self, code: str) -> None:
        """End the link now: tombstone (status deleted), then the redirect object."""
        require_link_shape(code)
        for _ in range(3):
            items = self.items_for(code)
            link = items.get("link")
            if link is None:
                if "tombstone" in items:
                    ended = items["tombstone"]["status"]
                    raise Problem(410, f"Link {code!r} has already {ended}.")
                raise NotFound(f"No link {code!r}.")
            if self._retire(link, "deleted", condition="attribute_exists(pk)", values={}):
                break
        else:  # a receipt landed between each read and write: rare, so say so
            raise Conflict(f"Link {code!r} changed meanwhile; try again.")
        # The stream handler deletes it too; doing it here stops the redirect at once.
        self.delete_redirect(code)

    def expire(
        self,
        code: str,
        at_epoch: int,
        known: Mapping[str, dict[str, Any] | None] | None = None,
    ) -> bool:
        """Retire a link whose expiry has passed (the sweeper). Idempotent; True if it
        retired the link now. `known`: links read already (links_for), used for the first
        attempt; a retry reads again."""
        for attempt in range(3):
            if attempt == 0 and known is not None and code in known:
                link = known[code]
            else:
                link = self.items_for(code).get("link")
            if link is None:
                self._ddb.delete_item(TableName=self._table, Key=link_key(code, "expiry"))
                return False
            expires_at = link.get("expires_at")
            if expires_at is None or expires_at > at_epoch:
                return False  # extended meanwhile; the marker was rewritten
            condition = "expires_at <= :now AND human_clicks = :h AND bot_clicks = :b"
            values = {
                ":now": {"N": str(at_epoch)},
                ":h": {"N": str(link.get("human_clicks", 0))},
                ":b": {"N": str(link.get("bot_clicks", 0))},
            }
            if self._retire(
                link, "expired", condition=condition, values=values, reason="expires_at"
            ):
                return True
        return False  # clicked while we retired it; the next run tries again

    def retire_spent(self, code: str) -> bool:
        """Retire a link whose human clicks reached max_clicks, as the sweeper retires an
        expired one (tombstone "expired", reason max_clicks), and delete its object: S3 and
        caches would otherwise keep redirecting. Idempotent; True if it retired it now."""
        for _ in range(3):
            link = self.items_for(code).get("link")
            if link is None:
                return False
            max_clicks = link.get("max_clicks")
            human = int(link.get("human_clicks", 0))
            if max_clicks is None or human < int(max_clicks):
                return False  # raised or cleared by a PATCH meanwhile
            condition = "max_clicks = :m AND human_clicks = :h AND bot_clicks = :b"
            values = {
                ":m": {"N": str(max_clicks)},
                ":h": {"N": str(human)},
                ":b": {"N": str(link.get("bot_clicks", 0))},
            }
            if self._retire(
                link, "expired", condition=condition, values=values, reason="max_clicks"
            ):
                self.delete_redirect(code)
                return True
        return False  # clicked again while we retired it; the next record tries again

    def _retire(
        self,
        link: dict[str, Any],
        status: str,
        *,
        condition: str,
        values: dict[str, Any],
        reason: str | None = None,
    ) -> bool:
        """Delete link and marker and write the tombstone, in one transaction. The delete is
        conditioned on the link being what we read, so the tombstone holds final counters."""
        code = link["code"]
        values = dict(values)
        names: dict[str, str] = {}
        message = link.get("message")
        if isinstance(message, dict) and isinstance(message.get("status_at"), str):
            # A receipt applied between our read and this write would be lost with the
            # link: the tombstone must carry the message as it is now.
            condition += " AND #m.#s = :m_status AND #m.#at = :m_at"
            names = {"#m": "message", "#s": "status", "#at": "status_at"}
            values[":m_status"] = {"S": str(message.get("status"))}
            values[":m_at"] = {"S": message["status_at"]}
        elif message is None:
            condition += " AND attribute_not_exists(#m)"
            names = {"#m": "message"}
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": link_key(code),
            "ConditionExpression": condition,
        }
        if names:
            request["ExpressionAttributeNames"] = names
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {"Delete": request},
                    {"Delete": {"TableName": self._table, "Key": link_key(code, "expiry")}},
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": to_item(tombstone(link, status, reason)),
                        }
                    },
                ]
            )
        except self._ddb.exceptions.TransactionCanceledException:
            return False
        return True

    def bury(self, old_image: Mapping[str, Any], status: str) -> bool:
        """Write the tombstone of a link removed by someone else (DynamoDB TTL), from the
        stream's old image. Idempotent: an existing tombstone is kept."""
        link = from_item(old_image)
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=to_item(tombstone(link, status)),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return False
        self._ddb.delete_item(TableName=self._table, Key=link_key(link["code"], "expiry"))
        return True

    def due_markers(self, at_epoch: int, page_size: int) -> Iterator[list[dict[str, Any]]]:
        """Pages of expiry markers (plain values) due by `at_epoch`: Queries on the sparse
        marker index, never a Scan, oldest first within a shard, the shards in turn. Each
        page continues where that shard's last one ended, so a marker that cannot be acted
        on now (a link clicked while it was retired) is not met again in the same sweep."""
        start_keys: dict[int, dict[str, Any] | None] = dict.fromkeys(range(EXPIRY_SHARDS))
        while start_keys:
            for shard, start_key in list(start_keys.items()):
                query: dict[str, Any] = {
                    "TableName": self._table,
                    "IndexName": "gsi1",
                    "KeyConditionExpression": "gsi1pk = :p AND gsi1sk <= :due",
                    "ExpressionAttributeValues": {
                        ":p": {"S": f"expiry#{shard}"},
                        ":due": {"S": f"{at_epoch:012d}#~"},
                    },
                    "Limit": page_size,
                }
                if start_key is not None:
                    query["ExclusiveStartKey"] = start_key
                answer = self._ddb.query(**query)
                if answer.get("LastEvaluatedKey"):
                    start_keys[shard] = answer["LastEvaluatedKey"]
                else:
                    del start_keys[shard]
                if answer.get("Items"):
                    yield [from_item(item) for item in answer["Items"]]


def generate_code() -> str:
    """7 characters drawn with `secrets`; drawn again when they spell a reserved path
    ("healthz", "journey", "expired", "favicon" are 7 letters), as parse_code refuses them."""
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(GENERATED_CODE_LENGTH))
        if code.lower() not in RESERVED_CODES:
            return code


def _attempt(call: Callable[[], object]) -> str | None:
    """Run `call` up to len(UNDO_ATTEMPT_PAUSES) times; None once it succeeded, else the
    last failure's AWS error code (never its message)."""
    failure = "unknown"
    for pause in UNDO_ATTEMPT_PAUSES:
        time.sleep(pause)
        try:
            call()
        except ClientError as error:
            failure = str(error.response.get("Error", {}).get("Code", "ClientError"))
        except BotoCoreError as error:
            failure = type(error).__name__
        else:
            return None
    return failure


def tombstone(link: Mapping[str, Any], status: str, reason: str | None = None) -> dict[str, Any]:
    """The final state of a link, under the same partition; no ttl, so it stays (the code is
    never handed out again). It keeps no personal data: the message's plain number is
    dropped, the masked one stays."""
    kept = {k: v for k, v in link.items() if k not in ("ttl", "sk")}
    message = kept.get("message")
    if isinstance(message, Mapping):
        kept["message"] = {k: v for k, v in message.items() if k not in PERSONAL_MESSAGE_FIELDS}
    ended = {**kept, "sk": "tombstone", "status": status, "ended_at": iso(now())}
    if reason is not None:
        ended["reason"] = reason
    return ended


class Texter(Protocol):
    """How a link is texted (messaging's Texting; tests hand in a recording fake)."""

    def parse_order(self, sms: dict[str, Any], *, key_id: str) -> Any: ...

    def cancel_order(self, order: Any) -> None: ...

    def send_for_link(self, order: Any, *, code: str, short_url: str) -> dict[str, Any]: ...


def create_link(
    body: Mapping[str, Any], key_id: str, links: LinkService, texter: Texter
) -> dict[str, Any]:
    """POST /api/links: validate everything (the SMS order too) before the first write,
    store link and object, then hand the message to the texter."""
    new = parse_new_link(body, links.settings, now())
    order = None
    if body.get("sms") is not None:
        order = texter.parse_order(body["sms"], key_id=key_id)
    try:
        item = links.create(new, key_id)
    except Problem:
        if order is not None:
            texter.cancel_order(order)
        raise
    view = public_view(item, links.short_base_url, now().timestamp())
    if order is not None:
        view["message"] = texter.send_for_link(
            order, code=item["code"], short_url=view["short_url"]
        )
    return view


def patch_link(code: str, body: Mapping[str, Any], links: LinkService) -> dict[str, Any]:
    """PATCH /api/links/{code}: validated before anything changes; the object follows."""
    return links.patch(code, parse_link_patch(body, links.settings, now()))
