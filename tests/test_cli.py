"""The operator CLI against the app served over real HTTP (Chalice's local server, in a
thread, on moto in-process), with a small queue pump for campaigns."""

from __future__ import annotations

import io
import json
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib import cli
from tests.test_campaigns import NUMBERS, receive_all, sqs_event
from tests.test_links import redirect_objects


@pytest.fixture
def api_url(aws: dict[str, str]) -> Iterator[str]:
    from chalice.config import Config
    from chalice.local import LocalDevServer

    from app import app

    server = LocalDevServer(app, Config.create(chalice_stage="local"), "127.0.0.1", 0)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server.server_address[1]}"
    finally:
        server.server.shutdown()
        server.server.server_close()


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(list(argv), out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def test_keys_create_list_revoke(aws):
    status, out, _ = run("keys", "create", "--name", "ops laptop")
    assert status == 0
    created = json.loads(out)
    assert created["key"].startswith("lt_") and created["status"] == "active"
    status, out, _ = run("keys", "list")
    assert created["key_id"] in out and "ops laptop" in out
    status, out, _ = run("keys", "revoke", created["key_id"])
    assert json.loads(out)["status"] == "revoked"


def test_links_create_get_list_delete(api_url, admin_key, aws):
    base = ("--api", api_url, "--key", admin_key)
    status, out, err = run(
        *base,
        "links",
        "create",
        "https://example.com/cli",
        "--code",
        "from-cli",
        "--expires",
        "1h",
        "--tag",
        "ops",
    )
    assert status == 0, err
    assert out.strip().endswith("/from-cli")
    head = boto3.client("s3").head_object(Bucket=aws["REDIRECT_BUCKET"], Key="from-cli")
    assert head["WebsiteRedirectLocation"] == "https://example.com/cli"
    status, out, _ = run(*base, "links", "get", "from-cli")
    link = json.loads(out)
    assert link["status"] == "active" and link["tags"] == ["ops"]
    status, out, _ = run(*base, "links", "list", "--tag", "ops")
    assert "from-cli" in out and "active" in out
    status, out, _ = run(*base, "links", "delete", "from-cli")
    assert status == 0 and redirect_objects(aws) == []
    status, _, err = run(*base, "links", "create", "javascript:alert(1)")
    assert status == 1 and "400" in err and "[url]" in err
    status, _, err = run(
        "--api", api_url, "--key", "lt_AAAAAAAAAAAA_" + "x" * 40, "links", "get", "x"
    )
    assert status == 1 and "401" in err


class RecordingApi(cli.Api):
    """The CLI's real HTTP client, noting each path it asks for."""

    def __init__(self, base_url: str, key: str) -> None:
        super().__init__(base_url, key)
        self.paths: list[str] = []

    def call(self, method: str, path: str, body: Any = None) -> Any:
        self.paths.append(path)
        return super().call(method, path, body)


def stored_links(count: int) -> list[str]:
    """`count` link items as create() writes them, loaded in batches (the list reads only
    the items; one transaction per link makes moto slow as the table grows)."""
    from chalicelib import links, runtime

    service = links.service()
    requests = []
    for n in range(count):
        item = service._new_item(links.NewLink(url=f"https://example.com/{n}"), f"list{n:04d}", "k")
        requests.append({"PutRequest": {"Item": links.to_item(item)}})
    for start in range(0, count, 25):
        runtime.dynamodb().batch_write_item(
            RequestItems={runtime.settings().links_table: requests[start : start + 25]}
        )
    return [f"list{n:04d}" for n in range(count)]


def test_links_list_beyond_one_page_follows_the_cursor(api_url, admin_key, aws):
    codes = stored_links(130)
    args = cli.build_parser().parse_args(["links", "list", "--limit", "120"])
    api = RecordingApi(api_url, admin_key)
    out = io.StringIO()
    assert cli.links_command(args, api, out) == 0
    shown = [line.split()[0] for line in out.getvalue().splitlines()]
    assert len(shown) == 120 and len(set(shown)) == 120 and set(shown) <= set(codes)
    first, second = (urllib.parse.parse_qs(p.split("?", 1)[1]) for p in api.paths)
    assert first == {"limit": ["100"]}  # the API's most per page; then the rest
    assert second["limit"] == ["20"] and second["cursor"]

    # Fewer links than asked for: it stops when the cursor ends.
    status, out_text, err = run("--api", api_url, "--key", admin_key, "links", "list",
                                "--limit", "500")
    assert status == 0, err
    assert len(out_text.splitlines()) == 130
    status, _, err = run("--api", api_url, "--key", admin_key, "links", "list", "--limit", "0")
    assert status == 1 and "--limit" in err


def test_campaign_send_follows_progress_until_done(api_url, admin_key, aws, texting, tmp_path):
    from app import app

    csv_file = tmp_path / "recipients.csv"
    csv_file.write_text("to,ref\n" + "".join(f"{NUMBERS[n]},c{n}\n" for n in range(50)))
    stop = threading.Event()

    def pump() -> None:  # what the local stack's SQS pump does
        while not stop.is_set():
            messages = receive_all(aws)
            if messages:
                app.handler_map["campaign_worker"](sqs_event(messages, aws), None)
                for m in messages:
                    boto3.client("sqs").delete_message(
                        QueueUrl=aws["CAMPAIGN_QUEUE_URL"], ReceiptHandle=m["ReceiptHandle"]
                    )
            stop.wait(0.2)

    worker = threading.Thread(target=pump, daemon=True)
    worker.start()
    try:
        status, out, err = run(
            "--api",
            api_url,
            "--key",
            admin_key,
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
            "0.2",
            "--timeout",
            "120",
        )
    finally:
        stop.set()
        worker.join(5)
    assert status == 0, err
    counts = json.loads(out)
    assert counts["status"] == "done"
    assert counts["total"] == counts["links_created"] == counts["sent"] == 50
    assert "[##############################] 50/50 done" in err
    assert len(texting.api.requests) == 50


def test_duration_and_csv_errors(tmp_path):
    assert cli.parse_duration("7d") == 7 * 86400 and cli.parse_duration("30m") == 1800
    with pytest.raises(cli.CliError):
        cli.parse_duration("7 days")
    bad = tmp_path / "bad.csv"
    bad.write_text("phone,ref\n+447400100000,a\n")
    with pytest.raises(cli.CliError):
        cli.read_recipients(bad)


def test_stage_environment_is_loaded_from_chalice_config(tmp_path, monkeypatch):
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "environment_variables": {"LOG_JSON": "true"},
                "stages": {"local": {"environment_variables": {"LINKS_TABLE": "t-local"}}},
            }
        )
    )
    monkeypatch.delenv("LINKS_TABLE", raising=False)
    monkeypatch.setattr(cli, "PROJECT_DIR", tmp_path)  # no .local/env.json there
    cli.load_stage_environment("local", config)
    import os

    assert os.environ["LINKS_TABLE"] == "t-local"
