"""AWS calls per delivery receipt (goal 1) and per text sent, and whether
importing the app loads the Vonage SDK (the cold-start ratio itself is the lead's
foundation figure).

Offline: moto in-process with linktrail's resources, the real app through
chalice.test.Client, the real SDK against the local fake Messages API (TLS, own keys).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.core import ROOT, Figure, count_aws_calls, emulated_aws

RECEIPTS = 20


def figures() -> list[Figure]:
    import jwt
    from chalice.test import Client

    from chalicelib import wiring
    from chalicelib.messaging import vonage as vonage_client
    from local import vonage_fake

    try:
        with tempfile.TemporaryDirectory() as state, \
                vonage_fake.running(Path(state), post_receipts=False) as (_fake, fake_env), \
                emulated_aws({**fake_env, "SMS_ALLOWED_COUNTRIES": "", "SMS_DAILY_QUOTA": "1000"}):
            vonage_client.reset()
            settings = wiring.settings()
            ddb = wiring.dynamodb()
            from app import app

            send_calls: list[int] = []
            receipt_calls: list[int] = []
            with Client(app) as client:
                for index in range(RECEIPTS):
                    code = f"bench{index:03d}"
                    _put_link(ddb, settings.links_table, code)
                    with count_aws_calls(ddb) as calls:
                        texting = wiring.texting()
                        order = texting.parse_order({"to": "+447400123456"}, key_id="bench")
                        sent = texting.send_for_link(order, code=code,
                                                     short_url=f"http://sho.rt/{code}")
                    send_calls.append(sum(calls.values()))
                    for status in ("submitted", "delivered", "delivered"):  # one repeated
                        body = json.dumps({
                            "message_uuid": sent["uuid"], "status": status,
                            "client_ref": code, "timestamp": "2026-01-01T00:00:00Z",
                            "to": "447400123456", "from": "linktrail", "channel": "sms",
                        }).encode()
                        token = jwt.encode({"iat": int(time.time()), "payload_hash":
                                            hashlib.sha256(body).hexdigest()},
                                           fake_env["VONAGE_SIGNATURE_SECRET"],
                                           algorithm="HS256")
                        with count_aws_calls(ddb) as calls:
                            answer = client.http.post(
                                "/webhooks/vonage/status", body=body,
                                headers={"Authorization": f"Bearer {token}",
                                         "Content-Type": "application/json"})
                        assert answer.status_code == 204, answer.body
                        receipt_calls.append(sum(calls.values()))
    finally:
        vonage_client.reset()
    return [
        Figure("4", "AWS calls per delivery receipt (max)", max(receipt_calls), "calls",
               "1", f"{len(receipt_calls)} receipts incl. repeats"),
        Figure("4", "AWS calls per text sent (quota, opt-out, claim, outcome)",
               max(send_calls), "calls", "4", f"{len(send_calls)} sends"),
        Figure("4", "Vonage SDK modules loaded by `import app`", _sdk_modules_at_import(),
               "modules", "0", "fresh interpreter"),
    ]


def _put_link(ddb: Any, table: str, code: str) -> None:
    ddb.put_item(TableName=table, Item={
        "pk": {"S": f"link#{code}"}, "sk": {"S": "link"}, "code": {"S": code},
        "long_url": {"S": "https://example.com/"}, "created_at": {"S": "2026-01-01T00:00:00Z"},
        "key_id": {"S": "bench"}, "human_clicks": {"N": "0"}, "bot_clicks": {"N": "0"},
    })


def _sdk_modules_at_import() -> int:
    code = ("import app, sys; print(len([m for m in sys.modules if m.split('.')[0] in "
            "('vonage', 'vonage_messages', 'vonage_http_client', 'phonenumbers', 'jwt')]))")
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1])
