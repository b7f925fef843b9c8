"""Links end to end through the real local stack (`make dev`'s entry point): HTTP like
curl, the stream/queue/schedule pumps, the CLI as a separate process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.support.paths import ROOT
from tests.support.stack import api_call as http
from tests.support.stack import redirect_of

pytestmark = pytest.mark.stack
def test_create_list_delete_through_http(local_stack):
    api, key = local_stack.app_url, local_stack.admin_key
    status, headers, link = http(
        "POST", f"{api}/api/links", key, {"url": "https://example.com/e2e"}
    )
    assert status == 201, link
    code = link["code"]
    assert headers["Location"] == f"/api/links/{code}"
    assert link["short_url"] == f"{local_stack.env['SHORT_BASE_URL']}/{code}"
    assert redirect_of(local_stack, code) == "https://example.com/e2e"
    status, _, page = http("GET", f"{api}/api/links?limit=100", key)
    assert code in [entry["code"] for entry in page["links"]]
    status, _, _ = http("DELETE", f"{api}/api/links/{code}", key)
    assert status == 204
    assert redirect_of(local_stack, code) is None
    assert http("GET", f"{api}/api/links/{code}", key)[2]["status"] == "deleted"


def test_short_lived_link_expires_within_seconds(local_stack):
    """ttl=3: the sweeper (schedule pump) retires it, the stream pump's REMOVE deletes the
    object, GET says expired."""
    api, key = local_stack.app_url, local_stack.admin_key
    status, _, link = http(
        "POST", f"{api}/api/links", key, {"url": "https://example.com/", "ttl": 3}
    )
    assert status == 201, link
    code = link["code"]
    assert redirect_of(local_stack, code) == "https://example.com/"
    deadline = time.monotonic() + 20
    shown: dict[str, Any] = {}
    while time.monotonic() < deadline:
        shown = http("GET", f"{api}/api/links/{code}", key)[2]
        if shown.get("ended_at") and redirect_of(local_stack, code) is None:
            break
        time.sleep(0.5)
    assert shown["status"] == "expired" and shown["ended_at"], shown
    assert redirect_of(local_stack, code) is None


def test_fifty_recipient_campaign_with_the_cli(local_stack, tmp_path):
    csv_file = tmp_path / "recipients.csv"
    csv_file.write_text("to,ref\n" + "".join(f"+4474001{n:05d},c{n}\n" for n in range(50)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["LINKTRAIL_API_KEY"] = local_stack.admin_key
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "--api",
            local_stack.app_url,
            "campaign",
            "send",
            str(csv_file),
            "--url",
            "https://shop.example.com/",
            "--text",
            "Hi {link}",
            "--expires",
            "7d",
            "--poll",
            "0.5",
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    counts = json.loads(finished.stdout)
    assert counts["status"] == "done"
    assert counts["total"] == counts["links_created"] == 50
    assert "50/50 done" in finished.stderr
