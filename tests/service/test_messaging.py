"""Texting links: the real Vonage SDK against the local fake Messages API,
receipts signed with real JWTs, opt-outs, the allowlist and the quota, on moto."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import jwt
import pytest

from chalicelib import wiring
from tests.support.env import set_env
from tests.support.messaging import (
    MASKED,
    NUMBER,
    link_item,
    message_of,
    order,
    post,
    put_link,
    receipt,
    send,
    signed,
)
from tests.support.paths import ROOT

# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def configured() -> Iterator[None]:
    """Texting configured, no AWS at all (an unreachable endpoint)."""
    from chalicelib import wiring

    values = {"VONAGE_APPLICATION_ID": "app-id", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
              "APP_TABLE": "unreachable", "SMS_ALLOWED_COUNTRIES": ""}
    saved = {k: os.environ.get(k) for k in values}
    set_env(**values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        wiring.reset()


# --- import cost ---------------------------------------------------------------------------


def test_importing_app_does_not_import_the_vonage_sdk() -> None:
    code = ("import app, sys; loaded = [m for m in sys.modules if m.split('.')[0] in "
            "('vonage', 'vonage_messages', 'vonage_http_client', 'phonenumbers', 'jwt')]; "
            "assert not loaded, loaded")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT")}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


# --- orders: validation, allowlist, quota -----------------------------------------------


@pytest.mark.parametrize(("sms", "field"), [
    ("+447400123456", "sms"),
    ({"to": "+447400123456", "body": "x"}, "sms.body"),
    ({"to": "07400 123456"}, "sms.to"),
    ({"to": "+44740012345"}, "sms.to"),
    ({"to": "+19005551234"}, "sms.to"),  # premium rate
    ({"to": NUMBER, "channel": "sms_gateway"}, "sms.channel"),
    ({"to": NUMBER, "channel": {}}, "sms.channel"),
    ({"to": NUMBER, "text": "no placeholder"}, "sms.text"),
    ({"to": NUMBER, "text": "x" * 3190 + "{link}"}, "sms.text"),
    ({"to": NUMBER, "channel": "messenger", "text": "y" * 600 + "{link}"}, "sms.text"),
    ({"to": NUMBER, "from": "a sender name too long"}, "sms.from"),
    ({"to": "not an id!", "channel": "messenger"}, "sms.to"),
])
def test_invalid_orders_are_refused(configured: None, sms: Any, field: str) -> None:
    """Refused before the quota (the only write parse_order makes) is touched: no
    emulator here, so a write would fail the test with a connection error."""
    from chalicelib.core.problems import Problem

    with pytest.raises(Problem) as refused:
        wiring.texting().parse_order(sms, key_id="testkey00001")
    assert refused.value.status == 400
    assert refused.value.field == field


def test_order_accepts_spaced_numbers_and_renders_the_link(texting: Any) -> None:
    parsed = order("+44 7400 123456", text="Your offer: {link} (reply STOP to opt out)")
    assert parsed.recipient.address == NUMBER
    assert parsed.recipient.country == "GB"
    assert parsed.render("http://sho.rt/abc") == (
        "Your offer: http://sho.rt/abc (reply STOP to opt out)")


def test_country_allowlist(texting: Any) -> None:
    from chalicelib.core.problems import Problem

    set_env(SMS_ALLOWED_COUNTRIES="gb,IE")
    assert order(NUMBER).recipient.country == "GB"
    with pytest.raises(Problem) as refused:
        order("+33612345678")
    assert (refused.value.status, refused.value.field) == (400, "sms.to")
    assert refused.value.slug == "sms-country-not-allowed"


def test_unconfigured_texting_is_a_503(texting: Any) -> None:
    from chalicelib.core.problems import Problem

    set_env(VONAGE_APPLICATION_ID="")
    with pytest.raises(Problem) as refused:
        order()
    assert refused.value.status == 503


def test_daily_quota_refuses_with_429_and_counts_nothing_more(texting: Any) -> None:
    from chalicelib import wiring
    from chalicelib.core.problems import Problem

    set_env(SMS_DAILY_QUOTA="2")
    first, _ = order(), order()
    with pytest.raises(Problem) as refused:
        order()
    assert refused.value.status == 429
    assert 0 < int(refused.value.headers["Retry-After"]) <= 86400
    counters = wiring.dynamodb().scan(TableName=wiring.settings().app_table)["Items"]
    sends = [int(i["sends"]["N"]) for i in counters if i["pk"]["S"] == "smsquota#testkey00001"]
    assert sends == [2]
    wiring.texting().cancel_order(first)  # the link could not be made: the send comes back
    assert order().recipient.address == NUMBER
    with pytest.raises(Problem):
        order()


# --- sending through the real SDK ----------------------------------------------------------


def test_send_goes_through_the_sdk_with_the_exact_request(texting: Any) -> None:
    answer = send("abc123", text="Hi! {link}")
    assert answer["status"] == "accepted"
    assert answer["to"] == MASKED
    assert answer["channel"] == "sms"
    [request] = texting.api.requests
    assert request["body"] == {
        "to": "447400123456",
        "from": "linktrail",
        "text": "Hi! http://sho.rt/abc123",
        "channel": "sms",
        "message_type": "text",
        "client_ref": "abc123",
        "webhook_url": "http://127.0.0.1:8000/webhooks/vonage/status",
    }
    # the fake verified this token with the public key; check it here as well
    token = request["headers"]["authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, os.environ["VONAGE_PUBLIC_KEY"], algorithms=["RS256"])
    assert claims["application_id"] == os.environ["VONAGE_APPLICATION_ID"]
    assert answer["uuid"] == texting.api.outbox[0]["message_uuid"]
    stored = message_of("abc123")
    assert stored["status"] == "accepted" and stored["uuid"] == answer["uuid"]
    assert stored["to"] == NUMBER and stored["to_masked"] == MASKED


@pytest.mark.parametrize(("channel", "sender", "vonage_channel"), [
    ("whatsapp", "447700900001", "whatsapp"),
    ("viber", "linktrail", "viber_service"),
])
def test_other_channels(texting: Any, channel: str, sender: str, vonage_channel: str) -> None:
    answer = send("chan" + channel[:3], channel=channel, **{"from": sender})
    assert answer["status"] == "accepted"
    assert texting.api.requests[-1]["body"]["channel"] == vonage_channel
    assert texting.api.requests[-1]["body"]["from"] == sender


def test_messenger_addresses_a_user_id(texting: Any) -> None:
    answer = send("msgr01", to="4567890123", channel="messenger", **{"from": "112233"})
    assert answer["status"] == "accepted"
    assert answer["to"] == "45*****123"
    assert texting.api.requests[-1]["body"]["to"] == "4567890123"


def test_a_retried_send_never_texts_twice(texting: Any) -> None:

    first = send("once01")
    again = wiring.texting().send_for_link(order(), code="once01", short_url="http://sho.rt/once01")
    assert again["uuid"] == first["uuid"]
    assert len(texting.api.requests) == 1


def test_sending_for_a_missing_link_is_404_and_creates_nothing(texting: Any) -> None:
    from chalicelib.core.problems import Problem

    with pytest.raises(Problem) as missing:
        wiring.texting().send_for_link(order(), code="nolink", short_url="http://sho.rt/nolink")
    assert missing.value.status == 404
    assert link_item("nolink") is None
    assert texting.api.requests == []


@pytest.mark.parametrize(("plan", "reason"), [
    ({"status": 422, "body": {"title": "Invalid params", "detail": "to 447400123456 bad"}},
     "Vonage answered 422 Invalid params: to 44*******456 bad"),
    ({"status": 500}, "Vonage answered 500"),
    ({"status": 503}, "Vonage answered 503"),
])
def test_vonage_errors_keep_the_link_with_send_failed_and_resend_works(
    texting: Any, client: Any, auth_headers: dict[str, str], plan: dict[str, Any], reason: str
) -> None:
    texting.api.plan(**plan)
    answer = send("fail01")
    assert answer["status"] == "send_failed"
    assert answer["error"].startswith(reason)
    assert link_item("fail01") is not None
    assert message_of("fail01")["status"] == "send_failed"

    resent = client.http.post("/api/links/fail01/resend", headers=auth_headers, body="{}")
    assert resent.status_code == 200, resent.body
    assert resent.json_body["message"]["status"] == "accepted"
    assert resent.json_body["message"]["to"] == MASKED
    assert "error" not in resent.json_body["message"]
    assert len(texting.api.requests) == 2
    assert message_of("fail01")["attempts"] == 2

    twice = client.http.post("/api/links/fail01/resend", headers=auth_headers, body="{}")
    assert twice.status_code == 409
    assert twice.headers["Content-Type"] == "application/problem+json"
    assert len(texting.api.requests) == 2


def test_a_timeout_is_send_failed_and_resend_works(
    texting: Any, client: Any, auth_headers: dict[str, str]
) -> None:
    from chalicelib import wiring
    from chalicelib.messaging import texting as messaging
    from chalicelib.messaging.vonage import VonageSender

    put_link("slow01")
    service = messaging.Texting(wiring.dynamodb(), wiring.settings(),
                                VonageSender(wiring.settings(), timeout=1))
    texting.api.plan(hang=2.5)
    started = time.monotonic()
    answer = service.send_for_link(order(), code="slow01", short_url="http://sho.rt/slow01")
    assert time.monotonic() - started < 2.4
    assert answer == {**answer, "status": "send_failed",
                      "error": "Vonage did not answer within 1 s."}
    resent = client.http.post("/api/links/slow01/resend", headers=auth_headers, body="{}")
    assert resent.json_body["message"]["status"] == "accepted"


def test_rate_limited_sends_are_throttled_with_retry_after_and_retry(texting: Any) -> None:

    texting.api.plan(status=429, retry_after="7")
    answer = send("busy01")
    assert answer["status"] == "throttled"
    assert answer["retry_after"] == 7
    # the campaign worker retries the same order later: it is sent then, once
    again = wiring.texting().send_for_link(order(), code="busy01", short_url="http://sho.rt/busy01")
    assert again["status"] == "accepted"
    assert len(texting.api.requests) == 2


def test_resend_of_unknown_or_untexted_links(
    texting: Any, client: Any, auth_headers: dict[str, str]
) -> None:
    assert client.http.post("/api/links/nope99/resend", headers=auth_headers,
                            body="{}").status_code == 404
    put_link("plain1")
    assert client.http.post("/api/links/plain1/resend", headers=auth_headers,
                            body="{}").status_code == 409
    assert client.http.post("/api/links/plain1/resend", body="{}").status_code == 401


def test_resend_counts_against_the_quota(
    texting: Any, client: Any, auth_headers: dict[str, str]
) -> None:
    texting.api.plan(status=500)
    send("quota1")
    set_env(SMS_DAILY_QUOTA="0")
    refused = client.http.post("/api/links/quota1/resend", headers=auth_headers, body="{}")
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    assert message_of("quota1")["status"] == "send_failed"
    assert len(texting.api.requests) == 1


# --- receipts ------------------------------------------------------------------------------


def test_signed_receipts_from_the_fake_mark_the_link_delivered(
    texting: Any, client: Any
) -> None:
    answer = send("rcpt01")
    deadline = time.monotonic() + 30  # both receipts come at once; a loaded machine is slow
    while len(texting.api.receipts) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    for signed_receipt in texting.api.receipts:
        response = post(client, "/webhooks/vonage/status", signed_receipt.headers,
                        signed_receipt.body)
        assert response.status_code == 204, response.body
    stored = message_of("rcpt01")
    assert stored["status"] == "delivered"
    assert stored["uuid"] == answer["uuid"]
    assert stored["price"] == Decimal("0.0333") and stored["currency"] == "EUR"


def test_receipt_is_one_aws_call(texting: Any, client: Any) -> None:
    from bench.core import count_aws_calls
    from chalicelib import wiring

    answer = send("calls1")
    headers, raw = signed(receipt("calls1", "delivered", answer["uuid"]),
                          os.environ["VONAGE_SIGNATURE_SECRET"])
    with count_aws_calls(wiring.dynamodb()) as calls:
        assert post(client, "/webhooks/vonage/status", headers, raw).status_code == 204
    assert sum(calls.values()) == 1, calls


@pytest.mark.parametrize("forgery", [
    "forged signature", "wrong payload_hash", "missing header", "malformed token",
    "wrong scheme", "alg none",
])
def test_unverifiable_receipts_are_401_and_change_nothing(
    texting: Any, client: Any, forgery: str
) -> None:
    answer = send("forge1")
    before = link_item("forge1")
    body = receipt("forge1", "delivered", answer["uuid"])
    secret = os.environ["VONAGE_SIGNATURE_SECRET"]
    if forgery == "forged signature":
        headers, raw = signed(body, secret + "x")
    elif forgery == "wrong payload_hash":
        headers, raw = signed(body, secret, payload_hash=hashlib.sha256(b"{}").hexdigest())
    elif forgery == "missing header":
        headers, raw = signed(body, secret)
        del headers["Authorization"]
    elif forgery == "malformed token":
        headers, raw = signed(body, secret)
        headers["Authorization"] = "Bearer not.a.jwt"
    elif forgery == "wrong scheme":
        headers, raw = signed(body, secret)
        headers["Authorization"] = headers["Authorization"].replace("Bearer", "Basic")
    else:
        raw = json.dumps(body).encode()
        token = jwt.encode({"payload_hash": hashlib.sha256(raw).hexdigest()}, "",
                           algorithm="none")
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    response = post(client, "/webhooks/vonage/status", headers, raw)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert link_item("forge1") == before


def test_a_body_changed_after_signing_is_refused(texting: Any, client: Any) -> None:
    answer = send("tamp01")
    headers, raw = signed(receipt("tamp01", "delivered", answer["uuid"]),
                          os.environ["VONAGE_SIGNATURE_SECRET"])
    tampered = raw.replace(b'"delivered"', b'"read"')
    assert post(client, "/webhooks/vonage/status", headers, tampered).status_code == 401
    assert message_of("tamp01")["status"] == "accepted"


def test_receipts_only_move_forward(texting: Any, client: Any) -> None:
    answer = send("order1")
    secret = os.environ["VONAGE_SIGNATURE_SECRET"]
    uuid = answer["uuid"]

    def deliver(status: str, **extra: Any) -> None:
        headers, raw = signed(receipt("order1", status, uuid, **extra), secret)
        assert post(client, "/webhooks/vonage/status", headers, raw).status_code == 204

    deliver("delivered", usage={"currency": "EUR", "price": "0.0450"})
    deliver("submitted")  # late
    deliver("delivered")  # repeated
    stored = message_of("order1")
    assert stored["status"] == "delivered"
    assert stored["price"] == Decimal("0.045")
    deliver("read")
    deliver("delivered")
    assert message_of("order1")["status"] == "read"


def test_a_rejection_stores_its_error(texting: Any, client: Any) -> None:
    answer = send("rejct1")
    headers, raw = signed(receipt("rejct1", "rejected", answer["uuid"], error={
        "type": "https://developer.vonage.com/api-errors/messages#1240",
        "title": 1240, "detail": "Illegal Number"}), os.environ["VONAGE_SIGNATURE_SECRET"])
    assert post(client, "/webhooks/vonage/status", headers, raw).status_code == 204
    stored = message_of("rejct1")
    assert stored["status"] == "rejected" and stored["error"] == "1240: Illegal Number"


def test_receipts_of_another_message_uuid_are_ignored(texting: Any, client: Any) -> None:
    send("uuid01")
    headers, raw = signed(receipt("uuid01", "delivered", "a-previous-attempt"),
                          os.environ["VONAGE_SIGNATURE_SECRET"])
    assert post(client, "/webhooks/vonage/status", headers, raw).status_code == 204
    assert message_of("uuid01")["status"] == "accepted"


def test_unknown_client_ref_is_204_and_creates_nothing(texting: Any, client: Any) -> None:
    headers, raw = signed(receipt("ghost1", "delivered", "u-1"),
                          os.environ["VONAGE_SIGNATURE_SECRET"])
    assert post(client, "/webhooks/vonage/status", headers, raw).status_code == 204
    assert link_item("ghost1") is None


def test_receipt_for_a_link_without_message_changes_nothing(texting: Any, client: Any) -> None:
    put_link("nomsg1")
    before = link_item("nomsg1")
    headers, raw = signed(receipt("nomsg1", "delivered", "u-1"),
                          os.environ["VONAGE_SIGNATURE_SECRET"])
    assert post(client, "/webhooks/vonage/status", headers, raw).status_code == 204
    assert link_item("nomsg1") == before


def test_webhooks_refuse_other_content_types_and_non_objects(texting: Any, client: Any) -> None:
    headers, raw = signed(b"[1, 2]", os.environ["VONAGE_SIGNATURE_SECRET"])
    assert post(client, "/webhooks/vonage/status", headers, raw).status_code == 400
    headers["Content-Type"] = "text/plain"
    assert post(client, "/webhooks/vonage/status", headers, raw).status_code == 415


# --- opt-out -------------------------------------------------------------------------------


def inbound(client: Any, text: str, sender: str = NUMBER[1:]) -> None:
    body = {"channel": "sms", "message_uuid": "in-1", "to": "447700900001", "from": sender,
            "timestamp": "2026-01-01T00:00:00Z", "text": text, "message_type": "text"}
    headers, raw = signed(body, os.environ["VONAGE_SIGNATURE_SECRET"])
    assert post(client, "/webhooks/vonage/inbound", headers, raw).status_code == 204


def test_opt_out_round_trip(texting: Any, client: Any) -> None:
    from chalicelib import wiring

    inbound(client, "  sToP \n")
    answer = send("optout")
    assert answer["status"] == "opted_out"
    assert answer["to"] == MASKED
    assert texting.api.requests == []
    stored = wiring.dynamodb().scan(TableName=wiring.settings().app_table)["Items"]
    assert NUMBER[1:] not in json.dumps(stored)  # the opt-out is kept by hash only

    inbound(client, "START")
    assert send("optin1")["status"] == "accepted"
    assert len(texting.api.requests) == 1


def test_every_stop_keyword_opts_out(texting: Any, client: Any) -> None:
    for keyword in ["STOPALL", "unsubscribe", "Cancel", "end", "QUIT"]:
        inbound(client, keyword)
        assert send("kw" + keyword[:4].lower())["status"] == "opted_out", keyword
        inbound(client, "start")
    assert texting.api.requests == []


def test_other_inbound_text_changes_nothing(texting: Any, client: Any) -> None:
    inbound(client, "please stop sending me these")
    assert send("chat01")["status"] == "accepted"


def test_forged_inbound_is_401_and_opts_nobody_out(texting: Any, client: Any) -> None:
    body = {"channel": "sms", "from": NUMBER[1:], "text": "STOP"}
    headers, raw = signed(body, "not-the-signature-secret-of-this-account")
    assert post(client, "/webhooks/vonage/inbound", headers, raw).status_code == 401
    assert send("forgin")["status"] == "accepted"


# --- outbox ---------------------------------------------------------------------------------


@pytest.fixture
def local_client(aws: dict[str, str]) -> Iterator[Any]:
    """A client over an app with the local stack's own routes, as local/app_server.py
    serves them (the Lambda's app never has them)."""
    from chalice import Chalice
    from chalice.test import Client

    from chalicelib import http
    from local import routes

    local_app = Chalice(app_name="linktrail-local")
    local_app.register_middleware(http.problems_and_keys(wiring.key_store), "http")
    local_app.register_blueprint(routes.bp)
    with Client(local_app) as client:
        yield client


def test_outbox_lists_texts_masked_on_the_local_stage(
    texting: Any, local_client: Any, auth_headers: dict[str, str]
) -> None:
    send("outbx1", text="See {link}")
    listed = local_client.http.get("/api/outbox", headers=auth_headers)
    assert listed.status_code == 200
    [entry] = [m for m in listed.json_body["messages"] if m["client_ref"] == "outbx1"]
    assert entry["to"] == MASKED and entry["text"] == "See http://sho.rt/outbx1"
    assert NUMBER[1:] not in listed.body.decode()
    outbox_file = Path(os.environ["VONAGE_CA_BUNDLE"]).parent.parent / "outbox.jsonl"
    assert "outbx1" in outbox_file.read_text()
    assert NUMBER[1:] not in outbox_file.read_text()


def test_outbox_needs_an_api_key(texting: Any, local_client: Any) -> None:
    listed = local_client.http.get("/api/outbox")
    assert listed.status_code == 401
    assert listed.headers["Content-Type"] == "application/problem+json"


def test_the_lambda_app_has_no_local_routes() -> None:
    from app import app

    assert not {"/api/outbox", "/demo/analytics", "/demo/analytics.min.js"} & set(app.routes)


# --- through POST /api/links (links.py calls parse_order and send_for_link) ----------------


def create(client: Any, auth_headers: dict[str, str], sms: dict[str, Any]) -> Any:
    return client.http.post("/api/links", headers=auth_headers,
                            body=json.dumps({"url": "https://example.com/offer", "sms": sms}))


def test_create_link_with_sms(texting: Any, client: Any, auth_headers: dict[str, str]) -> None:
    created = create(client, auth_headers, {"to": NUMBER, "text": "Hi {link}"})
    assert created.status_code == 201, created.body
    link = created.json_body
    assert link["message"]["status"] == "accepted"
    assert link["message"]["to"] == MASKED
    assert NUMBER[1:] not in created.body.decode()
    assert texting.api.requests[-1]["body"]["text"] == f"Hi {link['short_url']}"
    assert texting.api.requests[-1]["body"]["client_ref"] == link["code"]
    shown = client.http.get(f"/api/links/{link['code']}", headers=auth_headers).json_body
    assert shown["message"]["status"] == "accepted"
    assert NUMBER[1:] not in json.dumps(shown)


def test_refused_sms_orders_write_no_link(
    texting: Any, client: Any, auth_headers: dict[str, str]
) -> None:
    from chalicelib import wiring

    set_env(SMS_ALLOWED_COUNTRIES="IE")
    assert create(client, auth_headers, {"to": NUMBER}).status_code == 400
    set_env(SMS_ALLOWED_COUNTRIES="", SMS_DAILY_QUOTA="0")
    refused = create(client, auth_headers, {"to": NUMBER})
    assert refused.status_code == 429
    assert refused.headers["Content-Type"] == "application/problem+json"
    links = wiring.dynamodb().scan(TableName=wiring.settings().links_table)["Items"]
    assert links == []
    assert texting.api.requests == []


def test_sends_that_text_nobody_give_their_quota_back(texting: Any, client: Any) -> None:
    from chalicelib.core.problems import Problem

    set_env(SMS_DAILY_QUOTA="2")
    send("back01")  # 1 used
    again = wiring.texting().send_for_link(order(), code="back01", short_url="http://sho.rt/back01")
    assert again["status"] == "accepted"  # already sent: nothing texted, nothing counted
    inbound(client, "STOP")
    assert send("back02")["status"] == "opted_out"  # not texted, not counted
    inbound(client, "START")
    texting.api.plan(status=429, retry_after="3")
    assert send("back03")["status"] == "throttled"  # the retry will count
    assert send("back04")["status"] == "accepted"  # 2 used
    with pytest.raises(Problem) as refused:
        order()
    assert refused.value.status == 429
    assert len(texting.api.requests) == 3
