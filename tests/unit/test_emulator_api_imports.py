"""The emulator hands moto chalice's Swagger 2.0 imports in the shape moto reads
(local/apigateway.py); the whole `chalice deploy` against it runs in the deploy rehearsal."""

from __future__ import annotations

from local.apigateway import as_openapi3


def test_a_swagger_document_reaches_moto_as_openapi3_with_its_methods_only() -> None:
    integration = {"type": "aws_proxy", "httpMethod": "POST", "uri": "arn:function"}
    swagger = {
        "swagger": "2.0",
        "info": {"title": "linktrail", "version": "1.0"},
        "paths": {
            "/api/links": {
                "get": {"responses": {"200": {}}, "x-amazon-apigateway-integration": integration},
                "parameters": [{"name": "code", "in": "path"}],
            },
        },
    }
    document = as_openapi3(swagger)
    assert "swagger" not in document and document["openapi"].startswith("3")
    assert document["info"] == {"description": "", "title": "linktrail", "version": "1.0"}
    assert document["paths"] == {"/api/links": {"get": swagger["paths"]["/api/links"]["get"]}}
    assert swagger["swagger"] == "2.0"  # the caller's document is left as it was


def test_an_openapi3_document_with_a_description_is_passed_on_as_it_is() -> None:
    document = {"openapi": "3.0.1", "info": {"title": "t", "description": "d"},
                "paths": {"/": {"post": {"responses": {}}}}}
    assert as_openapi3(document) == document
