"""Vonage error text is stored and shown: numbers quoted in it are masked however they are
written. The real SDK against the local fake Messages API (planned to answer 4xx with a
detail quoting the number), and a rejection receipt signed with a real JWT."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import pytest

from tests.support.messaging import (
    MASKED,
    link_item,
    message_of,
    post,
    receipt,
    send,
    signed,
)

WRITINGS = [
    "+44 7400 123456",
    "+44-7400-123-456",
    "+44.7400.123.456",
    "+44 (0)7400 123456",
    "(0)7400 123456",
    "447400123456",
]
# Digits of the number that must never be shown together.
SECRET_PARTS = ("7400", "123 456", "123-456", "123456", "400123")


def assert_no_number(text: str) -> None:
    for part in SECRET_PARTS:
        assert part not in text, (part, text)


@pytest.mark.parametrize("written", WRITINGS)
def test_a_vonage_error_quoting_the_number_is_stored_and_shown_masked(
    texting: Any, client: Any, auth_headers: dict[str, str], caplog: pytest.LogCaptureFixture,
    written: str,
) -> None:
    texting.api.plan(status=422, body={
        "type": "https://developer.vonage.com/api-errors/messages#1150",
        "title": "Invalid params",
        "detail": f"The value of `to` ({written}) is not a reachable number.",
    })
    with caplog.at_level(logging.DEBUG):
        answer = send("maskerr")
    assert answer["status"] == "send_failed"
    assert answer["error"].startswith("Vonage answered 422 Invalid params: The value of `to` (")
    assert "*" in answer["error"] and answer["error"].endswith(") is not a reachable number.")
    assert_no_number(answer["error"])
    assert_no_number(message_of("maskerr")["error"])
    shown = client.http.get("/api/links/maskerr", headers=auth_headers)
    assert shown.status_code == 200
    assert_no_number(shown.json_body["message"]["error"])
    ours = [r.getMessage() for r in caplog.records
            if r.name.split(".")[0] in ("linktrail", "vonage", "vonage_http_client")]
    assert any("maskerr" in line for line in ours)
    for line in ours:  # our log lines and the SDK's (botocore's DEBUG shows the stored item)
        assert_no_number(line)
    assert link_item("maskerr") is not None


def test_the_status_code_is_not_joined_to_a_numeric_title(texting: Any) -> None:
    texting.api.plan(status=400, body={"title": "1240", "detail": "Illegal Number"})
    assert send("codes1")["error"] == "Vonage answered 400 1240: Illegal Number"


def test_a_long_detail_is_masked_before_it_is_cut(texting: Any) -> None:
    detail = "x" * 290 + " +44 7400 123456"  # the number straddles the 300-character cut
    texting.api.plan(status=422, body={"title": "Invalid params", "detail": detail})
    error = send("cut001")["error"]
    assert_no_number(error)
    assert "+4474" not in error.replace(" ", "")


@pytest.mark.parametrize("written", WRITINGS)
def test_a_rejection_receipt_quoting_the_number_is_stored_masked(
    texting: Any, client: Any, written: str
) -> None:
    answer = send("rjmask")
    headers, raw = signed(receipt("rjmask", "rejected", answer["uuid"], error={
        "type": "https://developer.vonage.com/api-errors/messages#1240",
        "title": 1240, "detail": f"Illegal Number {written}"}),
        os.environ["VONAGE_SIGNATURE_SECRET"])
    assert post(client, "/webhooks/vonage/status", headers, raw).status_code == 204
    stored = message_of("rjmask")
    assert stored["status"] == "rejected"
    assert stored["error"].startswith("1240: Illegal Number ")
    assert_no_number(stored["error"])
    assert_no_number(json.dumps(stored["error"]))
    assert stored["to_masked"] == MASKED
