"""POST /events: parsing, validation (all-or-nothing batches), normalisation, one SQS call,
CORS, and erasure of identity links. Real app through chalice.test.Client, moto SQS/DynamoDB."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench.core import count_aws_calls
from chalicelib.tracking import collector as events
from chalicelib.tracking import event_queue, validation
from chalicelib.tracking.collector import normalise_request, reduce_user_agent
from tests.support.tracking import queued_events as queued

CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
ORIGIN = "http://127.0.0.1:8000"  # in the local stage's CORS_ORIGINS


def analytics_page(**overrides: Any) -> dict[str, Any]:
    """A page payload exactly as analytics 0.8.19 hands it to a plugin."""
    payload: dict[str, Any] = {
        "type": "page",
        "properties": {
            "title": "Pricing",
            "url": "https://site.example/pricing?utm_source=newsletter&utm_campaign=spring",
            "path": "/pricing",
            "hash": "",
            "search": "?utm_source=newsletter&utm_campaign=spring",
            "width": 1280,
            "height": 800,
        },
        "options": {},
        "userId": None,
        "anonymousId": "2d9c7a59-3f37-4a4b-9c35-1c4e3a7f0d11",
        "meta": {"rid": "f7b1c3c2-1f7e-4f65-b3a4-1d2b3c4d5e6f", "ts": 1767225600123},
    }
    payload.update(overrides)
    return payload


@pytest.fixture(autouse=True)
def local_settings(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin the local stage's settings before any request (chalice.test.Client overlays the
    dev stage's env while a request runs), with the local CORS allowlist."""
    from chalicelib import wiring

    monkeypatch.setenv("CORS_ORIGINS", f"{ORIGIN},http://localhost:8000")
    if "aws" in request.fixturenames:
        request.getfixturevalue("aws")
        wiring.reset()
        assert wiring.settings().is_local


def post(client: Any, body: Any, content_type: str = "application/json", **headers: str) -> Any:
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.http.post(
        "/events", body=raw, headers={"Content-Type": content_type, **headers}
    )


# --- normalisation (high gear) -------------------------------------------------------


def test_analytics_payload_becomes_a_canonical_event() -> None:
    [event] = normalise_request([analytics_page()], user_agent=CHROME_MAC, batched=False)
    assert event["message_id"] == "f7b1c3c2-1f7e-4f65-b3a4-1d2b3c4d5e6f"  # meta.rid
    assert event["type"] == "page"
    assert event["anonymous_id"] == "2d9c7a59-3f37-4a4b-9c35-1c4e3a7f0d11"
    assert event["user_id"] is None
    assert event["timestamp"] == "2026-01-01T00:00:00.123Z"  # from meta.ts
    assert event["received_at"].endswith("Z")
    assert event["context"]["page"]["path"] == "/pricing"
    assert event["context"]["campaign"]["source"] == "newsletter"
    assert event["context"]["campaign"]["name"] == "spring"
    assert event["context"]["library"]["name"] == "analytics"
    agent = event["context"]["user_agent"]
    assert agent == {"browser": "Chrome", "os": "macOS", "device": "desktop"}
    assert CHROME_MAC not in json.dumps(event)


def test_segment_message_keeps_its_ids_and_drops_ip_and_raw_user_agent() -> None:
    message = {
        "type": "track",
        "event": "Order Completed",
        "userId": "user-7",
        "messageId": "seg-1",
        "timestamp": "2026-03-01T10:00:00+01:00",
        "sentAt": "2026-03-01T09:00:01Z",
        "properties": {"total": 30},
        "context": {
            "ip": "203.0.113.9",
            "userAgent": CHROME_MAC,
            "locale": "en-GB",
            "campaign": {"source": "ads", "medium": "cpc"},
            "library": {"name": "analytics.js", "version": "2.1"},
        },
    }
    [event] = normalise_request([message], user_agent=None, batched=False)
    assert event["message_id"] == "seg-1"
    assert event["timestamp"] == "2026-03-01T09:00:00.000Z"
    assert event["sent_at"] == "2026-03-01T09:00:01.000Z"
    assert event["context"]["campaign"]["medium"] == "cpc"
    assert event["context"]["library"] == {"name": "analytics.js", "version": "2.1"}
    text = json.dumps(event)
    assert "203.0.113.9" not in text and "AppleWebKit" not in text


def test_message_without_ids_gets_a_deterministic_hash() -> None:
    message = {"type": "track", "event": "Clicked", "anonymousId": "a-1"}
    first = normalise_request([message], user_agent=None)[0]["message_id"]
    again = normalise_request([dict(message)], user_agent="x")[0]["message_id"]
    other = normalise_request([{**message, "event": "Other"}], user_agent=None)[0]["message_id"]
    assert first == again != other
    assert first.startswith("h-")


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (CHROME_MAC, ("Chrome", "macOS", "desktop")),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
            ("Safari", "iOS", "mobile"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/125.0 Safari/537.36",
            ("Chrome", "Android", "tablet"),
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0 Safari/537.36 Edg/126.0",
            ("Edge", "Windows", "desktop"),
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
            ("Firefox", "Linux", "desktop"),
        ),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", ("Other", "Other", "bot")),
        # the shared detector (chalicelib.botua): what a local regex missed
        ("WhatsApp/2.23.20.0", ("Other", "Other", "bot")),
        ("Go-http-client/1.1", ("Other", "Other", "bot")),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/126.0.0.0 Safari/537.36",
            ("Chrome", "Linux", "bot"),
        ),
        ("", ("Other", "Other", "other")),
    ],
)
def test_user_agent_is_reduced_to_families(user_agent: str, expected: tuple[str, ...]) -> None:
    reduced = reduce_user_agent(user_agent)
    assert (reduced["browser"], reduced["os"], reduced["device"]) == expected


# --- the route -----------------------------------------------------------------------


def test_single_json_event_is_queued_with_one_sqs_call(client: Any, aws: dict[str, str]) -> None:
    from chalicelib import wiring

    with count_aws_calls(wiring.sqs()) as calls:
        answer = post(client, analytics_page(), **{"User-Agent": CHROME_MAC})
    assert answer.status_code == 202, answer.body
    assert json.loads(answer.body)["message_ids"] == ["f7b1c3c2-1f7e-4f65-b3a4-1d2b3c4d5e6f"]
    assert dict(calls) == {"sqs.SendMessage": 1}
    [body] = queued(aws)
    assert body["kind"] == "events"
    assert body["events"][0]["context"]["user_agent"]["browser"] == "Chrome"


def test_beacon_text_plain_batch_is_one_queue_message(client: Any, aws: dict[str, str]) -> None:
    batch = {"batch": [
        analytics_page(meta={"rid": f"r-{i}", "ts": 1767225600000}) for i in range(3)
    ]}
    answer = post(client, batch, content_type="text/plain;charset=UTF-8")
    assert answer.status_code == 202, answer.body
    [body] = queued(aws)
    assert [e["message_id"] for e in body["events"]] == ["r-0", "r-1", "r-2"]


def test_a_batch_above_one_queue_message_uses_one_send_message_batch(
    client: Any, aws: dict[str, str]
) -> None:
    from chalicelib import wiring

    filler = "x" * 20_000
    batch = {"batch": [
        {"type": "track", "event": "Big", "anonymousId": "a", "messageId": f"m-{i}",
         "properties": {"filler": filler}}
        for i in range(24)
    ]}
    raw = json.dumps(batch)
    assert event_queue.SQS_MESSAGE_BYTES < len(raw) <= events.MAX_REQUEST_BYTES
    with count_aws_calls(wiring.sqs()) as calls:
        answer = post(client, raw)
    assert answer.status_code == 202, answer.body
    assert dict(calls) == {"sqs.SendMessageBatch": 1}
    bodies = queued(aws)
    assert len(bodies) >= 2
    assert sorted(e["message_id"] for b in bodies for e in b["events"]) == sorted(
        f"m-{i}" for i in range(24)
    )


def test_invalid_batch_names_every_bad_message_and_queues_nothing(
    client: Any, aws: dict[str, str]
) -> None:
    batch = {"batch": [
        {"type": "scroll", "anonymousId": "a"},
        {"type": "track", "event": "Fine", "anonymousId": "a"},
        {"type": "track", "anonymousId": "a"},
        {"type": "page"},
        {"type": "identify", "userId": 42, "anonymousId": "a", "traits": []},
        {"type": "track", "event": "x", "anonymousId": "a", "timestamp": "yesterday"},
    ]}
    answer = post(client, batch)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/problem+json"
    problem = json.loads(answer.body)
    found = {(e["index"], e["field"]) for e in problem["errors"]}
    assert found == {
        (0, "batch[0].type"),
        (2, "batch[2].event"),
        (3, "batch[3].userId"),
        (4, "batch[4].userId"),
        (4, "batch[4].traits"),
        (5, "batch[5].timestamp"),
    }
    assert "5 of 6" in problem["detail"]
    assert queued(aws) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{not json", None),
        ("[1, 2]", None),
        ("", None),
        ("\xff", None),
        ('{"batch": []}', "batch"),
        ('{"type": "track", "anonymousId": "a", "event": "e", "properties": [1]}', "properties"),
        ('{"type": "alias", "userId": "u"}', "previousId"),
        ('{"type": "page", "anonymousId": "a", "meta": {"ts": "soon"}}', "meta.ts"),
    ],
)
def test_bad_bodies_are_400(client: Any, aws: dict[str, str], body: str, field: str | None) -> None:
    answer = post(client, body)
    assert answer.status_code == 400, answer.body
    assert json.loads(answer.body).get("field") == field
    assert queued(aws) == []


def test_limits_are_413(client: Any, aws: dict[str, str]) -> None:
    huge_event = {"type": "track", "event": "e", "anonymousId": "a",
                  "properties": {"blob": "x" * (33 * 1024)}}
    answer = post(client, {"batch": [{"type": "page", "anonymousId": "a"}, huge_event]})
    assert answer.status_code == 413
    assert json.loads(answer.body)["errors"][0]["index"] == 1
    many = {"batch": [{"type": "track", "event": "e", "anonymousId": "a",
                       "properties": {"blob": "y" * 30_000}} for _ in range(18)]}
    assert post(client, many).status_code == 413
    assert queued(aws) == []


def test_other_media_types_are_415(client: Any, aws: dict[str, str]) -> None:
    answer = post(client, "type=page", content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 415
    assert answer.headers["Content-Type"] == "application/problem+json"


# --- CORS ----------------------------------------------------------------------------


def test_preflight_for_an_allowed_origin(client: Any, aws: dict[str, str]) -> None:
    answer = client.http.request(
        "OPTIONS", "/events",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"},
    )
    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    assert answer.headers["Access-Control-Allow-Headers"] == "content-type"
    assert "Origin" in answer.headers["Vary"]


def test_preflight_for_a_refused_origin_has_no_cors_headers(
    client: Any, aws: dict[str, str]
) -> None:
    answer = client.http.request(
        "OPTIONS", "/events",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert answer.status_code == 403
    assert not any(h.lower().startswith("access-control-") for h in answer.headers)


def test_post_from_an_allowed_origin_gets_its_origin_back(client: Any, aws: dict[str, str]) -> None:
    answer = post(client, analytics_page(), content_type="text/plain", Origin=ORIGIN)
    assert answer.status_code == 202
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert answer.headers["Vary"] == "Origin"
    bad = post(client, {"type": "nope"}, Origin=ORIGIN)
    assert bad.status_code == 400
    assert bad.headers["Access-Control-Allow-Origin"] == ORIGIN  # the page may read why


def test_post_from_a_foreign_origin_is_refused_and_writes_nothing(
    client: Any, aws: dict[str, str]
) -> None:
    answer = post(client, analytics_page(), content_type="text/plain",
                  Origin="https://evil.example")
    assert answer.status_code == 403
    assert not any(h.lower().startswith("access-control-") for h in answer.headers)
    assert queued(aws) == []


def test_server_to_server_post_without_origin_has_no_cors_headers(
    client: Any, aws: dict[str, str]
) -> None:
    answer = post(client, analytics_page())
    assert answer.status_code == 202
    assert "Access-Control-Allow-Origin" not in answer.headers


APP_URL = "https://links.example.org/api"  # a public URL whose origin is in no allowlist


@pytest.fixture
def public_app(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """The app served at APP_URL; its origin, scheme, host and port."""
    from chalicelib import wiring

    monkeypatch.setenv("PUBLIC_BASE_URL", APP_URL)
    wiring.reset()
    return "https://links.example.org"


def test_the_apps_own_origin_needs_no_allowlist_entry(client: Any, public_app: str) -> None:
    answer = post(client, analytics_page(), content_type="text/plain", Origin=public_app)
    assert answer.status_code == 202
    assert answer.headers["Access-Control-Allow-Origin"] == public_app
    spelled_out = post(client, analytics_page(), content_type="text/plain",
                       Origin="https://LINKS.example.org:443")
    assert spelled_out.status_code == 202  # the same origin, with its default port


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("http://links.example.org", "links.example.org"),  # scheme differs
        ("https://links.example.org:8443", "links.example.org:8443"),  # port differs
        ("https://evil.example", "evil.example"),  # Host names the foreign page itself
        ("https://links.example.org.evil.example", "links.example.org.evil.example"),
    ],
    ids=["http-not-https", "other-port", "host-matching-origin", "suffixed-host"],
)
def test_same_origin_is_the_public_url_exactly_never_the_host_header(
    client: Any, aws: dict[str, str], public_app: str, origin: str, host: str
) -> None:
    answer = post(client, analytics_page(), content_type="text/plain", Origin=origin, Host=host)
    assert answer.status_code == 403
    assert not any(h.lower().startswith("access-control-") for h in answer.headers)
    preflight = client.http.request(
        "OPTIONS", "/events",
        headers={"Origin": origin, "Host": host, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 403
    assert queued(aws) == []


# --- erasure -------------------------------------------------------------------------


def test_erasure_removes_links_and_queues_a_deletion_record(
    client: Any, aws: dict[str, str], auth_headers: dict[str, str]
) -> None:
    from chalicelib import wiring
    from chalicelib.tracking.identity import IdentityLink, IdentityStore

    store = IdentityStore(wiring.dynamodb(), aws["APP_TABLE"])
    store.record([
        IdentityLink("anon-1", "user-9", "2026-01-01T00:00:00.000Z", "m1"),
        IdentityLink("anon-2", "user-9", "2026-01-02T00:00:00.000Z", "m2"),
        IdentityLink("anon-3", "someone-else", "2026-01-02T00:00:00.000Z", "m3"),
    ])
    answer = client.http.delete("/api/users/user-9", headers=auth_headers)
    assert answer.status_code == 202, answer.body
    assert json.loads(answer.body)["identity_links_removed"] == 2
    assert store.resolve(["anon-1", "anon-2", "anon-3"]) == {"anon-3": "someone-else"}
    [record] = queued(aws)
    assert record["kind"] == "erasure"
    assert record["user_id"] == "user-9"
    assert sorted(record["anonymous_ids"]) == ["anon-1", "anon-2"]
    # the API key store shares gsi1 and is untouched
    assert client.http.get("/api/keys", headers=auth_headers).status_code == 200


def test_erasure_needs_an_api_key(client: Any, aws: dict[str, str]) -> None:
    assert client.http.delete("/api/users/user-9").status_code == 401
    assert queued(aws) == []


def test_the_first_identity_link_stays(aws: dict[str, str]) -> None:
    from chalicelib import wiring
    from chalicelib.tracking.identity import IdentityLink, IdentityStore, LinkOutcome

    store = IdentityStore(wiring.dynamodb(), aws["APP_TABLE"])
    first = IdentityLink("anon-1", "first-user", "2026-01-01T00:00:00.000Z", "m1")
    assert store.link(first) is LinkOutcome.WRITTEN
    later = IdentityLink("anon-1", "other-user", "2026-02-01T00:00:00.000Z", "m2")
    assert store.link(later) is LinkOutcome.CONFLICT
    assert store.link(first) is LinkOutcome.ALREADY_LINKED
    assert store.resolve(["anon-1", "unknown"]) == {"anon-1": "first-user"}


# --- limits: ids in UTF-8 bytes, dates in range (each a 400 naming the field) --------

EMOJI_256 = "\U0001F600" * 256  # 256 characters, 1,024 bytes in UTF-8


AT_BOUND = "\U0001F600" * 128  # 512 bytes: accepted


def fill(template: Any, value: str) -> Any:
    """The template with every "ID" string replaced by `value`."""
    if isinstance(template, dict):
        return {k: fill(v, value) for k, v in template.items()}
    return value if template == "ID" else template


@pytest.mark.parametrize(
    ("template", "field", "too_long", "at_bound"),
    [
        ({"type": "identify", "userId": "u1", "anonymousId": "ID"}, "anonymousId",
         EMOJI_256, AT_BOUND),
        ({"type": "identify", "userId": "ID", "anonymousId": "a"}, "userId",
         EMOJI_256, AT_BOUND),
        ({"type": "alias", "userId": "u1", "previousId": "ID"}, "previousId",
         EMOJI_256, AT_BOUND),
        ({"type": "track", "event": "e", "anonymousId": "a", "messageId": "ID"}, "messageId",
         EMOJI_256, AT_BOUND),
        ({"type": "page", "anonymousId": "a", "meta": {"rid": "ID"}}, "meta.rid",
         EMOJI_256, AT_BOUND),
        # three-byte characters: under 256 characters, over 512 bytes
        ({"type": "identify", "userId": "u1", "anonymousId": "ID"}, "anonymousId",
         "\u20ac" * 171, "\u20ac" * 170),
    ],
)
def test_ids_too_long_in_utf8_bytes_are_400(
    client: Any, aws: dict[str, str], template: dict[str, Any], field: str,
    too_long: str, at_bound: str,
) -> None:
    """An id becomes DynamoDB keys ("anon#<id>" is a 1,024-byte-at-most sort key in gsi1):
    it is bounded in UTF-8 bytes, not only in characters."""
    good = {"type": "track", "event": "ok", "anonymousId": "fine"}
    answer = post(client, {"batch": [good, fill(template, too_long)]})
    assert answer.status_code == 400, answer.body
    problem = json.loads(answer.body)
    assert problem["field"] == f"batch[1].{field}"
    assert f"{validation.MAX_ID_BYTES} bytes" in problem["errors"][0]["detail"]
    assert queued(aws) == []
    assert post(client, {"batch": [good, fill(template, at_bound)]}).status_code == 202


def test_a_lone_surrogate_is_400_not_500(client: Any, aws: dict[str, str]) -> None:
    raw = '{"type": "track", "event": "e", "anonymousId": "\\ud800"}'
    answer = post(client, raw)
    assert answer.status_code == 400, answer.body
    assert json.loads(answer.body)["field"] == "body"
    assert queued(aws) == []


@pytest.mark.parametrize(
    ("bad", "edge", "field"),
    [
        ({"meta": {"ts": 1e20}}, {"meta": {"ts": 253402300799999}}, "meta.ts"),
        ({"meta": {"ts": -1e17}}, {"meta": {"ts": -62135596800000}}, "meta.ts"),
        ({"timestamp": "0001-01-01T00:00:00+05:00"}, {"timestamp": "0001-01-01T05:00:00+05:00"},
         "timestamp"),
        ({"sentAt": "9999-12-31T23:59:59-05:00"}, {"sentAt": "9999-12-31T18:59:59-05:00"},
         "sentAt"),
    ],
)
def test_dates_out_of_range_are_400(
    client: Any, aws: dict[str, str], bad: dict[str, Any], edge: dict[str, Any], field: str
) -> None:
    message = {"type": "track", "event": "x", "anonymousId": "a"}
    answer = post(client, {**message, **bad})
    assert answer.status_code == 400, answer.body
    assert json.loads(answer.body)["field"] == field
    assert queued(aws) == []
    # the range's own edges are accepted
    assert post(client, {**message, **edge}).status_code == 202
    [body] = queued(aws)
    [event] = body["events"]
    assert (event["sent_at"] or event["timestamp"])[:4] in ("0001", "9999")


def test_erasure_refuses_a_user_id_too_long_in_utf8_bytes(aws: dict[str, str]) -> None:
    """Called as the route calls it (chalice.test's client does not decode a %-encoded
    path; API Gateway does)."""
    from chalicelib import wiring
    from chalicelib.core.problems import Problem
    from chalicelib.tracking.erasure import erase_user
    from chalicelib.tracking.identity import IdentityStore

    store = IdentityStore(wiring.dynamodb(), aws["APP_TABLE"])
    queue = event_queue.EventQueue(wiring.sqs(), aws["EVENTS_QUEUE_URL"])
    with pytest.raises(Problem) as refused:
        erase_user(store, queue, EMOJI_256, "2026-01-01T00:00:00.000Z")
    assert (refused.value.status, refused.value.field) == (400, "user_id")
    marker = wiring.dynamodb().get_item(
        TableName=aws["APP_TABLE"],
        Key={"pk": {"S": f"user#{EMOJI_256}"}, "sk": {"S": "erased"}},
    )
    assert "Item" not in marker
    assert queued(aws) == []
