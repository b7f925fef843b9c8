"""API Gateway imports for the local emulator, as `chalice deploy` makes them.

What moto does (moto 5.x): ImportRestApi and PutRestApi take OpenAPI 3 documents only
("Only OpenAPI 3.x.x are currently supported"), and ImportRestApi needs info.description
(a KeyError, answered as a 500). Chalice sends Swagger 2.0 without a description, which
API Gateway accepts. PutRestApi with mode=overwrite keeps the API's gateway responses,
where API Gateway replaces the whole definition and drops them (infra/deploy.py rebuilds
the api stack when that happens).

What we do: a Swagger 2.0 document is handed to moto as OpenAPI 3 (the parts moto reads,
paths with their methods, responses and x-amazon-apigateway-integration, are shaped alike
in both), a missing description is empty, and an overwrite drops the gateway responses.
The deploy rehearsal (infra/rehearsal.py) runs `chalice deploy` against this.
"""

from __future__ import annotations

from typing import Any

from moto.apigateway.models import APIGatewayBackend

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace",
                "x-amazon-apigateway-any-method"}  # fmt: skip

_moto_import_rest_api = APIGatewayBackend.import_rest_api
_moto_put_rest_api = APIGatewayBackend.put_rest_api


def as_openapi3(api_doc: dict[str, Any]) -> dict[str, Any]:
    """`api_doc` in the shape moto reads: Swagger 2.0 relabelled, path-level keys that are
    not methods (parameters, x-amazon-* extensions) left out, a description present."""
    document = dict(api_doc)
    if document.pop("swagger", None) is not None:
        document["openapi"] = "3.0.1"
    document["info"] = {"description": "", **document.get("info", {})}
    document["paths"] = {
        path: {method: doc for method, doc in item.items() if method.lower() in HTTP_METHODS}
        for path, item in document.get("paths", {}).items()
    }
    return document


def import_rest_api(
    self: APIGatewayBackend, api_doc: dict[str, Any], fail_on_warnings: bool
) -> Any:
    return _moto_import_rest_api(self, as_openapi3(api_doc), fail_on_warnings)


def put_rest_api(
    self: APIGatewayBackend,
    function_id: str,
    api_doc: dict[str, Any],
    fail_on_warnings: bool,
    mode: str = "merge",
) -> Any:
    if mode == "overwrite":
        self.get_rest_api(function_id).gateway_responses.clear()
    return _moto_put_rest_api(self, function_id, as_openapi3(api_doc), fail_on_warnings, mode)


def install() -> None:
    """Take chalice's imports in this process's moto (the emulator's)."""
    APIGatewayBackend.import_rest_api = import_rest_api  # type: ignore[method-assign]
    APIGatewayBackend.put_rest_api = put_rest_api  # type: ignore[method-assign]
