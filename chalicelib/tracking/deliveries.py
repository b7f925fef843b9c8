"""What the forwarder has delivered: event counts per type and name over time, and its
health (last delivery, last Stitch error), with the queues' depths read from SQS.

Items in the app table, written after each forwarder invocation:
  tallies  pk "events#h#<YYYY-MM-DD>", sk "<HH>#<type>#<name>"   (kept 8 days)
           pk "events#d#<YYYY-MM>",    sk "<DD>#<type>#<name>"   (kept 400 days)
           events: the rows Stitch accepted, by the event's own timestamp (UTC); the name
           is a track's event or a page's or screen's name
  health   pk "events#forwarder", sk "health": last_delivery_at, last_delivered,
           last_error, last_error_at
One UpdateItem per bucket and type/name in the batch (at most MAX_NAMES names), and one
for the health. The counts
are for people to read, not exact: a tally write that fails is logged and skipped (the rows
are in the warehouse either way), and a batch Stitch accepted whose SQS delete then failed
is counted again when it comes back.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from chalicelib.core.aws import query_items
from chalicelib.core.clock import Clock, iso, now
from chalicelib.core.problems import BadRequest

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient
    from types_boto3_sqs.client import SQSClient

log = logging.getLogger("linktrail.stitch")

HEALTH_KEY = {"pk": {"S": "events#forwarder"}, "sk": {"S": "health"}}
HOURS_KEPT = timedelta(days=8)
DAYS_KEPT = timedelta(days=400)
INTERVALS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30),
             "90d": timedelta(days=90)}  # fmt: skip
MAX_NAME = 200  # characters of an event name kept in a tally's key
UNNAMED = "(none)"
# Names are the senders' to choose: past this many in one batch, the rest count as OTHERS,
# so that a batch of made-up names costs at most 2 * (MAX_NAMES + types) writes.
MAX_NAMES = 50
OTHERS = "(other names)"


def _moment(raw: Any, fallback: datetime) -> datetime:
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return fallback
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Queues:
    """The events queue and its dead-letter queue (their URLs)."""

    events_url: str
    dead_letters_url: str


class Deliveries:
    """Handed the DynamoDB and SQS clients, the app table, the queues and a clock."""

    def __init__(self, dynamodb: DynamoDBClient, sqs: SQSClient, table: str, queues: Queues,
                 clock: Clock = now) -> None:  # fmt: skip
        self._ddb = dynamodb
        self._sqs = sqs
        self._table = table
        self._queues = queues
        self._clock = clock

    # --- written by the forwarder ------------------------------------------------------

    def record(self, rows: Iterable[Mapping[str, Any]], error: str | None) -> None:
        """Count the event rows Stitch accepted, and note the invocation's health."""
        at = self._clock()
        tallies: Counter[tuple[str, str, str, str]] = Counter()
        named: set[str] = set()
        for row in rows:
            moment = _moment(row.get("timestamp") or row.get("received_at"), at).astimezone(UTC)
            kind = str(row.get("type") or "track")
            name = str(row.get("event") or row.get("name") or UNNAMED)[:MAX_NAME]
            what = f"{kind}#{name}"
            if what not in named and len(named) >= MAX_NAMES:
                what = f"{kind}#{OTHERS}"
            named.add(what)
            tallies[("h", moment.strftime("%Y-%m-%d"), moment.strftime("%H"), what)] += 1
            tallies[("d", moment.strftime("%Y-%m"), moment.strftime("%d"), what)] += 1
        try:
            for (size, partition, slot, what), count in tallies.items():
                kept = HOURS_KEPT if size == "h" else DAYS_KEPT
                self._add(f"events#{size}#{partition}", f"{slot}#{what}", count, at + kept)
            self._note(at, sum(c for (size, *_), c in tallies.items() if size == "h"), error)
        except Exception:
            log.exception("could not record the forwarder's event counts; the rows are delivered")

    def _add(self, pk: str, sk: str, count: int, until: datetime) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            UpdateExpression="ADD events :n SET #ttl = :ttl",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={":n": {"N": str(count)},
                                       ":ttl": {"N": str(int(until.timestamp()))}},
        )  # fmt: skip

    def _note(self, at: datetime, delivered: int, error: str | None) -> None:
        sets: list[str] = []
        values: dict[str, Any] = {}
        if delivered:
            sets += ["last_delivery_at = :at", "last_delivered = :n"]
            values |= {":at": {"S": iso(at)}, ":n": {"N": str(delivered)}}
        if error:
            sets += ["last_error = :e", "last_error_at = :at"]
            values |= {":e": {"S": error[:1000]}, ":at": {"S": iso(at)}}
        if sets:
            self._ddb.update_item(TableName=self._table, Key=HEALTH_KEY,
                                  UpdateExpression="SET " + ", ".join(sets),
                                  ExpressionAttributeValues=values)  # fmt: skip

    # --- read by GET /api/events/stats -------------------------------------------------

    def stats(self, params: Mapping[str, str]) -> dict[str, Any]:
        unknown = sorted(set(params) - {"interval"})
        if unknown:
            raise BadRequest(f"Unknown parameter {unknown[0]!r}.", field=unknown[0])
        interval = params.get("interval", "7d")
        if interval not in INTERVALS:
            raise BadRequest(f"interval is one of {', '.join(INTERVALS)}.", field="interval")
        end = self._clock().astimezone(UTC)
        start = end - INTERVALS[interval]
        granularity = "hour" if interval == "24h" else "day"
        series = self._series(start, end, granularity)
        totals: Counter[tuple[str, str]] = Counter()
        for row in series:
            totals[(row["type"], row["name"])] += row["events"]
        return {
            "interval": interval, "granularity": granularity,
            "start": iso(start), "end": iso(end), "series": series,
            "totals": [{"type": t, "name": n, "events": c} for (t, n), c in totals.most_common()],
            "forwarder": self.health(),
        }  # fmt: skip

    def _series(self, start: datetime, end: datetime, granularity: str) -> list[dict[str, Any]]:
        size = "h" if granularity == "hour" else "d"
        floor = start.replace(minute=0, second=0, microsecond=0)
        if size == "d":
            floor = floor.replace(hour=0)
        rows = []
        for partition in _partitions(start, end, size):
            for item in self._query(f"events#{size}#{partition}"):
                slot, kind, name = item["sk"]["S"].split("#", 2)
                at = _bucket_start(partition, slot, size)
                if floor <= at <= end:
                    rows.append({"start": at.isoformat(), "type": kind, "name": name,
                                 "events": int(item["events"]["N"])})  # fmt: skip
        return sorted(rows, key=lambda r: (r["start"], r["type"], r["name"]))

    def _query(self, pk: str) -> Iterable[dict[str, Any]]:
        return query_items(self._ddb, {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": pk}},
        })

    def health(self) -> dict[str, Any]:
        item = self._ddb.get_item(TableName=self._table, Key=HEALTH_KEY).get("Item", {})
        text = {k: v["S"] for k, v in item.items() if "S" in v}
        events, dead = self._queues.events_url, self._queues.dead_letters_url
        delivered = item.get("last_delivered", {}).get("N")
        return {
            "queue_depth": self._depth(events, "ApproximateNumberOfMessages"),
            "in_flight": self._depth(events, "ApproximateNumberOfMessagesNotVisible"),
            "dead_letters": self._depth(dead, "ApproximateNumberOfMessages"),
            "last_delivery_at": text.get("last_delivery_at"),
            "last_delivered": int(delivered) if delivered is not None else None,
            "last_error": text.get("last_error"),
            "last_error_at": text.get("last_error_at"),
        }

    def _depth(self, queue_url: str, attribute: str) -> int | None:
        if not queue_url:
            return None
        answer = self._sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=[cast(Any, attribute)]
        )
        return int(cast(dict[str, str], answer.get("Attributes", {})).get(attribute, 0))


def _partitions(start: datetime, end: datetime, size: str) -> list[str]:
    """The tally partitions from `start` to `end`: days for hour tallies, else months."""
    if size == "h":
        days = (end.date() - start.date()).days
        return [(start.date() + timedelta(days=n)).isoformat() for n in range(days + 1)]
    months, (year, month) = [], (start.year, start.month)
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _bucket_start(partition: str, slot: str, size: str) -> datetime:
    if size == "h":
        return datetime.fromisoformat(f"{partition}T{slot}:00:00+00:00")
    return datetime.fromisoformat(f"{partition}-{slot}T00:00:00+00:00")
