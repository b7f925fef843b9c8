"""The contract between the data stack's outputs and the app's environment variables.

Used by the record-resources step (AWS) and by the local bootstrap (emulator) alike, so
the two can never disagree on a name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

DATA_TEMPLATE = Path(__file__).with_name("data.yaml")
EDGE_TEMPLATE = Path(__file__).with_name("edge.yaml")

# stack output -> Chalice stage environment variable
OUTPUT_TO_ENV: dict[str, str] = {
    "LinksTableName": "LINKS_TABLE",
    "LinksTableStreamArn": "LINKS_STREAM_ARN",
    "AppTableName": "APP_TABLE",
    "AppTableStreamArn": "APP_STREAM_ARN",
    "AnalyticsTableName": "ANALYTICS_TABLE",
    "RedirectBucketName": "REDIRECT_BUCKET",
    "RedirectBucketWebsiteHost": "REDIRECT_WEBSITE_HOST",
    "CampaignQueueName": "CAMPAIGN_QUEUE",
    "CampaignQueueUrl": "CAMPAIGN_QUEUE_URL",
    "CampaignDeadLetterQueueUrl": "CAMPAIGN_DLQ_URL",
    "EventsQueueName": "EVENTS_QUEUE",
    "EventsQueueUrl": "EVENTS_QUEUE_URL",
    "EventsDeadLetterQueueUrl": "EVENTS_DLQ_URL",
    "NotifyQueueName": "NOTIFY_QUEUE",
    "NotifyQueueUrl": "NOTIFY_QUEUE_URL",
    "NotifyDeadLetterQueueUrl": "NOTIFY_DLQ_URL",
    "StreamFailureQueueArn": "STREAM_FAILURE_QUEUE_ARN",
    "SsmPrefix": "SSM_PREFIX",
}

# Properties moto's own CloudFormation skips in data.yaml; the local bootstrap applies
# them through the API too (see local/bootstrap.py).
TTL_ATTRIBUTE = "ttl"
WEBSITE_INDEX_DOCUMENT = "index.html"
WEBSITE_ERROR_DOCUMENT = "expired.html"
EXPIRED_PAGE = Path(__file__).with_name("expired.html")


def env_from_outputs(outputs: Mapping[str, str]) -> dict[str, str]:
    """Map a data stack's outputs to the app's environment variables."""
    return {env: outputs[key] for key, env in OUTPUT_TO_ENV.items() if key in outputs}


def upload_expired_page(s3: Any, bucket: str) -> None:
    """Put the bucket's website error document: what an expired, deleted or unknown code
    serves. CloudFormation cannot create objects, so both `make deploy` (after the data
    stack) and the local bootstrap call this."""
    s3.put_object(
        Bucket=bucket,
        Key=WEBSITE_ERROR_DOCUMENT,
        Body=EXPIRED_PAGE.read_bytes(),
        ContentType="text/html; charset=utf-8",
        CacheControl="no-store",
    )


# The Referer CloudFront sends the website endpoint (infra/edge.yaml), which the bucket
# policy requires (infra/data.yaml); kept in SSM under the SsmPrefix output.
ORIGIN_REFERER_PARAMETER = "origin-referer"
ORIGIN_REFERER_HEADER = "Referer"


def redirect_bucket_policy(bucket: str, parameters: Mapping[str, str]) -> dict[str, Any]:
    """data.yaml's RedirectBucketPolicy document for `bucket`, its Refs resolved from
    `parameters`: what the local bootstrap applies (the emulator's CloudFormation skips
    bucket policies), so the local S3 stand-in enforces the template AWS gets."""
    from cfnlint.decode.cfn_yaml import loads

    template = loads(DATA_TEMPLATE.read_text())
    document = template["Resources"]["RedirectBucketPolicy"]["Properties"]["PolicyDocument"]
    arn = f"arn:aws:s3:::{bucket}"

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Ref"}:
                return parameters[node["Ref"]]
            if set(node) == {"Fn::Sub"}:
                return str(node["Fn::Sub"]).replace("${RedirectBucket.Arn}", arn)
            return {str(key): resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return dict(resolve(document))
