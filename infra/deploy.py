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
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import record_resources, resources
from infra.deploy_steps import (
    API_TEMPLATE,
    EDGE_ZIP,
    NO_UPDATES,
    STREAM_MAPPING_SETTINGS,
    WAIT,
    OriginSecrets,
    OriginSecretStore,
    api_stack_name,
    apply_gateway_responses,
    artifacts_bucket_name,
    declared_response_types,
    deploy_stack,
    edge_code_key,
    ensure_artifacts_bucket,
    function_arns,
    harden_stream_mappings,
    report_sqs_batch_failures,
    reset_response_types,
    rest_api_id,
    upload_edge_package,
)
from infra.record_resources import EDGE_REGION, PROJECT_ROOT

# The steps are used from here by name (tests, the rehearsal) as well as by the chain.
__all__ = [
    "API_TEMPLATE",
    "EDGE_ZIP",
    "NO_UPDATES",
    "STREAM_MAPPING_SETTINGS",
    "WAIT",
    "Deployment",
    "OriginSecretStore",
    "OriginSecrets",
    "Step",
    "api_stack_name",
    "apply_gateway_responses",
    "artifacts_bucket_name",
    "declared_response_types",
    "deploy_stack",
    "edge_code_key",
    "ensure_artifacts_bucket",
    "function_arns",
    "harden_stream_mappings",
    "main",
    "report_sqs_batch_failures",
    "reset_response_types",
    "rest_api_id",
    "upload_edge_package",
]


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
    # The deploy rehearsal (infra/rehearsal.py): every AWS call (this module's, the record
    # step's and the chalice CLI's) goes to this emulator, and `make edge` gets these
    # variables (the project copy's venv and stamp).
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
        record_resources.record(self.stage, self.region, self.project, self.session, self.log,
                                self.endpoint_url or None)

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
            self.stage, self.region, self.project, self.session, self.log,
            self.endpoint_url or None,
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
