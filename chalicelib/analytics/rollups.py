"""Rollups from the links stream, exact under redelivery.

Lambda retries a failed batch, bisects it and restarts after a partial failure, so a click
can arrive more than once. Each link's mark holds the highest serial applied; a batch reads
its links' marks once, drops what they already cover, and moves each link's mark in the
same transaction as the buckets its clicks add to: a bucket's counts move iff the mark
does. Several links share a transaction, their additions to a common bucket merged into one
update. A mark that moved meanwhile cancels the transaction: the marks are read again and
the remaining clicks retried. Any other error raises, so Lambda retries the batch.

A wide family (site, campaign, tag) counts clicks per distinct link in items of their own,
spread over shards (analytics/buckets.py). Should one reach DynamoDB's 400 KB item limit,
the transaction is written again without the per-link items (top_links of that hour or
day stops growing; every other count stays exact), and a warning says so, rather than
failing the batch until the stream drops it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.analytics import buckets
from chalicelib.clicks.records import Click, clicks_of
from chalicelib.core.aws import batch_get

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient

log = logging.getLogger("linktrail.analytics")

MAX_ACTIONS = 100  # TransactWriteItems' limit
# Counters per bucket update: keeps an UpdateExpression well inside its 4 KB.
MAX_TERMS = 120
# A mark outlives the stream's 24 h retention, so no replay can find it gone.
MARK_DAYS = 3
ATTEMPTS = 5


class MarksKeptMoving(RuntimeError):
    """Marks changed under every attempt (another writer on the same links)."""


@dataclass
class Unit:
    """Clicks of one link that move its mark from `old` to `new` in one transaction."""

    code: str
    old: int | None
    new: int
    last_at: str
    deltas: dict[tuple[str, str], Counter[str]]


@dataclass
class Transaction:
    units: list[Unit] = field(default_factory=list)
    deltas: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)

    def fits(self, unit: Unit) -> bool:
        if any(u.code == unit.code for u in self.units):
            return False
        keys = set(self.deltas) | set(unit.deltas)
        if len(keys) + len(self.units) + 1 > MAX_ACTIONS:
            return False
        return all(
            len(set(self.deltas.get(key, ())) | set(counts)) <= MAX_TERMS
            for key, counts in unit.deltas.items()
        )

    def add(self, unit: Unit) -> None:
        self.units.append(unit)
        for key, counts in unit.deltas.items():
            self.deltas.setdefault(key, Counter()).update(counts)

    def without_per_link_counts(self) -> Transaction:
        """The same transaction, the wide families' per-link items left out."""
        kept = {key: c for key, c in self.deltas.items() if not buckets.is_per_link(key[0])}
        return Transaction(self.units, kept)


class Rollups:
    def __init__(self, dynamodb: DynamoDBClient, table: str, retention_days: int) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._retention = timedelta(days=retention_days)

    def apply_records(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Count the clicks among a links-stream batch; how many were new."""
        return self.apply(clicks_of(records))

    def apply(self, clicks: list[Click]) -> int:
        if not clicks:
            return 0
        for _ in range(ATTEMPTS):
            marks = self._marks({c.code for c in clicks})
            fresh = [c for c in clicks if c.serial > marks.get(c.code, 0)]
            transactions = plan(fresh, marks)
            if all(self._write(t) for t in transactions):
                return len({(c.code, c.serial) for c in fresh})
        raise MarksKeptMoving(f"marks kept moving over {ATTEMPTS} attempts")

    def _marks(self, codes: set[str]) -> dict[str, int]:
        keys = [{"pk": {"S": buckets.link_pk(code)}, "sk": {"S": buckets.MARK}}
                for code in sorted(codes)]  # fmt: skip
        read = batch_get(self._dynamodb, self._table, keys, consistent=True)
        if read.unread:
            raise RuntimeError("DynamoDB left rollup marks unread: the batch is retried")
        return {
            item["pk"]["S"].removeprefix("rollup#link#"): int(item["serial"]["N"])
            for item in read.items
        }

    def _write(self, transaction: Transaction, *, narrowed: bool = False) -> bool:
        """Whether it was applied; False when a mark had moved."""
        actions: list[Any] = [self._mark_update(unit) for unit in transaction.units]
        actions.extend(self._bucket_update(k, c) for k, c in transaction.deltas.items())
        try:
            self._dynamodb.transact_write_items(TransactItems=actions)
        except ClientError as error:
            reasons = error.response.get("CancellationReasons", [])
            codes = {r.get("Code") for r in reasons}
            cancelled = error.response["Error"]["Code"] == "TransactionCanceledException"
            if cancelled and "ConditionalCheckFailed" in codes:
                return False
            if _too_large(error, codes) and not narrowed:
                log.warning(
                    "rollup bucket full: per-link counts left out",
                    extra={"codes": [unit.code for unit in transaction.units]},
                )
                return self._write(transaction.without_per_link_counts(), narrowed=True)
            raise
        return True

    def _mark_update(self, unit: Unit) -> dict[str, Any]:
        last = buckets.click_time_of(unit.last_at)
        values: dict[str, Any] = {
            ":new": {"N": str(unit.new)},
            ":ttl": {"N": str(int((last + timedelta(days=MARK_DAYS)).timestamp()))},
        }
        condition = "attribute_not_exists(#serial)"
        if unit.old is not None:
            condition = "#serial = :old"
            values[":old"] = {"N": str(unit.old)}
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": {"S": buckets.link_pk(unit.code)}, "sk": {"S": buckets.MARK}},
                "UpdateExpression": "SET #serial = :new, #ttl = :ttl",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#serial": "serial", "#ttl": "ttl"},
                "ExpressionAttributeValues": values,
            }
        }

    def _bucket_update(self, key: tuple[str, str], counts: Counter[str]) -> dict[str, Any]:
        pk, sk = key
        expire = buckets.bucket_start(sk) + buckets.bucket_span(sk) + self._retention
        names = {"#ttl": "ttl"}
        values: dict[str, Any] = {":ttl": {"N": str(int(expire.timestamp()))}}
        terms = []
        for i, (name, n) in enumerate(sorted(counts.items())):
            names[f"#c{i}"] = name
            values[f":c{i}"] = {"N": str(n)}
            terms.append(f"#c{i} :c{i}")
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
                "UpdateExpression": "SET #ttl = :ttl ADD " + ", ".join(terms),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }


def _too_large(error: ClientError, reasons: set[Any]) -> bool:
    """An item would pass 400 KB. DynamoDB cancels the transaction with a ValidationError
    reason for it; moto answers ValidationException with the message instead."""
    answer = error.response["Error"]
    if answer["Code"] == "TransactionCanceledException":
        return "ValidationError" in reasons
    return answer["Code"] == "ValidationException" and "size" in str(answer.get("Message", ""))


def plan(clicks: list[Click], marks: Mapping[str, int]) -> list[Transaction]:
    """The transactions that apply `clicks` (none already covered by `marks`)."""
    transactions = [Transaction()]
    for unit in units(clicks, marks):
        if not transactions[-1].fits(unit):
            transactions.append(Transaction())
        transactions[-1].add(unit)
    return [t for t in transactions if t.units]


def units(clicks: list[Click], marks: Mapping[str, int]) -> list[Unit]:
    """Per link, its clicks in serial order, cut where a transaction would take too many
    items or a bucket too many counters; each cut moves the mark on from where the
    previous one left it."""
    by_link: dict[str, dict[int, Click]] = {}
    for click in clicks:
        by_link.setdefault(click.code, {})[click.serial] = click
    found: list[Unit] = []
    for code, serials in by_link.items():
        unit: Unit | None = None
        for serial in sorted(serials):
            click = serials[serial]
            adds = buckets.deltas_of([click])
            if unit is None or _too_big(unit, adds):
                if unit is not None:
                    found.append(unit)
                old = marks.get(code) if unit is None else unit.new
                unit = Unit(code, old, serial, click.at, {})
            unit.new, unit.last_at = serial, click.at
            for key, counts in adds.items():
                unit.deltas.setdefault(key, Counter()).update(counts)
        if unit is not None:
            found.append(unit)
    return found


def _too_big(unit: Unit, adds: dict[tuple[str, str], Counter[str]]) -> bool:
    """Whether adding a click would overflow one transaction (its buckets and the mark)."""
    if len(set(unit.deltas) | set(adds)) + 1 > MAX_ACTIONS:
        return True
    return any(
        len(set(unit.deltas.get(key, ())) | set(counts)) > MAX_TERMS for key, counts in adds.items()
    )
