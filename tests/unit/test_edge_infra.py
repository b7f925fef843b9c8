"""infra/edge.yaml per trigger, and the deploy chain's plumbing of its parameters.

moto cannot create CloudFront distributions from a template, so the template's conditions
are evaluated here for each ClickMode / EveryClickTrigger combination, and the resolved
behaviour is checked: where the function runs, what is cached, which headers reach it.
(cfn-lint on the template: tests/test_infra.py.)
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from cfnlint.decode.cfn_yaml import loads as load_template

from infra import deploy
from tests.support.paths import ROOT

EDGE_TEMPLATE = ROOT / "infra" / "edge.yaml"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # AWS managed policy id
NO_VALUE = object()


def edge_template() -> dict[str, Any]:
    return dict(load_template(EDGE_TEMPLATE.read_text()))


class Resolved:
    """The template with its parameters given: conditions evaluated, Fn::If chosen."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, str]) -> None:
        self.parameters = {
            name: parameters.get(name, spec.get("Default"))
            for name, spec in template["Parameters"].items()
        }
        self._conditions = template["Conditions"]
        self.conditions = {name: self._condition(name) for name in self._conditions}
        self.resources = {
            name: self.value(resource)
            for name, resource in template["Resources"].items()
            if "Condition" not in resource or self.conditions[resource["Condition"]]
        }

    def _condition(self, name: str) -> bool:
        return self._truth(self._conditions[name])

    def _truth(self, node: Any) -> bool:
        ((function, argument),) = node.items()
        if function == "Condition":
            return self._condition(argument)
        if function == "Fn::Equals":
            left, right = (self.value(side) for side in argument)
            return bool(left == right)
        if function == "Fn::And":
            return all(self._truth(part) for part in argument)
        if function == "Fn::Or":
            return any(self._truth(part) for part in argument)
        if function == "Fn::Not":
            return not self._truth(argument[0])
        raise AssertionError(f"unexpected condition function {function}")

    def value(self, node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, chosen, other = node["Fn::If"]
                return self.value(chosen if self._condition(name) else other)
            if set(node) == {"Ref"}:
                if node["Ref"] == "AWS::NoValue":
                    return NO_VALUE
                given = self.parameters.get(node["Ref"])
                return node if given is None else given  # resources, parameters not given
            return {
                k: v for k, v in ((k, self.value(v)) for k, v in node.items()) if v is not NO_VALUE
            }
        if isinstance(node, list):
            return [v for v in (self.value(item) for item in node) if v is not NO_VALUE]
        return node

    def behaviour(self) -> dict[str, Any]:
        distribution = self.resources["Distribution"]["Properties"]["DistributionConfig"]
        return dict(distribution["DefaultCacheBehavior"])


@pytest.mark.parametrize(
    ("parameters", "event_type", "cache_policy", "forwarded"),
    [
        ({}, "viewer-request", {"Ref": "RedirectCachePolicy"}, None),
        (
            {"EveryClickTrigger": "origin-request"},
            "origin-request",
            CACHING_DISABLED,
            ["CloudFront-Viewer-Country", "User-Agent"],
        ),
        (
            {"ClickMode": "first-click"},
            "origin-request",
            {"Ref": "RedirectCachePolicy"},
            ["CloudFront-Viewer-Country", "User-Agent"],
        ),
        (  # the trigger choice is about every-click only
            {"ClickMode": "first-click", "EveryClickTrigger": "origin-request"},
            "origin-request",
            {"Ref": "RedirectCachePolicy"},
            ["CloudFront-Viewer-Country", "User-Agent"],
        ),
    ],
)
def test_each_mode_and_trigger_resolves_to_a_working_behaviour(
    parameters, event_type, cache_policy, forwarded
):
    resolved = Resolved(edge_template(), parameters)
    behaviour = resolved.behaviour()
    [association] = behaviour["LambdaFunctionAssociations"]
    assert association["EventType"] == event_type
    assert association["LambdaFunctionARN"] == {"Ref": "EdgeFunctionVersion"}
    assert behaviour["CachePolicyId"] == cache_policy
    if forwarded is None:
        # viewer-request: the function reads the viewer's headers itself; nothing to forward
        assert "OriginRequestPolicyId" not in behaviour
        assert "ClickOriginRequestPolicy" not in resolved.resources
    else:
        assert behaviour["OriginRequestPolicyId"] == {"Ref": "ClickOriginRequestPolicy"}
        policy = resolved.resources["ClickOriginRequestPolicy"]["Properties"]
        headers = policy["OriginRequestPolicyConfig"]["HeadersConfig"]
        assert headers == {"HeaderBehavior": "whitelist", "Headers": forwarded}
    # a viewer trigger may run 5 s at most
    timeout = resolved.resources["EdgeFunction"]["Properties"]["Timeout"]
    assert timeout == 5 if event_type == "viewer-request" else timeout <= 30


def test_the_default_is_every_click_at_viewer_request():
    parameters = edge_template()["Parameters"]
    assert parameters["ClickMode"]["Default"] == "every-click"
    assert parameters["EveryClickTrigger"]["Default"] == "viewer-request"
    assert parameters["EveryClickTrigger"]["AllowedValues"] == ["viewer-request", "origin-request"]


def test_the_role_may_update_links_and_read_tombstones_only():
    resolved = Resolved(edge_template(), {})
    role = resolved.resources["EdgeFunctionRole"]["Properties"]
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    dynamodb = {s["Sid"]: (s["Action"], s["Resource"]) for s in statements if s["Sid"] != "Logs"}
    assert dynamodb == {
        "CountClicks": ("dynamodb:UpdateItem", {"Ref": "LinksTableArn"}),
        "ReadTombstones": ("dynamodb:GetItem", {"Ref": "LinksTableArn"}),
    }


# --- the deploy chain passes the trigger to the edge stack --------------------------------


def deployment_from(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> deploy.Deployment:
    """The Deployment `python -m infra.deploy <argv>` builds (its plan is not printed)."""
    built: list[deploy.Deployment] = []

    class Kept(deploy.Deployment):
        def print_plan(self) -> None:
            built.append(self)

    monkeypatch.setattr(deploy, "Deployment", Kept)
    deploy.main([*argv, "--dry-run"])
    [deployment] = built
    return deployment


@pytest.mark.parametrize("trigger", ["viewer-request", "origin-request"])
def test_deploy_passes_every_declared_parameter_and_the_trigger(monkeypatch, trigger):
    stacks: list[tuple[str, dict[str, str]]] = []

    def record_stack(
        cloudformation: Any, name: str, body: str, parameters: Any, **_: Any
    ) -> dict[str, str]:
        stacks.append((body, dict(parameters)))
        return {}

    monkeypatch.setattr(deploy, "deploy_stack", record_stack)
    deployment = deployment_from(
        ["--stage", "dev", "--region", "eu-west-1", "--every-click-trigger", trigger], monkeypatch
    )
    deployment._session = boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="eu-west-1"
    )  # clients are created, never called: deploy_stack is replaced
    deployment._edge_bucket, deployment._edge_key = "bucket", "edge/edge-click-0123456789ab.zip"
    deployment._origin = deploy.OriginSecrets("s" * 43, "s" * 43)
    deployment._data_outputs = {
        "LinksTableArn": "arn:aws:dynamodb:eu-west-1:123456789012:table/linktrail-dev-links",
        "RedirectBucketWebsiteHost": "b.s3-website-eu-west-1.amazonaws.com",
    }
    deployment.edge_stack()

    [(body, parameters)] = stacks
    declared = dict(load_template(body))["Parameters"]
    assert set(parameters) <= set(declared)
    assert {name for name, spec in declared.items() if "Default" not in spec} <= set(parameters)
    assert parameters["EveryClickTrigger"] == trigger
    assert parameters["ClickMode"] == "every-click"
    assert parameters["OriginSecret"] == "s" * 43
    assert f"every-click at {trigger}" in " ".join(s.description for s in deployment.steps())


def test_deploy_refuses_an_unknown_trigger(capsys):
    with pytest.raises(SystemExit):
        deploy.main(["--stage", "dev", "--every-click-trigger", "viewer-response", "--dry-run"])
    assert "--every-click-trigger" in capsys.readouterr().err
