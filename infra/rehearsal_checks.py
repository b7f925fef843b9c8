"""What the deploy rehearsal looks at once a deploy has run: a snapshot of everything the
chain made (read back through the AWS APIs), the checks of that snapshot against what
the templates and the app declare, and the differences between two snapshots (the second
run must make none). `check` and `differences` are pure; `snapshot` only reads."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from infra import deploy, record_resources
from infra.record_resources import EDGE_REGION

TABLE_OUTPUTS = ("LinksTableName", "AppTableName", "AnalyticsTableName")
STREAMED_OUTPUTS = ("LinksTableName", "AppTableName")
QUEUE_OUTPUTS = ("CampaignQueueUrl", "EventsQueueUrl", "NotifyQueueUrl")
# chalice makes one rest_api and api_handler; these handlers are the app's own names
API_HANDLER = "app.app"


def snapshot(deployment: deploy.Deployment) -> dict[str, Any]:
    """Everything the chain made, as plain data. No secret values: the origin secret
    appears as the names of the headers and parameters that hold it."""
    stage = deployment.stage
    cloudformation = deployment.client("cloudformation")
    edge_cloudformation = deployment.client("cloudformation", EDGE_REGION)
    data = record_resources.stack_outputs(
        cloudformation, record_resources.data_stack_name(stage)) or {}
    edge = record_resources.stack_outputs(
        edge_cloudformation, record_resources.edge_stack_name(stage)) or {}
    deployed = deployment.deployed()
    return {
        "stacks": _stacks(deployment),
        "data_outputs": data,
        "edge_outputs": edge,
        "tables": _tables(deployment, data),
        "bucket": _bucket(deployment, data["RedirectBucketName"]),
        "queues": _queues(deployment, data),
        "functions": _functions(deployment, deployed),
        "recorded_environment": record_resources.stage_variables(
            json.loads(record_resources.config_path(deployment.project).read_text()), stage),
        "schedules": _schedules(deployment, deployed),
        "rest_api": _rest_api(deployment, deploy.rest_api_id(deployed)),
        "distribution": _distribution(deployment, edge.get("DistributionId", "")),
        "edge_versions": _edge_versions(deployment),
        "origin_secret": _origin_secret(deployment, data["RedirectBucketName"],
                                        edge.get("DistributionId", "")),
        "parameters": sorted(
            p["Name"] for p in deployment.client("ssm").get_parameters_by_path(
                Path=f"/linktrail/{stage}/", Recursive=True)["Parameters"]),
    }


def _stacks(deployment: deploy.Deployment) -> dict[str, Any]:
    stage, found = deployment.stage, {}
    for name, region in ((record_resources.data_stack_name(stage), None),
                         (deploy.api_stack_name(stage), None),
                         (record_resources.edge_stack_name(stage), EDGE_REGION)):
        stack = deployment.client("cloudformation", region).describe_stacks(
            StackName=name)["Stacks"][0]
        found[name] = {"status": stack["StackStatus"],
                       "parameters": sorted(p["ParameterKey"] for p in stack["Parameters"])}
        if name != deploy.api_stack_name(stage):  # rebuilt on purpose after chalice's import
            found[name]["updated"] = str(stack.get("LastUpdatedTime", stack["CreationTime"]))
    return found


def _tables(deployment: deploy.Deployment, data: Mapping[str, str]) -> dict[str, Any]:
    dynamodb, tables = deployment.client("dynamodb"), {}
    for output in TABLE_OUTPUTS:
        name = data[output]
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        table = dynamodb.describe_table(TableName=name)["Table"]
        tables[name] = {
            "ttl": ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") == "ENABLED" else None,
            "stream": (table.get("StreamSpecification") or {}).get("StreamViewType"),
            "stream_arn": table.get("LatestStreamArn"),
        }
    return tables


def _bucket(deployment: deploy.Deployment, bucket: str) -> dict[str, Any]:
    s3 = deployment.client("s3")
    website = s3.get_bucket_website(Bucket=bucket)
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    conditions = [sorted(condition.get("StringEquals", {}))
                  for condition in (s.get("Condition", {}) for s in policy["Statement"])]
    expired = s3.head_object(Bucket=bucket, Key=website["ErrorDocument"]["Key"])
    return {
        "name": bucket,
        "index": website["IndexDocument"]["Suffix"],
        "error": website["ErrorDocument"]["Key"],
        "error_page_type": expired["ContentType"],
        "policy_conditions": conditions,
    }


def _queues(deployment: deploy.Deployment, data: Mapping[str, str]) -> dict[str, Any]:
    sqs, queues = deployment.client("sqs"), {}
    for output in QUEUE_OUTPUTS:
        attributes = sqs.get_queue_attributes(
            QueueUrl=data[output], AttributeNames=["QueueArn", "RedrivePolicy"])["Attributes"]
        redrive = json.loads(attributes.get("RedrivePolicy", "{}"))
        dlq_url = data[output.replace("QueueUrl", "DeadLetterQueueUrl")]
        dlq_arn = sqs.get_queue_attributes(
            QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queues[attributes["QueueArn"]] = {
            "dead_letter": redrive.get("deadLetterTargetArn"),
            "dead_letter_declared": dlq_arn,
            "max_receives": int(redrive.get("maxReceiveCount", 0)),
        }
    return queues


def _functions(deployment: deploy.Deployment, deployed: Mapping[str, Any]) -> dict[str, Any]:
    lambda_client, functions = deployment.client("lambda"), {}
    for arn in deploy.function_arns(deployed):
        config = lambda_client.get_function_configuration(FunctionName=arn)
        mappings = lambda_client.list_event_source_mappings(FunctionName=arn)
        functions[config["FunctionName"]] = {
            "handler": config["Handler"],
            "runtime": config.get("Runtime"),
            "code": config.get("CodeSha256"),
            "environment": config.get("Environment", {}).get("Variables", {}),
            "mappings": {
                m["EventSourceArn"]: {
                    "uuid": m["UUID"],
                    "response_types": m.get("FunctionResponseTypes") or [],
                    "bisect": m.get("BisectBatchOnFunctionError"),
                    "retries": m.get("MaximumRetryAttempts"),
                    "on_failure": m.get("DestinationConfig", {}).get("OnFailure", {}).get(
                        "Destination"),
                }
                for m in mappings["EventSourceMappings"]
            },
        }
    return functions


def _schedules(deployment: deploy.Deployment, deployed: Mapping[str, Any]) -> dict[str, Any]:
    events, schedules = deployment.client("events"), {}
    for resource in deployed.get("resources", []):
        if resource.get("resource_type") != "cloudwatch_event":
            continue
        rule = events.describe_rule(Name=resource["rule_name"])
        targets = events.list_targets_by_rule(Rule=resource["rule_name"])["Targets"]
        schedules[rule["Name"]] = {
            "expression": rule.get("ScheduleExpression"),
            "state": rule.get("State"),
            "targets": sorted(target["Arn"] for target in targets),
        }
    return schedules


def _rest_api(deployment: deploy.Deployment, api_id: str) -> dict[str, Any]:
    apigateway = deployment.client("apigateway")
    responses = apigateway.get_gateway_responses(restApiId=api_id, limit=500)["items"]
    paths = apigateway.get_resources(restApiId=api_id, limit=500)["items"]
    return {
        "id": api_id,
        "name": apigateway.get_rest_api(restApiId=api_id)["name"],
        "paths": sorted(resource["path"] for resource in paths),
        "gateway_responses": {
            item["responseType"]: item.get("statusCode")
            for item in responses if not item.get("defaultResponse", False)
        },
        "stages": sorted(s["stageName"] for s in apigateway.get_stages(restApiId=api_id)["item"]),
    }


def _distribution(deployment: deploy.Deployment, distribution_id: str) -> dict[str, Any]:
    if not distribution_id:
        return {}
    cloudfront = deployment.client("cloudfront", EDGE_REGION)
    config = cloudfront.get_distribution_config(Id=distribution_id)["DistributionConfig"]
    behaviour = config["DefaultCacheBehavior"]
    return {
        "id": distribution_id,
        "enabled": config["Enabled"],
        "origins": sorted(o["DomainName"] for o in config["Origins"]["Items"]),
        "origin_headers": sorted(
            h["HeaderName"] for o in config["Origins"]["Items"]
            for h in o.get("CustomHeaders", {}).get("Items", [])),
        "associations": sorted(
            [a["EventType"], a["LambdaFunctionARN"]]
            for a in behaviour.get("LambdaFunctionAssociations", {}).get("Items", [])),
    }


def _origin_secret(deployment: deploy.Deployment, bucket: str,
                   distribution_id: str) -> dict[str, Any]:
    """Whether the bucket policy and CloudFront agree with SSM on the Referer (the values
    themselves stay out of the snapshot)."""
    current = deployment.origin_secrets().current
    policy = json.loads(deployment.client("s3").get_bucket_policy(Bucket=bucket)["Policy"])
    accepted = {value for statement in policy["Statement"]
                for value in _as_list(statement.get("Condition", {}).get(
                    "StringEquals", {}).get("aws:Referer", []))}
    sent: set[str] = set()
    if distribution_id:
        config = deployment.client("cloudfront", EDGE_REGION).get_distribution_config(
            Id=distribution_id)["DistributionConfig"]
        sent = {h["HeaderValue"] for o in config["Origins"]["Items"]
                for h in o.get("CustomHeaders", {}).get("Items", [])
                if h["HeaderName"] == "Referer"}
    return {"bucket_accepts_ssm_value": current in accepted,
            "bucket_accepts_others": len(accepted - {current}),
            "cloudfront_sends_ssm_value": sent == {current}}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _edge_versions(deployment: deploy.Deployment) -> list[str]:
    lambda_client = deployment.client("lambda", EDGE_REGION)
    name = f"linktrail-{deployment.stage}-edge-click"
    versions = lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
    return sorted(v["FunctionArn"] for v in versions if v["Version"] != "$LATEST")


# --- the checks (pure) --------------------------------------------------------------------

DONE = ("CREATE_COMPLETE", "UPDATE_COMPLETE")


def declared_gateway_responses() -> dict[str, str]:
    """ResponseType -> StatusCode of every gateway response infra/api.yaml declares."""
    from cfnlint.decode.cfn_yaml import loads

    template = loads(deploy.API_TEMPLATE.read_text())
    return {
        str(resource["Properties"]["ResponseType"]): str(resource["Properties"]["StatusCode"])
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::ApiGateway::GatewayResponse"
    }


def expected_trigger(click_mode: str, every_click_trigger: str) -> str:
    return every_click_trigger if click_mode == "every-click" else "origin-request"


def check(view: Mapping[str, Any], stage: str, click_mode: str,
          every_click_trigger: str) -> list[str]:
    """What the snapshot lacks, one line each; empty when everything is there."""
    problems = [f"stack {name} is {stack['status']}"
                for name, stack in view["stacks"].items() if stack["status"] not in DONE]
    problems += _data_problems(view)
    problems += _function_problems(view, stage)
    problems += _api_and_edge_problems(view, expected_trigger(click_mode, every_click_trigger))
    secret = f"/linktrail/{stage}/origin-referer"
    if view["parameters"] != [secret]:
        problems.append(f"SSM holds {view['parameters']}, not just {secret}")
    agreed = {"bucket_accepts_ssm_value": True, "bucket_accepts_others": 0,
              "cloudfront_sends_ssm_value": True}
    if view["origin_secret"] != agreed:
        problems.append(f"origin secret: {view['origin_secret']}, not {agreed}")
    return problems


def _data_problems(view: Mapping[str, Any]) -> list[str]:
    data, problems = view["data_outputs"], []
    for output in TABLE_OUTPUTS:
        table = view["tables"][data[output]]
        if table["ttl"] != "ttl":
            problems.append(f"table {data[output]}: TTL on 'ttl' not enabled ({table['ttl']})")
        if output in STREAMED_OUTPUTS and table["stream"] != "NEW_AND_OLD_IMAGES":
            problems.append(f"table {data[output]}: stream is {table['stream']}")
    bucket = view["bucket"]
    if (bucket["index"], bucket["error"]) != ("index.html", "expired.html"):
        problems.append(f"bucket website documents are {bucket['index']}, {bucket['error']}")
    if not bucket["error_page_type"].startswith("text/html"):
        problems.append(f"expired page is {bucket['error_page_type']}")
    if ["aws:Referer"] not in bucket["policy_conditions"]:
        problems.append(f"bucket policy has no Referer condition: {bucket['policy_conditions']}")
    for arn, queue in view["queues"].items():
        if queue["dead_letter"] != queue["dead_letter_declared"] or queue["max_receives"] < 1:
            problems.append(f"queue {arn}: redrive {queue}")
    return problems


def _function_problems(view: Mapping[str, Any], stage: str) -> list[str]:
    data, recorded, problems = view["data_outputs"], view["recorded_environment"], []
    for name in ("SHORT_BASE_URL", "PUBLIC_BASE_URL"):
        if name not in recorded:
            problems.append(f"{name} was never recorded")
    if recorded.get("SHORT_BASE_URL") != view["edge_outputs"].get("ShortBaseUrl"):
        problems.append("SHORT_BASE_URL is not the edge stack's ShortBaseUrl")
    sources = {data["LinksTableStreamArn"], data["AppTableStreamArn"]} | set(view["queues"])
    for name, function in view["functions"].items():
        suffix = name.removeprefix(f"linktrail-{stage}").lstrip("-")
        # chalice names a blueprint's function after its module: <package>.api.<name>
        if not (function["handler"] == API_HANDLER if not suffix
                else function["handler"].endswith(f".{suffix}")):
            problems.append(f"{name}: handler {function['handler']} is not its own")
        stale = {k for k, v in recorded.items() if function["environment"].get(k) != v}
        if stale:
            problems.append(f"{name}: environment lacks the recorded {sorted(stale)}")
        for source, mapping in function["mappings"].items():
            problems += _mapping_problems(name, source, mapping, sources,
                                          data["StreamFailureQueueArn"])
    if not any(f["mappings"] for f in view["functions"].values()):
        problems.append("no event source mappings")
    if not view["schedules"]:
        problems.append("no schedules")
    for rule, schedule in view["schedules"].items():
        if not schedule["expression"] or schedule["state"] != "ENABLED":
            problems.append(f"schedule {rule}: {schedule}")
        if not {arn.rsplit(":", 1)[-1] for arn in schedule["targets"]} & set(view["functions"]):
            problems.append(f"schedule {rule} targets {schedule['targets']}")
    return problems


def _mapping_problems(name: str, source: str, mapping: Mapping[str, Any], sources: set[str],
                      failure_queue: str) -> list[str]:
    problems = [] if source in sources else [f"{name}: mapping from unknown {source}"]
    if ":sqs:" in source and "ReportBatchItemFailures" not in mapping["response_types"]:
        problems.append(f"{name}: SQS mapping {mapping['uuid']} without partial batch failures")
    if ":dynamodb:" in source and (not mapping["bisect"] or mapping["on_failure"] != failure_queue
                                   or mapping["retries"] != 10):
        problems.append(f"{name}: stream mapping {mapping['uuid']} not hardened: {mapping}")
    return problems


def _api_and_edge_problems(view: Mapping[str, Any], trigger: str) -> list[str]:
    problems, api = [], view["rest_api"]
    declared = declared_gateway_responses()
    live = {kind: str(code) for kind, code in api["gateway_responses"].items()}
    if live != declared:
        missing = sorted(set(declared.items()) - set(live.items()))
        problems.append(f"gateway responses differ from api.yaml: missing or wrong {missing}")
    if "api" not in api["stages"]:
        problems.append(f"REST API stages are {api['stages']}")
    if "/" not in api["paths"] or len(api["paths"]) < 2:
        problems.append(f"REST API has no routes: {api['paths']}")
    distribution, edge = view["distribution"], view["edge_outputs"]
    if not distribution:
        return [*problems, "no CloudFront distribution"]
    version = edge.get("EdgeFunctionVersionArn", "")
    if distribution["associations"] != [[trigger, version]]:
        problems.append(f"edge function associated as {distribution['associations']}, "
                        f"not ({trigger}, {version})")
    if version not in view["edge_versions"]:
        problems.append(f"{version} is not a published version of the edge function")
    if distribution["origins"] != [view["data_outputs"]["RedirectBucketWebsiteHost"]]:
        problems.append(f"distribution origins are {distribution['origins']}")
    if "Referer" not in distribution["origin_headers"] or not distribution["enabled"]:
        problems.append(f"distribution: {distribution}")
    return problems


def differences(before: Any, after: Any, path: str = "") -> list[str]:
    """Where two snapshots differ, as `path: before -> after` lines."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        found = []
        for key in sorted(set(before) | set(after), key=str):
            found += differences(before.get(key), after.get(key), f"{path}/{key}")
        return found
    return [] if before == after else [f"{path}: {before!r} -> {after!r}"]


def unexpected_rotation_changes(changes: list[str], stage: str) -> list[str]:
    """A rotation updates the data stack (bucket policy) twice and the edge stack (the
    header CloudFront sends) once; any other change is unexpected."""
    expected = tuple(f"/stacks/{name}/{key}:" for key in ("status", "updated") for name in (
        record_resources.data_stack_name(stage), record_resources.edge_stack_name(stage)))
    return [change for change in changes if not change.startswith(expected)]
