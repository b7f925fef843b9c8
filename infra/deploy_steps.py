"""The steps of `make deploy`, one function each, handed their boto3 clients: stacks
created or updated and waited for, the event source mapping settings chalice cannot
make, the api stack's gateway responses, the edge package's bucket and upload, and the
origin secret in SSM. infra/deploy.py runs them in order; the pure pieces are unit-tested.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra import record_resources, resources
from infra.record_resources import EDGE_REGION

API_TEMPLATE = Path(__file__).with_name("api.yaml")
EDGE_ZIP = Path("dist") / "edge-click.zip"
NO_UPDATES = "No updates are to be performed"
# CloudFront distributions take minutes to create or change; allow an hour.
WAIT = {"Delay": 10, "MaxAttempts": 360}


def api_stack_name(stage: str) -> str:
    return f"linktrail-{stage}-api"


def artifacts_bucket_name(account_id: str) -> str:
    return f"linktrail-artifacts-{account_id}-{EDGE_REGION}"


def edge_code_key(zip_bytes: bytes) -> str:
    """The S3 key of an edge package: its content hash, so new code means a new key, a
    replaced AWS::Lambda::Version and a newly published version (see edge.yaml)."""
    return f"edge/edge-click-{hashlib.sha256(zip_bytes).hexdigest()[:16]}.zip"


# --- pure pieces (unit-tested) ----------------------------------------------------------


def function_arns(deployed: Mapping[str, Any]) -> list[str]:
    """ARNs of the Lambda functions a `.chalice/deployed/<stage>.json` lists."""
    return [
        str(resource["lambda_arn"])
        for resource in deployed.get("resources", [])
        if resource.get("resource_type") == "lambda_function" and resource.get("lambda_arn")
    ]


def rest_api_id(deployed: Mapping[str, Any]) -> str:
    for resource in deployed.get("resources", []):
        if resource.get("resource_type") == "rest_api":
            return str(resource["rest_api_id"])
    raise SystemExit("chalice deployed no REST API (no rest_api in .chalice/deployed)")


def declared_response_types(template_text: str) -> set[str]:
    """The gateway response types infra/api.yaml customises."""
    from cfnlint.decode.cfn_yaml import loads

    template = loads(template_text)
    return {
        str(resource["Properties"]["ResponseType"])
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::ApiGateway::GatewayResponse"
    }


def reset_response_types(declared: Iterable[str], live: Iterable[Mapping[str, Any]]) -> set[str]:
    """Declared types the REST API no longer customises.

    `chalice deploy` imports its OpenAPI document with mode=overwrite, which drops gateway
    responses; CloudFormation does not notice (drift), so the api stack must be rebuilt.
    API Gateway lists every type with defaultResponse true/false; absent counts as reset.
    """
    customised = {
        str(item["responseType"]) for item in live if not item.get("defaultResponse", False)
    }
    return set(declared) - customised


# --- AWS steps --------------------------------------------------------------------------


def deploy_stack(
    cloudformation: Any,
    name: str,
    template_body: str,
    parameters: Mapping[str, str],
    capabilities: Iterable[str] = (),
    log: Callable[[str], None] = print,
) -> dict[str, str]:
    """Create or update a stack, wait for it, and return its outputs."""
    from botocore.exceptions import ClientError, WaiterError

    request = {
        "StackName": name,
        "TemplateBody": template_body,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        "Capabilities": list(capabilities),
    }
    status = _stack_status(cloudformation, name)
    if status == "ROLLBACK_COMPLETE":
        # a first create that failed leaves a stack that can only be deleted
        log(f"{name} is ROLLBACK_COMPLETE from a failed create; deleting it first")
        cloudformation.delete_stack(StackName=name)
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=WAIT)
        status = None
    try:
        if status is None:
            log(f"creating {name}")
            cloudformation.create_stack(**request, OnFailure="ROLLBACK")
            waiter = "stack_create_complete"
        else:
            log(f"updating {name}")
            try:
                cloudformation.update_stack(**request)
            except ClientError as error:
                if NO_UPDATES not in str(error):
                    raise
                log(f"{name} is up to date")
                return record_resources.stack_outputs(cloudformation, name) or {}
            waiter = "stack_update_complete"
        cloudformation.get_waiter(waiter).wait(StackName=name, WaiterConfig=WAIT)
    except WaiterError:
        for reason in _failure_reasons(cloudformation, name):
            log(f"  {reason}")
        raise SystemExit(f"{name}: {_stack_status(cloudformation, name)}") from None
    return record_resources.stack_outputs(cloudformation, name) or {}


def _stack_status(cloudformation: Any, name: str) -> str | None:
    from botocore.exceptions import ClientError

    try:
        return str(cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise


def _failure_reasons(cloudformation: Any, name: str, limit: int = 5) -> list[str]:
    events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
    failed = [e for e in events if str(e.get("ResourceStatus", "")).endswith("FAILED")]
    return [
        f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}" for e in failed[:limit]
    ]


def report_sqs_batch_failures(lambda_client: Any, arns: Iterable[str]) -> list[str]:
    """Turn on ReportBatchItemFailures for every SQS event source mapping of `arns`.

    Chalice cannot set FunctionResponseTypes; without it Lambda ignores the
    {"batchItemFailures": [...]} a handler returns and retries the whole batch.
    Returns the UUIDs it changed.
    """
    changed = []
    paginator = lambda_client.get_paginator("list_event_source_mappings")
    for arn in arns:
        for page in paginator.paginate(FunctionName=arn):
            for mapping in page["EventSourceMappings"]:
                if ":sqs:" not in mapping.get("EventSourceArn", ""):
                    continue
                if "ReportBatchItemFailures" in (mapping.get("FunctionResponseTypes") or []):
                    continue
                lambda_client.update_event_source_mapping(
                    UUID=mapping["UUID"], FunctionResponseTypes=["ReportBatchItemFailures"]
                )
                changed.append(str(mapping["UUID"]))
    return changed


# Stream mappings: split a failing batch to find the bad record, retry it a bounded number
# of times, then record it on the failure queue and move on (Chalice cannot set these).
STREAM_MAPPING_SETTINGS = {
    "BisectBatchOnFunctionError": True,
    "MaximumRetryAttempts": 10,
    "MaximumRecordAgeInSeconds": 6 * 3600,
}


def harden_stream_mappings(
    lambda_client: Any, arns: Iterable[str], on_failure_arn: str
) -> list[str]:
    """Bisect, bounded retries and an on-failure destination for every DynamoDB stream
    event source mapping of `arns`. Returns the UUIDs it changed."""
    wanted = {**STREAM_MAPPING_SETTINGS}
    changed = []
    paginator = lambda_client.get_paginator("list_event_source_mappings")
    for arn in arns:
        for page in paginator.paginate(FunctionName=arn):
            for mapping in page["EventSourceMappings"]:
                if ":dynamodb:" not in mapping.get("EventSourceArn", ""):
                    continue
                destination = (
                    mapping.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
                )
                if destination == on_failure_arn and all(
                    mapping.get(key) == value for key, value in wanted.items()
                ):
                    continue
                lambda_client.update_event_source_mapping(
                    UUID=mapping["UUID"],
                    DestinationConfig={"OnFailure": {"Destination": on_failure_arn}},
                    **wanted,
                )
                changed.append(str(mapping["UUID"]))
    return changed


def apply_gateway_responses(
    cloudformation: Any,
    apigateway: Any,
    stage: str,
    api_id: str,
    api_stage: str,
    log: Callable[[str], None] = print,
) -> None:
    """Deploy the api stack onto `api_id`, rebuild it if chalice's overwrite reset the
    responses, then deploy the API stage so they take effect."""
    template = API_TEMPLATE.read_text()
    name = api_stack_name(stage)
    deploy_stack(cloudformation, name, template, {"RestApiId": api_id}, log=log)
    live = apigateway.get_gateway_responses(restApiId=api_id, limit=500)["items"]
    reset = reset_response_types(declared_response_types(template), live)
    if reset:
        log(f"chalice's API import reset {len(reset)} gateway responses; rebuilding {name}")
        cloudformation.delete_stack(StackName=name)
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=WAIT)
        deploy_stack(cloudformation, name, template, {"RestApiId": api_id}, log=log)
    apigateway.create_deployment(
        restApiId=api_id, stageName=api_stage, description="linktrail gateway responses"
    )
    log(f"deployed stage '{api_stage}' of REST API {api_id} with the gateway responses")


def ensure_artifacts_bucket(s3: Any, bucket: str, log: Callable[[str], None] = print) -> None:
    """The private us-east-1 bucket edge packages are uploaded to (created once)."""
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise SystemExit(f"artifacts bucket {bucket} is not usable: {error}") from None
    log(f"creating artifacts bucket {bucket}")
    s3.create_bucket(Bucket=bucket)  # us-east-1: no LocationConstraint
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )


def upload_edge_package(s3: Any, bucket: str, package: bytes) -> str:
    """Upload the edge zip under its content-hash key unless it is there; return the key."""
    from botocore.exceptions import ClientError

    key = edge_code_key(package)
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        s3.put_object(Bucket=bucket, Key=key, Body=package, ContentType="application/zip")
    return key


# --- the origin secret ------------------------------------------------------------------


@dataclass(frozen=True)
class OriginSecrets:
    """The Referer CloudFront sends the website endpoint, and during a rotation the one it
    sent before, which the bucket policy accepts until the edge stack has moved."""

    current: str
    previous: str

    @property
    def rotating(self) -> bool:
        return self.current != self.previous

    def data_parameters(self) -> dict[str, str]:
        return {"OriginSecret": self.current, "PreviousOriginSecret": self.previous}


class OriginSecretStore:
    """The secret as a SecureString at <SsmPrefix>origin-referer; a rotation's old value
    waits at origin-referer-previous until the edge stack sends the new one, so a deploy
    that fails half way is finished by the next one without refusing CloudFront."""

    def __init__(self, ssm: Any, stage: str) -> None:
        self.ssm = ssm
        self.name = f"/linktrail/{stage}/{resources.ORIGIN_REFERER_PARAMETER}"
        self.previous_name = self.name + "-previous"

    def _get(self, name: str) -> str | None:
        try:
            answer = self.ssm.get_parameter(Name=name, WithDecryption=True)
        except self.ssm.exceptions.ParameterNotFound:
            return None
        return str(answer["Parameter"]["Value"])

    def _put(self, name: str, value: str) -> None:
        self.ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)

    def load(self, rotate: bool, log: Callable[[str], None] = print) -> OriginSecrets:
        current, previous = self._get(self.name), self._get(self.previous_name)
        if current and previous:
            log(f"{self.name}: finishing the rotation a previous deploy started")
            return OriginSecrets(current, previous)
        if current and not rotate:
            return OriginSecrets(current, current)
        new = secrets.token_urlsafe(32)
        if current:
            self._put(self.previous_name, current)
        self._put(self.name, new)
        log(f"{self.name}: {'rotated' if current else 'generated'}")
        return OriginSecrets(new, current or new)

    def retire_previous(self) -> None:
        with contextlib.suppress(self.ssm.exceptions.ParameterNotFound):
            self.ssm.delete_parameter(Name=self.previous_name)
