"""Expiry: the sweeper, tombstones, and the links stream handler with Lambda-shaped records
read from the emulator's real stream."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3

from chalicelib import wiring
from tests.support.aws import (
    failing,
    kinds,
    link_removals,
    redirect_objects,
    stream_records,
)
from tests.support.fakes import FakeLambdaContext
from tests.support.links import post

TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def test_sweeper_expires_a_link_and_get_says_expired(client, auth_headers, aws):
    from chalicelib.links import expiry

    body = {"url": "https://example.com/", "code": "short-lived", "ttl": 60}
    assert post(client, auth_headers, body).status_code == 201
    assert expiry.sweep(wiring.links()) == 0  # not due yet
    assert kinds(aws) == ["counter", "expiry", "link"]

    assert redirect_objects(aws) == ["short-lived"]
    assert expiry.sweep(wiring.links(), at_epoch=int(time.time()) + 120) == 1
    assert kinds(aws) == ["tombstone"]
    assert redirect_objects(aws) == []  # the sweeper deleted the object itself
    link = json.loads(client.http.get("/api/links/short-lived", headers=auth_headers).body)
    assert link["status"] == "expired" and link["url"] == "https://example.com/"
    assert expiry.sweep(wiring.links(), at_epoch=int(time.time()) + 120) == 0  # idempotent

    # The sweeper's delete reaches the stream handler too, which deletes the object again
    # (the backstop when the sweeper's DeleteObjects failed): idempotent.
    event = {"Records": link_removals(aws)}
    assert len(event["Records"]) == 1
    client.lambda_.invoke("links_stream", event)
    client.lambda_.invoke("links_stream", event)  # redelivered: still fine
    assert redirect_objects(aws) == [] and kinds(aws) == ["tombstone"]


def create_due(service: Any, count: int, due: int, prefix: str = "") -> list[str]:
    """`count` links expiring at `due`, created one by one (a campaign's links share one
    expires_at). With a prefix, custom codes starting with it: all in one expiry shard."""
    from chalicelib.links.model import NewLink

    return [
        str(service.create(NewLink(url="https://example.com/", code=code, expires_at=due), "k")[
            "code"
        ])
        for code in (f"{prefix}{n:04d}" if prefix else None for n in range(count))
    ]


def streamless_links_service(aws: dict[str, str], client: Any = None) -> Any:
    """A LinkService on a copy of the links table (same keys and indexes) without a stream.

    moto keeps every stream record and deep-copies the table, records included, on every
    action of every TransactWriteItems: on the real table, sweeping 450 links took 406 s
    and 10.8 GB here (90 s without the stream). The sweeper never reads the stream."""
    from dataclasses import replace

    from chalicelib import wiring
    from chalicelib.links import service as links

    ddb = boto3.client("dynamodb")
    table = ddb.describe_table(TableName=aws["LINKS_TABLE"])["Table"]
    name = f"{aws['LINKS_TABLE']}-streamless"
    ddb.create_table(
        TableName=name,
        KeySchema=table["KeySchema"],
        AttributeDefinitions=table["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {k: g[k] for k in ("IndexName", "KeySchema", "Projection")}
            for g in table["GlobalSecondaryIndexes"]
        ],
    )
    settings = replace(wiring.settings(), links_table=name)
    return links.LinkService(client or OneCallAtATime(wiring.dynamodb()), wiring.s3(), settings)


class OneCallAtATime:
    """A boto3 client whose calls reach moto one at a time. moto in-process is not
    thread-safe for transactions (it deep-copies a table while another thread writes it);
    DynamoDB is. The sweeper's threads still run concurrently and share this client."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.threads: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._client, name)
        if name.startswith("_") or not callable(found):
            return found  # meta, exceptions

        def call(*args: Any, **kwargs: Any) -> Any:
            self.threads.add(threading.current_thread().name)
            with self._lock:
                return found(*args, **kwargs)

        return call


def load_due(service: Any, count: int, due: int) -> list[str]:
    """The items create() writes for `count` links (link, expiry marker) and their objects,
    loaded in batches: one transaction per link would double this test's time on moto."""
    from chalicelib import wiring
    from chalicelib.links import items as links_items
    from chalicelib.links import model as links_model
    from chalicelib.links.items import expiry_marker

    settings = service.settings
    requests: list[dict[str, Any]] = []
    codes = []
    for _ in range(count):
        code = links_model.generate_code()
        new = links_model.NewLink(url="https://example.com/", expires_at=due)
        item = service.item_for(new, code, "k")
        requests += [{"PutRequest": {"Item": links_items.to_item(item)}}]
        marker = expiry_marker(code, due)
        requests += [{"PutRequest": {"Item": links_items.to_item(marker)}}]
        wiring.s3().put_object(Bucket=settings.redirect_bucket, Key=code, Body=b"")
        codes.append(code)
    for start in range(0, len(requests), 25):
        boto3.client("dynamodb").batch_write_item(
            RequestItems={settings.links_table: requests[start : start + 25]}
        )
    return codes


def table_kinds(service: Any) -> list[str]:
    answer = boto3.client("dynamodb").scan(TableName=service.settings.links_table)
    return sorted(i["sk"]["S"] for i in answer["Items"])


def test_one_run_retires_every_due_link_page_after_page(aws):
    """A campaign's 250 links (more than the old cap of 200 per run) expire together: one
    run retires them all, page after page in every shard, eight at a time, deletes their
    objects itself (no stream handler needed), and reads only the index."""
    from bench.core import count_aws_calls
    from chalicelib import wiring
    from chalicelib.links import expiry
    from chalicelib.links.model import NewLink

    one_at_a_time = OneCallAtATime(wiring.dynamodb())
    service = streamless_links_service(aws, one_at_a_time)
    due = int(time.time()) + 30
    codes = load_due(service, 250, due)
    service.create(NewLink(url="https://example.com/", code="later", expires_at=due + 999), "k")
    with count_aws_calls(wiring.dynamodb()) as calls, count_aws_calls(wiring.s3()) as s3:
        assert expiry.sweep(at_epoch=due + 1, links=service, page_size=25, workers=8) == 250
    # Per link one TransactWriteItems; per page one index Query, one BatchGetItem of its
    # links and one DeleteObjects (DeleteObject for a page of one).
    pages = 250 // 25 + 4  # at most one part-page per shard
    assert calls["dynamodb.Scan"] == 0
    assert calls["dynamodb.TransactWriteItems"] == 250
    assert 250 // 25 <= calls["dynamodb.Query"] <= pages + 4  # + an empty last page a shard
    assert 250 // 25 <= calls["dynamodb.BatchGetItem"] <= pages
    assert 250 // 25 <= s3["s3.DeleteObjects"] + s3["s3.DeleteObject"] <= pages
    assert len(one_at_a_time.threads) > 1  # the retirements really ran concurrently
    found = table_kinds(service)
    assert found.count("tombstone") == 250
    assert [k for k in found if k != "tombstone"] == ["counter", "expiry", "link"]  # later's
    assert redirect_objects(aws) == ["later"]
    assert service.get("later")["status"] == "active"
    assert {service.get(code)["status"] for code in codes[:5]} == {"expired"}
    assert expiry.sweep(at_epoch=due + 1, links=service) == 0  # nothing left


def test_a_run_low_on_time_stops_and_the_next_run_continues(aws):
    from chalicelib.links import expiry

    service = wiring.links()
    due = int(time.time()) + 30
    create_due(service, 60, due, prefix="a")  # one shard: pages of exactly page_size
    before = redirect_objects(aws)
    assert expiry.sweep(at_epoch=due + 1, links=service, context=FakeLambdaContext(calls=0)) == 0
    assert kinds(aws).count("link") == 60  # out of time before the first page: untouched

    # Time for one page, then the clock runs low.
    swept = expiry.sweep(
        at_epoch=due + 1, links=service, context=FakeLambdaContext(calls=1), page_size=25
    )
    assert swept == 25
    found = kinds(aws)
    assert found.count("tombstone") == 25 and found.count("link") == 35
    assert found.count("expiry") == 35
    assert redirect_objects(aws) == before[25:]  # the oldest (first) 25 went

    # The next run (5 minutes later in AWS) continues where this one stopped.
    swept = expiry.sweep(
        at_epoch=due + 1, links=service, context=FakeLambdaContext(calls=99), page_size=25
    )
    assert swept == 35
    assert kinds(aws) == ["tombstone"] * 60 and redirect_objects(aws) == []


def test_a_link_that_cannot_be_retired_now_does_not_hold_the_sweep_up(aws):
    """Clicked every time the sweeper tries: the run moves past it (each marker is met
    once per run), retires the rest, and the next run retires it."""
    from chalicelib import wiring
    from chalicelib.links import expiry
    from chalicelib.links import service as links

    def click(code: str) -> None:
        boto3.client("dynamodb").update_item(  # what the edge function writes
            TableName=aws["LINKS_TABLE"],
            Key={"pk": {"S": f"link#{code}"}, "sk": {"S": "counter"}},
            UpdateExpression="ADD bot_clicks :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )

    class ClickedWhileRetiring(links.LinkService):
        """busy0000 is clicked right after every read of it."""

        def links_for(self, codes: list[str]) -> dict[str, dict[str, Any] | None]:
            found = super().links_for(codes)
            if "busy0000" in codes:
                click("busy0000")
            return found

        def items_for(self, code: str) -> dict[str, dict[str, Any]]:
            found = super().items_for(code)
            if code == "busy0000":
                click(code)
            return found

    racing = ClickedWhileRetiring(wiring.dynamodb(), wiring.s3(), wiring.settings())
    due = int(time.time()) + 30
    create_due(racing, 3, due, prefix="busy")
    assert expiry.sweep(at_epoch=due + 1, links=racing, page_size=1) == 2
    assert kinds(aws).count("link") == 1 and redirect_objects(aws) == ["busy0000"]
    assert expiry.sweep(at_epoch=due + 1, links=wiring.links()) == 1
    assert kinds(aws) == ["tombstone"] * 3 and redirect_objects(aws) == []


def test_a_link_that_breaks_the_sweeper_does_not_stop_the_others(aws, caplog):
    """A defect met on one link (here: an unexpected exception) is logged with its code;
    the sweep retires every other due link and the broken one stays for the next run."""
    from chalicelib import wiring
    from chalicelib.links import expiry
    from chalicelib.links import service as links

    class BrokenOnOne(links.LinkService):
        def expire(self, code: str, at_epoch: int, known: Any = None) -> bool:
            if code == "oops0001":
                raise TypeError("a defect")
            return super().expire(code, at_epoch, known)

    broken = BrokenOnOne(wiring.dynamodb(), wiring.s3(), wiring.settings())
    due = int(time.time()) + 30
    create_due(broken, 3, due, prefix="oops")
    assert expiry.sweep(at_epoch=due + 1, links=broken, page_size=1) == 2
    assert redirect_objects(aws) == ["oops0001"]
    assert any(getattr(r, "code", None) == "oops0001" and r.exc_info for r in caplog.records)
    assert expiry.sweep(at_epoch=due + 1, links=wiring.links()) == 1
    assert kinds(aws) == ["tombstone"] * 3 and redirect_objects(aws) == []


def test_extended_link_is_not_swept(client, auth_headers, aws):
    from chalicelib.links import expiry

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
    assert expiry.sweep(wiring.links(), at_epoch=int(time.time()) + 120) == 0
    link = json.loads(client.http.get("/api/links/extend-me", headers=auth_headers).body)
    assert link["status"] == "active"


def test_ttl_removal_gets_a_tombstone_and_loses_its_object(client, auth_headers, aws):
    """DynamoDB TTL deleted the item (userIdentity = the service): the handler writes the
    tombstone from the old image, removes the marker and the object, idempotently."""
    from chalicelib.links import expiry

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
    for kind in ("link", "counter"):
        boto3.client("dynamodb").delete_item(
            TableName=aws["LINKS_TABLE"], Key={"pk": {"S": "link#stays"}, "sk": {"S": kind}}
        )
    client.lambda_.invoke("links_stream", {"Records": link_removals(aws)})
    assert redirect_objects(aws) == []
    assert kinds(aws) == ["expiry"]


def _inserted_links(env: dict[str, str]) -> list[dict[str, Any]]:
    return [r for r in stream_records(env)
            if r["eventName"] == "INSERT" and r["dynamodb"]["Keys"]["sk"]["S"] == "link"]


def _location(env: dict[str, str], code: str) -> str | None:
    s3 = boto3.client("s3")
    head = s3.head_object(Bucket=env["REDIRECT_BUCKET"], Key=code)
    return head.get("WebsiteRedirectLocation")


def test_a_create_that_died_after_its_items_gets_its_object_from_the_stream(
    client, auth_headers, aws, caplog
):
    """The process was killed between the create transaction and its PutObject: no undo
    ran and the object is missing. The INSERT's stream record puts it back, from the link as
    it is now (a URL changed meanwhile is the one redirected to); a link retired meanwhile
    gets none; a link with its object is left as it is."""
    for code in ("died", "changed", "retired", "whole"):
        body = {"url": f"https://example.com/{code}", "code": code}
        assert post(client, auth_headers, body).status_code == 201
    s3 = boto3.client("s3")
    for code in ("died", "changed", "retired"):
        s3.delete_object(Bucket=aws["REDIRECT_BUCKET"], Key=code)
    answer = client.http.patch("/api/links/changed", headers=auth_headers,
                               body=json.dumps({"url": "https://example.com/now"}))
    assert answer.status_code == 200
    s3.delete_object(Bucket=aws["REDIRECT_BUCKET"], Key="changed")  # the PATCH put it back
    boto3.client("dynamodb").delete_item(
        TableName=aws["LINKS_TABLE"], Key={"pk": {"S": "link#retired"}, "sk": {"S": "link"}}
    )
    inserted = _inserted_links(aws)
    assert len(inserted) == 4

    with caplog.at_level("WARNING", logger="linktrail.expiry"):
        client.lambda_.invoke("links_stream", {"Records": inserted})

    assert redirect_objects(aws) == ["changed", "died", "whole"]
    assert _location(aws, "died") == "https://example.com/died"
    assert _location(aws, "changed") == "https://example.com/now"
    restored = [r for r in caplog.records if r.getMessage().startswith("redirect objects restored")]
    assert [sorted(r.codes) for r in restored] == [["changed", "died"]]

    client.lambda_.invoke("links_stream", {"Records": inserted})  # redelivered: no change
    assert redirect_objects(aws) == ["changed", "died", "whole"]


def test_a_url_changed_while_the_object_is_put_back_wins():
    """Between the restore's read and its PutObject the link's URL changed: the restore
    reads the link again after its put and puts the URL it finds."""
    from chalicelib.links.service import LinkService

    puts: list[tuple[str, str]] = []
    reads = iter([{"link": {"long_url": "https://example.com/old"}},
                  {"link": {"long_url": "https://example.com/new"}}])

    class Racing(LinkService):
        def __init__(self) -> None:  # only the redirect and read methods are used
            pass

        def has_redirect(self, code: str) -> bool:
            return False

        def items_for(self, code: str) -> dict[str, dict[str, Any]]:
            return next(reads)

        def put_redirect(self, code: str, long_url: str) -> None:
            puts.append((code, long_url))

    assert Racing().restore_redirect("race") is True
    assert puts == [("race", "https://example.com/old"), ("race", "https://example.com/new")]


def test_when_the_sweepers_delete_fails_the_stream_handler_deletes_the_objects(client, aws):
    from chalicelib import wiring
    from chalicelib.links import expiry

    service = wiring.links()
    due = int(time.time()) + 30
    create_due(service, 3, due, prefix="keep")  # one shard, one page
    with failing(wiring.s3(), "DeleteObjects") as refused:
        assert expiry.sweep(at_epoch=due + 1, links=service) == 3
    assert refused["failed"] == 1
    assert kinds(aws) == ["tombstone"] * 3 and len(redirect_objects(aws)) == 3
    client.lambda_.invoke("links_stream", {"Records": link_removals(aws)})
    assert redirect_objects(aws) == []


def test_links_left_unprocessed_by_the_batch_read_are_read_one_by_one(aws):
    """Under load BatchGetItem answers with UnprocessedKeys: those links are read alone."""
    from botocore.awsrequest import AWSResponse

    from bench.core import count_aws_calls
    from chalicelib import wiring
    from chalicelib.links import expiry

    service = wiring.links()
    due = int(time.time()) + 30
    create_due(service, 3, due, prefix="u")
    ddb = wiring.dynamodb()

    answered: list[int] = []

    def nothing_processed(params: dict[str, Any], **_: Any) -> Any:
        request = json.loads(params["body"])
        answered.append(len(request["RequestItems"][aws["LINKS_TABLE"]]["Keys"]))
        return AWSResponse("https://aws.invalid/", 200, {}, None), {
            "Responses": {aws["LINKS_TABLE"]: []},
            "UnprocessedKeys": request["RequestItems"],
        }

    ddb.meta.events.register("before-call.dynamodb.BatchGetItem", nothing_processed)
    try:
        with count_aws_calls(ddb) as calls:
            assert expiry.sweep(at_epoch=due + 1, links=service) == 3
    finally:
        ddb.meta.events.unregister("before-call.dynamodb.BatchGetItem", nothing_processed)
    assert answered == [6]  # one batch read of the page's three links and their counters
    assert calls["dynamodb.Query"] >= 1 + 3  # the index page, then each link on its own
    assert kinds(aws) == ["tombstone"] * 3 and redirect_objects(aws) == []


def scheduled_event() -> dict[str, Any]:
    return {
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


def test_schedule_handler_hands_the_sweep_its_lambda_context(client, aws, monkeypatch):
    """The handler passes Lambda's context: a run started with too little time left
    retires nothing; a run with its full 60 s retires the links."""
    import functools

    import chalice.test
    from chalice.local import LambdaContext


    create_due(wiring.links(), 3, int(time.time()) + 1)
    time.sleep(1.1)
    almost_over = functools.partial(LambdaContext, max_runtime_ms=5_000)
    with monkeypatch.context() as patched:
        patched.setattr(chalice.test, "LambdaContext", almost_over)
        client.lambda_.invoke("links_sweeper", scheduled_event())
    assert kinds(aws).count("link") == 3
    client.lambda_.invoke("links_sweeper", scheduled_event())
    assert kinds(aws) == ["tombstone"] * 3 and redirect_objects(aws) == []


def test_schedule_handler_runs_the_sweep(client, auth_headers, aws):
    assert (
        post(
            client, auth_headers, {"url": "https://e.com/", "code": "one-sec", "ttl": 1}
        ).status_code
        == 201
    )
    time.sleep(1.1)
    client.lambda_.invoke("links_sweeper", scheduled_event())
    assert kinds(aws) == ["tombstone"]
