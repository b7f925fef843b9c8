"""Receipts that arrive after the link ended are kept on the tombstone,
not dropped as unknown.

A link that expired (the sweeper), spent its max_clicks (the links stream) or was deleted
(DELETE /api/links/{code}) is replaced by its tombstone, which keeps the message. A late
delivered/read receipt must update that tombstone under the same forward-only rules, so
GET and campaign statistics see it. Everything real: the app through chalice.test, moto,
the Vonage SDK against the local fake, receipts signed with real JWTs.
"""

from __future__ import annotations

import json
import os
import time
from decimal import Decimal
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from chalicelib import wiring
from tests.support.aws import stream_records
from tests.support.campaigns import campaign_body, campaign_links, receive_all, sqs_event, start
from tests.support.messaging import MASKED, NUMBER, post, receipt, signed


def create_texted_link(client: Any, auth_headers: dict[str, str], code: str,
                       **extra: Any) -> dict[str, Any]:
    body = {"url": "https://example.com/offer", "code": code, "sms": {"to": NUMBER}, **extra}
    created = client.http.post("/api/links", headers=auth_headers, body=json.dumps(body))
    assert created.status_code == 201, created.body
    message: dict[str, Any] = created.json_body["message"]
    assert message["status"] == "accepted"
    return message


def items_of(code: str) -> dict[str, dict[str, Any]]:
    """The code's items by sort key, read consistently, deserialized."""
    from chalicelib import wiring

    found = wiring.dynamodb().query(
        TableName=wiring.settings().links_table, KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"link#{code}"}}, ConsistentRead=True,
    )["Items"]
    deserialize = TypeDeserializer().deserialize
    return {i["sk"]["S"]: {k: deserialize(v) for k, v in i.items()} for i in found}


def tombstone_message(code: str) -> dict[str, Any]:
    items = items_of(code)
    assert set(items) == {"tombstone"}, items  # the receipt made no link item again
    message: dict[str, Any] = items["tombstone"]["message"]
    return message


def deliver(client: Any, code: str, status: str, message_uuid: str, **extra: Any) -> None:
    headers, raw = signed(receipt(code, status, message_uuid, **extra),
                          os.environ["VONAGE_SIGNATURE_SECRET"])
    answer = post(client, "/webhooks/vonage/status", headers, raw)
    assert answer.status_code == 204, answer.body


def click(code: str) -> None:
    """What the edge function writes for a human click."""
    from chalicelib import wiring

    wiring.dynamodb().update_item(
        TableName=wiring.settings().links_table,
        Key={"pk": {"S": f"link#{code}"}, "sk": {"S": "counter"}},
        UpdateExpression="ADD human_clicks :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )


def expire_by_sweeper(client: Any, auth_headers: dict[str, str], code: str) -> None:
    from chalicelib.links import expiry

    assert expiry.sweep(wiring.links(), at_epoch=int(time.time()) + 3600) == 1


def delete_by_api(client: Any, auth_headers: dict[str, str], code: str) -> None:
    answer = client.http.delete(f"/api/links/{code}", headers=auth_headers)
    assert answer.status_code in (200, 204), answer.body


def spend_by_click(client: Any, auth_headers: dict[str, str], code: str) -> None:
    """The one allowed click, then the links stream retires the link (max_clicks=1)."""
    click(code)
    modified = [r for r in stream_records_now() if r["eventName"] == "MODIFY"]
    client.lambda_.invoke("links_stream", {"Records": modified})


def stream_records_now() -> list[dict[str, Any]]:
    from chalicelib import wiring

    return stream_records({"LINKS_TABLE": wiring.settings().links_table})


RETIREMENTS = {
    "expired": ({"ttl": 60}, expire_by_sweeper, ("expired", "expires_at")),
    "deleted": ({}, delete_by_api, ("deleted", None)),
    "spent": ({"max_clicks": 1}, spend_by_click, ("expired", "max_clicks")),
}


@pytest.mark.parametrize("how", sorted(RETIREMENTS))
def test_a_receipt_after_the_link_ended_updates_its_tombstone(
    texting: Any, client: Any, auth_headers: dict[str, str], how: str
) -> None:
    extra, retire, (status, reason) = RETIREMENTS[how]
    code = f"late-{how}"
    sent = create_texted_link(client, auth_headers, code, **extra)
    retire(client, auth_headers, code)
    assert tombstone_message(code)["status"] == "accepted"  # ended before any receipt

    deliver(client, code, "delivered", sent["uuid"], usage={"currency": "EUR", "price": "0.04"})
    stored = tombstone_message(code)
    assert stored["status"] == "delivered" and stored["rank"] == 3
    assert stored["uuid"] == sent["uuid"]
    assert stored["price"] == Decimal("0.04") and stored["currency"] == "EUR"
    assert "to" not in stored and stored["to_masked"] == MASKED  # still no plain number

    deliver(client, code, "read", sent["uuid"])
    shown = client.http.get(f"/api/links/{code}", headers=auth_headers).json_body
    assert shown["status"] == status and shown["ended_reason"] == reason
    assert shown["message"]["status"] == "read" and shown["message"]["to"] == MASKED
    assert NUMBER[1:] not in json.dumps(shown)


def test_read_after_the_only_allowed_click_is_kept(
    texting: Any, client: Any, auth_headers: dict[str, str]
) -> None:
    """max_clicks=1, the recipient opens the text and clicks (which
    retires the link), then the `read` receipt comes in: it used to be lost, always."""
    sent = create_texted_link(client, auth_headers, "one-click", max_clicks=1)
    deliver(client, "one-click", "delivered", sent["uuid"])
    spend_by_click(client, auth_headers, "one-click")
    assert tombstone_message("one-click")["status"] == "delivered"

    deliver(client, "one-click", "read", sent["uuid"])
    assert tombstone_message("one-click")["status"] == "read"


def test_receipts_on_a_tombstone_only_move_forward(
    texting: Any, client: Any, auth_headers: dict[str, str]
) -> None:
    sent = create_texted_link(client, auth_headers, "late-order")
    delete_by_api(client, auth_headers, "late-order")

    deliver(client, "late-order", "read", sent["uuid"])
    before = items_of("late-order")
    for status in ("delivered", "submitted", "read", "undeliverable"):  # late or repeated
        deliver(client, "late-order", status, sent["uuid"])
    deliver(client, "late-order", "read", "the-uuid-of-another-attempt")
    assert items_of("late-order") == before
    assert tombstone_message("late-order")["status"] == "read"


def test_a_receipt_of_another_attempt_leaves_the_tombstone(
    texting: Any, client: Any, auth_headers: dict[str, str]
) -> None:
    create_texted_link(client, auth_headers, "late-uuid")
    delete_by_api(client, auth_headers, "late-uuid")
    before = items_of("late-uuid")
    deliver(client, "late-uuid", "delivered", "a-previous-attempt")
    assert items_of("late-uuid") == before


def test_a_tombstone_without_a_message_is_left_alone(
    texting: Any, client: Any, auth_headers: dict[str, str]
) -> None:
    body = {"url": "https://example.com/offer", "code": "never-texted"}
    assert client.http.post("/api/links", headers=auth_headers,
                            body=json.dumps(body)).status_code == 201
    delete_by_api(client, auth_headers, "never-texted")
    before = items_of("never-texted")
    deliver(client, "never-texted", "delivered", "u-1")
    assert items_of("never-texted") == before
    assert "message" not in before["tombstone"] or before["tombstone"]["message"] is None


def test_an_unknown_code_is_204_and_writes_nothing(texting: Any, client: Any) -> None:
    from bench.core import count_aws_calls
    from chalicelib import wiring

    headers, raw = signed(receipt("ghost2", "delivered", "u-1"),
                          os.environ["VONAGE_SIGNATURE_SECRET"])
    with count_aws_calls(wiring.dynamodb()) as calls:
        assert post(client, "/webhooks/vonage/status", headers, raw).status_code == 204
    assert items_of("ghost2") == {}  # neither a link nor a tombstone was made
    assert calls == {"dynamodb.UpdateItem": 2}, calls  # the link, then the tombstone


def test_calls_per_receipt_one_for_a_live_link_two_after_it_ended(
    texting: Any, client: Any, auth_headers: dict[str, str]
) -> None:
    from bench.core import count_aws_calls
    from chalicelib import wiring

    sent = create_texted_link(client, auth_headers, "calls-late")
    with count_aws_calls(wiring.dynamodb()) as live:
        deliver(client, "calls-late", "submitted", sent["uuid"])
    delete_by_api(client, auth_headers, "calls-late")
    with count_aws_calls(wiring.dynamodb()) as ended:
        deliver(client, "calls-late", "delivered", sent["uuid"])
    assert live == {"dynamodb.UpdateItem": 1}, live
    assert ended == {"dynamodb.UpdateItem": 2}, ended
    assert tombstone_message("calls-late")["status"] == "delivered"


def test_campaign_statistics_count_receipts_that_came_after_the_links_ended(
    texting: Any, client: Any, auth_headers: dict[str, str], aws: dict[str, str]
) -> None:
    from chalicelib.links import expiry

    campaign_id = json.loads(start(client, auth_headers, campaign_body(4)).body)["campaign_id"]
    client.lambda_.invoke("campaign_worker", sqs_event(receive_all(aws), aws))
    links = sorted(campaign_links(aws, campaign_id), key=lambda link: link["ref"]["S"])
    codes = [link["code"]["S"] for link in links]
    uuids = [TypeDeserializer().deserialize(link["message"])["uuid"] for link in links]
    click(codes[0])  # recipient 0 clicked before the campaign's links expired
    assert expiry.sweep(wiring.links(), at_epoch=int(time.time()) + 8 * 86400) == 4

    def stats() -> dict[str, Any]:
        answer = client.http.get(f"/api/campaigns/{campaign_id}", headers=auth_headers)
        assert answer.status_code == 200, answer.body
        result: dict[str, Any] = answer.json_body
        return result

    before = stats()
    assert before["sent"] == 4 and before["delivered"] == 0 and before["ctr"] is None

    deliver(client, codes[0], "read", uuids[0])
    deliver(client, codes[1], "delivered", uuids[1])
    deliver(client, codes[2], "rejected", uuids[2], error={"title": 1240, "detail": "Illegal"})
    after = stats()
    assert after["links_created"] == 4 and after["sent"] == 4
    assert after["delivered"] == 2 and after["failed"] == 1 and after["pending"] == 0
    assert after["clicked"] == 1 and after["ctr"] == 0.5
    assert after["status"] == "done"
    gsi = boto3.client("dynamodb").query(
        TableName=aws["LINKS_TABLE"], IndexName="gsi2", KeyConditionExpression="gsi2pk = :p",
        ExpressionAttributeValues={":p": {"S": f"campaign#{campaign_id}"}},
    )["Items"]
    assert sorted(i["sk"]["S"] for i in gsi) == ["tombstone"] * 4  # counted from tombstones
