"""What a link request says, validated: new links, changes, list queries (with their
cursors), and the codes a link may have. No I/O: everything here is plain values in and
out, or a 400 problem."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from chalicelib.core import destinations, urlsafety
from chalicelib.core.payloads import reject_unknown_fields
from chalicelib.core.problems import BadRequest, NotFound
from chalicelib.core.settings import Settings

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
        "dashboard",
        "docs",
        "v1",
    }
)
MAX_URL_LENGTH = destinations.MAX_URL_LENGTH
MAX_CLICKS = 1_000_000_000  # far above any campaign; keeps the number a plain DynamoDB N
MAX_TAGS = 20
TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:/+-]{0,49}\Z")
# A cursor we hand out is ~300 characters (four keys, a 64-character code at most). 1,024
# decode to 768 bytes: no forged key can exceed DynamoDB's key sizes (1,024/2,048 bytes)
# and no JSON can nest deep enough to trouble the parser.
MAX_CURSOR_CHARS = 1024

CREATE_FIELDS = frozenset(
    {"url", "code", "expires_at", "ttl", "max_clicks", "expired_url", "tags", "webhook_url", "sms"}
)
PATCH_FIELDS = frozenset({"url", "expires_at", "ttl", "max_clicks", "expired_url"})
LIST_PARAMS = frozenset({"campaign_id", "tag", "q", "status", "limit", "cursor"})
LIST_STATUSES = ("active", "ended")
MAX_SEARCH = 100
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9]{12}\Z")


# --- input ------------------------------------------------------------------------------


def parse_url(value: Any, field_name: str, allowed_hosts: tuple[str, ...] = ()) -> str:
    """An absolute http(s) URL a browser opens exactly as written (core.destinations),
    whose host is on `allowed_hosts` when there is one, or 400 naming `field_name`."""
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{field_name} must be a non-empty string.", field=field_name)
    if len(value) > MAX_URL_LENGTH:
        raise BadRequest(
            f"{field_name} is {len(value)} characters; at most {MAX_URL_LENGTH} are allowed.",
            field=field_name,
        )
    try:
        destinations.check_destination(value, allowed_hosts)
    except destinations.UnsafeDestination as unsafe:
        raise BadRequest(f"{field_name} {unsafe}.", field=field_name) from None
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


ListStatus = Literal["active", "ended"]


@dataclass(frozen=True)
class ListQuery:
    """GET /api/links' parameters; the filters combine (all must hold).

    `q` keeps links and tombstones whose code or URL contains it, or which carry it as a
    tag exactly; case-sensitive (DynamoDB's contains compares bytes). `status` "active" is
    a live link not past its expires_at; "ended" a tombstone or a link past its expires_at
    that the sweeper has not retired yet. max_clicks is not filtered on: it is checked
    against counts on the counter item, which the list's index does not hold."""

    campaign_id: str | None = None
    tag: str | None = None
    q: str | None = None
    status: ListStatus | None = None
    limit: int = DEFAULT_PAGE_SIZE
    cursor: str | None = None

    @property
    def filtered(self) -> bool:
        return bool(self.tag or self.q or self.status)


def parse_list_query(params: Mapping[str, str] | None) -> ListQuery:
    params = params or {}
    unknown = sorted(set(params) - LIST_PARAMS)
    if unknown:
        raise BadRequest(f"Unknown query parameter(s): {', '.join(unknown)}.", field=unknown[0])
    campaign_id = params.get("campaign_id")
    if campaign_id is not None and not CAMPAIGN_ID.match(campaign_id):
        raise BadRequest("campaign_id is 12 letters or digits.", field="campaign_id")
    limit_raw = params.get("limit", str(DEFAULT_PAGE_SIZE))
    if not re.fullmatch(r"[0-9]{1,6}", limit_raw) or not 1 <= int(limit_raw) <= MAX_PAGE_SIZE:
        raise BadRequest(f"limit is a whole number from 1 to {MAX_PAGE_SIZE}.", field="limit")
    if params.get("cursor") == "":
        raise BadRequest("cursor is not one this API handed out.", field="cursor")
    return ListQuery(
        campaign_id=campaign_id,
        tag=parse_tag(params["tag"], "tag") if "tag" in params else None,
        q=_parse_search(params["q"]) if "q" in params else None,
        status=_parse_status(params["status"]) if "status" in params else None,
        limit=int(limit_raw),
        cursor=params.get("cursor"),
    )


def _parse_search(value: str) -> str:
    if not 1 <= len(value) <= MAX_SEARCH:
        raise BadRequest(f"q is 1-{MAX_SEARCH} characters.", field="q")
    return value


def _parse_status(value: str) -> ListStatus:
    if value == "active":
        return "active"
    if value == "ended":
        return "ended"
    raise BadRequest(f"status is one of {', '.join(LIST_STATUSES)}.", field="status")


# --- cursors and codes --------------------------------------------------------------


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


def generate_code() -> str:
    """7 characters drawn with `secrets`; drawn again when they spell a reserved path
    ("healthz", "journey", "expired", "favicon" are 7 letters), as parse_code refuses them."""
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(GENERATED_CODE_LENGTH))
        if code.lower() not in RESERVED_CODES:
            return code
