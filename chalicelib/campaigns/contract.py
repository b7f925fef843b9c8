"""The OpenAPI description of /api/campaigns, with campaigns.model's limits."""

from __future__ import annotations

from chalicelib.campaigns import model
from chalicelib.campaigns.stats import COUNTERS
from chalicelib.core import contract as oa
from chalicelib.core.contract import Paths, Schema
from chalicelib.links import contract as links
from chalicelib.links.contract import PAGE_SIZE
from chalicelib.links.model import MAX_CURSOR_CHARS

CAMPAIGN_ID: Schema = {"type": "string", "pattern": oa.anchored(model.CAMPAIGN_ID.pattern)}


def schemas() -> dict[str, Schema]:
    row: Schema = {
        "campaign_id": {"type": "string"},
        "name": {"type": "string"},
        "url": {"type": "string"},
        "channel": {"type": "string", "enum": list(model.CHANNELS)},
        "created_at": {"type": "string"},
        "total": {"type": "integer"},
        "expires_at": links.NULLABLE_TIME,
    }
    return {
        "NewCampaign": {
            "type": "object",
            "required": ["name", "url", "text", "recipients"],
            "examples": [{"name": "Spring sale", "url": "https://example.com/spring",
                          "text": "Spring sale: {link}",
                          "recipients": [{"to": "+447400100001", "ref": "customer-1"}]}],
            "additionalProperties": False,
            "maxProperties": len(model.CREATE_FIELDS),
            **links.ONE_EXPIRY,
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": model.MAX_NAME},
                "url": links.URL,
                "text": {"type": "string", "pattern": ".*\\{link\\}.*",
                         "maxLength": model.MAX_TEXT,
                         "description": "A template containing {link}; at most "
                         f"{model.MAX_TEXT} characters with the link."},
                "recipients": {
                    "type": "array", "minItems": 1, "maxItems": model.MAX_RECIPIENTS,
                    "items": {
                        "type": "object", "required": ["to"], "additionalProperties": False,
                        "properties": {
                            "to": {"type": "string", "description": "E.164 number (a "
                                   "Messenger id for messenger)."},
                            "ref": {"type": "string",
                                    "pattern": oa.anchored(model.REF.pattern)},
                        },
                    },
                },
                "expires_at": links.EXPIRES_AT,
                "ttl": links.TTL,
                "channel": {"type": "string", "enum": list(model.CHANNELS), "default": "sms"},
                "webhook_url": {"oneOf": [links.URL, {"type": "null"}]},
            },
        },
        "CampaignRow": {"type": "object", "required": list(row), "properties": row},
        "Campaign": {
            "type": "object",
            "required": [*row, *COUNTERS, "status", "ctr", "clicks", "funnel"],
            "properties": {
                **row,
                **{counter: {"type": "integer"} for counter in COUNTERS},
                "status": {"type": "string",
                           "enum": ["queued", "sending", "throttled", "done", "cancelled"]},
                "ctr": {"type": ["number", "null"]},
                "waiting_until": {"type": "string"},
                "abandoned_reason": {"type": "string"},
                "clicks": {"type": "object", "required": ["granularity", "series"],
                           "properties": {"granularity": {"type": "string"},
                                          "series": {"type": "array"}}},
                "funnel": {"type": "object"},
            },
        },
    }


def paths() -> Paths:
    started = oa.json_answer("Queued; its texts go out in chunks.", {
        "type": "object", "required": ["campaign_id", "status", "total"],
        "properties": {"campaign_id": {"type": "string"}, "status": {"const": "queued"},
                       "total": {"type": "integer"}}},
        links.REPLAYED)
    started["links"] = {"GetCampaign": {
        "operationId": "getCampaign",
        "parameters": {"campaign_id": "$response.body#/campaign_id"}}}
    return {
        "/api/campaigns": {
            "post": oa.api_operation(
                "startCampaign", "Text one new link to each of many recipients",
                "links:write", {"202": started, **oa.body_problems(409, 422, 503)},
                requestBody=oa.json_body({"$ref": "#/components/schemas/NewCampaign"},
                                         model.MAX_BODY_BYTES),
                parameters=[links.idempotency_header(
                    "the first request's campaign is answered again (202, `Idempotent-"
                    "Replayed: true`) and its chunks queued again; recipients already "
                    "handled are skipped, so nobody gets a second link or text.")],
                description="503: texting is not configured, or the campaign could not be "
                "queued (then it is cancelled). 409: the Idempotency-Key's campaign was "
                "cancelled; 422: the Idempotency-Key was used with another body.",
            ),
            "get": oa.api_operation(
                "listCampaigns", "Campaigns, newest first", "read",
                {"200": oa.json_answer("One page.", {
                    "type": "object", "required": ["campaigns", "next_cursor"],
                    "properties": {
                        "campaigns": {"type": "array",
                                      "items": {"$ref": "#/components/schemas/CampaignRow"}},
                        "next_cursor": {"type": ["string", "null"]}}}),
                 **oa.problems(400)},
                parameters=[
                    oa.query("limit", PAGE_SIZE),
                    oa.query("cursor", {"type": "string", "minLength": 1,
                                        "maxLength": MAX_CURSOR_CHARS}),
                ],
            ),
        },
        "/api/campaigns/{campaign_id}": {
            "get": oa.api_operation(
                "getCampaign", "A campaign's statistics, clicks and funnel", "read",
                {"200": oa.json_answer("The campaign.", {"$ref": "#/components/schemas/Campaign"}),
                 **oa.problems(404)},
                parameters=[oa.path_parameter("campaign_id", CAMPAIGN_ID)],
            ),
        },
    }
