"""POST/GET/PATCH/DELETE /api/links through the real app, on moto with the real resources."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from chalicelib import wiring
from tests.support.aws import (
    ERROR_DOCUMENT,
    assert_nothing_written,
    link_items,
    record_message,
    redirect_objects,
)
from tests.support.links import post


def test_create_stores_item_and_redirect_object(client, auth_headers, aws):
    answer = post(client, auth_headers, {"url": "https://example.com/a?b=c", "tags": ["spring"]})
    assert answer.status_code == 201, answer.body
    link = json.loads(answer.body)
    code = link["code"]
    assert len(code) == 7 and code.isalnum()
    assert answer.headers["Location"] == f"/api/links/{code}"
    assert link["short_url"].endswith("/" + code)
    assert link["status"] == "active"
    assert link["url"] == "https://example.com/a?b=c"
    assert link["expires_at"] is None and link["max_clicks"] is None
    head = boto3.client("s3").head_object(Bucket=aws["REDIRECT_BUCKET"], Key=code)
    assert head["WebsiteRedirectLocation"] == "https://example.com/a?b=c"
    dynamodb = boto3.client("dynamodb")
    item = dynamodb.get_item(
        TableName=aws["LINKS_TABLE"], Key={"pk": {"S": f"link#{code}"}, "sk": {"S": "link"}}
    )["Item"]
    assert "human_clicks" not in item  # counts live on the counter, in no index
    assert item["key_id"]["S"] and item["tags"] == {"L": [{"S": "spring"}]}
    assert "expires_at" not in item and "ttl" not in item
    counter = dynamodb.get_item(
        TableName=aws["LINKS_TABLE"], Key={"pk": {"S": f"link#{code}"}, "sk": {"S": "counter"}}
    )["Item"]
    assert counter["human_clicks"] == {"N": "0"} and counter["bot_clicks"] == {"N": "0"}
    assert counter["long_url"] == item["long_url"] and "tags" not in counter
    assert not any(name.startswith("gsi") for name in counter)


def test_custom_code_with_expiry_and_max_clicks(client, auth_headers, aws):
    answer = post(
        client,
        auth_headers,
        {"url": "http://example.org/", "code": "Spring_Sale-1", "ttl": 600, "max_clicks": 3},
    )
    assert answer.status_code == 201, answer.body
    link = json.loads(answer.body)
    assert link["code"] == "Spring_Sale-1" and link["max_clicks"] == 3
    assert link["expires_at"].endswith("Z")
    kinds = sorted(i["sk"]["S"] for i in link_items(aws))
    # the counter and the sweeper's marker came in the same transaction
    assert kinds == ["counter", "expiry", "link"]
    again = post(client, auth_headers, {"url": "http://example.org/", "code": "Spring_Sale-1"})
    assert again.status_code == 409
    assert json.loads(again.body)["field"] == "code"


LONG = "https://example.com/" + "a" * (2001 - len("https://example.com/"))


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"url": "javascript:alert(1)"}, 400, "url"),
        ({"url": "data:text/html,hi"}, 400, "url"),
        ({"url": "ftp://example.com/file"}, 400, "url"),
        ({"url": "/relative/path"}, 400, "url"),
        ({"url": "example.com"}, 400, "url"),
        ({"url": LONG}, 400, "url"),
        ({"url": "https://user:pass@example.com/"}, 400, "url"),
        ({"url": "https://example.com/a b"}, 400, "url"),
        ({"url": "https://example.com/\x01"}, 400, "url"),
        ({"url": ""}, 400, "url"),
        ({"url": 42}, 400, "url"),
        ({}, 400, "url"),
        ({"url": "https://example.com/", "expires_at": "2001-01-01T00:00:00Z"}, 400, "expires_at"),
        ({"url": "https://example.com/", "expires_at": 1000}, 400, "expires_at"),
        ({"url": "https://example.com/", "expires_at": "2099-01-01T00:00:00"}, 400, "expires_at"),
        ({"url": "https://example.com/", "expires_at": "2099-01-01T00:00:00Z"}, 400, "expires_at"),
        ({"url": "https://example.com/", "expires_at": 4102444800, "ttl": 60}, 400, "ttl"),
        ({"url": "https://example.com/", "ttl": 0}, 400, "ttl"),
        ({"url": "https://example.com/", "code": "a/b"}, 400, "code"),
        ({"url": "https://example.com/", "code": "api"}, 400, "code"),
        ({"url": "https://example.com/", "code": "Healthz"}, 400, "code"),
        ({"url": "https://example.com/", "code": "about-me"}, 400, "code"),
        ({"url": "https://example.com/", "code": "ab"}, 400, "code"),
        ({"url": "https://example.com/", "max_clicks": 0}, 400, "max_clicks"),
        ({"url": "https://example.com/", "max_clicks": -1}, 400, "max_clicks"),
        ({"url": "https://example.com/", "max_clicks": "a"}, 400, "max_clicks"),
        ({"url": "https://example.com/", "max_clicks": True}, 400, "max_clicks"),
        ({"url": "https://example.com/", "colour": "red"}, 400, "colour"),
        ({"url": "https://example.com/", "tags": "spring"}, 400, "tags"),
        ({"url": "https://example.com/", "expired_url": "javascript:x"}, 400, "expired_url"),
        # Numbers out of range (each answered 500 before: int(nan), decimal.Rounded).
        ({"url": "https://example.com/", "code": "demo"}, 400, "code"),
        ({"url": "https://example.com/", "max_clicks": 10**41}, 400, "max_clicks"),
        ({"url": "https://example.com/", "max_clicks": 10**9 + 1}, 400, "max_clicks"),
        ({"url": "https://example.com/", "max_clicks": 1e41}, 400, "max_clicks"),
        ({"url": "https://example.com/", "max_clicks": 2.5}, 400, "max_clicks"),
        ({"url": "https://example.com/", "expires_at": 10**41}, 400, "expires_at"),
        ({"url": "https://example.com/", "expires_at": 10**400}, 400, "expires_at"),
        ({"url": "https://example.com/", "expires_at": -(10**400)}, 400, "expires_at"),
        ({"url": "https://example.com/", "expires_at": 1e300}, 400, "expires_at"),
        ({"url": "https://example.com/", "ttl": 10**41}, 400, "ttl"),
        ({"url": "https://example.com/", "ttl": 1e41}, 400, "ttl"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(client, auth_headers, aws, body, status, field):
    answer = post(client, auth_headers, body)
    assert answer.status_code == status, answer.body
    problem = json.loads(answer.body)
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert problem["status"] == status and problem["field"] == field
    assert_nothing_written(aws)


NOT_JSON_NUMBERS = [
    '{"url": "https://example.com/", "expires_at": NaN}',
    '{"url": "https://example.com/", "expires_at": Infinity}',
    '{"url": "https://example.com/", "expires_at": -Infinity}',
    '{"url": "https://example.com/", "max_clicks": NaN}',
    '{"url": "https://example.com/", "ttl": Infinity}',
]


@pytest.mark.parametrize("raw", NOT_JSON_NUMBERS)
def test_nan_and_infinity_are_not_json(client, auth_headers, aws, raw):
    """Python's json module reads NaN and Infinity; RFC 8259 has no such numbers."""
    answer = client.http.post("/api/links", headers=auth_headers, body=raw)
    assert answer.status_code == 400, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    problem = json.loads(answer.body)
    assert problem["status"] == 400 and "RFC 8259" in problem["detail"]
    assert "not valid JSON" in problem["detail"]
    assert_nothing_written(aws)


def test_a_number_overflowing_a_float_is_refused(client, auth_headers, aws):
    raw = '{"url": "https://example.com/", "expires_at": 1e400}'
    answer = client.http.post("/api/links", headers=auth_headers, body=raw)
    assert answer.status_code == 400, answer.body
    assert "out of range" in json.loads(answer.body)["detail"]
    assert_nothing_written(aws)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"expires_at": NaN}', None),
        ('{"max_clicks": -Infinity}', None),
        ('{"max_clicks": 100000000000000000000000000000000000000000}', "max_clicks"),
        ('{"expires_at": 1e300}', "expires_at"),
        ('{"ttl": 100000000000000000000000000000000000000000}', "ttl"),
    ],
)
def test_patch_refuses_out_of_range_numbers_and_changes_nothing(
    client, auth_headers, aws, raw, field
):
    body = {"url": "https://example.com/", "code": "patch-me", "ttl": 600, "max_clicks": 5}
    assert post(client, auth_headers, body).status_code == 201
    before = link_items(aws)
    answer = client.http.patch("/api/links/patch-me", headers=auth_headers, body=raw)
    assert answer.status_code == 400, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert json.loads(answer.body).get("field") == field
    assert link_items(aws) == before


def test_unknown_fields_are_named(client, auth_headers, aws):
    answer = post(client, auth_headers, {"url": "https://example.com/", "zeta": 1, "alpha": 2})
    assert answer.status_code == 400
    assert "alpha, zeta" in json.loads(answer.body)["detail"]
    assert_nothing_written(aws)


def test_body_that_is_not_json(client, auth_headers, aws):
    answer = client.http.post("/api/links", headers=auth_headers, body='{"url": ')
    assert answer.status_code == 400
    assert json.loads(answer.body)["status"] == 400
    assert_nothing_written(aws)


def test_body_that_is_not_an_object(client, auth_headers, aws):
    answer = client.http.post("/api/links", headers=auth_headers, body='["https://example.com"]')
    assert answer.status_code == 400
    assert_nothing_written(aws)


def test_body_over_64_kb(client, auth_headers, aws):
    body = json.dumps({"url": "https://example.com/", "tags": ["x" * 70_000]})
    answer = client.http.post("/api/links", headers=auth_headers, body=body)
    assert answer.status_code == 413
    assert_nothing_written(aws)


def test_body_with_another_content_type(client, auth_headers, aws):
    headers = {**auth_headers, "Content-Type": "text/plain"}
    answer = client.http.post("/api/links", headers=headers, body='{"url":"https://e.com/"}')
    assert answer.status_code == 415
    assert json.loads(answer.body)["status"] == 415
    assert_nothing_written(aws)


def test_destination_allowlist(client, auth_headers, aws, monkeypatch):
    from chalicelib import wiring

    monkeypatch.setenv("ALLOWED_DESTINATION_HOSTS", "example.com,*.shop.example")
    wiring.reset()
    assert post(client, auth_headers, {"url": "https://example.com/x"}).status_code == 201
    assert post(client, auth_headers, {"url": "https://eu.shop.example/x"}).status_code == 201
    refused = post(client, auth_headers, {"url": "https://evil.example.net/"})
    assert refused.status_code == 400 and json.loads(refused.body)["field"] == "url"
    assert len(redirect_objects(aws)) == 2


def test_s3_failure_leaves_nothing(client, auth_headers, aws):
    """The bucket really goes away: PutObject fails, the item is removed, 503."""
    s3 = boto3.client("s3")
    s3.delete_object(Bucket=aws["REDIRECT_BUCKET"], Key=ERROR_DOCUMENT)
    s3.delete_bucket(Bucket=aws["REDIRECT_BUCKET"])
    answer = post(client, auth_headers, {"url": "https://example.com/", "ttl": 60})
    assert answer.status_code == 503
    assert json.loads(answer.body)["status"] == 503
    assert link_items(aws) == []


def test_s3_failure_through_the_service_with_a_missing_bucket(aws):
    from dataclasses import replace

    from chalicelib import wiring
    from chalicelib.core.problems import Unavailable
    from chalicelib.links import model as links_model
    from chalicelib.links import service as links

    settings = replace(wiring.settings(), redirect_bucket="linktrail-no-such-bucket")
    service = links.LinkService(wiring.dynamodb(), wiring.s3(), settings)
    with pytest.raises(Unavailable):
        service.create(
            links_model.NewLink(url="https://example.com/", code="orphan", expires_at=None), "k"
        )
    assert link_items(aws) == []
    assert redirect_objects(aws) == []


def test_get_shows_counters_and_message(client, auth_headers, aws):
    code = json.loads(post(client, auth_headers, {"url": "https://example.com/"}).body)["code"]
    boto3.client("dynamodb").update_item(  # what the edge function writes on a click
        TableName=aws["LINKS_TABLE"],
        Key={"pk": {"S": f"link#{code}"}, "sk": {"S": "counter"}},
        UpdateExpression="ADD human_clicks :one SET first_click_at = :t, last_click_at = :t",
        ExpressionAttributeValues={":one": {"N": "1"}, ":t": {"S": "2030-01-02T03:04:05.000Z"}},
    )
    answer = client.http.get(f"/api/links/{code}", headers=auth_headers)
    assert answer.status_code == 200
    link = json.loads(answer.body)
    assert link["clicks"] == {"human": 1, "bot": 0}
    assert link["first_click_at"] == link["last_click_at"] == "2030-01-02T03:04:05.000Z"
    assert "clicks_by_day" not in link  # per-day and per-country: /api/analytics
    assert link["message"] is None
    assert client.http.get("/api/links/nope123", headers=auth_headers).status_code == 404
    assert client.http.get(f"/api/links/{code}").status_code == 401


def test_max_clicks_reached_reads_as_expired(client, auth_headers, aws):
    body = {"url": "https://example.com/", "code": "once-only", "max_clicks": 1}
    assert post(client, auth_headers, body).status_code == 201
    boto3.client("dynamodb").update_item(
        TableName=aws["LINKS_TABLE"],
        Key={"pk": {"S": "link#once-only"}, "sk": {"S": "counter"}},
        UpdateExpression="ADD human_clicks :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    link = json.loads(client.http.get("/api/links/once-only", headers=auth_headers).body)
    assert link["status"] == "expired"


def test_list_newest_first_with_cursor_tag_and_campaign(client, auth_headers, aws):
    codes = []
    for n in range(5):
        tags = ["even"] if n % 2 == 0 else []
        answer = post(client, auth_headers, {"url": f"https://example.com/{n}", "tags": tags})
        codes.append(json.loads(answer.body)["code"])
        time.sleep(0.002)  # distinct created_at milliseconds
    first = json.loads(client.http.get("/api/links?limit=2", headers=auth_headers).body)
    assert [link["code"] for link in first["links"]] == codes[::-1][:2]
    second = json.loads(
        client.http.get(
            f"/api/links?limit=2&cursor={first['next_cursor']}", headers=auth_headers
        ).body
    )
    assert [link["code"] for link in second["links"]] == codes[::-1][2:4]
    third = json.loads(
        client.http.get(
            f"/api/links?limit=2&cursor={second['next_cursor']}", headers=auth_headers
        ).body
    )
    assert [link["code"] for link in third["links"]] == codes[:1]
    assert third["next_cursor"] is None
    tagged = json.loads(client.http.get("/api/links?tag=even", headers=auth_headers).body)
    assert [link["code"] for link in tagged["links"]] == [codes[4], codes[2], codes[0]]
    by_campaign = json.loads(
        client.http.get("/api/links?campaign_id=AAAAAAAAAAAA", headers=auth_headers).body
    )
    assert by_campaign == {"links": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("limit=%C2%B2", "limit"),  # "²" is a digit to str.isdigit, not to int()
        ("limit=" + "9" * 5000, "limit"),  # past int()'s 4,300 digits
        ("cursor=bm90LWEtY3Vyc29y", "cursor"),
        ("cursor=%%%", "cursor"),
        ("cursor=", "cursor"),
        ("campaign_id=x/y", "campaign_id"),
        ("sort=asc", "sort"),
    ],
)
def test_list_refuses_bad_parameters(client, auth_headers, aws, query, field):
    answer = client.http.get(f"/api/links?{query}", headers=auth_headers)
    assert answer.status_code == 400
    assert json.loads(answer.body)["field"] == field


def test_patch_url_moves_the_redirect_and_expiry_moves_the_marker(client, auth_headers, aws):
    code = json.loads(post(client, auth_headers, {"url": "https://example.com/old"}).body)["code"]
    answer = client.http.patch(
        f"/api/links/{code}",
        headers=auth_headers,
        body=json.dumps({"url": "https://example.com/new", "ttl": 300, "max_clicks": 5}),
    )
    assert answer.status_code == 200, answer.body
    link = json.loads(answer.body)
    assert link["url"] == "https://example.com/new" and link["max_clicks"] == 5
    assert link["expires_at"] is not None
    head = boto3.client("s3").head_object(Bucket=aws["REDIRECT_BUCKET"], Key=code)
    assert head["WebsiteRedirectLocation"] == "https://example.com/new"
    assert sorted(i["sk"]["S"] for i in link_items(aws)) == ["counter", "expiry", "link"]
    counter = boto3.client("dynamodb").get_item(
        TableName=aws["LINKS_TABLE"], Key={"pk": {"S": f"link#{code}"}, "sk": {"S": "counter"}}
    )["Item"]
    # what a click checks changed with the link, in the same transaction
    assert counter["long_url"] == {"S": "https://example.com/new"}
    assert counter["max_clicks"] == {"N": "5"} and "expires_at" in counter
    cleared = client.http.patch(
        f"/api/links/{code}", headers=auth_headers, body=json.dumps({"expires_at": None})
    )
    assert json.loads(cleared.body)["expires_at"] is None
    assert [i["sk"]["S"] for i in link_items(aws)] == ["counter", "link"]
    counter = next(i for i in link_items(aws) if i["sk"]["S"] == "counter")
    assert "expires_at" not in counter  # the counter's copy went too
    bad = client.http.patch(
        f"/api/links/{code}", headers=auth_headers, body=json.dumps({"url": "ftp://x"})
    )
    assert bad.status_code == 400 and json.loads(bad.body)["field"] == "url"
    head = boto3.client("s3").head_object(Bucket=aws["REDIRECT_BUCKET"], Key=code)
    assert head["WebsiteRedirectLocation"] == "https://example.com/new"
    missing = client.http.patch(
        "/api/links/nothere", headers=auth_headers, body=json.dumps({"max_clicks": 2})
    )
    assert missing.status_code == 404


def test_delete_stops_the_redirect_and_keeps_a_tombstone(client, auth_headers, aws):
    body = {"url": "https://example.com/", "code": "gone-soon", "ttl": 600}
    assert post(client, auth_headers, body).status_code == 201
    answer = client.http.delete("/api/links/gone-soon", headers=auth_headers)
    assert answer.status_code == 204
    assert redirect_objects(aws) == []
    assert [i["sk"]["S"] for i in link_items(aws)] == ["tombstone"]
    link = json.loads(client.http.get("/api/links/gone-soon", headers=auth_headers).body)
    assert link["status"] == "deleted" and link["ended_at"]
    assert client.http.delete("/api/links/gone-soon", headers=auth_headers).status_code == 410
    # A tombstoned code is never handed out again.
    again = post(client, auth_headers, {"url": "https://example.com/", "code": "gone-soon"})
    assert again.status_code == 409
    assert redirect_objects(aws) == []
    listed = json.loads(client.http.get("/api/links", headers=auth_headers).body)["links"]
    assert [(link["code"], link["status"]) for link in listed] == [("gone-soon", "deleted")]


def test_generated_codes_retry_on_collision(aws):
    from chalicelib.links import model as links_model
    from chalicelib.links import service as links

    drawn = iter(["Taken12", "Taken12", "Fresh34"])
    service = links.LinkService(
        wiring.dynamodb(), wiring.s3(), wiring.settings(), codes=lambda: next(drawn)
    )
    service.create(links_model.NewLink(url="https://example.com/", code="Taken12"), "k")
    item = service.create(links_model.NewLink(url="https://example.com/2"), "k")
    assert item["code"] == "Fresh34"
    assert sorted(redirect_objects(aws)) == ["Fresh34", "Taken12"]


def test_get_shows_the_message_masked(client, auth_headers, aws):
    code = json.loads(post(client, auth_headers, {"url": "https://example.com/"}).body)["code"]
    record_message(aws, code, {
        "channel": "sms", "to": "+447400123456", "to_masked": "+44*******456",
        "text": "Hi http://sho.rt/x", "status": "delivered", "uuid": "u-1",
    })
    message = json.loads(client.http.get(f"/api/links/{code}", headers=auth_headers).body)[
        "message"
    ]
    assert message["to"] == "+44*******456" and message["status"] == "delivered"
    assert "+447400123456" not in json.dumps(message) and "text" not in message
