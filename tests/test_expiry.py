"""Expiry: the sweeper, tombstones, and the links stream handler with Lambda-shaped records
read from the emulator's real stream."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3

from tests.test_links import link_items, post, redirect_objects

TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def stream_records(env: dict[str, str]) -> list[dict[str, Any]]:
    """Every record on the links table's stream, reshaped as Lambda delivers them."""
    streams = boto3.client("dynamodbstreams")
    arn = boto3.client("dynamodb").describe_table(TableName=env["LINKS_TABLE"])["Table"][
        "LatestStreamArn"
    ]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for raw in streams.get_records(ShardIterator=iterator)["Records"]:
            record = json.loads(json.dumps(raw, default=lambda d: d.timestamp()))
            record["eventSourceARN"] = arn
            record["awsRegion"] = "us-east-1"
            record["dynamodb"]["ApproximateCreationDateTime"] = float(
                record["dynamodb"].get("ApproximateCreationDateTime") or time.time()
            )
            records.append(record)
    return records


def link_removals(env: dict[str, str]) -> list[dict[str, Any]]:
    return [
        r
        for r in stream_records(env)
        if r["eventName"] == "REMOVE" and r["dynamodb"]["Keys"]["sk"]["S"] == "link"
    ]


def kinds(env: dict[str, str]) -> list[str]:
    return sorted(i["sk"]["S"] for i in link_items(env))


def test_sweeper_expires_a_link_and_get_says_expired(client, auth_headers, aws):
    from chalicelib import expiry

    body = {"url": "https://example.com/", "code": "short-lived", "ttl": 60}
    assert post(client, auth_headers, body).status_code == 201
    assert expiry.sweep() == 0  # not due yet
    assert kinds(aws) == ["expiry", "link"]

    assert expiry.sweep(at_epoch=int(time.time()) + 120) == 1
    assert kinds(aws) == ["tombstone"]
    link = json.loads(client.http.get("/api/links/short-lived", headers=auth_headers).body)
    assert link["status"] == "expired" and link["url"] == "https://example.com/"
    assert expiry.sweep(at_epoch=int(time.time()) + 120) == 0  # idempotent

    # The sweeper's delete reaches the stream handler, which deletes the object.
    assert redirect_objects(aws) == ["short-lived"]
    event = {"Records": link_removals(aws)}
    assert len(event["Records"]) == 1
    client.lambda_.invoke("links_stream", event)
    assert redirect_objects(aws) == []
    client.lambda_.invoke("links_stream", event)  # redelivered: still fine
    assert redirect_objects(aws) == [] and kinds(aws) == ["tombstone"]


def test_sweep_is_bounded_per_run_and_uses_the_index(aws):
    from bench.core import count_aws_calls
    from chalicelib import expiry, links, runtime
    from chalicelib.links import NewLink

    service = links.service()
    due = int(time.time()) + 30
    for n in range(5):
        service.create(NewLink(url="https://example.com/", code=f"batch{n}", expires_at=due), "k")
    service.create(NewLink(url="https://example.com/", code="later", expires_at=due + 999), "k")
    with count_aws_calls(runtime.dynamodb()) as calls:
        assert expiry.sweep(at_epoch=due + 1, limit=3, links=service) == 3
        assert expiry.sweep(at_epoch=due + 1, limit=3, links=service) == 2
        assert expiry.sweep(at_epoch=due + 1, limit=3, links=service) == 0
    assert calls["dynamodb.Scan"] == 0 and calls["dynamodb.Query"] > 0
    assert sorted(i["sk"]["S"] for i in link_items(aws)).count("tombstone") == 5
    assert json.loads(json.dumps(service.get("later")))["status"] == "active"


def test_extended_link_is_not_swept(client, auth_headers, aws):
    from chalicelib import expiry

    assert (
        post(
            client, auth_headers, {"url": "https://e.com/", "code": "extend-me", "ttl": 60}
        ).status_code
        == 201
    )
    answer = client.http.patch(
        "/api/links/extend-me", headers=auth_headers, body=json.dumps({"ttl": 86400})
    )
    assert answer.status_code == 200
    assert expiry.sweep(at_epoch=int(time.time()) + 120) == 0
    link = json.loads(client.http.get("/api/links/extend-me", headers=auth_headers).body)
    assert link["status"] == "active"


def test_ttl_removal_gets_a_tombstone_and_loses_its_object(client, auth_headers, aws):
    """DynamoDB TTL deleted the item (userIdentity = the service): the handler writes the
    tombstone from the old image, removes the marker and the object, idempotently."""
    from chalicelib import expiry

    body = {"url": "https://example.com/ttl", "code": "ttl-gone", "ttl": 60}
    assert post(client, auth_headers, body).status_code == 201
    boto3.client("dynamodb").delete_item(
        TableName=aws["LINKS_TABLE"], Key={"pk": {"S": "link#ttl-gone"}, "sk": {"S": "link"}}
    )
    records = link_removals(aws)
    assert len(records) == 1
    records[0]["userIdentity"] = dict(TTL_IDENTITY)
    assert expiry.is_ttl_delete(records[0])
    client.lambda_.invoke("links_stream", {"Records": records})
    assert redirect_objects(aws) == []
    assert kinds(aws) == ["tombstone"]
    link = json.loads(client.http.get("/api/links/ttl-gone", headers=auth_headers).body)
    assert link["status"] == "expired" and link["url"] == "https://example.com/ttl"
    client.lambda_.invoke("links_stream", {"Records": records})
    assert kinds(aws) == ["tombstone"] and redirect_objects(aws) == []
    assert (
        post(client, auth_headers, {"url": "https://e.com/", "code": "ttl-gone"}).status_code == 409
    )


def test_other_records_are_ignored_and_rollbacks_get_no_tombstone(client, auth_headers, aws):
    assert (
        post(
            client, auth_headers, {"url": "https://e.com/", "code": "stays", "ttl": 600}
        ).status_code
        == 201
    )
    everything = stream_records(aws)
    assert {r["eventName"] for r in everything} == {"INSERT"}
    client.lambda_.invoke("links_stream", {"Records": everything})
    assert redirect_objects(aws) == ["stays"]
    # A delete by our own code with the ttl still ahead (what a failed create's undo does):
    # the object goes, no tombstone is invented.
    boto3.client("dynamodb").delete_item(
        TableName=aws["LINKS_TABLE"], Key={"pk": {"S": "link#stays"}, "sk": {"S": "link"}}
    )
    client.lambda_.invoke("links_stream", {"Records": link_removals(aws)})
    assert redirect_objects(aws) == []
    assert kinds(aws) == ["expiry"]


def test_schedule_handler_runs_the_sweep(client, auth_headers, aws):
    assert (
        post(
            client, auth_headers, {"url": "https://e.com/", "code": "one-sec", "ttl": 1}
        ).status_code
        == 201
    )
    time.sleep(1.1)
    event = {
        "version": "0",
        "id": "1",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2030-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/links_sweeper"],
        "detail": {},
    }
    client.lambda_.invoke("links_sweeper", event)
    assert kinds(aws) == ["tombstone"]
