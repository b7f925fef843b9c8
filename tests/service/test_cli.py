"""The operator CLI against the app served over real HTTP (Chalice's local server, in a
thread, on moto in-process), with a small queue pump for campaigns."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from cli import PROJECT_DIR
from cli import api as cli_api
from cli import campaigns as cli_campaigns
from cli import keys as cli_keys
from cli import links as cli_links
from cli import main as cli
from tests.support.aws import redirect_objects
from tests.support.campaigns import NUMBERS, receive_all, sqs_event


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


def run_process(
    *argv: str, env: dict[str, str], stdout: int = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    """The CLI as the operator runs it: its own process, with only `env` (plus a home
    without AWS files, and no instance-metadata lookup)."""
    home = env.get("HOME") or os.environ["HOME"]
    return subprocess.run(
        [sys.executable, "-m", "cli", *argv],
        cwd=PROJECT_DIR,
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": home,
            "AWS_CONFIG_FILE": os.path.join(home, "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            **env,
        },
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
    )


def one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("linktrail: "), stderr
    return lines[0]


def test_keys_create_list_revoke(aws):
    status, out, _ = run("keys", "create", "--name", "ops laptop")
    assert status == 0
    created = json.loads(out)
    assert created["key"].startswith("lt_") and created["status"] == "active"
    status, out, _ = run("keys", "list")
    assert created["key_id"] in out and "ops laptop" in out
    status, out, _ = run("keys", "revoke", created["key_id"])
    assert json.loads(out)["status"] == "revoked"


@pytest.mark.parametrize(
    ("argv", "env", "says"),
    [
        # As the README shows it, on a machine without AWS configuration.
        (["keys", "list", "--stage", "dev"], {}, "no AWS region"),
        (["keys", "list"], {}, "no AWS region"),
        (
            ["keys", "list"],
            {"AWS_DEFAULT_REGION": "eu-west-1", "APP_TABLE": "linktrail-dev-app"},
            "no usable AWS credentials",
        ),
    ],
)
def test_keys_without_aws_configuration_say_so_in_one_line(argv, env, says, tmp_path):
    answer = run_process(*argv, env={"HOME": str(tmp_path), **env})
    assert answer.returncode == 1 and answer.stdout == ""
    line = one_line_error(answer.stderr)
    assert says in line and "--stage local" in line and "configure AWS" in line


def test_keys_against_a_stack_that_is_not_running(tmp_path):
    with socket.socket() as bound:  # bound, never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{bound.getsockname()[1]}"
        answer = run_process(
            "keys", "list", "--stage", "local",
            env={"HOME": str(tmp_path), "AWS_ENDPOINT_URL": endpoint},
        )
    assert answer.returncode == 1
    line = one_line_error(answer.stderr)
    assert endpoint in line and "make dev" in line


def test_keys_revoke_of_an_unknown_key_is_one_line(aws):
    status, out, err = run("keys", "revoke", "nonexist")
    assert status == 1 and out == ""
    assert one_line_error(err) == "linktrail: 404 Not Found: no API key 'nonexist'"


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


class RecordingApi(cli_api.Api):
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
    from chalicelib import wiring
    from chalicelib.links import items as links_items
    from chalicelib.links import model as links_model

    service = wiring.links()
    requests = []
    for n in range(count):
        new = links_model.NewLink(url=f"https://example.com/{n}")
        item = service.item_for(new, f"list{n:04d}", "k")
        requests.append({"PutRequest": {"Item": links_items.to_item(item)}})
    for start in range(0, count, 25):
        wiring.dynamodb().batch_write_item(
            RequestItems={wiring.settings().links_table: requests[start : start + 25]}
        )
    return [f"list{n:04d}" for n in range(count)]


def test_links_list_beyond_one_page_follows_the_cursor(api_url, admin_key, aws):
    codes = stored_links(130)
    args = cli.build_parser().parse_args(["links", "list", "--limit", "120"])
    api = RecordingApi(api_url, admin_key)
    out = io.StringIO()
    assert cli_links.links_command(args, api, out) == 0
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


@pytest.mark.parametrize(
    ("argv", "links"),
    [
        (["links", "get", "list0000"], 1),  # small: fails at the flush before exit
        (["links", "list", "--limit", "130"], 130),  # beyond the 8 KB buffer: fails in print
    ],
)
def test_output_into_a_reader_that_went_away_ends_quietly(
    argv, links, api_url, admin_key, aws, tmp_path
):
    """`linktrail links get CODE | head -8`: the reader is gone before the CLI writes (its
    end of the pipe closed first, so the test does not race it)."""
    stored_links(links)
    reader, writer = os.pipe()
    os.close(reader)
    try:
        answer = run_process(
            "--api", api_url, "--key", admin_key, *argv,
            env={"HOME": str(tmp_path)}, stdout=writer,
        )
    finally:
        os.close(writer)
    assert answer.stderr == ""
    assert answer.returncode == 1  # as Python's docs advise, and as click does


@pytest.fixture
def campaign_pump(aws: dict[str, str], texting: Any) -> Iterator[None]:
    """What the local stack's SQS pump does: hand the campaign queue's messages to the
    worker (texting through the fake), in a thread, until the test ends."""
    from app import app

    stop = threading.Event()

    def pump() -> None:
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
    yield
    stop.set()
    worker.join(5)


def send_campaign(api_url: str, admin_key: str, csv_file: Path, *options: str) -> tuple[
    int, str, str
]:
    return run(
        "--api", api_url, "--key", admin_key,
        "campaign", "send", str(csv_file),
        "--url", "https://shop.example.com/", "--text", "Hi {link}", "--expires", "7d",
        "--poll", "0.2", *options,
    )


def recipients_csv(tmp_path: Path, count: int) -> Path:
    csv_file = tmp_path / "recipients.csv"
    csv_file.write_text("to,ref\n" + "".join(f"{NUMBERS[n]},c{n}\n" for n in range(count)))
    return csv_file


def test_campaign_send_follows_progress_until_done(
    api_url, admin_key, aws, texting, tmp_path, campaign_pump
):
    status, out, err = send_campaign(
        api_url, admin_key, recipients_csv(tmp_path, 50), "--timeout", "120"
    )
    assert status == 0, err
    counts = json.loads(out)
    assert counts["status"] == "done"
    assert counts["total"] == counts["links_created"] == counts["sent"] == 50
    assert "[##############################] 50/50 done" in err
    assert len(texting.api.requests) == 50


def test_campaign_send_says_until_when_a_throttled_campaign_waits(
    api_url, admin_key, aws, texting, tmp_path, campaign_pump
):
    texting.api.plan(status=429, retry_after="3")  # the first text waits 3 s, then all go
    status, out, err = send_campaign(
        api_url, admin_key, recipients_csv(tmp_path, 3), "--timeout", "60"
    )
    assert status == 0, err
    assert "throttled, waiting until 20" in err  # and it kept following the campaign
    assert "3/3 done" in err
    summary = json.loads(out)
    # The summary is the API's whole answer, not a subset of it.
    answer = cli_api.Api(api_url, admin_key).call("GET", f"/api/campaigns/{summary['campaign_id']}")
    assert summary == answer
    assert summary["sent"] == 3 and summary["pending"] == summary["abandoned"] == 0


def test_campaign_send_gives_up_following_with_the_counts_so_far(
    api_url, admin_key, aws, texting, tmp_path, campaign_pump
):
    texting.api.plan(status=429, retry_after="600")
    status, out, err = send_campaign(
        api_url, admin_key, recipients_csv(tmp_path, 2), "--timeout", "1.5"
    )
    assert status == 1
    summary = json.loads(out)
    assert summary["status"] == "throttled" and summary["pending"] >= 1
    last = err.splitlines()[-1]
    assert last.startswith(f"linktrail: campaign {summary['campaign_id']} still throttled, ")
    assert f"waiting until {summary['waiting_until']} after 1.5s" in last


def test_duration_and_csv_errors(tmp_path):
    assert cli_links.parse_duration("7d") == 7 * 86400 and cli_links.parse_duration("30m") == 1800
    with pytest.raises(cli_api.CliError):
        cli_links.parse_duration("7 days")
    bad = tmp_path / "bad.csv"
    bad.write_text("phone,ref\n+447400100000,a\n")
    with pytest.raises(cli_api.CliError):
        cli_campaigns.read_recipients(bad)


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
    monkeypatch.setattr(cli_keys, "PROJECT_DIR", tmp_path)  # no .local/env.json there
    cli_keys.load_stage_environment("local", config)
    import os

    assert os.environ["LINKS_TABLE"] == "t-local"


def test_ctrl_c_stops_quietly_with_status_130(monkeypatch):
    import io

    from cli import main as cli

    def interrupted(*_args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_command", interrupted)
    err = io.StringIO()
    assert cli.main(["links", "list"], out=io.StringIO(), err=err) == 130
    assert err.getvalue().strip() == "linktrail: interrupted"


class AnswerLosingProxy(ThreadingHTTPServer):
    """In front of the app: forwards every request, but drops the connection instead of
    answering the first POST (the request was done; its answer never came back)."""

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = upstream
        self.posts: list[dict[str, str]] = []  # the headers of each POST forwarded

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    server: AnswerLosingProxy

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        request = urllib.request.Request(self.server.upstream + self.path, data=body,
                                         method=self.command, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as refused:
            status, raw = refused.code, refused.read()
        if self.command == "POST":
            self.server.posts.append(headers)
            if len(self.server.posts) == 1:
                self.close_connection = True
                return  # no answer at all
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = _forward

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def losing_proxy(api_url: str) -> Iterator[AnswerLosingProxy]:
    proxy = AnswerLosingProxy(api_url)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_links_create_retries_a_lost_answer_under_one_idempotency_key(
    losing_proxy, admin_key, aws
):
    status, out, err = run("--api", losing_proxy.url, "--key", admin_key,
                           "links", "create", "https://example.com/once")
    assert status == 0, err
    keys = [headers["Idempotency-Key"] for headers in losing_proxy.posts]
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0].startswith("cli-")
    [code] = redirect_objects(aws)  # one link, though the app made it on the first POST
    assert out.strip().endswith(f"/{code}")
