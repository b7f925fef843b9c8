"""The forwarder against messages /events would refuse today (an old client's, a bug's, a
hand-made one) and against DynamoDB failing one message's identity write: that message
alone is dead-lettered (for good) or handed back (transient); the others reach Stitch,
once. Real app handler, moto SQS/DynamoDB, the local Stitch sink (tests/service/test_stitch.py)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.tracking import collector as events
from chalicelib.tracking import event_queue, stitch
from chalicelib.tracking.dead_letters import DeadLetters, max_receives
from chalicelib.tracking.forwarder import Forwarder
from chalicelib.tracking.proof import LinkProof
from chalicelib.tracking.records import QueueRecord
from local import stitch_sink
from tests.support.tracking import IDENTITY_SECRET, Pump, dead_letters, rows, send_events, signed

EMOJI_256 = "\U0001F600" * 256  # 256 characters, 1,024 bytes: "anon#" + it > 1,024
AT_BOUND = "\U0001F600" * 128  # 512 bytes (MAX_ID_BYTES): accepted, and it fits


def poisoned_body(**event_fields: Any) -> str:
    """A queue body as an old /events (characters, not bytes, counted) could queue it:
    an identify of u-poison, with `event_fields` put over the normalised event."""
    [event] = events.normalise_request(
        [signed({"type": "identify", "userId": "u-poison", "anonymousId": "x",
                 "messageId": "poison"})],
        user_agent=None,
    )
    event.update(event_fields)
    [body] = event_queue.queue_bodies([event])
    return body


def attributes(letter: dict[str, Any]) -> dict[str, str]:
    return {k: v["StringValue"] for k, v in letter["MessageAttributes"].items()}


def test_a_poisoned_message_is_dead_lettered_alone_and_the_others_reach_stitch(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink
) -> None:
    from chalicelib import wiring

    send_events(client, [
        {"type": "page", "anonymousId": "anon-g", "messageId": "g1"},
        signed({"type": "identify", "anonymousId": "anon-g",
                "userId": "user-g", "messageId": "g2"}),
        {"type": "track", "event": "Bought", "anonymousId": "anon-g", "messageId": "g3"},
        signed({"type": "identify", "anonymousId": AT_BOUND, "userId": "\u00e9" * 256,
         "messageId": "g4"}),
    ])
    body = poisoned_body(anonymous_id=EMOJI_256)
    wiring.sqs().send_message(QueueUrl=app_env["EVENTS_QUEUE_URL"], MessageBody=body)
    # Over today's /events bound (512 bytes) but within DynamoDB's: queued before the
    # bound, it still goes through.
    legacy = poisoned_body(anonymous_id="\u20ac" * 300, message_id="legacy")
    wiring.sqs().send_message(QueueUrl=app_env["EVENTS_QUEUE_URL"], MessageBody=legacy)

    pump = Pump(client, app_env)
    pump.run()
    assert {r["message_id"] for r in rows(sink, "events")} == {
        "g1", "g2", "g3", "g4", "legacy"}
    assert {r["anonymous_id"] for r in rows(sink, "identities")} == {
        "anon-g", AT_BOUND, "\u20ac" * 300}
    assert pump.failed_items == 0  # nothing handed back: no batch retried, no redrive
    [letter] = dead_letters(app_env)
    assert letter["Body"] == body  # replayable as it is once the cause is fixed
    why = attributes(letter)
    assert why["StitchTable"] == "-"
    assert why["StitchError"].startswith("anonymous_id:")
    assert "1029-byte key" in why["StitchError"]


class FailingDynamoDB:
    """The real (moto) DynamoDB client, except that identity writes of the chosen
    anonymous ids, or every identity lookup, fail with `code` (a fake, not a mock)."""

    def __init__(self, real: Any, code: str, status: int, failing: set[str] | None = None,
                 fail_lookups: bool = False) -> None:
        self._real = real
        self.code = code
        self.status = status
        self.failing = failing or set()
        self.fail_lookups = fail_lookups

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def _error(self, operation: str) -> ClientError:
        return ClientError(
            {"Error": {"Code": self.code, "Message": f"scripted {self.code}"},
             "ResponseMetadata": {"HTTPStatusCode": self.status}},
            operation,
        )

    def transact_write_items(self, **request: Any) -> Any:
        for item in request["TransactItems"]:
            put = item.get("Put")
            if put and put["Item"]["anonymous_id"]["S"] in self.failing:
                raise self._error("TransactWriteItems")
        return self._real.transact_write_items(**request)

    def batch_get_item(self, **request: Any) -> Any:
        if self.fail_lookups:
            raise self._error("BatchGetItem")
        return self._real.batch_get_item(**request)


def forwarder_over(dynamodb: Any, env: dict[str, str]) -> Forwarder:
    from chalicelib import wiring
    from chalicelib.tracking.identity import IdentityStore

    settings = wiring.settings()
    return Forwarder(
        IdentityStore(dynamodb, env["APP_TABLE"]),
        stitch.Sender(stitch.destination(settings, timeout=1.0)),
        DeadLetters(wiring.sqs(), env["EVENTS_DLQ_URL"]),
        max_receives(wiring.sqs(), env["EVENTS_QUEUE_URL"]),
        LinkProof(IDENTITY_SECRET.encode()),
    )


def queued_records(client: Any, env: dict[str, str],
                   messages: list[dict[str, Any]]) -> dict[str, QueueRecord]:
    """One queue message per event, by the event's messageId, taken off the queue."""
    from chalicelib import wiring

    send_events(client, messages)
    found: dict[str, QueueRecord] = {}
    while True:
        answer = wiring.sqs().receive_message(QueueUrl=env["EVENTS_QUEUE_URL"],
                                               MaxNumberOfMessages=10, VisibilityTimeout=60)
        if not answer.get("Messages"):
            return found
        for item in answer["Messages"]:
            [event] = json.loads(item["Body"])["events"]
            found[event["message_id"]] = QueueRecord(item["MessageId"], item["Body"])


def test_an_identity_write_dynamodb_refuses_for_good_dead_letters_only_its_message(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink
) -> None:
    from chalicelib import wiring
    from chalicelib.tracking.identity import IdentityStore

    records = queued_records(client, app_env, [
        signed({"type": "identify", "anonymousId": "anon-ok",
                "userId": "user-ok", "messageId": "i-ok"}),
        signed({"type": "identify", "anonymousId": "anon-bad",
                "userId": "user-b", "messageId": "i-bad"}),
        {"type": "track", "event": "E", "anonymousId": "anon-ok", "messageId": "t-ok"},
    ])
    dynamodb = FailingDynamoDB(wiring.dynamodb(), "ValidationException", 400, {"anon-bad"})
    assert forwarder_over(dynamodb, app_env).forward(records.values()) == []
    stored = {r["message_id"]: r for r in rows(sink, "events")}
    assert set(stored) == {"i-ok", "t-ok"}
    assert stored["t-ok"]["resolved_user_id"] == "user-ok"
    assert {r["anonymous_id"] for r in rows(sink, "identities")} == {"anon-ok"}
    [letter] = dead_letters(app_env)
    assert letter["Body"] == records["i-bad"].body
    why = attributes(letter)
    assert (why["StitchStatus"], why["StitchTable"]) == ("400", "-")
    assert "ValidationException" in why["StitchError"]
    assert why["SourceMessageId"] == records["i-bad"].message_id
    store = IdentityStore(wiring.dynamodb(), app_env["APP_TABLE"])
    assert store.resolve(["anon-ok", "anon-bad"]) == {"anon-ok": "user-ok"}


def test_a_throttled_identity_write_retries_only_its_message_without_duplicates(
    client: Any, webhook_env: dict[str, str], sink: stitch_sink.Sink
) -> None:
    """Webhook mode without a primary key is append-only: a row sent twice shows twice."""
    from chalicelib import wiring

    records = queued_records(client, webhook_env, [
        signed({"type": "identify", "anonymousId": "anon-1",
                "userId": "user-1", "messageId": "w-1"}),
        signed({"type": "identify", "anonymousId": "anon-2",
                "userId": "user-2", "messageId": "w-2"}),
        {"type": "track", "event": "E", "anonymousId": "anon-1", "messageId": "w-3"},
    ])
    dynamodb = FailingDynamoDB(
        wiring.dynamodb(), "ProvisionedThroughputExceededException", 400, {"anon-2"})
    forwarder = forwarder_over(dynamodb, webhook_env)
    assert forwarder.forward(records.values()) == [records["w-2"].message_id]
    assert sorted(r["message_id"] for r in rows(sink, "data")) == [
        "identity:anon-1", "w-1", "w-3"]

    dynamodb.failing.clear()  # SQS redelivers w-2 alone; DynamoDB has recovered
    again = QueueRecord(records["w-2"].message_id, records["w-2"].body, 2)
    assert forwarder.forward([again]) == []
    assert sorted(r["message_id"] for r in rows(sink, "data")) == [
        "identity:anon-1", "identity:anon-2", "w-1", "w-2", "w-3"]
    assert dead_letters(webhook_env) == []


def test_an_identity_write_still_failing_on_the_last_receive_is_dead_lettered_with_why(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink
) -> None:
    from chalicelib import wiring

    records = queued_records(client, app_env, [
        signed({"type": "identify", "anonymousId": "anon-3",
                "userId": "user-3", "messageId": "l-1"}),
    ])
    dynamodb = FailingDynamoDB(wiring.dynamodb(), "InternalServerError", 500, {"anon-3"})
    last = QueueRecord(records["l-1"].message_id, records["l-1"].body, 8)
    assert forwarder_over(dynamodb, app_env).forward([last]) == []
    [letter] = dead_letters(app_env)
    assert letter["Body"] == last.body
    why = attributes(letter)
    assert why["StitchStatus"] == "500" and "InternalServerError" in why["StitchError"]
    assert rows(sink, "events") == []


def test_a_failed_identity_lookup_hands_back_only_the_messages_that_needed_it(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink
) -> None:
    from chalicelib import wiring

    records = queued_records(client, app_env, [
        {"type": "track", "event": "E", "userId": "user-k", "messageId": "k-1"},
        {"type": "track", "event": "E", "anonymousId": "anon-k", "messageId": "k-2"},
    ])
    dynamodb = FailingDynamoDB(wiring.dynamodb(), "InternalServerError", 500,
                               fail_lookups=True)
    assert forwarder_over(dynamodb, app_env).forward(records.values()) == [
        records["k-2"].message_id]
    assert [r["message_id"] for r in rows(sink, "events")] == ["k-1"]
    assert dead_letters(app_env) == []


def test_a_queued_body_too_deep_to_parse_is_dead_lettered_alone(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink
) -> None:
    """A body deeper than Python's parser goes (queued by hand, or before /events capped
    nesting): RecursionError is no ValueError, but it is dead-lettered like any body that
    does not parse, and the good event beside it reaches Stitch."""
    from chalicelib import wiring

    send_events(client, [{"type": "page", "anonymousId": "anon-d", "messageId": "d1"}])
    deep = "[" * 10_000 + "]" * 10_000
    wiring.sqs().send_message(QueueUrl=app_env["EVENTS_QUEUE_URL"], MessageBody=deep)
    pump = Pump(client, app_env)
    pump.run()
    assert {r["message_id"] for r in rows(sink, "events")} == {"d1"}
    assert pump.failed_items == 0
    [letter] = dead_letters(app_env)
    assert letter["Body"] == deep
    assert "RecursionError" in attributes(letter)["StitchError"]
