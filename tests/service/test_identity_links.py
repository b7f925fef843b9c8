"""Identity links through /events, the forwarder and erasure: a link needs proof (a
user_hash or a server source), the first link of an anonymous id stays, a claim to
another user is recorded as a conflict, and erasure covers every anonymous id that ever
resolved to the user."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.tracking import collector
from chalicelib.tracking.identity import IdentityLink, IdentityStore, LinkOutcome
from local import stitch_sink
from tests.support.tracking import Pump, queued_events, rows, send_events, signed


def store(env: dict[str, str]) -> IdentityStore:
    return IdentityStore(wiring.dynamodb(), env["APP_TABLE"])


def items_of(env: dict[str, str], pk: str) -> list[dict[str, Any]]:
    answer = wiring.dynamodb().query(
        TableName=env["APP_TABLE"], KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
    )
    return answer["Items"]


def test_an_identify_without_a_valid_user_hash_links_nothing(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink
) -> None:
    """Whoever knows a visitor's anonymous id posts identify calls naming any user: none
    links, each is kept as an event, and the visitor's events stay unresolved."""
    forged = [
        {"type": "identify", "anonymousId": "anon-v", "userId": "intruder", "messageId": "f1"},
        signed({"type": "identify", "anonymousId": "anon-v", "userId": "intruder",
                "messageId": "f2"}, secret="a-guessed-secret"),
        {**signed({"type": "identify", "anonymousId": "anon-v", "userId": "someone",
                   "messageId": "f3"}), "userId": "intruder"},  # another user's hash
        {"type": "alias", "previousId": "anon-v", "userId": "intruder", "messageId": "f4"},
    ]
    send_events(client, forged)
    pump = Pump(client, app_env)
    pump.run()
    send_events(client, [{"type": "track", "event": "Later", "anonymousId": "anon-v",
                          "messageId": "t1"}])
    pump.run()
    events = {r["message_id"]: r for r in rows(sink, "events")}
    assert set(events) == {"f1", "f2", "f3", "f4", "t1"}
    assert events["t1"]["resolved_user_id"] is None
    assert rows(sink, "identities") == []
    assert store(app_env).resolve(["anon-v"]) == {}
    assert items_of(app_env, "anon#anon-v") == []
    assert wiring.forwarder().link_outcomes == {"unproven": 4}
    # The hash is proof only: it never reaches the warehouse.
    assert all("user_hash" not in row and "userHash" not in row for row in events.values())


def test_a_valid_user_hash_links(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink
) -> None:
    """In `userHash`, or in the analytics library's identify options, any hex case."""
    by_options = signed({"type": "alias", "previousId": "anon-2", "userId": "user-2",
                         "messageId": "a2"})
    by_options["options"] = {"userHash": by_options.pop("userHash").upper()}
    send_events(client, [
        signed({"type": "identify", "anonymousId": "anon-1", "userId": "user-1",
                "messageId": "i1"}),
        by_options,
    ])
    Pump(client, app_env).run()
    assert store(app_env).resolve(["anon-1", "anon-2"]) == {
        "anon-1": "user-1", "anon-2": "user-2"}
    assert {(r["anonymous_id"], r["user_id"]) for r in rows(sink, "identities")} == {
        ("anon-1", "user-1"), ("anon-2", "user-2")}


@pytest.mark.parametrize("user_hash", ["abc", "g" * 64, 42, "0" * 63])
def test_a_malformed_user_hash_is_refused(
    client: Any, app_env: dict[str, str], user_hash: Any
) -> None:
    answer = client.http.post("/events", headers={"Content-Type": "application/json"},
                              body=json.dumps({"type": "identify", "anonymousId": "a",
                                               "userId": "u", "userHash": user_hash}))
    assert answer.status_code == 400
    assert json.loads(answer.body)["field"] == "userHash"


def test_a_claim_on_a_linked_anonymous_id_keeps_the_first_link_and_records_a_conflict(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Even a proven claim (a signed-in user's own hash) does not relink: the first link
    stays, pinned by no client timestamp, and the claim is a conflict item and a WARNING."""
    pump = Pump(client, app_env)
    send_events(client, [signed({"type": "identify", "anonymousId": "anon-p",
                                 "userId": "owner", "messageId": "p1"})])
    pump.run()
    time.sleep(0.01)  # received_at has millisecond resolution
    send_events(client, [signed({"type": "identify", "anonymousId": "anon-p",
                                 "userId": "claimer", "messageId": "p2",
                                 "timestamp": "2999-01-01T00:00:00Z"})])
    with caplog.at_level(logging.WARNING, logger="linktrail.stitch"):
        pump.run()
    assert store(app_env).resolve(["anon-p"]) == {"anon-p": "owner"}
    [link] = rows(sink, "identities")
    assert (link["anonymous_id"], link["user_id"], link["source_message_id"]) == (
        "anon-p", "owner", "p1")
    conflicts = [i for i in items_of(app_env, "anon#anon-p") if i["sk"]["S"] != "identity"]
    assert [(c["sk"]["S"], c["claimed_user_id"]["S"]) for c in conflicts] == [
        ("conflict#p2", "claimer")]
    assert any("identity conflict" in r.getMessage() for r in caplog.records)
    assert wiring.forwarder().link_outcomes["conflict"] == 1
    # The claim itself is kept as an event; the owner's identify again changes nothing.
    assert {r["message_id"] for r in rows(sink, "events")} == {"p1", "p2"}
    assert store(app_env).link(
        IdentityLink("anon-p", "owner", "2030-01-01T00:00:00.000Z", "p3")
    ) is LinkOutcome.ALREADY_LINKED


def test_erasure_after_a_relink_attempt_covers_the_older_anonymous_id(
    client: Any, app_env: dict[str, str], sink: stitch_sink.Sink, auth_headers: dict[str, str]
) -> None:
    pump = Pump(client, app_env)
    send_events(client, [signed({"type": "identify", "anonymousId": "anon-old",
                                 "userId": "victim", "messageId": "v1"})])
    pump.run()
    time.sleep(0.01)
    send_events(client, [
        signed({"type": "identify", "anonymousId": "anon-old", "userId": "intruder",
                "messageId": "x1"}),
        signed({"type": "identify", "anonymousId": "anon-new", "userId": "victim",
                "messageId": "v2"}),
    ])
    pump.run()
    answer = client.http.delete("/api/users/victim", headers=auth_headers)
    assert answer.status_code == 202, answer.body
    assert json.loads(answer.body)["identity_links_removed"] == 2
    [record] = queued_events(app_env)
    assert sorted(record["anonymous_ids"]) == ["anon-new", "anon-old"]
    assert store(app_env).resolve(["anon-old", "anon-new"]) == {}
    # The link, its history and the conflict over the victim's anonymous id are gone.
    assert items_of(app_env, "anon#anon-old") == []
    assert [i["sk"]["S"] for i in items_of(app_env, "user#victim")] == ["erased"]


def test_erasing_the_claimer_removes_their_conflict_and_keeps_the_owners_link(
    client: Any, app_env: dict[str, str], auth_headers: dict[str, str]
) -> None:
    identities = store(app_env)
    identities.link(IdentityLink("anon-k", "keeper", "2026-01-01T00:00:00.000Z", "k1"))
    identities.link(IdentityLink("anon-k", "claimer", "2026-01-02T00:00:00.000Z", "c1"))
    answer = client.http.delete("/api/users/claimer", headers=auth_headers)
    assert json.loads(answer.body)["identity_links_removed"] == 0
    assert [i["sk"]["S"] for i in items_of(app_env, "anon#anon-k")] == ["identity"]
    assert identities.resolve(["anon-k"]) == {"anon-k": "keeper"}


def test_erasure_removes_a_link_that_once_resolved_to_the_user_even_if_replaced(
    client: Any, app_env: dict[str, str], auth_headers: dict[str, str]
) -> None:
    """The user's history finds an anonymous id whose link names someone else now (as a
    link written before links were kept first-wins may)."""
    identities = store(app_env)
    assert identities.link(
        IdentityLink("anon-h", "first", "2026-01-01T00:00:00.000Z", "h1")
    ) is LinkOutcome.WRITTEN
    wiring.dynamodb().put_item(TableName=app_env["APP_TABLE"], Item={
        "pk": {"S": "anon#anon-h"}, "sk": {"S": "identity"},
        "gsi1pk": {"S": "user#second"}, "gsi1sk": {"S": "anon#anon-h"},
        "anonymous_id": {"S": "anon-h"}, "user_id": {"S": "second"},
        "linked_at": {"S": "2026-01-02T00:00:00.000Z"}, "message_id": {"S": "h2"},
    })
    answer = client.http.delete("/api/users/first", headers=auth_headers)
    assert json.loads(answer.body)["identity_links_removed"] == 1
    assert identities.resolve(["anon-h"]) == {}


def test_identity_trust_unverified_links_a_browsers_claim(
    client: Any, app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITY_TRUST", "unverified")
    wiring.reset()
    send_events(client, [{"type": "identify", "anonymousId": "anon-u", "userId": "user-u",
                          "messageId": "u1"}])
    Pump(client, app_env).run()
    assert store(app_env).resolve(["anon-u"]) == {"anon-u": "user-u"}


def test_a_server_source_links_without_a_user_hash(
    client: Any, app_env: dict[str, str]
) -> None:
    """Only the caller that authenticated a server says so; a body cannot."""
    from_server = {"type": "identify", "anonymousId": "anon-s", "userId": "user-s"}
    collector.collect(wiring.event_queue(), json.dumps(from_server), "application/json",
                      None, server_source=True)
    claiming = {"type": "identify", "anonymousId": "anon-b", "userId": "user-b",
                "server_source": True, "serverSource": True}
    send_events(client, [claiming])
    Pump(client, app_env).run()
    assert store(app_env).resolve(["anon-s", "anon-b"]) == {"anon-s": "user-s"}
