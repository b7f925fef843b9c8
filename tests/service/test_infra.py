"""infra/: templates lint clean, the chalice package lints clean, the data stack deploys
(to moto) with every output the app needs, record-resources merges outputs into the chalice
config, the IAM policies cover every resource, and the deploy chain runs in order.
Nothing here reaches AWS: moto in-process or no network at all."""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.api import lint_file
from cfnlint.decode.cfn_yaml import loads as load_template

from chalicelib.core import problems
from chalicelib.core.settings import LOCAL_SECRET_ENV
from infra import deploy, record_resources, resources
from tests.support.paths import ROOT

INFRA = ROOT / "infra"
ACCOUNT = "123456789012"
REGION = "eu-west-1"

# Every response type API Gateway (REST) defines.
GATEWAY_RESPONSE_TYPES = {
    "ACCESS_DENIED", "API_CONFIGURATION_ERROR", "AUTHORIZER_CONFIGURATION_ERROR",
    "AUTHORIZER_FAILURE", "BAD_REQUEST_PARAMETERS", "BAD_REQUEST_BODY", "DEFAULT_4XX",
    "DEFAULT_5XX", "EXPIRED_TOKEN", "INTEGRATION_FAILURE", "INTEGRATION_TIMEOUT",
    "INVALID_API_KEY", "INVALID_SIGNATURE", "MISSING_AUTHENTICATION_TOKEN", "QUOTA_EXCEEDED",
    "REQUEST_TOO_LARGE", "RESOURCE_NOT_FOUND", "THROTTLED", "UNAUTHORIZED",
    "UNSUPPORTED_MEDIA_TYPE", "WAF_FILTERED",
}  # fmt: skip


def template(name: str) -> dict[str, Any]:
    return dict(load_template((INFRA / name).read_text()))


def lint_messages(path: Path) -> list[str]:
    return [f"{m.rule.id} {m.message} ({m.filename}:{m.linenumber})" for m in lint_file(path)]


def data_stack_outputs(stage: str) -> dict[str, str]:
    """What the data stack of `stage` outputs in eu-west-1 (names as data.yaml makes them)."""
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/linktrail-{stage}"
    queue_url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/linktrail-{stage}"
    bucket = f"linktrail-{stage}-redirects-{ACCOUNT}-{REGION}"
    return {
        "LinksTableName": f"linktrail-{stage}-links",
        "LinksTableArn": f"{table}-links",
        "LinksTableStreamArn": f"{table}-links/stream/2025-01-01T00:00:00.000",
        "AppTableName": f"linktrail-{stage}-app",
        "AppTableArn": f"{table}-app",
        "AppTableStreamArn": f"{table}-app/stream/2025-01-01T00:00:00.000",
        "RedirectBucketName": bucket,
        "RedirectBucketWebsiteHost": f"{bucket}.s3-website-{REGION}.amazonaws.com",
        "CampaignQueueName": f"linktrail-{stage}-campaigns",
        "CampaignQueueUrl": f"{queue_url}-campaigns",
        "CampaignDeadLetterQueueUrl": f"{queue_url}-campaigns-dlq",
        "EventsQueueName": f"linktrail-{stage}-events",
        "EventsQueueUrl": f"{queue_url}-events",
        "EventsDeadLetterQueueUrl": f"{queue_url}-events-dlq",
        "NotifyQueueName": f"linktrail-{stage}-notify",
        "NotifyQueueUrl": f"{queue_url}-notify",
        "NotifyDeadLetterQueueUrl": f"{queue_url}-notify-dlq",
        "SsmPrefix": f"/linktrail/{stage}/",
    }


# --- templates --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["data.yaml", "edge.yaml", "api.yaml"])
def test_template_passes_cfn_lint(name: str) -> None:
    assert lint_messages(INFRA / name) == []


def test_chalice_package_passes_cfn_lint(tmp_path: Path) -> None:
    """`chalice package` on a copy of the project whose dev stage carries realistic
    resource values; the real .chalice/config.json is never touched."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "app.py", project)
    shutil.copytree(ROOT / "chalicelib", project / "chalicelib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (project / ".chalice").mkdir()
    for policy in (ROOT / ".chalice").glob("policy-*.json"):
        shutil.copy(policy, project / ".chalice")
    # the template is under test, not the wheels: no vonage download from PyPI offline
    (project / "requirements.txt").write_text("")
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = record_resources.stage_environment(
        data_stack_outputs("dev"), {"ShortBaseUrl": "https://d111111abcdef8.cloudfront.net"}
    )
    (project / ".chalice" / "config.json").write_text(
        record_resources.render(record_resources.merge_environment(config, "dev", env))
    )
    chalice = Path(sys.executable).with_name("chalice")
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    clean_env.update(AWS_DEFAULT_REGION=REGION, AWS_ACCESS_KEY_ID="testing",
                     AWS_SECRET_ACCESS_KEY="testing")
    for name in resources.OUTPUT_TO_ENV.values():  # the copy's stage env must win
        clean_env.pop(name, None)
    subprocess.run([str(chalice), "package", "--stage", "dev", str(tmp_path / "out")],
                   cwd=project, env=clean_env, check=True, capture_output=True, timeout=180)
    sam_path = tmp_path / "out" / "sam.json"

    # No rule is ignored: chalice 1.34's template lints clean as it is.
    assert lint_messages(sam_path) == []

    sam = json.loads(sam_path.read_text())["Resources"]
    policy = json.loads((ROOT / ".chalice" / "policy-dev.json").read_text())
    roles = [r for r in sam.values() if r["Type"] == "AWS::IAM::Role"]
    assert roles, "chalice made no roles"
    for role in roles:  # autogen_policy false: exactly the reviewed policy, nothing else
        assert [p["PolicyDocument"] for p in role["Properties"]["Policies"]] == [policy]
    functions = [r for r in sam.values() if r["Type"] == "AWS::Serverless::Function"]
    text = json.dumps(functions)
    assert "linktrail-local" not in text and "unset" not in text  # recorded env reached it
    for function in functions:
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["LINKS_TABLE"] == "linktrail-dev-links"
        assert variables["SHORT_BASE_URL"] == "https://d111111abcdef8.cloudfront.net"


def test_gateway_responses_are_problem_details() -> None:
    gateway = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in template("api.yaml")["Resources"].values()
        if r["Type"] == "AWS::ApiGateway::GatewayResponse"
    }
    assert set(gateway) == GATEWAY_RESPONSE_TYPES
    assert deploy.declared_response_types((INFRA / "api.yaml").read_text()) == set(gateway)
    for response_type, props in gateway.items():
        status = int(props["StatusCode"])
        headers = props["ResponseParameters"]
        assert headers["gatewayresponse.header.Content-Type"] == "'application/problem+json'"
        raw = props["ResponseTemplates"]["application/json"]
        # API Gateway substitutes this with the message as a quoted JSON string
        body = json.loads(raw.replace("$context.error.messageString", '"Forbidden"'))
        assert set(body) == {"type", "title", "status", "detail"}, response_type
        assert body["status"] == status, response_type
        assert body["type"].startswith(problems.TYPE_BASE)
        assert body["detail"]
        if status in problems._TITLES:  # same slug and title as the app's own problems
            reference = problems.Problem(status, "x").to_dict()
            assert (body["type"], body["title"]) == (reference["type"], reference["title"])
    assert gateway["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    unknown_route = json.loads(
        gateway["MISSING_AUTHENTICATION_TOKEN"]["ResponseTemplates"]["application/json"])
    assert unknown_route == {"type": problems.TYPE_BASE + "not-found", "title": "Not Found",
                             "status": 404, "detail": "No such route."}
    assert "WWW-Authenticate" in " ".join(gateway["UNAUTHORIZED"]["ResponseParameters"])


def test_gateway_response_reset_detection() -> None:
    declared = {"DEFAULT_4XX", "MISSING_AUTHENTICATION_TOKEN"}
    # AWS lists every type, flagging the ones nobody customised
    aws_after_chalice = [
        {"responseType": "DEFAULT_4XX", "defaultResponse": True},
        {"responseType": "MISSING_AUTHENTICATION_TOKEN", "defaultResponse": True},
        {"responseType": "THROTTLED", "defaultResponse": True},
    ]
    aws_applied = [
        {"responseType": "DEFAULT_4XX", "defaultResponse": False},
        {"responseType": "MISSING_AUTHENTICATION_TOKEN", "defaultResponse": False},
    ]
    assert deploy.reset_response_types(declared, aws_after_chalice) == declared
    assert deploy.reset_response_types(declared, aws_applied) == set()
    # an emulator that lists only customised types: absent means reset
    assert deploy.reset_response_types(declared, aws_applied[:1]) == {
        "MISSING_AUTHENTICATION_TOKEN"
    }


def test_edge_template_wiring() -> None:
    edge = template("edge.yaml")
    res = edge["Resources"]
    trust = res["EdgeFunctionRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert set(trust["Principal"]["Service"]) == {"lambda.amazonaws.com",
                                                  "edgelambda.amazonaws.com"}
    statements = res["EdgeFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"]
    dynamodb = [s for s in statements if "dynamodb" in json.dumps(s["Action"])]
    assert dynamodb == [{"Sid": "CountClicks", "Effect": "Allow", "Action": "dynamodb:UpdateItem",
                         "Resource": {"Ref": "LinksTableArn"}},
                        {"Sid": "ReadTombstones", "Effect": "Allow", "Action": "dynamodb:GetItem",
                         "Resource": {"Ref": "LinksTableArn"}}]
    function = res["EdgeFunction"]["Properties"]
    assert function["Handler"] == "edge_click.handler" and "Environment" not in function
    assert function["Code"]["S3Key"] == {"Ref": "EdgeCodeKey"}
    # the version's (replace-only) description carries the code key: new code, new version
    assert "${EdgeCodeKey}" in res["EdgeFunctionVersion"]["Properties"]["Description"]["Fn::Sub"]
    behaviour = res["Distribution"]["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]
    association = behaviour["LambdaFunctionAssociations"][0]
    assert association["EventType"] == {"Fn::If": ["AtViewer", "viewer-request",
                                                   "origin-request"]}
    assert association["LambdaFunctionARN"] == {"Ref": "EdgeFunctionVersion"}
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
    origin = res["Distribution"]["Properties"]["DistributionConfig"]["Origins"][0]
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "http-only"
    assert res["ClickOriginRequestPolicy"]["Condition"] == "AtOrigin"
    headers = res["ClickOriginRequestPolicy"]["Properties"]["OriginRequestPolicyConfig"][
        "HeadersConfig"]["Headers"]
    assert headers == ["CloudFront-Viewer-Country", "User-Agent"]
    assert set(edge["Outputs"]) == {"DistributionDomainName", "DistributionId",
                                    "EdgeFunctionVersionArn", "ShortBaseUrl"}


def test_edge_code_key_follows_content() -> None:
    one, two = deploy.edge_code_key(b"zip one"), deploy.edge_code_key(b"zip two")
    assert one != two and one == deploy.edge_code_key(b"zip one")
    pattern = template("edge.yaml")["Parameters"]["EdgeCodeKey"]["AllowedPattern"]
    import re

    assert re.fullmatch(pattern, one)


# --- data stack in the emulator ---------------------------------------------------------


def test_data_stack_deploys_with_every_output_the_app_needs(aws: dict[str, str]) -> None:
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    outputs = record_resources.stack_outputs(cloudformation, "linktrail-local-data")
    assert outputs is not None
    needed = set(resources.OUTPUT_TO_ENV) | {"LinksTableArn", "RedirectBucketWebsiteHost"}
    assert needed <= set(outputs), needed - set(outputs)
    assert all(outputs[key] for key in needed)
    env = resources.env_from_outputs(outputs)
    assert set(env) == set(resources.OUTPUT_TO_ENV.values())
    boto3.client("dynamodb", region_name="us-east-1").describe_table(TableName=env["LINKS_TABLE"])
    boto3.client("sqs", region_name="us-east-1").get_queue_attributes(
        QueueUrl=env["NOTIFY_QUEUE_URL"], AttributeNames=["RedrivePolicy"])


def test_deploy_stack_creates_then_finds_nothing_to_update(aws: dict[str, str]) -> None:
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    lines: list[str] = []
    body = resources.DATA_TEMPLATE.read_text()
    parameters = {"Stage": "dev", **deploy.OriginSecrets("s" * 43, "s" * 43).data_parameters()}
    first = deploy.deploy_stack(cloudformation, "linktrail-dev-data", body, parameters,
                                log=lines.append)
    assert first["LinksTableName"] == "linktrail-dev-links"
    second = deploy.deploy_stack(cloudformation, "linktrail-dev-data", body, parameters,
                                 log=lines.append)
    assert second == first
    assert lines[0] == "creating linktrail-dev-data"
    assert lines[1:] == ["updating linktrail-dev-data", "linktrail-dev-data is up to date"]


def test_deploy_puts_the_expired_page_the_bucket_serves_for_dead_codes(
    aws: dict[str, str],
) -> None:
    """CloudFormation cannot create objects: the deploy chain uploads the error document."""
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = aws["REDIRECT_BUCKET"]
    s3.delete_object(Bucket=bucket, Key=resources.WEBSITE_ERROR_DOCUMENT)
    lines: list[str] = []
    deployment = deploy.Deployment(stage="local", region="us-east-1", log=lines.append,
                                   _session=boto3.session.Session(region_name="us-east-1"))
    deployment.expired_page()
    page = s3.get_object(Bucket=bucket, Key=resources.WEBSITE_ERROR_DOCUMENT)
    assert page["ContentType"].startswith("text/html") and page["CacheControl"] == "no-store"
    assert b"This link has expired or does not exist" in page["Body"].read()
    website = s3.get_bucket_website(Bucket=bucket)
    assert website["ErrorDocument"]["Key"] == resources.WEBSITE_ERROR_DOCUMENT
    assert lines == [f"s3://{bucket}/expired.html uploaded"]


# --- record resources -------------------------------------------------------------------


def test_merge_environment_keeps_everything_else() -> None:
    config: dict[str, Any] = {
        "version": "2.0",
        "app_name": "linktrail",
        "stages": {
            "local": {"environment_variables": {"STAGE": "local"}},
            "dev": {"api_gateway_stage": "api", "iam_policy_file": "policy-dev.json",
                    "environment_variables": {"STAGE": "dev", "LINKS_TABLE": "old",
                                              "VONAGE_FROM": "Acme"}},
        },
    }
    snapshot = json.dumps(config)
    merged = record_resources.merge_environment(config, "dev", {"LINKS_TABLE": "new", "X": "1"})
    assert json.dumps(config) == snapshot  # pure: the input is untouched
    assert merged["stages"]["dev"]["environment_variables"] == {
        "STAGE": "dev", "LINKS_TABLE": "new", "VONAGE_FROM": "Acme", "X": "1"}
    assert merged["stages"]["dev"]["iam_policy_file"] == "policy-dev.json"
    assert merged["stages"]["local"] == config["stages"]["local"]
    assert merged["app_name"] == "linktrail"
    fresh = record_resources.merge_environment({"version": "2.0"}, "prod", {"A": "b"})
    assert fresh["stages"]["prod"]["environment_variables"] == {"A": "b"}
    text = record_resources.render(merged)
    assert text.endswith("}\n") and '\n  "stages": {\n    "local"' in text


def test_stage_environment_from_stacks_and_chalice() -> None:
    deployed = {"resources": [
        {"name": "api_handler", "resource_type": "lambda_function",
         "lambda_arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:linktrail-dev"},
        {"name": "rest_api", "resource_type": "rest_api", "rest_api_id": "abcde12345",
         "rest_api_url": f"https://abcde12345.execute-api.{REGION}.amazonaws.com/api/"},
    ]}
    env = record_resources.stage_environment(
        data_stack_outputs("dev"), {"ShortBaseUrl": "https://go.example.com"}, deployed)
    assert env["LINKS_STREAM_ARN"] == data_stack_outputs("dev")["LinksTableStreamArn"]
    assert env["CAMPAIGN_QUEUE"] == "linktrail-dev-campaigns"
    assert env["SHORT_BASE_URL"] == "https://go.example.com"
    assert env["PUBLIC_BASE_URL"] == f"https://abcde12345.execute-api.{REGION}.amazonaws.com/api"
    first_deploy = record_resources.stage_environment(data_stack_outputs("dev"), None, None)
    assert "SHORT_BASE_URL" not in first_deploy and "PUBLIC_BASE_URL" not in first_deploy
    assert deploy.rest_api_id(deployed) == "abcde12345"
    assert deploy.function_arns(deployed) == [deployed["resources"][0]["lambda_arn"]]


def test_record_writes_data_stack_outputs_into_a_config(aws: dict[str, str],
                                                        tmp_path: Path) -> None:
    (tmp_path / ".chalice").mkdir()
    config_file = tmp_path / ".chalice" / "config.json"
    config_file.write_text(json.dumps(
        {"version": "2.0", "stages": {"local": {"environment_variables": {"KEEP": "me"}}}}))
    session = boto3.session.Session(region_name="us-east-1")
    lines: list[str] = []
    # there is no edge stack yet (first run of the chain): recorded without SHORT_BASE_URL
    assert record_resources.record("local", "us-east-1", tmp_path, session, lines.append)
    variables = json.loads(config_file.read_text())["stages"]["local"]["environment_variables"]
    assert variables["KEEP"] == "me"
    assert variables["LINKS_TABLE"] == aws["LINKS_TABLE"]
    assert variables["LINKS_STREAM_ARN"] == aws["LINKS_STREAM_ARN"]
    assert "SHORT_BASE_URL" not in variables
    assert "not known yet" in lines[0]
    # nothing new the second time: no second chalice deploy would follow
    assert not record_resources.record("local", "us-east-1", tmp_path, session, lines.append)


# --- IAM policies -----------------------------------------------------------------------


def allowed(policy: dict[str, Any], action: str, resource: str) -> bool:
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [
            statement["Action"]]
        resources_ = statement["Resource"] if isinstance(statement["Resource"], list) else [
            statement["Resource"]]
        if statement["Effect"] == "Allow" and action in actions and any(
            fnmatch.fnmatchcase(resource, pattern) for pattern in resources_
        ):
            return True
    return False


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_policy_covers_every_resource_the_app_uses(stage: str) -> None:
    policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
    other = "prod" if stage == "dev" else "dev"
    assert other not in json.dumps(policy["Statement"])  # a stage never reaches the other's
    assert "*" not in {a for s in policy["Statement"] for a in s["Action"]}
    out = data_stack_outputs(stage)
    for table in ("LinksTableArn", "AppTableArn"):
        arn = out[table]
        for action in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query"):
            assert allowed(policy, f"dynamodb:{action}", arn), (action, arn)
        assert allowed(policy, "dynamodb:Query", f"{arn}/index/gsi1")
        stream = out[table.replace("Arn", "StreamArn")]
        for action in ("DescribeStream", "GetRecords", "GetShardIterator"):
            assert allowed(policy, f"dynamodb:{action}", stream), (action, stream)
        assert not allowed(policy, "dynamodb:DeleteTable", arn)
    assert allowed(policy, "dynamodb:ListStreams", "*")
    assert allowed(policy, "dynamodb:Query", f"{out['LinksTableArn']}/index/gsi2")
    code = f"arn:aws:s3:::{out['RedirectBucketName']}/Ab3xY9"
    for action in ("GetObject", "PutObject", "DeleteObject"):
        assert allowed(policy, f"s3:{action}", code)
    assert not allowed(policy, "s3:PutObject", "arn:aws:s3:::someone-elses-bucket/x")
    # Without s3:ListBucket on the bucket, HeadObject of a missing code answers 403, not 404:
    # LinkService.has_redirect would raise and campaign chunks would retry into the DLQ.
    bucket = f"arn:aws:s3:::{out['RedirectBucketName']}"
    assert allowed(policy, "s3:ListBucket", bucket)
    assert not allowed(policy, "s3:ListBucket", "arn:aws:s3:::someone-elses-bucket")
    listing = [s for s in policy["Statement"] if "s3:ListBucket" in s["Action"]]
    assert [r for s in listing for r in s["Resource"] if r.endswith("/*")] == []
    queues = [v.rsplit("/", 1)[1] for k, v in out.items() if k.endswith("QueueUrl")]
    assert len(queues) == 6
    for queue in queues:
        arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"
        for action in ("SendMessage", "ReceiveMessage", "DeleteMessage",
                       "GetQueueAttributes", "ChangeMessageVisibility"):
            assert allowed(policy, f"sqs:{action}", arn), (action, arn)
    for secret in LOCAL_SECRET_ENV:
        assert allowed(policy, "ssm:GetParameter",
                       f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{out['SsmPrefix']}{secret}")
    assert not allowed(policy, "ssm:GetParameter",
                       f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/linktrail/{other}/x")
    decrypt = [s for s in policy["Statement"] if s["Action"] == ["kms:Decrypt"]]
    assert decrypt and decrypt[0]["Condition"]["StringLike"]["kms:ViaService"] == (
        "ssm.*.amazonaws.com")
    assert allowed(policy, "logs:PutLogEvents",
                   f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/linktrail-{stage}"
                   "-links_stream:log-stream:x")


def test_policies_name_every_data_stack_resource() -> None:
    """Every table, bucket and queue data.yaml creates (a new one too) is in both policies."""
    arn_of = {
        "TableName": lambda name: f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
        "QueueName": lambda name: f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
        "BucketName": lambda name: f"arn:aws:s3:::{name}/Ab3xY9",
    }
    named = []
    for resource in template("data.yaml")["Resources"].values():
        for key in arn_of:
            if key in resource.get("Properties", {}):
                named.append((key, resource["Properties"][key]["Fn::Sub"]))
    assert len(named) == 11
    for stage in ("dev", "prod"):
        policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
        patterns = [r for s in policy["Statement"] for r in s["Resource"]]
        for key, name in named:
            arn = arn_of[key](name.replace("${Stage}", stage)
                              .replace("${AWS::AccountId}", ACCOUNT)
                              .replace("${AWS::Region}", REGION))
            assert any(fnmatch.fnmatchcase(arn, p) for p in patterns), (stage, arn)


# --- deploy steps -----------------------------------------------------------------------


def _function_zip() -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return None\n")
    return buffer.getvalue()


def test_sqs_event_source_mappings_report_batch_failures(aws: dict[str, str]) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    lambda_client = boto3.client("lambda", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    role = iam.create_role(RoleName="linktrail-local", AssumeRolePolicyDocument="{}")["Role"]
    arns = []
    for name in ("linktrail-local-events_forwarder", "linktrail-local-links_stream"):
        arns.append(lambda_client.create_function(
            FunctionName=name, Runtime="python3.11", Role=role["Arn"], Handler="app.handler",
            Code={"ZipFile": _function_zip()})["FunctionArn"])
    queue_arn = sqs.get_queue_attributes(QueueUrl=aws["EVENTS_QUEUE_URL"],
                                         AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_mapping = lambda_client.create_event_source_mapping(
        EventSourceArn=queue_arn, FunctionName=arns[0], BatchSize=10)["UUID"]
    stream_mapping = lambda_client.create_event_source_mapping(
        EventSourceArn=aws["LINKS_STREAM_ARN"], FunctionName=arns[1],
        StartingPosition="LATEST")["UUID"]
    deployed = {"resources": [{"resource_type": "lambda_function", "lambda_arn": arn}
                              for arn in arns]}

    changed = deploy.report_sqs_batch_failures(lambda_client, deploy.function_arns(deployed))

    assert changed == [queue_mapping]
    queue = lambda_client.get_event_source_mapping(UUID=queue_mapping)
    assert queue["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    stream = lambda_client.get_event_source_mapping(UUID=stream_mapping)
    assert not stream.get("FunctionResponseTypes")
    assert deploy.report_sqs_batch_failures(lambda_client, arns) == []  # idempotent

    failures = sqs.get_queue_attributes(
        QueueUrl=sqs.get_queue_url(QueueName="linktrail-local-stream-failures")["QueueUrl"],
        AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert failures == aws["STREAM_FAILURE_QUEUE_ARN"]
    hardened = deploy.harden_stream_mappings(lambda_client, arns, failures)
    assert hardened == [stream_mapping]
    stream = lambda_client.get_event_source_mapping(UUID=stream_mapping)
    assert stream["BisectBatchOnFunctionError"] is True
    assert stream["MaximumRetryAttempts"] == 10
    assert stream["DestinationConfig"]["OnFailure"]["Destination"] == failures
    assert deploy.harden_stream_mappings(lambda_client, arns, failures) == []  # idempotent


def test_artifacts_bucket_and_edge_upload(aws: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = deploy.artifacts_bucket_name(ACCOUNT)
    assert bucket == f"linktrail-artifacts-{ACCOUNT}-us-east-1"
    deploy.ensure_artifacts_bucket(s3, bucket, log=lambda _line: None)
    deploy.ensure_artifacts_bucket(s3, bucket, log=lambda _line: None)  # exists: no error
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    key = deploy.upload_edge_package(s3, bucket, b"PK edge package")
    assert key == deploy.edge_code_key(b"PK edge package")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"PK edge package"
    assert deploy.upload_edge_package(s3, bucket, b"PK edge package") == key


def test_deploy_dry_run_prints_the_chain_in_order_and_touches_nothing() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # any AWS call would fail: no credentials, and every endpoint is a closed port
    env.update(AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_DEFAULT_REGION="eu-west-1",
               AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
               AWS_EC2_METADATA_DISABLED="true")
    config_before = (ROOT / ".chalice" / "config.json").read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", "infra.deploy", "--stage", "dev", "--click-mode",
         "first-click", "--dry-run"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    steps = [line.split(".", 1)[1].split(":", 1)[0].strip()
             for line in result.stdout.splitlines() if line[:4].strip().rstrip(".").isdigit()]
    assert steps == [
        "origin secret", "data stack", "expired page", "record resources", "chalice deploy",
        "sqs batch failures", "api stack",
        "edge build", "edge upload", "edge stack", "retire previous origin secret",
        "record resources again", "chalice deploy again",
    ]
    # the plan says the bucket answers only the secret CloudFront sends
    assert "answers only requests whose Referer is /linktrail/dev/origin-referer" in result.stdout
    assert "sends /linktrail/dev/origin-referer to the website endpoint as its Referer" in (
        result.stdout)
    assert "linktrail-dev-data in eu-west-1" in result.stdout
    assert "linktrail-dev-edge in us-east-1" in result.stdout
    assert "(first-click)" in result.stdout
    assert (ROOT / ".chalice" / "config.json").read_bytes() == config_before


# --- the origin answers only CloudFront ---------------------------------------------------


def test_redirect_bucket_policy_allows_reads_only_with_the_origin_secret_referer() -> None:
    data = template("data.yaml")
    [statement] = data["Resources"]["RedirectBucketPolicy"]["Properties"]["PolicyDocument"][
        "Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == (
        "Allow", "*", "s3:GetObject")
    assert statement["Condition"] == {"StringEquals": {"aws:Referer": [
        {"Ref": "OriginSecret"}, {"Ref": "PreviousOriginSecret"}]}}
    for name in ("OriginSecret", "PreviousOriginSecret"):
        spec = data["Parameters"][name]
        assert spec["NoEcho"] is True and spec["MinLength"] >= 32 and "Default" not in spec


def test_cloudfront_sends_the_origin_secret_as_the_referer_custom_header() -> None:
    edge = template("edge.yaml")
    [origin] = edge["Resources"]["Distribution"]["Properties"]["DistributionConfig"]["Origins"]
    assert origin["OriginCustomHeaders"] == [
        {"HeaderName": "Referer", "HeaderValue": {"Ref": "OriginSecret"}}]
    assert edge["Parameters"]["OriginSecret"]["NoEcho"] is True


def test_origin_secret_is_generated_once_then_kept_in_ssm(aws: dict[str, str]) -> None:
    ssm = boto3.client("ssm", region_name="us-east-1")
    store = deploy.OriginSecretStore(ssm, "dev")
    first = store.load(rotate=False, log=lambda _line: None)
    assert first.current == first.previous and len(first.current) >= 32
    assert store.load(rotate=False, log=lambda _line: None) == first
    stored = ssm.get_parameter(Name="/linktrail/dev/origin-referer", WithDecryption=True)
    assert stored["Parameter"]["Type"] == "SecureString"
    assert stored["Parameter"]["Value"] == first.current


def test_one_deploy_rotates_the_origin_secret_without_refusing_cloudfront(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bucket first accepts old and new, CloudFront moves to the new, then the old stops."""
    ssm = boto3.client("ssm", region_name="us-east-1")
    old = deploy.OriginSecretStore(ssm, "dev").load(rotate=False, log=lambda _line: None)
    stacks: list[tuple[str, dict[str, str]]] = []

    def record_stack(cloudformation: Any, name: str, body: str, parameters: Any,
                     **_: Any) -> dict[str, str]:
        stacks.append((name, dict(parameters)))
        return {"LinksTableArn": "arn", "RedirectBucketWebsiteHost": "host"}

    monkeypatch.setattr(deploy, "deploy_stack", record_stack)
    deployment = deploy.Deployment(stage="dev", region="us-east-1", rotate_origin_secret=True,
                                   log=lambda _line: None)
    for step in ("origin_secret", "data_stack", "edge_stack", "retire_origin_secret"):
        getattr(deployment, step)()
    new = deployment.origin_secrets().current
    assert new != old.current
    assert [(name, p.get("OriginSecret"), p.get("PreviousOriginSecret")) for name, p in stacks] == [
        ("linktrail-dev-data", new, old.current),
        ("linktrail-dev-edge", new, None),
        ("linktrail-dev-data", new, new),
    ]
    store = deploy.OriginSecretStore(ssm, "dev")
    assert store.load(rotate=False, log=lambda _line: None) == deploy.OriginSecrets(new, new)
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name="/linktrail/dev/origin-referer-previous")


def test_a_rotation_cut_short_is_finished_by_the_next_deploy(aws: dict[str, str]) -> None:
    ssm = boto3.client("ssm", region_name="us-east-1")
    store = deploy.OriginSecretStore(ssm, "dev")
    old = store.load(rotate=False, log=lambda _line: None).current
    new = store.load(rotate=True, log=lambda _line: None).current
    # the deploy stopped before the edge stack: CloudFront may still send the old value
    assert store.load(rotate=False, log=lambda _line: None) == deploy.OriginSecrets(new, old)
