"""Settings, problem details, API keys, the bootstrap and the pumps (in-process)."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from chalice import Chalice, Response

from chalicelib import wiring
from chalicelib.core.settings import ConfigError, Secret, Settings


def test_settings_read_from_any_mapping_and_hide_secrets() -> None:
    loaded: list[str] = []

    def loader(name: str) -> str:
        loaded.append(name)
        return "s3cr3t-value"

    settings = Settings.from_env(
        {
            "STAGE": "dev",
            "LINKS_TABLE": "t",
            "SITE_HOSTS": "a.example, b.example",
            "SMS_DAILY_QUOTA": "7",
        },
        secret_loader=loader,
    )
    assert settings.links_table == "t"
    assert settings.site_hosts == ("a.example", "b.example")
    assert settings.sms_daily_quota == 7
    assert settings.api_key_cache_seconds == 30  # AWS stages may cache key checks briefly
    secret = settings.secret("stitch-token")
    assert secret.reveal() == "s3cr3t-value"
    assert settings.secret("stitch-token") is secret and loaded == ["stitch-token"]  # read once
    assert (
        "s3cr3t" not in repr(settings)
        and "s3cr3t" not in repr(secret)
        and "s3cr3t" not in f"{secret}"
    )


def test_only_the_local_stage_may_point_at_an_emulator() -> None:
    with pytest.raises(ConfigError):
        Settings.from_env({"STAGE": "prod", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})
    assert Settings.from_env({"STAGE": "local", "AWS_ENDPOINT_URL": "http://x"}).is_local
    with pytest.raises(ConfigError):
        Settings.from_env({"SMS_DAILY_QUOTA": "many"})


def test_local_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STITCH_TOKEN", "local-token")
    assert Settings.from_env({"STAGE": "local"}).secret("stitch-token").reveal() == "local-token"
    monkeypatch.delenv("VONAGE_PRIVATE_KEY", raising=False)
    missing = Settings.from_env({"STAGE": "local"}).secret("vonage-private-key")
    assert not missing and missing.reveal() == "" and repr(missing) == "Secret('')"
    monkeypatch.setenv("VONAGE_PRIVATE_KEY", "-----BEGIN PRIVATE KEY-----")
    present = Settings.from_env({"STAGE": "local"}).secret("vonage-private-key")
    assert present and "BEGIN" not in repr(present) and "BEGIN" not in str(present)
    assert isinstance(Settings().secret("unknown-name"), Secret)


def test_bootstrap_creates_every_resource_and_applies_what_the_emulator_ignores(
    aws: dict[str, str],
) -> None:
    dynamodb = boto3.client("dynamodb")
    for table in (aws["LINKS_TABLE"], aws["APP_TABLE"]):
        ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
        assert dynamodb.describe_table(TableName=table)["Table"]["StreamSpecification"][
            "StreamEnabled"
        ]
    s3 = boto3.client("s3")
    website = s3.get_bucket_website(Bucket=aws["REDIRECT_BUCKET"])
    assert website["ErrorDocument"] == {"Key": "expired.html"}
    page = s3.get_object(Bucket=aws["REDIRECT_BUCKET"], Key="expired.html")["Body"].read().decode()
    assert "This link has expired or does not exist" in page
    sqs = boto3.client("sqs")
    for name in ("CAMPAIGN_QUEUE_URL", "EVENTS_QUEUE_URL", "NOTIFY_QUEUE_URL"):
        attributes = sqs.get_queue_attributes(QueueUrl=aws[name], AttributeNames=["All"])[
            "Attributes"
        ]
        assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].endswith("-dlq")


def test_api_routes_need_a_key_and_answer_problem_details(client: Any, admin_key: str) -> None:
    missing = client.http.get("/api/keys")
    assert missing.status_code == 401
    assert missing.headers["Content-Type"] == "application/problem+json"
    assert json.loads(missing.body)["status"] == 401
    wrong_secret = admin_key[:-4] + ("aaaa" if not admin_key.endswith("aaaa") else "bbbb")
    for header in ("Bearer nope", f"Bearer {wrong_secret}", f"Basic {admin_key}", admin_key):
        answer = client.http.get("/api/keys", headers={"Authorization": header})
        assert answer.status_code == 401, header
    ok = client.http.get("/api/keys", headers={"Authorization": f"Bearer {admin_key}"})
    assert ok.status_code == 200
    assert [k["name"] for k in json.loads(ok.body)["keys"]] == ["tests"]
    assert "secret_hash" not in ok.body.decode() and admin_key not in ok.body.decode()


def test_keys_are_stored_only_as_hashes_and_revocation_is_immediate(
    client: Any, aws: dict[str, str]
) -> None:
    store = wiring.key_store()
    created = store.create("ops")
    _, key_id, secret = created.token.split("_", 2)
    item = boto3.client("dynamodb").get_item(
        TableName=aws["APP_TABLE"], Key={"pk": {"S": f"apikey#{key_id}"}, "sk": {"S": "apikey"}}
    )["Item"]
    assert secret not in json.dumps(item) and created.token not in json.dumps(item)
    headers = {"Authorization": f"Bearer {created.token}"}
    assert client.http.get("/api/keys", headers=headers).status_code == 200
    store.revoke(key_id)
    assert client.http.get("/api/keys", headers=headers).status_code == 401


def test_a_cached_key_check_ends_within_its_ttl(aws: dict[str, str]) -> None:
    from chalicelib.system.keys import KeyStore

    store = KeyStore(boto3.client("dynamodb"), aws["APP_TABLE"], cache_seconds=2.0)
    created = store.create("cached")
    store.authenticate(f"Bearer {created.token}")
    other_view = KeyStore(boto3.client("dynamodb"), aws["APP_TABLE"])
    other_view.revoke(created.api_key.key_id)  # revoked by another process
    store.authenticate(f"Bearer {created.token}")  # still cached here
    time.sleep(2.1)
    with pytest.raises(Exception) as refused:
        store.authenticate(f"Bearer {created.token}")
    assert getattr(refused.value, "status", None) == 401


def test_chalice_error_bodies_become_problem_details() -> None:
    from chalicelib.http import as_problem

    rewritten = as_problem(
        Response(body={"Code": "BadRequestError", "Message": "Error Parsing JSON"}, status_code=400)
    )
    assert rewritten.headers["Content-Type"] == "application/problem+json"
    assert json.loads(rewritten.body) == {
        "type": "https://linktrail.dev/problems/invalid-request",
        "title": "Bad Request",
        "status": 400,
        "detail": "Error Parsing JSON",
    }
    crashed = as_problem(
        Response(body={"Code": "InternalServerError", "Message": "boom at line 3"}, status_code=500)
    )
    assert "boom" not in crashed.body
    untouched = Response(body={"ok": True}, status_code=200)
    assert as_problem(untouched) is untouched


def test_admin_key_survives_a_restart(aws: dict[str, str], tmp_path: Any) -> None:
    from local import bootstrap

    key_file = tmp_path / "admin-key"
    first = bootstrap.ensure_admin_key(key_file, aws["APP_TABLE"])
    # A restarted emulator is empty: the same key is registered again.
    boto3.client("dynamodb").delete_item(
        TableName=aws["APP_TABLE"],
        Key={"pk": {"S": f"apikey#{first.split('_')[1]}"}, "sk": {"S": "apikey"}},
    )
    second = bootstrap.ensure_admin_key(key_file, aws["APP_TABLE"])
    assert first == second
    assert wiring.key_store().authenticate(f"Bearer {second}").name == "local-admin"
    assert oct(key_file.stat().st_mode)[-3:] == "600"


# --- pumps, in-process against the emulator --------------------------------------------


def _pump_app(stream_arn: str, seen: list[Any]) -> Chalice:
    """A tiny app with one handler of each kind, recording what Chalice hands it."""
    from chalice import Rate

    pump_app = Chalice(app_name="pump-test")

    @pump_app.on_dynamodb_record(stream_arn=stream_arn, name="recorder")
    def recorder(event: Any) -> None:
        for record in event:
            seen.append(("stream", record))

    @pump_app.on_sqs_message(queue="linktrail-local-notify", name="notify", batch_size=5)
    def notify(event: Any) -> dict[str, Any]:
        failures = []
        for record in event:
            seen.append(("sqs", record))
            if record.body == "fail":
                failures.append({"itemIdentifier": record.to_dict()["messageId"]})
        return {"batchItemFailures": failures}

    @pump_app.schedule(Rate(5, unit=Rate.MINUTES), name="tick")
    def tick(event: Any) -> None:
        seen.append(("schedule", event))

    return pump_app


def test_stream_records_reach_handlers_shaped_as_lambda_delivers_them(aws: dict[str, str]) -> None:
    from local.pumps import Pumps

    seen: list[Any] = []
    pumps = Pumps(_pump_app(aws["LINKS_STREAM_ARN"], seen), aws)
    dynamodb = boto3.client("dynamodb")
    table = aws["LINKS_TABLE"]
    past = str(int(time.time()) - 10)
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "link#mine"}, "sk": {"S": "link"}})
    dynamodb.put_item(
        TableName=table, Item={"pk": {"S": "link#old"}, "sk": {"S": "link"}, "ttl": {"N": past}}
    )
    dynamodb.delete_item(TableName=table, Key={"pk": {"S": "link#mine"}, "sk": {"S": "link"}})
    pumps.run_ttl()  # the emulator never expires items; the TTL pump does
    assert "Item" not in dynamodb.get_item(
        TableName=table, Key={"pk": {"S": "link#old"}, "sk": {"S": "link"}}
    )
    pumps.stream_pumps[0].poll()
    records = [r for kind, r in seen if kind == "stream"]
    assert [(r.event_name, r.keys["pk"]["S"]) for r in records] == [
        ("INSERT", "link#mine"),
        ("INSERT", "link#old"),
        ("REMOVE", "link#mine"),
        ("REMOVE", "link#old"),
    ]
    raw = [r.to_dict() for r in records]
    assert all(r["eventSourceARN"] == aws["LINKS_STREAM_ARN"] for r in raw)
    assert all(isinstance(r["dynamodb"]["ApproximateCreationDateTime"], float) for r in raw)
    assert "userIdentity" not in raw[2]  # our own delete
    assert raw[3]["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def test_queue_pump_honours_partial_batch_failures(aws: dict[str, str]) -> None:
    from local.pumps import Pumps

    seen: list[Any] = []
    pumps = Pumps(_pump_app(aws["LINKS_STREAM_ARN"], seen), aws)
    sqs = boto3.client("sqs")
    sqs.set_queue_attributes(
        QueueUrl=aws["NOTIFY_QUEUE_URL"], Attributes={"VisibilityTimeout": "0"}
    )
    for body in ("ok-1", "fail", "ok-2"):
        sqs.send_message(QueueUrl=aws["NOTIFY_QUEUE_URL"], MessageBody=body)
    [queue_pump] = pumps.queue_pumps
    assert queue_pump.poll(wait_seconds=0) == 2
    assert sorted(r.body for kind, r in seen if kind == "sqs") == ["fail", "ok-1", "ok-2"]
    again = sqs.receive_message(QueueUrl=aws["NOTIFY_QUEUE_URL"], MaxNumberOfMessages=10)[
        "Messages"
    ]
    assert [m["Body"] for m in again] == ["fail"]  # only the failed one comes back


def test_schedule_pump_calls_scheduled_handlers(aws: dict[str, str]) -> None:
    from local.pumps import Pumps

    seen: list[Any] = []
    pumps = Pumps(_pump_app(aws["LINKS_STREAM_ARN"], seen), aws)
    pumps.run_schedules()
    [(_, event)] = [s for s in seen if s[0] == "schedule"]
    assert event.to_dict()["detail-type"] == "Scheduled Event"


def test_the_cli_is_installed_with_the_project() -> None:
    """`make` installs the project, so the operator CLI is on the venv's PATH."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "linktrail"
    assert script.exists(), "make's venv step installs the project (pip install -e .)"
    result = subprocess.run(
        [str(script), "links", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "create" in result.stdout, result.stderr
