"""DynamoDB throttling switched on in the state directory, against the emulator server:
the hook answers as DynamoDB does, botocore retries, and nothing reaches the table."""

from __future__ import annotations

import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local import faults
from local.stack import EMULATOR_CREDENTIALS


def _session_and_table(endpoint: str) -> tuple[boto3.session.Session, str]:
    session = boto3.session.Session(
        aws_access_key_id=EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    setup = session.client("dynamodb", endpoint_url=endpoint)
    setup.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return session, "t"


def test_a_throttling_window_answers_as_dynamodb_and_botocore_retries(
    emulator: str, tmp_path: Path
) -> None:
    session, table = _session_and_table(emulator)
    faults.install(session, tmp_path)
    retries = Config(retries={"max_attempts": 3, "mode": "standard"})
    dynamodb = session.client("dynamodb", endpoint_url=emulator, config=retries)
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "before"}})  # no file: no fault

    closes = time.time() + 8.0  # longer than botocore's backoff between two retries
    faults.throttle_dynamodb(tmp_path, rate=1.0, seconds=8.0)
    time.sleep(0.6)  # the hook reads the file at most every half second
    with pytest.raises(ClientError) as raised:
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "during"}})
    error = raised.value.response
    assert error["Error"]["Code"] in {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
    }
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["ResponseMetadata"]["RetryAttempts"] == 3  # botocore retried, as in AWS
    assert faults.injected_throttles(tmp_path) == 4

    time.sleep(max(0.0, closes - time.time()) + 0.6)  # the window closes
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "after"}})
    keys = {item["pk"]["S"] for item in dynamodb.scan(TableName=table)["Items"]}
    assert keys == {"before", "after"}
    assert faults.injected_throttles(tmp_path) == 4


def test_a_share_of_calls_is_throttled_and_retries_get_through(
    emulator: str, tmp_path: Path
) -> None:
    session, table = _session_and_table(emulator)
    faults.install(session, tmp_path)
    retries = Config(retries={"max_attempts": 8, "mode": "standard"})
    dynamodb = session.client("dynamodb", endpoint_url=emulator, config=retries)
    faults.throttle_dynamodb(tmp_path, rate=0.3, seconds=30.0)
    for n in range(15):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": f"k{n}"}})
    assert len(dynamodb.scan(TableName=table)["Items"]) == 15
    assert 0 < faults.injected_throttles(tmp_path) < 15
