"""Local event-source pumps: what Lambda's event source mappings and EventBridge do in
AWS, because `chalice local` fires no stream, queue or schedule handler.

- DynamoDB streams → the app's `on_dynamodb_record` handlers, records shaped as Lambda
  delivers them (numeric ApproximateCreationDateTime, eventSourceARN, and the service
  userIdentity on TTL removals, which the emulator leaves out);
- SQS → `on_sqs_message` handlers; a handler's `batchItemFailures` are honoured (only
  those messages come back; the queue's redrive policy moves them to the DLQ);
- schedules → `schedule` handlers, every few seconds instead of minutes;
- TTL: the emulator never deletes expired items, so this deletes them the way DynamoDB
  would (items whose `ttl` has passed, which the emulator lists: local/expired_items.py),
  and marks their stream records as TTL deletes.

Every handler is called through `app.handler_map`, i.e. through Chalice's own event
classes, exactly as the Lambda runtime calls it.

Run: python -m local.pumps --port 8005 (answers GET /__health with the pumps' counters)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
from chalice.local import LambdaContext

from local import expired_items
from local.files import write_json_atomically

log = logging.getLogger("pumps")

# A loop is failing when it has not completed a run for max(3 pauses, this) seconds.
STALE_AFTER_SECONDS = 60.0
TTL_SERVICE_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
Handler = Callable[[dict[str, Any], Any], Any]
# (table, TTL attribute, now) -> the keys of the items whose TTL is past
ExpiredKeys = Callable[[str, str, float], Iterable[dict[str, Any]]]


def lambda_context(name: str) -> LambdaContext:
    return LambdaContext(
        function_name=f"linktrail-local-{name}", memory_size=512, max_runtime_ms=60_000
    )


@dataclass
class PumpStats:
    delivered: int = 0
    failed: int = 0
    last_error: str = ""
    last_run: float = 0.0
    # A loop that has not completed a run for this long (since it started, if it never
    # has) is failing; Pumps.start sets it from the loop's pause.
    stale_after: float = STALE_AFTER_SECONDS
    started: float = field(default_factory=time.time)

    def healthy(self, now: float | None = None) -> bool:
        moment = time.time() if now is None else now
        return moment - (self.last_run or self.started) <= self.stale_after

    def to_dict(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "failed": self.failed,
            "last_error": self.last_error,
            "last_run_age_s": round(time.time() - self.last_run, 1) if self.last_run else None,
            "healthy": self.healthy(),
        }


# --- TTL ----------------------------------------------------------------------------


@dataclass
class TtlLedger:
    """Keys the TTL pump deleted, so the stream pump can mark those REMOVEs as TTL's.

    Only tables a stream pump watches are recorded (nobody would take the others), and
    an entry not taken within `max_age` seconds is dropped."""

    max_age: float = 600.0
    _watched: set[str] = field(default_factory=set)
    _keys: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def fingerprint(table: str, keys: dict[str, Any]) -> str:
        return table + "|" + json.dumps(keys, sort_keys=True)

    def watch(self, table: str) -> None:
        with self._lock:
            self._watched.add(table)

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, table: str, keys: dict[str, Any]) -> None:
        now = time.time()
        with self._lock:
            for old in [k for k, at in self._keys.items() if now - at > self.max_age]:
                del self._keys[old]
            if table in self._watched:
                self._keys[self.fingerprint(table, keys)] = now

    def take(self, table: str, keys: dict[str, Any]) -> bool:
        with self._lock:
            return self._keys.pop(self.fingerprint(table, keys), None) is not None


def expire_ttl_items(
    dynamodb: Any,
    tables: Iterable[str],
    now: float | None = None,
    ledger: TtlLedger | None = None,
    attribute: str = "ttl",
    expired: ExpiredKeys | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """Delete every item whose TTL attribute is in the past, as DynamoDB TTL would.

    `expired` finds them (the emulator's own request, local/expired_items.py); without
    it, a Scan does. The delete is conditional on the TTL still being past, so an item
    whose expiry was pushed back in the meantime survives. Returns (table, keys) of
    deleted items.
    """
    moment = int(now if now is not None else time.time())
    find = expired or scanned_expired_keys(dynamodb)
    deleted: list[tuple[str, dict[str, Any]]] = []
    for table in tables:
        for keys in find(table, attribute, moment):
            if ledger is not None:
                ledger.add(table, keys)
            try:
                dynamodb.delete_item(
                    TableName=table,
                    Key=keys,
                    ConditionExpression="#ttl < :now",
                    ExpressionAttributeNames={"#ttl": attribute},
                    ExpressionAttributeValues={":now": {"N": str(moment)}},
                )
                deleted.append((table, keys))
            except dynamodb.exceptions.ConditionalCheckFailedException:
                if ledger is not None:
                    ledger.take(table, keys)
    return deleted


def scanned_expired_keys(dynamodb: Any) -> ExpiredKeys:
    """Expired items found by a filtered Scan (any DynamoDB, in-process moto included)."""

    def find(table: str, attribute: str, now: float) -> Iterable[dict[str, Any]]:
        key_names = [
            k["AttributeName"]
            for k in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
        ]
        kwargs: dict[str, Any] = {
            "TableName": table,
            "FilterExpression": "#ttl < :now",
            "ExpressionAttributeNames": {"#ttl": attribute},
            "ExpressionAttributeValues": {":now": {"N": str(int(now))}},
        }
        while True:
            page = dynamodb.scan(**kwargs)
            for item in page.get("Items", []):
                yield {name: item[name] for name in key_names}
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    return find


# --- DynamoDB streams ---------------------------------------------------------------


def lambda_stream_record(raw: dict[str, Any], stream_arn: str, ttl_delete: bool) -> dict[str, Any]:
    """A dynamodbstreams GetRecords record, reshaped as Lambda delivers it."""
    record = json.loads(json.dumps(raw, default=_json_default))
    created = raw["dynamodb"].get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        record["dynamodb"]["ApproximateCreationDateTime"] = float(int(created.timestamp()))
    elif created is None:
        record["dynamodb"]["ApproximateCreationDateTime"] = float(int(time.time()))
    record["eventSourceARN"] = stream_arn
    record.setdefault("eventVersion", "1.1")
    record.setdefault("eventSource", "aws:dynamodb")
    if ttl_delete:
        record["userIdentity"] = dict(TTL_SERVICE_IDENTITY)
    return record


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes | bytearray):
        import base64

        return base64.b64encode(value).decode()
    raise TypeError(f"not JSON: {type(value)}")


class StreamPump:
    """Follows every shard of one stream and hands batches to its handlers, in order.
    A failing batch is retried (as Lambda does) until it succeeds or `max_attempts`."""

    def __init__(
        self,
        streams: Any,
        stream_arn: str,
        table: str,
        handlers: dict[str, Handler],
        ledger: TtlLedger,
        batch_size: int = 100,
        max_attempts: int = 5,
        positions_file: Path | None = None,
    ) -> None:
        self._streams = streams
        self.stream_arn = stream_arn
        self.table = table
        self.handlers = handlers
        self._ledger = ledger
        ledger.watch(table)
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        # Per shard, the sequence number of the last record handed on (None: none yet).
        # Kept in `positions_file` after each batch, so a restarted pump goes on from there
        # (at least once: a batch handled but not yet noted is handed on again).
        self._positions_file = positions_file
        self._positions: dict[str, str | None] = self._saved_positions()
        self.stats = PumpStats()

    def _saved_positions(self) -> dict[str, str | None]:
        if self._positions_file is None:
            return {}
        try:
            saved = json.loads(self._positions_file.read_text())
        except (OSError, ValueError):
            return {}
        # Another stream (a new emulator) has other shards: its positions mean nothing here.
        if not isinstance(saved, dict) or saved.get("stream_arn") != self.stream_arn:
            return {}
        return {str(k): str(v) for k, v in saved.get("positions", {}).items() if v}

    def _save_positions(self) -> None:
        if self._positions_file is None:
            return
        write_json_atomically(
            self._positions_file,
            {"stream_arn": self.stream_arn, "positions": self._positions},
        )

    def _iterator(self, shard_id: str) -> str:
        """A fresh iterator just past the last record handed on, every poll. A kept
        NextShardIterator would go stale: moto undoes a cancelled transaction by putting a
        copy of the table (and of its stream shard) in place, and an old iterator goes on
        reading the orphaned shard, which never grows again."""
        position = self._positions.get(shard_id)
        where: dict[str, str] = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": position}
            if position is not None
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        answer = self._streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard_id, **where
        )
        return str(answer["ShardIterator"])

    def poll(self) -> int:
        """One round over all shards; returns the number of records delivered."""
        description = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        delivered = 0
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            self._positions.setdefault(shard_id, None)
            answer = self._streams.get_records(
                ShardIterator=self._iterator(shard_id), Limit=self._batch_size
            )
            raw_records = answer.get("Records", [])
            if raw_records:
                records = [
                    lambda_stream_record(
                        raw,
                        self.stream_arn,
                        ttl_delete=raw.get("eventName") == "REMOVE"
                        and self._ledger.take(self.table, raw["dynamodb"].get("Keys", {})),
                    )
                    for raw in raw_records
                ]
                self._deliver(records)
                delivered += len(records)
                self._positions[shard_id] = str(raw_records[-1]["dynamodb"]["SequenceNumber"])
                self._save_positions()
        self.stats.last_run = time.time()
        return delivered

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        for name, handler in self.handlers.items():
            for attempt in range(1, self._max_attempts + 1):
                try:
                    handler({"Records": records}, lambda_context(name))
                    self.stats.delivered += len(records)
                    log.info("stream %s: %d record(s) -> %s", self.table, len(records), name)
                    break
                except Exception as error:
                    self.stats.failed += 1
                    self.stats.last_error = f"{name}: {type(error).__name__}: {error}"
                    log.exception("stream %s -> %s failed (attempt %d)", self.table, name, attempt)
                    time.sleep(min(0.2 * 2**attempt, 3))
            else:
                log.error(
                    "stream %s -> %s: batch dropped after %d attempts",
                    self.table,
                    name,
                    self._max_attempts,
                )


# --- SQS ------------------------------------------------------------------------------


def lambda_sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    records = []
    for message in messages:
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "binaryValue": value.get("BinaryValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value["DataType"],
                    }
                    for name, value in message.get("MessageAttributes", {}).items()
                },
                "md5OfBody": message.get(
                    "MD5OfBody",
                    hashlib.md5(message["Body"].encode(), usedforsecurity=False).hexdigest(),
                ),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def batch_item_failures(result: Any, message_ids: set[str]) -> set[str] | None:
    """The ids a handler reported as failed, read as Lambda reads a response under
    ReportBatchItemFailures; None when Lambda would fail the whole batch (not an object,
    batchItemFailures not a list, an itemIdentifier missing, empty or not in the batch)."""
    if result is None:
        return set()
    if not isinstance(result, dict):
        return None
    failures = result.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in message_ids:
            return None
        failed.add(identifier)
    return failed


class QueuePump:
    def __init__(
        self, sqs: Any, queue_name: str, name: str, handler: Handler, batch_size: int, region: str
    ) -> None:
        self._sqs = sqs
        self.queue_name = queue_name
        self.name = name
        self._handler = handler
        self._batch_size = max(1, min(batch_size, 10))
        self._region = region
        self._url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        self._arn = sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.stats = PumpStats()

    def poll(self, wait_seconds: int = 1) -> int:
        answer = self._sqs.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        self.stats.last_run = time.time()
        messages = answer.get("Messages", [])
        if not messages:
            return 0
        event = lambda_sqs_event(messages, self._arn, self._region)
        try:
            result = self._handler(event, lambda_context(self.name))
        except Exception as error:
            # Lambda: the whole batch becomes visible again after the visibility timeout.
            self.stats.failed += len(messages)
            self.stats.last_error = f"{type(error).__name__}: {error}"
            log.exception(
                "queue %s -> %s failed; %d message(s) will be retried",
                self.queue_name,
                self.name,
                len(messages),
            )
            return 0
        failed_ids = batch_item_failures(result, {m["MessageId"] for m in messages})
        if failed_ids is None:
            # Lambda: a response it cannot read fails the whole batch.
            failed_ids = {m["MessageId"] for m in messages}
            self.stats.last_error = f"{self.name}: invalid batch response: {result!r:.200}"
            log.error(
                "queue %s -> %s: invalid batch response %r; %d message(s) will be retried",
                self.queue_name,
                self.name,
                result,
                len(messages),
            )
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        for start in range(0, len(done), 10):
            self._sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
        self.stats.delivered += len(done)
        self.stats.failed += len(failed_ids)
        log.info(
            "queue %s -> %s: %d done, %d to retry",
            self.queue_name,
            self.name,
            len(done),
            len(failed_ids),
        )
        return len(done)


# --- schedules --------------------------------------------------------------------------


def scheduled_event(rule_name: str, region: str, account: str = "123456789012") -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/linktrail-local-{rule_name}"],
        "detail": {},
    }


# --- wiring ---------------------------------------------------------------------------


class Pumps:
    """Everything above, discovered from the app's registered event sources."""

    def __init__(
        self, app: Any, env: dict[str, str], schedule_seconds: float = 3.0, ttl_seconds: float = 2.0
    ) -> None:
        session = boto3.session.Session(region_name=env.get("AWS_DEFAULT_REGION", "us-east-1"))
        self.region = session.region_name or "us-east-1"
        self.dynamodb = session.client("dynamodb")
        self.streams = session.client("dynamodbstreams")
        self.sqs = session.client("sqs")
        self.ledger = TtlLedger()
        # The local stack's emulator finds expired items itself, far quicker than a Scan.
        endpoint = env.get("AWS_ENDPOINT_URL")
        self.expired = expired_items.asker(endpoint, self.region) if endpoint else None
        self.schedule_seconds = schedule_seconds
        self.ttl_seconds = ttl_seconds
        names = ("LINKS_TABLE", "APP_TABLE", "ANALYTICS_TABLE")
        self.tables = [t for t in (env.get(name) for name in names) if t]
        self.stream_pumps: list[StreamPump] = []
        self.queue_pumps: list[QueuePump] = []
        self.schedules: dict[str, Handler] = {}
        self.schedule_stats = PumpStats()
        self.ttl_stats = PumpStats()
        stream_tables = {
            self.dynamodb.describe_table(TableName=t)["Table"].get("LatestStreamArn"): t
            for t in self.tables
        }
        by_stream: dict[str, dict[str, Handler]] = {}
        for source in app.event_sources:
            kind = type(source).__name__
            handler = app.handler_map[source.name]
            if kind == "DynamoDBEventConfig":
                by_stream.setdefault(source.stream_arn, {})[source.name] = handler
            elif kind == "SQSEventConfig":
                queue = source.queue or source.queue_arn.rsplit(":", 1)[-1]
                self.queue_pumps.append(
                    QueuePump(self.sqs, queue, source.name, handler, source.batch_size, self.region)
                )
            elif kind == "ScheduledEventConfig":
                self.schedules[source.name] = handler
            else:
                log.warning("no local pump for %s %s", kind, source.name)
        for stream_arn, handlers in by_stream.items():
            table = stream_tables.get(stream_arn)
            if table is None:
                raise RuntimeError(
                    f"handlers {sorted(handlers)} listen to {stream_arn}, "
                    "which is no local table's stream"
                )
            state_dir = env.get("LOCAL_STATE_DIR")
            positions = Path(state_dir, "stream-positions", f"{table}.json") if state_dir else None
            self.stream_pumps.append(
                StreamPump(
                    self.streams, stream_arn, table, handlers, self.ledger, positions_file=positions
                )
            )

    def describe(self) -> list[str]:
        lines = [f"stream {p.table} -> {', '.join(p.handlers)}" for p in self.stream_pumps]
        lines += [f"queue {p.queue_name} -> {p.name}" for p in self.queue_pumps]
        lines += [f"schedule every {self.schedule_seconds:g}s -> {name}" for name in self.schedules]
        lines.append(f"ttl every {self.ttl_seconds:g}s on {', '.join(self.tables)}")
        return lines

    def status(self) -> dict[str, Any]:
        return {
            "streams": {p.table: p.stats.to_dict() for p in self.stream_pumps},
            "queues": {p.queue_name: p.stats.to_dict() for p in self.queue_pumps},
            "schedules": self.schedule_stats.to_dict(),
            "ttl": self.ttl_stats.to_dict(),
        }

    def loops(self) -> dict[str, tuple[Callable[[], Any], float, PumpStats]]:
        """Every loop by name: its step, its pause between steps, its stats."""
        loops: dict[str, tuple[Callable[[], Any], float, PumpStats]] = {
            f"stream:{p.table}": (p.poll, 0.25, p.stats) for p in self.stream_pumps
        }
        loops.update({f"queue:{p.queue_name}": (p.poll, 0.0, p.stats) for p in self.queue_pumps})
        loops["schedules"] = (self.run_schedules, self.schedule_seconds, self.schedule_stats)
        loops["ttl"] = (self.run_ttl, self.ttl_seconds, self.ttl_stats)
        return loops

    def failing(self) -> dict[str, str]:
        """Loops that have not completed a run for too long, with their last error."""
        return {
            name: stats.last_error or "no completed run"
            for name, (_step, _pause, stats) in self.loops().items()
            if not stats.healthy()
        }

    def start(self, stop: threading.Event) -> list[threading.Thread]:
        threads = []
        for name, (step, pause, stats) in self.loops().items():
            stats.stale_after = max(3 * pause, STALE_AFTER_SECONDS)
            stats.started = time.time()
            thread = threading.Thread(
                target=_forever, args=(name, step, pause, stop, stats), name=name, daemon=True
            )
            thread.start()
            threads.append(thread)
        return threads

    def run_schedules(self) -> None:
        for name, handler in self.schedules.items():
            try:
                handler(scheduled_event(name, self.region), lambda_context(name))
                self.schedule_stats.delivered += 1
            except Exception as error:
                self.schedule_stats.failed += 1
                self.schedule_stats.last_error = f"{name}: {type(error).__name__}: {error}"
                log.exception("schedule %s failed", name)
        self.schedule_stats.last_run = time.time()

    def run_ttl(self) -> None:
        deleted = expire_ttl_items(
            self.dynamodb, self.tables, ledger=self.ledger, expired=self.expired
        )
        if deleted:
            log.info("ttl: deleted %d expired item(s)", len(deleted))
        self.ttl_stats.delivered += len(deleted)
        self.ttl_stats.last_run = time.time()


def _forever(
    name: str,
    step: Callable[[], Any],
    pause: float,
    stop: threading.Event,
    stats: PumpStats,
) -> None:
    while not stop.is_set():
        try:
            step()
        except Exception as error:
            stats.failed += 1
            stats.last_error = f"{name}: {type(error).__name__}: {error}"
            log.exception("%s pump error", name)
            stop.wait(1.0)
        if pause:
            stop.wait(pause)


def serve_health(pumps: Pumps, port: int) -> ThreadingHTTPServer:
    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            failing = pumps.failing()
            body = json.dumps({"failing": failing, **pumps.status()}).encode()
            if self.path != "/__health":
                self.send_response(404)
            else:
                self.send_response(503 if failing else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8005)
    parser.add_argument(
        "--schedule-seconds",
        type=float,
        default=float(os.environ.get("LOCAL_SCHEDULE_SECONDS", "3")),
    )
    parser.add_argument(
        "--ttl-seconds", type=float, default=float(os.environ.get("LOCAL_TTL_SECONDS", "2"))
    )
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    for noisy in ("botocore", "urllib3", "boto3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from local.app_server import apply_overrides, load_app

    apply_overrides()  # before import too: decorator arguments (stream ARNs) are read then
    app, _config = load_app()
    pumps = Pumps(app, dict(os.environ), args.schedule_seconds, args.ttl_seconds)
    for line in pumps.describe():
        log.info(line)
    stop = threading.Event()
    pumps.start(stop)
    serve_health(pumps, args.port)
    log.info("pumps running; health on http://127.0.0.1:%d/__health", args.port)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stop.set()


if __name__ == "__main__":
    main()
