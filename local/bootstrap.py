"""Create linktrail's resources in the emulator from infra/data.yaml, the template AWS
uses, then apply through the API what moto's own CloudFormation skips in it (TTL, the
bucket's website configuration and policy). The emulator's models (local/cloudformation.py)
already apply them; in-process moto, which the service tests bootstrap, does not. Applying
them again changes nothing."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from infra import resources

STACK_NAME = "linktrail-local-data"
# Locally a failed queue message comes back after seconds, not minutes.
LOCAL_VISIBILITY_TIMEOUT = "4"


def provision(
    log: Callable[[str], None] = print, stage: str = "local", region: str = "us-east-1"
) -> dict[str, str]:
    """Deploy the data stack to whatever endpoint boto3 is pointed at; return app env."""
    session = boto3.session.Session(region_name=region)
    cloudformation = session.client("cloudformation")
    # A fresh secret per start, as `make deploy --rotate-origin-secret` would make one.
    origin_secret = secrets.token_urlsafe(32)
    parameters = {
        "Stage": stage,
        "OriginSecret": origin_secret,
        "PreviousOriginSecret": origin_secret,
    }
    cloudformation.create_stack(
        StackName=STACK_NAME,
        TemplateBody=resources.DATA_TEMPLATE.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )
    outputs = _wait_for_outputs(cloudformation)
    env = resources.env_from_outputs(outputs)
    _apply_ignored_properties(session, env, log)
    _apply_bucket_policy(session, env["REDIRECT_BUCKET"], parameters, log)
    # The short domain plays CloudFront and sends it as the origin custom header.
    env["ORIGIN_SECRET"] = origin_secret
    env["STAGE"] = stage
    env["AWS_DEFAULT_REGION"] = region
    return env


def _wait_for_outputs(cloudformation: Any) -> dict[str, str]:
    deadline = time.monotonic() + 60
    while True:
        stack = cloudformation.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        if status.endswith("FAILED") or status.startswith("ROLLBACK"):
            raise RuntimeError(f"data stack {status}: {stack.get('StackStatusReason')}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"data stack still {status} after 60s")
        time.sleep(0.2)


def _apply_ignored_properties(
    session: Any, env: dict[str, str], log: Callable[[str], None]
) -> None:
    dynamodb = session.client("dynamodb")
    for table in (env["LINKS_TABLE"], env["APP_TABLE"], env["ANALYTICS_TABLE"]):
        dynamodb.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"AttributeName": resources.TTL_ATTRIBUTE, "Enabled": True},
        )
    log(
        "TTL enabled on "
        f"'{resources.TTL_ATTRIBUTE}' (the local TTL pump does the deleting)"
    )
    s3 = session.client("s3")
    s3.put_bucket_website(
        Bucket=env["REDIRECT_BUCKET"],
        WebsiteConfiguration={
            "IndexDocument": {"Suffix": resources.WEBSITE_INDEX_DOCUMENT},
            "ErrorDocument": {"Key": resources.WEBSITE_ERROR_DOCUMENT},
        },
    )
    resources.upload_expired_page(s3, env["REDIRECT_BUCKET"])
    log("website configuration applied, expired.html uploaded")
    sqs = session.client("sqs")
    for name in ("CAMPAIGN_QUEUE_URL", "EVENTS_QUEUE_URL", "NOTIFY_QUEUE_URL"):
        sqs.set_queue_attributes(
            QueueUrl=env[name], Attributes={"VisibilityTimeout": LOCAL_VISIBILITY_TIMEOUT}
        )
    log(f"local queues: visibility timeout {LOCAL_VISIBILITY_TIMEOUT}s so retries come quickly")


def _apply_bucket_policy(
    session: Any, bucket: str, parameters: dict[str, str], log: Callable[[str], None]
) -> None:
    policy = resources.redirect_bucket_policy(bucket, parameters)
    session.client("s3").put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    log(
        "data.yaml's bucket policy applied (the bucket answers only requests with "
        f"CloudFront's {resources.ORIGIN_REFERER_HEADER})"
    )


def ensure_admin_key(key_file: Path, app_table: str) -> str:
    """Reuse the key in `key_file` if there is one (curl scripts keep working across
    restarts), else create one; store its hash in the emulator either way. Its click-webhook
    signing secret is kept beside it (`webhook-secret`) so local receivers can verify
    `link.clicked` signatures across restarts too."""
    from chalicelib.system.keys import KEY_PATTERN, KeyStore

    dynamodb = boto3.session.Session().client("dynamodb")
    store = KeyStore(dynamodb, app_table)
    existing = key_file.read_text().strip() if key_file.exists() else ""
    token = existing if KEY_PATTERN.match(existing) else None
    secret_file = key_file.with_name("webhook-secret")
    kept_secret = secret_file.read_text().strip() if secret_file.exists() else ""
    webhook_secret = kept_secret if token and kept_secret.startswith("whsec_") else None
    created = store.create("local-admin", token=token, webhook_secret=webhook_secret)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    for path, value in ((key_file, created.token), (secret_file, created.webhook_secret)):
        path.write_text(value + "\n")
        path.chmod(0o600)
    return created.token
