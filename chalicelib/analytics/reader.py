"""Answers of GET /api/analytics from the rollup buckets: which family and range to read,
one Query per range, and the rows (Dub's `/analytics` shape).

A dashboard asks several questions of the same buckets at once (totals, countries,
devices, ...). Identical Queries in flight at the same moment in one process are made once
and their items shared: an answer is as fresh as it would be alone (the read it shares
began moments earlier, while it was asked), and nothing is kept once the read is done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from chalicelib.analytics import buckets
from chalicelib.analytics.params import Request
from chalicelib.core.aws import query_pages
from chalicelib.core.clock import Clock, now
from chalicelib.core.problems import BadRequest

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient

Item = dict[str, Any]
HOURS_UP_TO = timedelta(days=2)
SUMMED_HOURS_UP_TO = timedelta(days=31)
# groupBy -> the row's dimension name
ROW_NAMES = {
    "countries": "country", "devices": "device", "browsers": "browser", "os": "os",
    "referers": "referer", "triggers": "trigger", "top_links": "code", "top_tags": "tag",
    "campaigns": "campaign_id",
}  # fmt: skip
SITE_ONLY = ("top_tags", "campaigns")
# What the joint country x device counters answer exactly.
JOINT = ("count", "timeseries", "countries", "devices")


class SharedReads:
    """Runs each key's read once while it is in flight; callers meanwhile get its result."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flying: dict[tuple[str, ...], Future[list[Item]]] = {}

    def read(self, key: tuple[str, ...], run: Callable[[], list[Item]]) -> list[Item]:
        mine: Future[list[Item]] = Future()
        with self._lock:
            flying = self._flying.get(key)
            if flying is None:
                self._flying[key] = mine
        if flying is not None:
            return flying.result()
        try:
            items = run()
            mine.set_result(items)
            return items
        except BaseException as error:
            mine.set_exception(error)
            raise
        finally:
            with self._lock:
                del self._flying[key]


SHARED_READS = SharedReads()


class Analytics:
    def __init__(
        self, dynamodb: DynamoDBClient, table: str, retention_days: int, clock: Clock = now
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self.retention_days = retention_days
        self.clock = clock
        self.items_read = 0  # what the Queries read (the bench reports it)

    def answer(self, request: Request) -> dict[str, Any]:
        pk = family(request)
        kind, first, last, notes = plan_reads(request)
        # Per-link counts live beside their family's buckets (older buckets hold theirs).
        pks = [pk, buckets.per_link_pk(pk)] if request.group_by == "top_links" else [pk]
        items = []
        for read_pk in pks:
            if kind == "h" and summable(request):
                items += self.read_summed(read_pk, first, last)
            else:
                items += self.read(read_pk, kind, first, last)
        if request.group_by == "timeseries":
            data: Any = timeseries(items, request)
        elif request.group_by == "count":
            data = shaped("", tallies(items, request).get("", [0, 0]), request.visitor)
            data.pop("")
        else:
            data = rows(items, request)
        return {"data": data, "meta": meta(request, [*request.notes, *notes])}

    def read(self, pk: str, kind: str, first: datetime, last: datetime) -> list[Item]:
        """Buckets of `pk` of kind `h` or `d` from `first` to `last` (both included, and
        the shards of each)."""
        sk = buckets.hour_sk if kind == "h" else buckets.day_sk
        key = (self._table, pk, sk(first), sk(last) + buckets.AFTER_SHARDS)
        return SHARED_READS.read(key, lambda: self._query(*key))

    def _query(self, table: str, pk: str, first: str, last: str) -> list[Item]:
        kwargs: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
            "ExpressionAttributeValues": {
                ":pk": {"S": pk}, ":first": {"S": first}, ":last": {"S": last},
            },
        }  # fmt: skip
        items: list[Item] = []
        for page in query_pages(self._dynamodb, kwargs):
            items.extend(page["Items"])
            self.items_read += page["ScannedCount"]
        return items

    def read_summed(self, pk: str, first: datetime, last: datetime) -> list[Item]:
        """Buckets whose sum is every click from `first` to `last`: the UTC days wholly
        inside the range as day buckets (a day bucket holds the sum of its 24 hours), the
        hours at either end as hour buckets. A 30-day total reads about 75 items, not 720.
        Only for sums: a series in a zone other than UTC needs the hours themselves."""
        whole_from = datetime.combine((first - timedelta(microseconds=1)).date(), time(), UTC)
        whole_from += timedelta(days=1)
        whole_to = datetime.combine((last + timedelta(microseconds=1)).date(), time(), UTC)
        if whole_to <= whole_from:
            return self.read(pk, "h", first, last)
        items = self.read(pk, "d", whole_from, whole_to - timedelta(days=1))
        if first < whole_from:
            items += self.read(pk, "h", first, whole_from - timedelta(microseconds=1))
        if whole_to <= last:
            items += self.read(pk, "h", whole_to, last)
        return items

    def campaign(self, campaign_id: str, created_at: datetime, now: datetime) -> dict[str, Any]:
        """A campaign's click series over its life, and its first human clicks."""
        kind = "h" if now - created_at <= HOURS_UP_TO else "d"
        items = self.read(buckets.campaign_pk(campaign_id), kind, created_at, now)
        series = []
        first = 0
        for item in sorted(items, key=lambda i: str(i["sk"]["S"])):
            counts = counters(item)
            first += counts.get(buckets.counter(buckets.FIRST, "h"), 0)
            series.append(
                {
                    "start": buckets.bucket_start(item["sk"]["S"]).isoformat(),
                    "clicks": counts.get(buckets.counter(buckets.TOTAL, "h"), 0),
                }
            )
        granularity = "hour" if kind == "h" else "day"
        return {"clicks": {"granularity": granularity, "series": series}, "clicked": first}


def summable(request: Request) -> bool:
    """Whether whole UTC days may stand for their hours: in any total, and in a daily or
    monthly series whose zone is on UTC at both ends (its days are UTC days)."""
    if request.group_by != "timeseries":
        return True
    offsets = {request.start.utcoffset(), request.end.utcoffset()}
    return request.granularity != "hour" and offsets == {timedelta(0)}


def family(request: Request) -> str:
    """The bucket family the filters pick: code > campaign_id > tag > site."""
    given = [n for n in ("code", "campaign_id", "tag") if getattr(request, n) is not None]
    if len(given) > 1:
        raise BadRequest(f"{given[1]} cannot be combined with {given[0]}.", field=given[1])
    if given and request.group_by in SITE_ONLY:
        raise BadRequest(f"groupBy={request.group_by} takes no {given[0]} filter.", field=given[0])
    if request.code is not None and request.group_by == "top_links":
        raise BadRequest("groupBy=top_links takes no code filter.", field="code")
    for name in ("country", "device"):
        if getattr(request, name) is not None and request.group_by not in JOINT:
            raise BadRequest(
                f"The rollups cannot answer groupBy={request.group_by} filtered by {name}.",
                field=name,
            )
    if request.code is not None:
        return buckets.link_pk(request.code)
    if request.campaign_id is not None:
        return buckets.campaign_pk(request.campaign_id)
    if request.tag is not None:
        return buckets.tag_pk(request.tag)
    return buckets.site_pk()


def plan_reads(request: Request) -> tuple[str, datetime, datetime, list[str]]:
    """Hour or day buckets, the first and last to read (UTC), and notes on exactness."""
    start, end = request.start.astimezone(UTC), request.end.astimezone(UTC)
    span, notes = end - start, []
    offsets = {request.start.utcoffset(), request.end.utcoffset()}
    if any(o is not None and o % timedelta(hours=1) for o in offsets):
        notes.append(
            f"{request.zone.key} is not a whole number of hours from UTC: buckets are UTC "
            "hours, so local boundaries are off by the remaining minutes."
        )
    on_days = start.time() == time() and end.time() == time()
    if request.granularity == "hour" and span > SUMMED_HOURS_UP_TO:
        raise BadRequest("granularity=hour is for ranges up to 31 days.", field="granularity")
    if (
        request.granularity == "hour"
        or span <= HOURS_UP_TO
        or (not on_days and span <= SUMMED_HOURS_UP_TO)
    ):
        first = start.replace(minute=0, second=0, microsecond=0)
        return "h", first, end - timedelta(microseconds=1), notes
    if not on_days:
        notes.append(
            "Ranges over 31 days are counted in UTC days: the first and last days run "
            f"midnight to midnight UTC, not in {request.zone.key}."
        )
    return "d", start, end - timedelta(microseconds=1), notes


def counters(item: Item) -> dict[str, int]:
    return {name: int(value["N"]) for name, value in item.items() if "N" in value}


def tallies(items: list[Item], request: Request) -> dict[str, list[int]]:
    """value -> [humans, bots] of the request's dimension (totals under "")."""
    found: dict[str, list[int]] = {}
    for item in items:
        for value, visitor, n in entries(counters(item), request):
            found.setdefault(value, [0, 0])[0 if visitor == "h" else 1] += n
    return found


def entries(counts: dict[str, int], request: Request) -> Iterator[tuple[str, str, int]]:
    joint = request.country is not None or request.device is not None
    wanted = ROW_NAMES.get(request.group_by)
    dimension = buckets.DIMENSIONS[wanted] if wanted else buckets.TOTAL
    for name, n in counts.items():
        parsed = buckets.parse_counter(name)
        if parsed is None:
            continue
        kind, visitor, value = parsed
        if joint and kind == buckets.COUNTRY_DEVICE and value is not None:
            country, _, device = value.partition(".")
            if request.country not in (None, country) or request.device not in (None, device):
                continue
            yield {"country": country, "device": device}.get(wanted or "", ""), visitor, n
        elif not joint and kind == dimension:
            yield value or "", visitor, n


def shaped(value: str, counts: list[int], visitor: str, name: str = "") -> dict[str, Any]:
    humans, bots = counts
    row: dict[str, Any] = {name: value}
    if visitor == "all":
        row.update(clicks=humans + bots, humans=humans, bots=bots)
    else:
        row["clicks"] = humans if visitor == "human" else bots
    return row


def rows(items: list[Item], request: Request) -> list[dict[str, Any]]:
    name = ROW_NAMES[request.group_by]
    found = [
        shaped(value, counts, request.visitor, name)
        for value, counts in tallies(items, request).items()
    ]
    found = [row for row in found if row["clicks"]]
    return sorted(found, key=lambda row: (-row["clicks"], str(row[name])))


def timeseries(items: list[Item], request: Request) -> list[dict[str, Any]]:
    slots = list(slots_of(request))
    sums = {slot: [0, 0] for slot in slots}
    for item in items:
        key = slot_of(item["sk"]["S"], request)
        key = min(max(key, slots[0]), slots[-1])
        for _, visitor, n in entries(counters(item), request):
            sums[key][0 if visitor == "h" else 1] += n
    series = []
    for slot in slots:
        row = shaped(slot.isoformat(), sums[slot], request.visitor, "start")
        series.append(row)
    return series


def slots_of(request: Request) -> Iterator[datetime]:
    zone, moment = request.zone, floor(request.start, request.granularity, request.zone)
    while moment < request.end:
        yield moment
        if request.granularity == "hour":
            moment = (moment.astimezone(UTC) + timedelta(hours=1)).astimezone(zone)
        elif request.granularity == "day":
            moment = midnight(moment.date() + timedelta(days=1), zone)
        else:
            following = moment.date().replace(day=28) + timedelta(days=4)
            moment = midnight(following.replace(day=1), zone)


def slot_of(sk: str, request: Request) -> datetime:
    start = buckets.bucket_start(sk)
    if sk.startswith("d#"):
        # A UTC day stands for the same calendar day in the zone.
        start = midnight(start.date(), request.zone)
    return floor(start, request.granularity, request.zone)


def floor(moment: datetime, granularity: str, zone: ZoneInfo) -> datetime:
    local = moment.astimezone(zone)
    if granularity == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.date() if granularity == "day" else local.date().replace(day=1)
    return midnight(day, zone)


def midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), zone)


def meta(request: Request, notes: list[str]) -> dict[str, Any]:
    return {
        "groupBy": request.group_by,
        "interval": request.interval,
        "start": request.start.isoformat(),
        "end": request.end.isoformat(),
        "timezone": request.zone.key,
        "granularity": request.granularity,
        "visitor": request.visitor,
        "notes": notes,
    }
