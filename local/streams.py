"""DynamoDB Streams for the local emulator, bounded as DynamoDB's: records are kept 24
hours, shard iterators expire 15 minutes after they are handed out.

What moto does (moto 5.x): a table's StreamShard keeps every record for the life of the
process, in a list that only grows. Records are numbered by position: a record's
sequence number is the shard's starting_sequence_number plus its index, a shard iterator
holds an absolute sequence number (TRIM_HORIZON: the start; LATEST: start + length;
AFTER_SEQUENCE_NUMBER n: n + 1) and StreamShard.get turns it back into an index. The
streams backend also keeps every iterator it hands out, two per poll of a local pump.
A long `make dev` grows by both, forever.

What we do: after each append, the records created more than RETENTION ago are dropped
from the front, and starting_sequence_number moves forward by as many. Every kept record
keeps its sequence number, new ones continue the numbering, TRIM_HORIZON starts at the
oldest kept record and LATEST after the newest. An iterator at a record that is gone (the
AFTER_SEQUENCE_NUMBER iterators local/pumps.py takes after sleeping through a day) reads
on from the oldest kept record: DynamoDB answers TrimmedDataAccessException there, but a
local pump had better carry on. Iterators older than ITERATOR_LIFETIME are forgotten
whenever one is handed out; reading one answers ExpiredIteratorException, as in AWS.

The clock is the one moto stamps records with (moto.dynamodb.models.table.utcnow, looked
up at each call), so a test that moves it moves record times and the horizon together.
Safe for the same reason as local/transactions.py: the emulator runs every DynamoDB and
DynamoDB Streams request one at a time.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models import table as moto_table
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import StreamShard
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator

RETENTION = timedelta(hours=24)
ITERATOR_LIFETIME = timedelta(minutes=15)

_moto_add = StreamShard.add
_moto_get = StreamShard.get
_moto_get_shard_iterator = DynamoDBStreamsBackend.get_shard_iterator
_moto_get_records = DynamoDBStreamsBackend.get_records

# Per streams backend: (when, iterator ARN) for each iterator handed out, oldest first.
_issued: dict[int, deque[tuple[datetime, str]]] = {}


def clock() -> datetime:
    """Now, as moto stamps stream records (naive UTC)."""
    return moto_table.utcnow()  # type: ignore[attr-defined]  # its import of moto.core's


def created(record: Any) -> datetime:
    return record.record["dynamodb"]["ApproximateCreationDateTime"]


def trim(shard: StreamShard, horizon: datetime) -> int:
    """Drop the records created before `horizon` from the front; how many were dropped.
    Records are appended in time order, so the first one kept ends the search."""
    count = 0
    while count < len(shard.items) and created(shard.items[count]) < horizon:
        count += 1
    if count:
        del shard.items[:count]
        shard.starting_sequence_number += count
    return count


def add(self: StreamShard, old: Item | None, new: Item | None) -> None:
    """moto's StreamShard.add, then the records past RETENTION trimmed."""
    _moto_add(self, old, new)
    trim(self, clock() - RETENTION)


def get(self: StreamShard, start: int, quantity: int) -> list[dict[str, Any]]:
    """moto's StreamShard.get, reading from the oldest kept record when `start` is gone."""
    return _moto_get(self, max(start, self.starting_sequence_number), quantity)


def _issue(backend: DynamoDBStreamsBackend, arn: str) -> None:
    """Note `arn` as handed out now; forget the iterators past ITERATOR_LIFETIME."""
    now = clock()
    issued = _issued.setdefault(id(backend), deque())
    issued.append((now, arn))
    horizon = now - ITERATOR_LIFETIME
    while issued[0][0] < horizon:
        backend.shard_iterators.pop(issued.popleft()[1], None)


def get_shard_iterator(
    self: DynamoDBStreamsBackend,
    arn: str,
    shard_id: str,
    shard_iterator_type: str,
    sequence_number: str | None = None,
) -> ShardIterator:
    iterator = _moto_get_shard_iterator(self, arn, shard_id, shard_iterator_type, sequence_number)
    _issue(self, iterator.arn)
    return iterator


def get_records(self: DynamoDBStreamsBackend, iterator_arn: str, limit: int) -> dict[str, Any]:
    if iterator_arn not in self.shard_iterators:
        raise JsonRESTError(
            "ExpiredIteratorException", "The shard iterator has expired or is not known."
        )
    answer = _moto_get_records(self, iterator_arn, limit)
    _issue(self, answer["NextShardIterator"])
    return answer


def install() -> None:
    """Bound moto's streams in this process (the emulator's)."""
    StreamShard.add = add  # type: ignore[method-assign]
    StreamShard.get = get  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_shard_iterator = get_shard_iterator  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_records = get_records  # type: ignore[method-assign]
