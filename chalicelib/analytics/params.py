"""The parameters of GET /api/analytics, validated into a `Request` (400s name the bad one)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.core.problems import BadRequest

GROUP_BYS = (
    "count", "timeseries", "countries", "devices", "browsers", "os", "referers", "triggers",
    "top_links", "top_tags", "campaigns",
)  # fmt: skip
INTERVALS = ("24h", "7d", "30d", "90d", "1y", "mtd", "ytd", "all")
GRANULARITIES = ("hour", "day", "month")
VISITORS = ("human", "bot", "all")
FORMATS = ("json", "csv")
KNOWN = {
    "groupBy", "interval", "start", "end", "timezone", "granularity", "code", "tag",
    "campaign_id", "country", "device", "visitor", "format",
}  # fmt: skip
MAX_VALUE = 200
HOURS_UP_TO = timedelta(days=2)
DAYS_UP_TO = timedelta(days=180)


@dataclass(frozen=True)
class Request:
    group_by: str
    interval: str | None
    start: datetime  # in `zone`
    end: datetime  # exclusive, in `zone`
    zone: ZoneInfo
    granularity: str
    visitor: str
    code: str | None = None
    tag: str | None = None
    campaign_id: str | None = None
    country: str | None = None
    device: str | None = None
    format: str = "json"
    notes: list[str] = field(default_factory=list)


def parse(query: Mapping[str, str], now: datetime, retention_days: int) -> Request:
    unknown = sorted(set(query) - KNOWN)
    if unknown:
        raise BadRequest(f"Unknown parameter {unknown[0]!r}.", field=unknown[0])
    zone = _zone(query.get("timezone", "UTC"))
    start, end, interval = _range(query, now.astimezone(zone), zone, retention_days)
    granularity = _choice(query, "granularity", GRANULARITIES, _auto(end - start))
    return Request(
        group_by=_choice(query, "groupBy", GROUP_BYS),
        interval=interval,
        start=start,
        end=end,
        zone=zone,
        granularity=granularity,
        visitor=_choice(query, "visitor", VISITORS),
        code=_value(query, "code"),
        tag=_value(query, "tag"),
        campaign_id=_value(query, "campaign_id"),
        country=_country(query),
        device=_value(query, "device"),
        format=_choice(query, "format", FORMATS),
    )


def _choice(
    query: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str = ""
) -> str:
    raw = query.get(name) or default or allowed[0]
    if raw not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}.", field=name)
    return raw


def _value(query: Mapping[str, str], name: str) -> str | None:
    raw = query.get(name)
    if raw is None:
        return None
    if not raw or len(raw) > MAX_VALUE or not raw.isprintable():
        raise BadRequest(f"{name} must be 1 to {MAX_VALUE} printable characters.", field=name)
    return raw


def _country(query: Mapping[str, str]) -> str | None:
    raw = query.get("country")
    if raw is None:
        return None
    if len(raw) != 2 or not raw.isascii() or not raw.isalpha():
        raise BadRequest("country must be an ISO 3166 alpha-2 code.", field="country")
    return raw.upper()


def _zone(name: str) -> ZoneInfo:
    try:
        if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest("timezone must be an IANA time zone name.", field="timezone") from None


def _auto(span: timedelta) -> str:
    if span <= HOURS_UP_TO:
        return "hour"
    return "day" if span <= DAYS_UP_TO else "month"


def _range(
    query: Mapping[str, str], now: datetime, zone: ZoneInfo, retention_days: int
) -> tuple[datetime, datetime, str | None]:
    if "start" in query or "end" in query:
        if "interval" in query:
            raise BadRequest("Give interval or start/end, not both.", field="interval")
        start = _instant(query, "start", zone)
        end = _instant(query, "end", zone) if "end" in query else now
        if end <= start:
            raise BadRequest("end must be after start.", field="end")
        if end - start > timedelta(days=retention_days + 366):
            raise BadRequest("The range is longer than the rollups are kept.", field="start")
        return start, end, None
    interval = _choice(query, "interval", INTERVALS)
    return (*_interval(interval, now, zone, retention_days), interval)


def _instant(query: Mapping[str, str], name: str, zone: ZoneInfo) -> datetime:
    raw = query.get(name, "")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 date or time.", field=name) from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)


def _interval(
    interval: str, now: datetime, zone: ZoneInfo, retention_days: int
) -> tuple[datetime, datetime]:
    if interval == "24h":
        end = (now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
               + timedelta(hours=1)).astimezone(zone)  # fmt: skip
        return end - timedelta(hours=24), end
    today = now.date()
    end = _midnight(today + timedelta(days=1), zone)
    if interval == "mtd":
        return _midnight(today.replace(day=1), zone), end
    if interval == "ytd":
        return _midnight(today.replace(month=1, day=1), zone), end
    days = {"7d": 7, "30d": 30, "90d": 90, "1y": 365, "all": retention_days}[interval]
    return _midnight(today - timedelta(days=days - 1), zone), end


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), zone)
