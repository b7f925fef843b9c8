"""The real local stack, started through `make dev`'s entry point, over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.paths import ROOT
from tests.support.stack import LocalStack, http, start_local_stack, stop_local_stack

pytestmark = pytest.mark.stack


def test_healthz_reports_every_component(local_stack: LocalStack) -> None:
    status, _, body = http("GET", f"{local_stack.app_url}/healthz")
    report = json.loads(body)
    assert status == 200, report
    components = report["components"]
    for name in ("dynamodb", "emulator", "app", "pumps", "short-domain", "vonage-fake"):
        assert components[name]["state"] == "up", (name, components)
    for name in ("emulator", "app", "pumps", "short-domain", "vonage-fake", "stitch-sink"):
        assert components[name]["url"].startswith("http://127.0.0.1:"), components[name]
        assert " " not in components[name]["url"] and components[name]["role"]
    assert report["stage"] == "local"


def test_the_admin_key_webhook_secret_is_kept_for_local_receivers(
    local_stack: LocalStack,
) -> None:
    secret = (local_stack.state_dir / "webhook-secret").read_text().strip()
    assert secret.startswith("whsec_") and len(secret) > 30
    key_id = local_stack.admin_key.split("_")[1]
    items = local_stack.boto3_client("dynamodb").get_item(
        TableName=local_stack.env["APP_TABLE"],
        Key={"pk": {"S": f"apikey#{key_id}"}, "sk": {"S": "apikey"}},
    )
    assert items["Item"]["webhook_secret"]["S"] == secret


def test_the_data_stack_has_what_data_yaml_declares(local_stack: LocalStack) -> None:
    """TTL, the bucket's website configuration and policy: moto's CloudFormation skips
    them; the emulator's models apply them from the template."""
    dynamodb, s3 = local_stack.boto3_client("dynamodb"), local_stack.boto3_client("s3")
    for table in ("LINKS_TABLE", "APP_TABLE", "ANALYTICS_TABLE"):
        ttl = dynamodb.describe_time_to_live(TableName=local_stack.env[table])
        assert ttl["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED",
                                                "AttributeName": "ttl"}, table
    bucket = local_stack.env["REDIRECT_BUCKET"]
    website = s3.get_bucket_website(Bucket=bucket)
    assert website["ErrorDocument"] == {"Key": "expired.html"}
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert "aws:Referer" in json.dumps(policy["Statement"])
    assert s3.head_object(Bucket=bucket, Key="expired.html")["ContentType"].startswith(
        "text/html")


def test_api_answers_with_the_admin_key_and_problem_details_without(
    local_stack: LocalStack,
) -> None:
    url = f"{local_stack.app_url}/api/keys"
    status, _, body = http("GET", url, {"Authorization": f"Bearer {local_stack.admin_key}"})
    assert status == 200 and json.loads(body)["keys"][0]["name"] == "local-admin"
    status, headers, body = http("GET", url)
    assert status == 401 and headers["Content-Type"] == "application/problem+json"
    assert json.loads(body)["title"] == "Unauthorized"


def test_gateway_errors_have_the_same_problem_format(local_stack: LocalStack) -> None:
    for headers in ({}, {"Authorization": f"Bearer {local_stack.admin_key}"}):
        status, answer_headers, body = http("GET", f"{local_stack.app_url}/no/such/route", headers)
        assert status == 404
        assert answer_headers["Content-Type"] == "application/problem+json"
        assert json.loads(body)["type"].endswith("/not-found")


def test_a_method_the_route_does_not_define_answers_as_api_gateway_does(
    local_stack: LocalStack,
) -> None:
    """API Gateway never invokes the Lambda for an undefined method: 404 problem, as above."""
    for method, path in (("PUT", "/healthz"), ("PATCH", "/api/keys"), ("GET", "/ping")):
        for headers in ({}, {"Authorization": f"Bearer {local_stack.admin_key}"}):
            status, answer_headers, body = http(method, f"{local_stack.app_url}{path}", headers)
            assert status == 404, (method, path, body)
            assert answer_headers["Content-Type"] == "application/problem+json"
    status, _, _ = http("GET", f"{local_stack.app_url}/healthz")
    assert status == 200


def test_a_stream_record_reaches_the_stream_handler_through_the_pump(
    local_stack: LocalStack,
) -> None:
    """Delete a link item in the emulator: the links stream handler (via the local pump)
    deletes its S3 redirect object."""
    env = local_stack.env
    s3 = local_stack.boto3_client("s3")
    dynamodb = local_stack.boto3_client("dynamodb")
    code = "pumpcheck1"
    s3.put_object(
        Bucket=env["REDIRECT_BUCKET"], Key=code, WebsiteRedirectLocation="https://example.com/"
    )
    key = {"pk": {"S": f"link#{code}"}, "sk": {"S": "link"}}
    dynamodb.put_item(TableName=env["LINKS_TABLE"], Item={**key, "code": {"S": code}})
    dynamodb.delete_item(TableName=env["LINKS_TABLE"], Key=key)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        remaining = s3.list_objects_v2(Bucket=env["REDIRECT_BUCKET"], Prefix=code).get(
            "KeyCount", 0
        )
        if remaining == 0:
            break
        time.sleep(0.3)
    assert remaining == 0, local_stack.log()[-3000:]


def test_ttl_pump_deletes_expired_items(local_stack: LocalStack) -> None:
    env = local_stack.env
    dynamodb = local_stack.boto3_client("dynamodb")
    key = {"pk": {"S": "ttl-check"}, "sk": {"S": "x"}}
    dynamodb.put_item(
        TableName=env["APP_TABLE"], Item={**key, "ttl": {"N": str(int(time.time()) - 1)}}
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and "Item" in dynamodb.get_item(
        TableName=env["APP_TABLE"], Key=key
    ):
        time.sleep(0.3)
    assert "Item" not in dynamodb.get_item(TableName=env["APP_TABLE"], Key=key)


def test_a_port_in_use_gives_one_line_not_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "local", "--state-dir", str(tmp_path), "--app-port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"port {port} (app) is already in use" in lines[0], result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def _children_of(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_ctrl_c_stops_every_process_and_frees_every_port(tmp_path: Path) -> None:
    """SIGINT to the supervisor (what Ctrl-C sends) stops each component it started."""
    import signal


    stack = start_local_stack(tmp_path / "state")
    try:
        children = _children_of(stack.process.pid)
        assert len(children) >= 5, children  # emulator, app, pumps, short domain, fakes
        os.kill(stack.process.pid, signal.SIGINT)
        assert stack.process.wait(timeout=30) == 0, stack.log()[-2000:]
    finally:
        stop_local_stack(stack.process)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in children):
        time.sleep(0.2)
    assert not [pid for pid in children if _alive(pid)], stack.log()[-2000:]
    for port in stack.ports.values():
        with socket.socket() as probe:  # as a restarted server binds: TIME_WAIT is fine
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))  # raises if anything still listens there
            probe.listen()
