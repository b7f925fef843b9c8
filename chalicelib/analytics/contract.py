"""The OpenAPI description of GET /api/analytics, with analytics.params' choices."""

from __future__ import annotations

from chalicelib.analytics import params
from chalicelib.core import contract as oa
from chalicelib.core.contract import Paths, Schema

VALUE: Schema = {"type": "string", "minLength": 1, "maxLength": params.MAX_VALUE}


def paths() -> Paths:
    parameters = [
        oa.query("groupBy", {"type": "string", "enum": list(params.GROUP_BYS),
                             "default": params.GROUP_BYS[0]}),
        oa.query("interval", {"type": "string", "enum": list(params.INTERVALS)},
                 "A named range (or give start and end)."),
        oa.query("start", {"type": "string"}, "ISO 8601 date or time, in `timezone`."),
        oa.query("end", {"type": "string"}, "ISO 8601 date or time (exclusive)."),
        oa.query("timezone", {"type": "string", "default": "UTC"}, "An IANA zone name."),
        oa.query("granularity", {"type": "string", "enum": list(params.GRANULARITIES)}),
        oa.query("code", VALUE, "One link."),
        oa.query("tag", VALUE),
        oa.query("campaign_id", VALUE),
        oa.query("country", {"type": "string", "pattern": "^[A-Za-z]{2}$"},
                 "ISO 3166 alpha-2."),
        oa.query("device", VALUE),
        oa.query("visitor", {"type": "string", "enum": list(params.VISITORS),
                             "default": params.VISITORS[0]}),
        oa.query("format", {"type": "string", "enum": list(params.FORMATS),
                            "default": params.FORMATS[0]},
                 "csv (or `Accept: text/csv`) answers the rows as CSV."),
    ]
    answer = {
        "type": "object",
        "required": ["data", "meta"],
        "properties": {"data": {"type": ["array", "object"]}, "meta": {"type": "object"}},
    }
    return {
        "/api/analytics": {
            "get": oa.api_operation(
                "analytics", "Click counts, series and breakdowns", "read",
                {"200": {"description": "The counts.", "content": {
                    "application/json": {"schema": answer},
                    "text/csv": {"schema": {"type": "string"}},
                }}, **oa.problems(400)},
                parameters=parameters,
            ),
        },
    }
