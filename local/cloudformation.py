"""CloudFormation for the local emulator: the resource types and properties of infra/*.yaml
that moto's CloudFormation skips, so the deploy rehearsal (infra/rehearsal.py) deploys
the templates AWS gets and finds what they declare.

What moto does (moto 5.x): a resource type it has no model for is logged ("No Moto
CloudFormation support for ...") and left out, and an output naming one of its
attributes fails the whole CreateStack with a 500. The types linktrail uses that it
lacks: AWS::S3::BucketPolicy, AWS::ApiGateway::GatewayResponse,
AWS::CloudFront::Distribution, ::CachePolicy and ::OriginRequestPolicy. A table's
TimeToLiveSpecification and a bucket's WebsiteConfiguration are ignored, CloudFront
distributions drop their LambdaFunctionAssociations, an AWS::Lambda::Version has no Ref
(its logical id stands in for the version ARN) and no update, and the YAML short form
`!Condition Name` inside Fn::And / Fn::Not is read as {"Fn::Condition": ...}, which moto
evaluates as false (edge.yaml's AtViewer was false at viewer-request). An update whose
template and parameters are the ones deployed is answered "No updates are to be
performed" only if it repeats every defaulted parameter too (edge.yaml's PriceClass).

What we do: models for those types, each creating its resource through moto's own
backend (a bucket policy, a gateway response, a distribution with its associations kept);
moto has no cache or origin request policy API, so those two only get an id. The table
and bucket models apply TTL and the website configuration after moto creates them; a
Lambda version is referred to by its ARN and replaced (a new version) when it changes; a
condition naming another condition is read as one; an update is compared with the
template's defaults filled in, as AWS does. The models take effect where this module is
imported (moto lists CloudFormationModel's subclasses): local/emulator.py alone does.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from moto.apigateway.models import apigateway_backends
from moto.awslambda.models import LambdaVersion, lambda_backends
from moto.cloudformation import parsing
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.responses import CloudFormationResponse
from moto.cloudfront import models as cloudfront_models
from moto.cloudfront.models import cloudfront_backends
from moto.core.common_models import CloudFormationModel
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table
from moto.s3.models import FakeBucket, s3_backends
from moto.utilities.utils import get_partition

WEBSITE_XML = ('<WebsiteConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
               "<IndexDocument><Suffix>{index}</Suffix></IndexDocument><ErrorDocument>"
               "<Key>{error}</Key></ErrorDocument></WebsiteConfiguration>")


class _Model:
    """What the models below share: a physical id and attributes, replacement on update.
    (Each model subclasses CloudFormationModel directly: moto finds models through
    CloudFormationModel.__subclasses__(), which lists direct subclasses only.)"""

    def __init__(
        self,
        physical_id: str,
        attributes: dict[str, str] | None = None,
        undo: Callable[[], None] = lambda: None,
    ) -> None:
        self.physical_resource_id = physical_id
        self.attributes = attributes or {}
        self.undo = undo

    def delete(self, account_id: str, region_name: str) -> None:
        """What moto calls when the stack deletes or replaces the resource."""
        self.undo()

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    ATTRIBUTES: tuple[str, ...] = ()

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.attributes[attribute_name]

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        original_resource.delete(account_id, region_name)
        model: Any = cls  # each model below defines its create
        return model.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str,
    ) -> None:
        return None

    def is_created(self) -> bool:
        return True


class BucketPolicy(_Model, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str, **kwargs: Any,
    ) -> BucketPolicy:
        properties = cloudformation_json["Properties"]
        backend = s3_backends[account_id][get_partition(region_name)]
        policy = json.dumps(properties["PolicyDocument"]).encode()
        bucket = properties["Bucket"]
        backend.put_bucket_policy(bucket, policy)
        return cls(bucket, undo=lambda: backend.delete_bucket_policy(bucket))

class GatewayResponse(_Model, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGateway::GatewayResponse"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str, **kwargs: Any,
    ) -> GatewayResponse:
        properties = cloudformation_json["Properties"]
        backend = apigateway_backends[account_id][region_name]
        api_id, response_type = properties["RestApiId"], properties["ResponseType"]
        backend.put_gateway_response(
            rest_api_id=api_id,
            response_type=response_type,
            status_code=properties.get("StatusCode"),
            response_parameters=properties.get("ResponseParameters", {}),
            response_templates=properties.get("ResponseTemplates", {}),
        )

        def undo() -> None:
            if api_id in backend.apis:
                backend.delete_gateway_response(api_id, response_type)

        return cls(f"{api_id}-{response_type}", undo=undo)

class CachePolicy(_Model, CloudFormationModel):
    ATTRIBUTES = ("Id",)

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFront::CachePolicy"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str, **kwargs: Any,
    ) -> CachePolicy:
        policy_id = str(uuid.uuid4())
        return cls(policy_id, {"Id": policy_id})


class OriginRequestPolicy(_Model, CloudFormationModel):
    ATTRIBUTES = ("Id",)

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFront::OriginRequestPolicy"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str, **kwargs: Any,
    ) -> OriginRequestPolicy:
        policy_id = str(uuid.uuid4())
        return cls(policy_id, {"Id": policy_id})


def _items(values: list[Any]) -> dict[str, Any]:
    return {"Quantity": len(values), "Items": values}


def distribution_config(cfn: dict[str, Any], caller_reference: str) -> dict[str, Any]:
    """A CloudFormation DistributionConfig in the API's shape (Quantity + Items lists)."""
    behaviour = dict(cfn["DefaultCacheBehavior"])
    cached = behaviour.pop("CachedMethods", ["GET", "HEAD"])
    behaviour["AllowedMethods"] = {
        **_items(behaviour.get("AllowedMethods", ["GET", "HEAD"])),
        "CachedMethods": _items(cached),
    }
    behaviour["LambdaFunctionAssociations"] = _items([
        {"EventType": item["EventType"], "LambdaFunctionARN": item["LambdaFunctionARN"],
         "IncludeBody": bool(item.get("IncludeBody", False))}
        for item in behaviour.get("LambdaFunctionAssociations", [])
    ])
    origins = []
    for origin in cfn["Origins"]:
        api_origin = {"Id": origin["Id"], "DomainName": origin["DomainName"]}
        custom = dict(origin.get("CustomOriginConfig", {}))
        if custom:
            custom["OriginSslProtocols"] = _items(custom.pop("OriginSSLProtocols", []))
            api_origin["CustomOriginConfig"] = custom
        api_origin["CustomHeaders"] = _items(origin.get("OriginCustomHeaders", []))
        origins.append(api_origin)
    certificate = dict(cfn.get("ViewerCertificate", {}))
    if "AcmCertificateArn" in certificate:
        certificate["ACMCertificateArn"] = certificate.pop("AcmCertificateArn")
        certificate["SSLSupportMethod"] = certificate.pop("SslSupportMethod", "sni-only")
    return {
        "CallerReference": caller_reference,
        "Comment": cfn.get("Comment", ""),
        "Enabled": cfn.get("Enabled", True),
        "HttpVersion": cfn.get("HttpVersion", "http2"),
        "IsIPV6Enabled": cfn.get("IPV6Enabled", False),
        "PriceClass": cfn.get("PriceClass", "PriceClass_All"),
        "Aliases": _items(cfn.get("Aliases", [])),
        "ViewerCertificate": certificate,
        "Origins": _items(origins),
        "DefaultCacheBehavior": behaviour,
    }


class Distribution(_Model, CloudFormationModel):
    ATTRIBUTES = ("DomainName", "Id")

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFront::Distribution"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str, **kwargs: Any,
    ) -> Distribution:
        config = distribution_config(
            cloudformation_json["Properties"]["DistributionConfig"], str(uuid.uuid4())
        )
        backend = cloudfront_backends[account_id][get_partition(region_name)]
        distribution, _location, _etag = backend.create_distribution(config, [])
        distribution_id = distribution.distribution_id
        return cls(
            distribution_id,
            {"DomainName": distribution.domain_name, "Id": distribution_id},
            undo=lambda: backend.delete_distribution(distribution_id, True),
        )

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        # as CloudFront: the same distribution (id, domain name) with the new configuration
        backend = cloudfront_backends[account_id][get_partition(region_name)]
        distribution_id = original_resource.physical_resource_id
        current, _etag = backend.get_distribution_config(distribution_id)
        config = distribution_config(
            cloudformation_json["Properties"]["DistributionConfig"], current.caller_reference
        )
        backend.update_distribution(config, distribution_id, True)
        return original_resource

def _keeping_lambda_associations(moto_init: Any) -> Any:
    def init(self: Any, config: dict[str, Any]) -> None:
        moto_init(self, config)
        associations = config.get("LambdaFunctionAssociations") or {}
        if associations.get("Quantity"):
            self.lambda_function_associations = associations

    return init


_moto_table_create = Table.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
_moto_bucket_create = FakeBucket.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def _create_table(
    cls: type[Table], /, resource_name: str, cloudformation_json: dict[str, Any],
    account_id: str, region_name: str, **kwargs: Any,
) -> Table:
    table = _moto_table_create(cls, resource_name, cloudformation_json, account_id,
                               region_name, **kwargs)
    ttl = cloudformation_json["Properties"].get("TimeToLiveSpecification")
    if ttl:
        dynamodb_backends[account_id][region_name].update_time_to_live(
            table.name, {"AttributeName": ttl["AttributeName"], "Enabled": ttl["Enabled"]}
        )
    return table


def _create_bucket(
    cls: type[FakeBucket], /, resource_name: str, cloudformation_json: dict[str, Any],
    account_id: str, region_name: str, **kwargs: Any,
) -> FakeBucket:
    bucket = _moto_bucket_create(cls, resource_name, cloudformation_json, account_id,
                                 region_name, **kwargs)
    website = cloudformation_json.get("Properties", {}).get("WebsiteConfiguration")
    if website:
        xml = WEBSITE_XML.format(index=website.get("IndexDocument", "index.html"),
                                 error=website.get("ErrorDocument", "error.html"))
        backend = s3_backends[account_id][get_partition(region_name)]
        backend.put_bucket_website(bucket.name, xml.encode())
    return bucket


def _version_create(moto_create: Any) -> Any:
    def create(
        cls: type[LambdaVersion], resource_name: str, cloudformation_json: dict[str, Any],
        account_id: str, region_name: str, **kwargs: Any,
    ) -> LambdaVersion:
        properties = cloudformation_json["Properties"]
        backend = lambda_backends[account_id][region_name]
        published = backend.publish_version(
            properties["FunctionName"], properties.get("Description", "")
        )
        if published is None:
            return moto_create(cls, resource_name, cloudformation_json, account_id,
                               region_name, **kwargs)
        version = LambdaVersion({"Version": published.version})  # type: ignore[abstract]
        arn, qualifier = published.function_arn, f":{published.version}"
        # as AWS: Ref of a version is the function ARN qualified by the version number
        version.physical_resource_id = arn if arn.endswith(qualifier) else arn + qualifier  # type: ignore[attr-defined]
        return version

    return create


def _version_update(
    cls: type[LambdaVersion], original_resource: Any, new_resource_name: str,
    cloudformation_json: dict[str, Any], account_id: str, region_name: str,
) -> LambdaVersion:
    # every property of a version requires replacement: publish another one
    return cls.create_from_cloudformation_json(
        new_resource_name, cloudformation_json, account_id, region_name
    )


def _conditions_named(condition: Any) -> Any:
    if isinstance(condition, dict):
        return {("Condition" if key == "Fn::Condition" else key): _conditions_named(value)
                for key, value in condition.items()}
    if isinstance(condition, list):
        return [_conditions_named(item) for item in condition]
    return condition


_moto_parse_condition = parsing.parse_condition


def parse_condition(
    condition: dict[str, Any] | bool, resources_map: Any, condition_map: dict[str, Any]
) -> bool:
    return bool(_moto_parse_condition(_conditions_named(condition), resources_map,
                                      condition_map))


def _validate_different_update(
    self: CloudFormationResponse,
    incoming_params: list[dict[str, Any]] | None,
    stack_body: str,
    old_stack: Any,
) -> None:
    if not (incoming_params and stack_body) or old_stack.template != stack_body:
        return
    declared = old_stack.template_dict.get("Parameters", {})
    defaults = {name: str(spec["Default"]) for name, spec in declared.items()
                if "Default" in spec}
    new = {**defaults, **self._get_param_values(incoming_params, old_stack.stack_parameters)}
    old = {name: value for name, value in old_stack.stack_parameters.items() if name in declared}
    if {name: str(value) for name, value in old.items()} == new:
        raise ValidationError(old_stack.name, message="No updates are to be performed.")


def install() -> None:
    """Teach this process's moto (the emulator's) the types and properties above."""
    Table.create_from_cloudformation_json = classmethod(_create_table)  # type: ignore[method-assign,assignment]
    FakeBucket.create_from_cloudformation_json = classmethod(_create_bucket)  # type: ignore[method-assign,assignment]
    behaviour = cloudfront_models.DefaultCacheBehaviour
    behaviour.__init__ = _keeping_lambda_associations(behaviour.__init__)  # type: ignore[method-assign]
    moto_version_create = LambdaVersion.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    LambdaVersion.create_from_cloudformation_json = classmethod(  # type: ignore[method-assign,assignment]
        _version_create(moto_version_create)
    )
    LambdaVersion.update_from_cloudformation_json = classmethod(_version_update)  # type: ignore[method-assign,assignment]
    parsing.parse_condition = parse_condition
    CloudFormationResponse._validate_different_update = _validate_different_update  # type: ignore[method-assign]
    parsing.get_model_map.cache_clear()
