"""Texting's guards: stale `sending` claims are claimed again, old or undated webhook
tokens are replays, one allowlist check, the per-key daily quota. Same fakes as
test_messaging: the real SDK against the local fake Messages API, moto, real JWTs."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest

from chalicelib import wiring
from tests.support.clock import FakeClock
from tests.support.env import set_env
from tests.support.messaging import (
    MASKED,
    NUMBER,
    link_item,
    message_of,
    order,
    post,
    put_link,
)

# --- stale claims --------------------------------------------------------------------------


class LambdaDied(BaseException):
    """The process ends mid-send (a Lambda timeout or crash): nothing after runs."""


class DyingSender:
    def send(self, text: Any) -> str:
        raise LambdaDied()


@pytest.fixture
def clock(texting: Any, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The app's Texting, built by the test with a frozen clock the test moves forward."""
    from chalicelib.core.clock import now
    from chalicelib.messaging import texting as messaging
    from chalicelib.messaging.vonage import VonageSender

    fake_clock = FakeClock(now())
    settings = wiring.settings()
    timed = messaging.Texting(
        wiring.dynamodb(), settings, VonageSender(settings), clock=fake_clock
    )
    monkeypatch.setattr(wiring, "texting", lambda: timed)
    return fake_clock


def die_while_sending(code: str, clock: FakeClock) -> None:
    """An attempt that claims the message and dies calling Vonage: `sending` remains."""
    from chalicelib import wiring
    from chalicelib.messaging import texting as messaging

    put_link(code)
    dying = messaging.Texting(wiring.dynamodb(), wiring.settings(), DyingSender(), clock=clock)
    with pytest.raises(LambdaDied):
        dying.send_for_link(order(), code=code, short_url=f"http://sho.rt/{code}")
    assert message_of(code)["status"] == "sending"


def test_campaign_redelivery_claims_a_stale_sending_message_again(
    texting: Any, clock: FakeClock
) -> None:
    from chalicelib.messaging import texting as messaging

    die_while_sending("dead01", clock)
    stored = message_of("dead01")
    expected = int(clock().timestamp()) + messaging.CLAIM_SECONDS
    assert abs(int(stored["claim_expires_at"]) - expected) <= 2
    assert messaging.CLAIM_SECONDS >= 2 * 5 + 60  # 2 x Vonage timeout + the Lambda timeout

    # redelivered while the claim may still be live: not sent (it could be in flight)
    again = wiring.texting().send_for_link(order(), code="dead01", short_url="http://sho.rt/dead01")
    assert again["status"] == "sending"
    assert texting.api.requests == []

    clock.advance(messaging.CLAIM_SECONDS + 1)
    late = wiring.texting().send_for_link(order(), code="dead01", short_url="http://sho.rt/dead01")
    assert late["status"] == "accepted"
    assert len(texting.api.requests) == 1
    stored = message_of("dead01")
    assert stored["status"] == "accepted" and stored["uuid"] == late["uuid"]
    assert "claim_expires_at" not in stored  # concluded: the claim is over

    # and once concluded, never again
    wiring.texting().send_for_link(order(), code="dead01", short_url="http://sho.rt/dead01")
    assert len(texting.api.requests) == 1


def test_resend_takes_over_a_stale_sending_message_only(
    texting: Any, client: Any, auth_headers: dict[str, str], clock: FakeClock
) -> None:
    from chalicelib.messaging import texting as messaging

    die_while_sending("dead02", clock)
    fresh = client.http.post("/api/links/dead02/resend", headers=auth_headers, body="{}")
    assert fresh.status_code == 409
    assert fresh.headers["Content-Type"] == "application/problem+json"
    assert texting.api.requests == []

    clock.advance(messaging.CLAIM_SECONDS + 1)
    resent = client.http.post("/api/links/dead02/resend", headers=auth_headers, body="{}")
    assert resent.status_code == 200, resent.body
    assert resent.json_body["message"]["status"] == "accepted"
    assert resent.json_body["message"]["to"] == MASKED
    assert len(texting.api.requests) == 1
    assert message_of("dead02")["attempts"] == 2


def test_a_sending_message_from_before_claim_expiry_is_stale(
    texting: Any, client: Any, auth_headers: dict[str, str]
) -> None:
    put_link("olddd1", message={"M": {
        "channel": {"S": "sms"}, "to": {"S": NUMBER}, "to_masked": {"S": MASKED},
        "from": {"S": "linktrail"}, "text": {"S": "Hi http://sho.rt/olddd1"},
        "status": {"S": "sending"}, "rank": {"N": "0"}, "attempts": {"N": "1"},
        "status_at": {"S": "2026-01-01T00:00:00.000Z"}, "claim": {"S": "c0ffee"},
    }})
    resent = client.http.post("/api/links/olddd1/resend", headers=auth_headers, body="{}")
    assert resent.status_code == 200, resent.body
    assert len(texting.api.requests) == 1


def test_the_dead_attempts_late_outcome_does_not_overwrite_the_new_one(
    texting: Any, clock: FakeClock
) -> None:
    """The trade-off in messaging's docstring: a claim that outlived its expiry (the
    attempt was not dead after all) was taken over; its late 202 is not recorded."""
    from chalicelib import wiring
    from chalicelib.messaging import texting as messaging

    put_link("slow02")
    taken_over: dict[str, Any] = {}

    class OutlivesItsClaim:
        def send(self, text: Any) -> str:
            clock.advance(messaging.CLAIM_SECONDS + 1)
            taken_over.update(wiring.texting().send_for_link(order(), code="slow02",
                                                      short_url="http://sho.rt/slow02"))
            return "late-uuid"

    slow = messaging.Texting(
        wiring.dynamodb(), wiring.settings(), OutlivesItsClaim(), clock=clock
    )
    slow.send_for_link(order(), code="slow02", short_url="http://sho.rt/slow02")
    assert taken_over["status"] == "accepted"
    stored = message_of("slow02")
    assert stored["uuid"] == taken_over["uuid"] != "late-uuid"


# --- webhook replay ------------------------------------------------------------------------


def signed_at(body: dict[str, Any], *, iat: Any, secret: str | None = None,
              **claims: Any) -> tuple[dict[str, str], bytes]:
    raw = json.dumps(body).encode()
    payload: dict[str, Any] = {"jti": "j1", "iss": "Vonage",
                               "payload_hash": hashlib.sha256(raw).hexdigest(), **claims}
    if iat is not None:
        payload["iat"] = iat
    token = jwt.encode(payload, secret or os.environ["VONAGE_SIGNATURE_SECRET"],
                       algorithm="HS256")
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, raw


def stop_from_recipient() -> dict[str, Any]:
    return {"channel": "sms", "message_uuid": "in-1", "to": "447700900001",
            "from": NUMBER[1:], "timestamp": "2026-01-01T00:00:00Z", "text": "STOP",
            "message_type": "text"}


def opt_outs() -> list[dict[str, Any]]:
    from chalicelib import wiring

    items = wiring.dynamodb().scan(TableName=wiring.settings().app_table)["Items"]
    return [item for item in items if item["pk"]["S"].startswith("optout#")]


@pytest.mark.parametrize("iat", [
    pytest.param(lambda: int(time.time()) - 301, id="captured 5 minutes ago"),
    pytest.param(lambda: int(time.time()) - 86400 * 30, id="captured a month ago"),
    pytest.param(lambda: None, id="no iat"),
    pytest.param(lambda: int(time.time()) + 120, id="2 minutes in the future"),
    pytest.param(lambda: "1700000000", id="iat not a number"),
])
def test_a_replayed_inbound_stop_is_401_and_opts_nobody_out(
    texting: Any, client: Any, iat: Callable[[], Any]
) -> None:

    headers, raw = signed_at(stop_from_recipient(), iat=iat())
    response = post(client, "/webhooks/vonage/inbound", headers, raw)
    assert response.status_code == 401, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    assert opt_outs() == []
    put_link("rply01")
    sent = wiring.texting().send_for_link(order(), code="rply01", short_url="http://sho.rt/rply01")
    assert sent["status"] == "accepted"


@pytest.mark.parametrize("age", [0, 240, -30])
def test_fresh_tokens_within_the_window_are_accepted(
    texting: Any, client: Any, age: int
) -> None:
    headers, raw = signed_at(stop_from_recipient(), iat=int(time.time()) - age)
    assert post(client, "/webhooks/vonage/inbound", headers, raw).status_code == 204
    assert len(opt_outs()) == 1


def test_a_replayed_receipt_is_refused_too(texting: Any, client: Any) -> None:

    put_link("rply02")
    sent = wiring.texting().send_for_link(order(), code="rply02", short_url="http://sho.rt/rply02")
    before = link_item("rply02")
    body = {"message_uuid": sent["uuid"], "to": NUMBER[1:], "from": "linktrail",
            "timestamp": "2026-01-01T00:00:00.000Z", "status": "rejected",
            "channel": "sms", "client_ref": "rply02"}
    headers, raw = signed_at(body, iat=int(time.time()) - 600)
    assert post(client, "/webhooks/vonage/status", headers, raw).status_code == 401
    assert link_item("rply02") == before


SECRET = "a-signature-secret-of-32-bytes-or-more"


def test_verify_checks_age_against_its_own_clock() -> None:
    from chalicelib.core.clock import now
    from chalicelib.messaging import signatures as webhook_auth

    raw = b'{"text": "STOP"}'
    token = jwt.encode({"iat": int(time.time()), "payload_hash": hashlib.sha256(raw).hexdigest()},
                       SECRET, algorithm="HS256")
    assert webhook_auth.verify(f"Bearer {token}", raw, SECRET)["iat"] > 0
    later = lambda: now() + timedelta(seconds=302)  # noqa: E731
    with pytest.raises(webhook_auth.WebhookRefused):
        webhook_auth.verify(f"Bearer {token}", raw, SECRET, clock=later)
    earlier = lambda: now() - timedelta(seconds=62)  # noqa: E731
    with pytest.raises(webhook_auth.WebhookRefused):
        webhook_auth.verify(f"Bearer {token}", raw, SECRET, clock=earlier)


def test_the_fakes_receipts_carry_a_fresh_iat_and_verify(texting: Any) -> None:
    from chalicelib.messaging import signatures as webhook_auth

    message = {"to": NUMBER[1:], "from": "linktrail", "channel": "sms", "client_ref": "x1",
               "webhook_url": "http://127.0.0.1:8000/webhooks/vonage/status"}
    receipt = texting.api.signed_receipt(message, "u-1", "delivered")
    claims = webhook_auth.verify(receipt.headers["Authorization"], receipt.body,
                                 os.environ["VONAGE_SIGNATURE_SECRET"])
    assert abs(claims["iat"] - time.time()) <= 2


# --- the local fake masks with the app's own mask -------------------------------------------


def test_the_fake_masks_with_phones_mask() -> None:
    from chalicelib.core import phones
    from local import vonage_fake

    assert vars(vonage_fake)["mask"] is phones.mask  # not a copy that could drift


# --- one allowlist check -------------------------------------------------------------------


def test_check_country_allowed() -> None:
    from chalicelib.core import phones
    from chalicelib.core.problems import BadRequest

    gb = phones.Recipient(NUMBER, "GB")
    phones.check_country_allowed(gb, (), field="sms.to")
    phones.check_country_allowed(gb, ("IE", "GB"), field="sms.to")
    phones.check_country_allowed(phones.Recipient("4567890123", None), ("IE",), field="x")
    with pytest.raises(BadRequest) as refused:
        phones.check_country_allowed(gb, ("IE", "FR"), field="recipients[3].to")
    assert refused.value.status == 400
    assert refused.value.field == "recipients[3].to"
    assert refused.value.slug == "sms-country-not-allowed"
    assert "GB" in refused.value.detail and NUMBER not in refused.value.detail


def test_resend_applies_the_allowlist_of_now(
    texting: Any, client: Any, auth_headers: dict[str, str]
) -> None:

    texting.api.plan(status=500)
    put_link("allow1")
    assert wiring.texting().send_for_link(order(), code="allow1",
                                   short_url="http://sho.rt/allow1")["status"] == "send_failed"
    set_env(SMS_ALLOWED_COUNTRIES="IE")
    refused = client.http.post("/api/links/allow1/resend", headers=auth_headers, body="{}")
    assert refused.status_code == 400
    assert refused.json_body["field"] == "to"
    assert message_of("allow1")["status"] == "send_failed"
    assert len(texting.api.requests) == 1


# --- the daily quota is per API key, campaign or not -----------------------------------------


def test_the_daily_quota_is_per_key_with_retry_after_until_midnight(texting: Any) -> None:
    from chalicelib.core.clock import now
    from chalicelib.core.problems import Problem

    set_env(SMS_DAILY_QUOTA="1")
    wiring.texting().parse_order({"to": NUMBER}, key_id="campaignkey1")
    with pytest.raises(Problem) as refused:
        wiring.texting().parse_order({"to": NUMBER}, key_id="campaignkey1")
    moment = now()
    midnight = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert refused.value.status == 429
    assert refused.value.slug == "sms-quota"
    wait = int(refused.value.headers["Retry-After"])
    assert abs(wait - (midnight - moment).total_seconds()) <= 2
    # another key's quota is its own
    order = wiring.texting().parse_order({"to": NUMBER}, key_id="otherkey0001")
    assert order.key_id == "otherkey0001"
