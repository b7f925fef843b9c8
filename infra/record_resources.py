"""Record the deployed stacks in `.chalice/config.json` (the chalice-workshop pattern).

Reads the outputs of the data stack (`linktrail-<stage>-data`, the app's region) and of the
edge stack (`linktrail-<stage>-edge`, us-east-1) and writes them into the stage's
`environment_variables`, so `chalice deploy` bakes them into every function (and into the
decorators that need stream ARNs and queue names at import).

    python -m infra.record_resources --stage dev [--region eu-west-1]

The merge itself (`merge_environment`) is pure; only `record` talks to AWS.
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra import resources

EDGE_REGION = "us-east-1"  # Lambda@Edge and CloudFront's certificates live only here
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_stack_name(stage: str) -> str:
    return f"linktrail-{stage}-data"


def edge_stack_name(stage: str) -> str:
    return f"linktrail-{stage}-edge"


def config_path(project: Path) -> Path:
    return project / ".chalice" / "config.json"


def deployed_path(project: Path, stage: str) -> Path:
    return project / ".chalice" / "deployed" / f"{stage}.json"


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str] | None:
    """The stack's outputs, or None when there is no such stack (yet)."""
    from botocore.exceptions import ClientError

    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    outputs = stacks[0].get("Outputs", [])
    return {output["OutputKey"]: output["OutputValue"] for output in outputs}


def rest_api_url(deployed: Mapping[str, Any] | None) -> str | None:
    """`rest_api_url` from a `.chalice/deployed/<stage>.json` document, if chalice wrote one."""
    for resource in (deployed or {}).get("resources", []):
        if resource.get("resource_type") == "rest_api" and resource.get("rest_api_url"):
            return str(resource["rest_api_url"])
    return None


def stage_environment(
    data_outputs: Mapping[str, str],
    edge_outputs: Mapping[str, str] | None = None,
    deployed: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The environment variables the stacks and the last chalice deploy determine."""
    env = resources.env_from_outputs(data_outputs)
    if edge_outputs and edge_outputs.get("ShortBaseUrl"):
        env["SHORT_BASE_URL"] = edge_outputs["ShortBaseUrl"].rstrip("/")
    api_url = rest_api_url(deployed)
    if api_url:
        # chalice reports ".../api/"; the app joins paths onto it with a "/"
        env["PUBLIC_BASE_URL"] = api_url.rstrip("/")
    return env


def merge_environment(
    config: Mapping[str, Any], stage: str, env: Mapping[str, str]
) -> dict[str, Any]:
    """A copy of `config` with `env` set in stages.<stage>.environment_variables.

    Every other key (other stages, the stage's own settings, variables the operator set by
    hand) is kept; a recorded variable overwrites its previous value.
    """
    merged = copy.deepcopy(dict(config))
    stage_config = merged.setdefault("stages", {}).setdefault(stage, {})
    variables = stage_config.setdefault("environment_variables", {})
    variables.update(env)
    return merged


def render(config: Mapping[str, Any]) -> str:
    return json.dumps(config, indent=2) + "\n"


def record(
    stage: str,
    region: str | None = None,
    project: Path = PROJECT_ROOT,
    session: Any = None,
    log: Any = print,
    endpoint_url: str | None = None,
) -> bool:
    """Write the stacks' outputs into the project's chalice config; True if the stage's
    environment changed (then a `chalice deploy` is needed for functions to see it).
    `endpoint_url`: an emulator's (the deploy rehearsal), instead of AWS."""
    import boto3

    session = session or boto3.session.Session(region_name=region)
    region = region or session.region_name
    data_outputs = stack_outputs(
        session.client("cloudformation", region_name=region, endpoint_url=endpoint_url),
        data_stack_name(stage),
    )
    if data_outputs is None:
        raise SystemExit(f"no stack {data_stack_name(stage)} in {region}: deploy it first")
    edge_outputs = stack_outputs(
        session.client("cloudformation", region_name=EDGE_REGION, endpoint_url=endpoint_url),
        edge_stack_name(stage),
    )
    deployed_file = deployed_path(project, stage)
    deployed = json.loads(deployed_file.read_text()) if deployed_file.exists() else None
    env = stage_environment(data_outputs, edge_outputs, deployed)

    path = config_path(project)
    config = json.loads(path.read_text())
    merged = merge_environment(config, stage, env)
    changed = stage_variables(merged, stage) != stage_variables(config, stage)
    if changed:
        path.write_text(render(merged))
    missing = [name for name in ("SHORT_BASE_URL", "PUBLIC_BASE_URL") if name not in env]
    log(
        f"recorded {len(env)} variables into {path} stages.{stage}"
        + (f" ({', '.join(missing)} not known yet)" if missing else "")
        + ("" if changed else "; unchanged")
    )
    return changed


def stage_variables(config: Mapping[str, Any], stage: str) -> dict[str, str]:
    return dict(config.get("stages", {}).get(stage, {}).get("environment_variables", {}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stage", required=True, choices=["dev", "prod"])
    parser.add_argument("--region", help="the app's region (default: your AWS config's)")
    args = parser.parse_args(argv)
    record(args.stage, args.region)


if __name__ == "__main__":
    main()
