"""`make deploy STAGE=dev`: put linktrail into your AWS account, in order.

    python -m infra.deploy --stage dev [--region eu-west-1] [--click-mode first-click]
                           [--every-click-trigger origin-request] [--rotate-origin-secret]
                           [--alias go.example.com --certificate-arn arn:...] [--dry-run]

1. origin secret (SSM)  2. data stack (app region)  3. record resources  4. chalice deploy
5. SQS partial batch failures  6. api stack (gateway responses) + new API deployment
7. make edge  8. upload the edge zip (us-east-1 artifacts bucket)  9. edge stack
(us-east-1)  10. retire the previous origin secret (after a rotation)  11. record
resources again  12. chalice deploy again if the environment changed, and 5 and 6 after it
(its API import resets the gateway responses).

The origin secret is the Referer CloudFront sends the S3 website endpoint, whose bucket
policy answers nothing else. A rotation keeps the old value accepted until the edge stack
sends the new one, so no click fails while CloudFront moves.

Only boto3 and the chalice CLI are needed (no aws CLI). `--dry-run` prints the plan and
touches nothing: tests run that, never the real thing.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import record_resources, resources
from infra.record_resources import EDGE_REGION, PROJECT_ROOT

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


# --- the chain --------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    name: str
    description: str
    run: Callable[[], None]


@dataclass
class Deployment:
    stage: str
    region: str | None = None
    click_mode: str = "every-click"
    every_click_trigger: str = "viewer-request"  # origin-request: per-country counts
    alias: str = ""
    certificate_arn: str = ""
    rotate_origin_secret: bool = False
    project: Path = PROJECT_ROOT
    log: Callable[[str], None] = print
    # The deploy rehearsal (infra/rehearsal.py): every AWS call, the chalice CLI's too, goes
    # to this emulator, and `make edge` gets these variables (the copy's venv).
    endpoint_url: str = ""
    make_variables: Mapping[str, str] = field(default_factory=dict)
    _session: Any = field(default=None, repr=False)
    _data_outputs: dict[str, str] = field(default_factory=dict, repr=False)
    _edge_bucket: str = ""
    _edge_key: str = ""
    _env_changed: bool = False
    _origin: OriginSecrets | None = field(default=None, repr=False)

    # -- plan ---------------------------------------------------------------------------

    def steps(self) -> list[Step]:
        s, region = self.stage, self.region or "<your default region>"
        config = f".chalice/config.json stages.{s}.environment_variables"
        deployed = f".chalice/deployed/{s}.json"
        secret = f"/linktrail/{s}/{resources.ORIGIN_REFERER_PARAMETER}"
        return [
            Step("origin secret",
                 f"{secret} from SSM (SecureString), generated if missing"
                 + ("; rotated: a new value, the old one accepted until step 10"
                    if self.rotate_origin_secret else ""), self.origin_secret),
            Step("data stack",
                 f"{record_resources.data_stack_name(s)} in {region}: create or update "
                 "infra/data.yaml, wait; the redirect bucket answers only requests whose "
                 f"Referer is {secret}", self.data_stack),
            Step("expired page",
                 "put infra/expired.html in the redirect bucket (its website error document)",
                 self.expired_page),
            Step("record resources", f"data stack outputs -> {config}", self.record),
            Step("chalice deploy", f"chalice deploy --stage {s}", self.chalice_deploy),
            Step("sqs batch failures",
                 f"FunctionResponseTypes=ReportBatchItemFailures on the SQS event source "
                 f"mappings of the functions in {deployed}", self.sqs_batch_failures),
            Step("api stack",
                 f"{api_stack_name(s)} in {region}: infra/api.yaml gateway responses on the "
                 f"REST API, then a new deployment of stage '{self.api_stage()}'",
                 self.api_stack),
            Step("edge build", " ".join(self.edge_build_command()), self.edge_build),
            Step("edge upload",
                 f"{EDGE_ZIP} -> s3://{artifacts_bucket_name('<account-id>')}/"
                 "edge/edge-click-<sha256>.zip (bucket created if missing)", self.edge_upload),
            Step("edge stack",
                 f"{record_resources.edge_stack_name(s)} in {EDGE_REGION}: Lambda@Edge "
                 f"({self.click_mode}{self.trigger_note()}) + CloudFront"
                 + (f" at {self.alias}" if self.alias else "")
                 + f", wait; CloudFront sends {secret} to the website endpoint as its Referer "
                 "origin custom header", self.edge_stack),
            Step("retire previous origin secret",
                 "only after a rotation: the data stack again with the new secret alone, "
                 f"then delete {secret}-previous", self.retire_origin_secret),
            Step("record resources again", f"+ SHORT_BASE_URL, PUBLIC_BASE_URL -> {config}",
                 self.record_again),
            Step("chalice deploy again", f"chalice deploy --stage {s}, only if the "
                 "environment changed; then steps 6 and 7 again (its import resets the "
                 "gateway responses)", self.chalice_redeploy),
        ]

    def trigger_note(self) -> str:
        return f" at {self.every_click_trigger}" if self.click_mode == "every-click" else ""

    def api_stage(self) -> str:
        config = json.loads(record_resources.config_path(self.project).read_text())
        return str(config.get("stages", {}).get(self.stage, {}).get("api_gateway_stage", "api"))

    def print_plan(self) -> None:
        import boto3

        # reads the local AWS config only; no request is made
        self.region = self.region or boto3.session.Session().region_name
        self.log(f"linktrail deploy plan, stage {self.stage} (dry run: nothing is touched)")
        for number, step in enumerate(self.steps(), 1):
            self.log(f"{number:>3}. {step.name}: {step.description}")

    def run(self) -> None:
        self.log(f"deploying stage {self.stage} to {self.session.region_name or self.region}")
        for number, step in enumerate(self.steps(), 1):
            self.log(f"==> {number}. {step.name}")
            step.run()
        self.log("deployed. Short links: SHORT_BASE_URL in .chalice/config.json")

    # -- AWS ---------------------------------------------------------------------------

    @property
    def session(self) -> Any:
        if self._session is None:
            import boto3

            self._session = boto3.session.Session(region_name=self.region)
            self.region = self.region or self._session.region_name
            if not self.region:
                raise SystemExit("no AWS region: pass --region or set AWS_DEFAULT_REGION")
        return self._session

    def client(self, service: str, region: str | None = None) -> Any:
        session = self.session
        return session.client(
            service, region_name=region or self.region, endpoint_url=self.endpoint_url or None
        )

    def deployed(self) -> dict[str, Any]:
        path = record_resources.deployed_path(self.project, self.stage)
        if not path.exists():
            raise SystemExit(f"{path} is missing: chalice deploy did not finish")
        return dict(json.loads(path.read_text()))

    def origin_secrets(self) -> OriginSecrets:
        if self._origin is None:
            raise SystemExit("the origin secret step has not run")
        return self._origin

    def origin_secret(self) -> None:
        store = OriginSecretStore(self.client("ssm"), self.stage)
        self._origin = store.load(self.rotate_origin_secret, self.log)

    def data_stack(self) -> None:
        self._data_outputs = deploy_stack(
            self.client("cloudformation"),
            record_resources.data_stack_name(self.stage),
            resources.DATA_TEMPLATE.read_text(),
            {"Stage": self.stage, **self.origin_secrets().data_parameters()},
            log=self.log,
        )

    def retire_origin_secret(self) -> None:
        origin = self.origin_secrets()
        store = OriginSecretStore(self.client("ssm"), self.stage)
        if not origin.rotating:
            store.retire_previous()  # left over if a rotation failed before it began
            self.log("no rotation under way; nothing to retire")
            return
        self._origin = OriginSecrets(origin.current, origin.current)
        self.data_stack()  # CloudFront sends the new value now: the old one stops working
        store.retire_previous()
        self.log("previous origin secret retired")

    def expired_page(self) -> None:
        bucket = self.data_outputs()["RedirectBucketName"]
        resources.upload_expired_page(self.client("s3"), bucket)
        self.log(f"s3://{bucket}/{resources.WEBSITE_ERROR_DOCUMENT} uploaded")

    def record(self) -> None:
        record_resources.record(self.stage, self.region, self.project, self.session, self.log)

    def chalice_deploy(self) -> None:
        chalice = Path(sys.executable).with_name("chalice")
        command = [str(chalice) if chalice.exists() else "chalice", "deploy", "--stage",
                   self.stage]
        env = {**os.environ, "AWS_DEFAULT_REGION": str(self.region)}
        env.pop("AWS_ENDPOINT_URL", None)  # only the local stage talks to an emulator
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        subprocess.run(command, cwd=self.project, env=env, check=True)

    def sqs_batch_failures(self) -> None:
        changed = report_sqs_batch_failures(self.client("lambda"), function_arns(self.deployed()))
        self.log(f"ReportBatchItemFailures set on {len(changed)} SQS event source mapping(s)")
        failure_queue = self.data_outputs().get("StreamFailureQueueArn", "")
        if failure_queue:
            hardened = harden_stream_mappings(
                self.client("lambda"), function_arns(self.deployed()), failure_queue
            )
            self.log(f"bisect + on-failure queue set on {len(hardened)} stream mapping(s)")

    def api_stack(self) -> None:
        apply_gateway_responses(
            self.client("cloudformation"),
            self.client("apigateway"),
            self.stage,
            rest_api_id(self.deployed()),
            self.api_stage(),
            log=self.log,
        )

    def edge_build_command(self) -> list[str]:
        # The package bakes in the table name (recorded in .chalice/config.json by now), its
        # region and the mode, which must match the trigger the edge stack attaches.
        return ["make", "edge", f"STAGE={self.stage}", f"REGION={self.region}",
                f"CLICK_MODE={self.click_mode}",
                *(f"{name}={value}" for name, value in self.make_variables.items())]

    def edge_build(self) -> None:
        subprocess.run(self.edge_build_command(), cwd=self.project, check=True)

    def edge_upload(self) -> None:
        package = (self.project / EDGE_ZIP).read_bytes()
        account = self.client("sts").get_caller_identity()["Account"]
        bucket = artifacts_bucket_name(account)
        s3 = self.client("s3", EDGE_REGION)
        ensure_artifacts_bucket(s3, bucket, self.log)
        self._edge_key = upload_edge_package(s3, bucket, package)
        self._edge_bucket = bucket
        self.log(f"edge package at s3://{bucket}/{self._edge_key}")

    def data_outputs(self) -> dict[str, str]:
        return self._data_outputs or record_resources.stack_outputs(
            self.client("cloudformation"), record_resources.data_stack_name(self.stage)
        ) or {}

    def edge_stack(self) -> None:
        data = self.data_outputs()
        deploy_stack(
            self.client("cloudformation", EDGE_REGION),
            record_resources.edge_stack_name(self.stage),
            resources.EDGE_TEMPLATE.read_text(),
            {
                "Stage": self.stage,
                "EdgeCodeBucket": self._edge_bucket,
                "EdgeCodeKey": self._edge_key,
                "ClickMode": self.click_mode,
                "EveryClickTrigger": self.every_click_trigger,
                "LinksTableArn": data["LinksTableArn"],
                "RedirectWebsiteHost": data["RedirectBucketWebsiteHost"],
                "OriginSecret": self.origin_secrets().current,
                "Alias": self.alias,
                "CertificateArn": self.certificate_arn,
            },
            capabilities=["CAPABILITY_IAM"],
            log=self.log,
        )

    def record_again(self) -> None:
        self._env_changed = record_resources.record(
            self.stage, self.region, self.project, self.session, self.log
        )

    def chalice_redeploy(self) -> None:
        if not self._env_changed:
            self.log("environment unchanged; no second chalice deploy")
            return
        self.chalice_deploy()
        self.sqs_batch_failures()  # a re-created mapping starts without it
        self.api_stack()  # chalice's API import dropped the gateway responses again


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Deploy linktrail to your AWS account.")
    parser.add_argument("--stage", required=True, choices=["dev", "prod"])
    parser.add_argument("--region", help="the app's region (default: your AWS config's)")
    parser.add_argument("--click-mode", choices=["every-click", "first-click"],
                        default="every-click")
    parser.add_argument("--every-click-trigger", choices=["viewer-request", "origin-request"],
                        default="viewer-request",
                        help="origin-request (caching disabled) to count clicks per country")
    parser.add_argument("--alias", default="",
                        help="short domain for CloudFront (needs --certificate-arn)")
    parser.add_argument("--certificate-arn", default="",
                        help="ACM certificate in us-east-1 for --alias")
    parser.add_argument("--rotate-origin-secret", action="store_true",
                        help="a new Referer secret between CloudFront and the bucket")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, touch nothing")
    args = parser.parse_args(argv)
    if bool(args.alias) != bool(args.certificate_arn):
        parser.error("--alias and --certificate-arn go together")
    deployment = Deployment(
        stage=args.stage,
        region=args.region,
        click_mode=args.click_mode,
        every_click_trigger=args.every_click_trigger,
        alias=args.alias,
        certificate_arn=args.certificate_arn,
        rotate_origin_secret=args.rotate_origin_secret,
    )
    if args.dry_run:
        deployment.print_plan()
    else:
        deployment.run()


if __name__ == "__main__":
    main()
