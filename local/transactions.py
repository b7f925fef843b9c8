"""TransactWriteItems for the local emulator: undo what a transaction touched, not its tables.

What moto does (moto 5.x, DynamoDBBackend.transact_write_items): before the first write it
deep-copies every table the transaction names, items and stream shard included; it then
applies the operations one by one, each checked against the state the previous ones left,
records a CancellationReason per operation, and on a cancellation puts the copies in
place of the tables. Every transaction so costs O(table), a `make dev` session O(n²)
(POST /api/links took 0.6 s at 1,000 links, over 5 s at 10,000), and the swap makes
objects others hold stale: the stream shard a shard iterator reads is no longer the
table's, and a write another thread made in between is lost with the copy.

What we do instead: the same loop, the same checks and errors (duplicate items and
invalid keys raise ValidationException, conditions and other failures become
CancellationReasons, ReturnValuesOnConditionCheckFailure=ALL_OLD gives the Item), but a
journal in place of the copies: before an operation writes an item, that one item is
deep-copied (an Update changes moto's Item in place), and for each stream shard the
sequence number its next record gets is noted. On a cancellation (or any error that
escapes) each touched item is put back as it was, or removed if it was absent, and the
shard loses the records appended since. Tables, shards and items keep their identity, so
open shard iterators stay valid. A transaction costs what it touches.

Why it is safe: local/emulator.py runs DynamoDB and DynamoDB Streams requests one at a
time, so nothing else writes between a transaction's first write and its undo; restoring
the touched items therefore restores exactly the state before the transaction. (Without
that lock a concurrent write to an item the transaction touched would be undone too, but
writes to any other item would survive, as they do not with moto's copies.) Secondary
indexes need nothing: moto computes them from the table's items at query time (Table.query
and Table.scan walk all_items(); SecondaryIndex holds only its schema and projection).

Differences from moto, all towards DynamoDB: a table named by its ARN is undone too (moto
copies only tables named by name), and an error raised outside an operation (an item
with two operations) undoes the operations already applied.
"""

from __future__ import annotations

import copy
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamShard, Table

Slot = tuple[str, DynamoType, DynamoType | None]


class Journal:
    """What a transaction changed: each touched item as it was, and each stream's end."""

    def __init__(self) -> None:
        self._items: dict[Slot, tuple[Table, Item | None]] = {}
        self._streams: dict[int, tuple[StreamShard, int]] = {}

    def touch(self, table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> None:
        """Call before writing the item: remembers it (once) and where the stream ends."""
        slot = (table.name, hash_key, range_key)
        if slot not in self._items:
            self._items[slot] = (table, copy.deepcopy(table.get_item(hash_key, range_key)))
        shard = table.stream_shard
        if shard is not None and id(shard) not in self._streams:
            self._streams[id(shard)] = (shard, shard.starting_sequence_number + len(shard.items))

    def restore(self) -> None:
        """Put every touched item back as it was; drop the stream records appended since."""
        for (_name, hash_key, range_key), (table, item) in self._items.items():
            if table.range_key_attr is None:
                if item is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = item  # type: ignore[assignment]  # moto's own
                continue
            bucket = table.items[hash_key]
            if item is None:
                bucket.pop(range_key, None)
                if not bucket:
                    del table.items[hash_key]
            else:
                bucket[range_key] = item
        for shard, next_sequence in self._streams.values():
            # By sequence number, not position: the front of a shard may be trimmed.
            del shard.items[max(0, next_sequence - shard.starting_sequence_number) :]
        self._items.clear()
        self._streams.clear()


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto's DynamoDBBackend.transact_write_items, with a Journal instead of table copies
    (the loop and its error handling follow moto's line by line)."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    journal = Journal()
    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    try:
        for item in transact_items:
            original_item: dict[str, Any] | None = None
            if len(list(item.keys())) > 1:
                raise TransactWriteSingleOpException
            try:
                op_type, op = next(iter(item.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")
                table_name = op["TableName"]
                condition_expression = op.get("ConditionExpression")
                names = op.get("ExpressionAttributeNames")
                values = op.get("ExpressionAttributeValues")
                if op_type == "Put":
                    attrs = op["Item"]
                    table = self.get_table(table_name)
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                else:
                    key = op["Key"]
                check_unicity(table_name, key)
                current = self.get_item(table_name, key)  # validates the key
                if op_type != "ConditionCheck":
                    table = self.get_table(table_name)
                    journal.touch(table, *self.get_keys_value(table, key))
                if condition_expression is not None:
                    condition = get_filter_expression(condition_expression, names, values)
                    if not condition.expr(current):
                        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)
                if op_type == "Put":
                    self.put_item(
                        table_name,
                        op["Item"],
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                elif op_type == "Delete":
                    self.delete_item(
                        table_name,
                        key,
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                elif op_type == "Update":
                    self.update_item(
                        table_name,
                        key,
                        update_expression=op["UpdateExpression"],
                        condition_expression=condition_expression,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                raise  # undone below, as moto undoes them
            except ConditionalCheckFailed as error:
                errors.append(("ConditionalCheckFailed", str(error.message), original_item))
            except Exception as error:
                errors.append((type(error).__name__, str(error), original_item))
    except BaseException:
        journal.restore()
        raise
    if any(code is not None for code, _, _ in errors):
        journal.restore()
        raise TransactionCanceledException(errors)


def install() -> None:
    """Replace moto's transact_write_items in this process (the emulator's)."""
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
