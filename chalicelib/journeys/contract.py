"""The OpenAPI description of the demo site's pages, /ping (hyperlink auditing), a
visitor's own /journey and the aggregated /api/journeys."""

from __future__ import annotations

from chalicelib.core import contract as oa
from chalicelib.core.contract import Paths, Schema
from chalicelib.journeys import flows, inputs, pings
from chalicelib.journeys.service import MAX_OWN_HOPS

PAGES = ("/", "/about-me", "/blog", "/no-audit")


def _page(operation_id: str, summary: str) -> oa.Operation:
    return {"operationId": operation_id, "summary": summary, "security": [],
            "responses": {"200": oa.html_page("The page."), **oa.problems()}}


def paths() -> Paths:
    audited = {"type": "string", "maxLength": inputs.MAX_URL_LENGTH, "format": "uri"}
    # An empty value stands for the default, as journeys.inputs.parse_day reads it.
    day: Schema = {"type": "string",
                   "pattern": "^(?:" + oa.anchored(inputs.DAY.pattern)[1:-1] + ")?$"}
    described: Paths = {
        path: {"get": _page(f"sitePage{index}", f"The demo site's page {path}")}
        for index, path in enumerate(PAGES)
    }
    return {
        **described,
        "/ping": {
            "post": {
                "operationId": "ping",
                "summary": "A browser's hyperlink-auditing ping (<a ping>): one hop",
                "description": "Sent by the browser itself (no CORS). Opted-out visitors "
                "(DNT, Sec-GPC) and bots are answered 204 and not recorded.",
                "security": [],
                "parameters": [
                    oa.header("Ping-To", audited, "The followed link: a page of a "
                              "configured site.", required=True),
                    oa.header("Ping-From", audited, "The page the link was on."),
                ],
                "requestBody": {
                    "required": True,
                    oa.BODY_LIMIT_EXTENSION: pings.MAX_PING_BODY_BYTES,
                    "content": {"text/ping": {"schema": {
                        "type": "string", "maxLength": pings.MAX_PING_BODY_BYTES}}},
                },
                "responses": {
                    "204": oa.no_content("Recorded, or ignored (opted out, bot)."),
                    **oa.problems(400, 403, 413, 415, 503),
                },
            },
        },
        "/journey": {
            "get": {
                "operationId": "ownJourney",
                "summary": f"The asking visitor's own hops today (the latest "
                f"{MAX_OWN_HOPS}), as a page",
                "security": [],
                "responses": {"200": oa.html_page("The journey page."), **oa.problems()},
            },
        },
        "/api/journeys": {
            "get": oa.api_operation(
                "journeyFlows", "Aggregated flows between pages", "read",
                {"200": oa.json_answer("Flows.", {
                    "type": "object",
                    "required": ["from", "to", "truncated", "hops", "visitors",
                                 "visitors_per_day", "transitions", "entry_pages",
                                 "exit_pages"],
                    "properties": {"truncated": {"type": "boolean"},
                                   "hops": {"type": "integer"},
                                   "visitors": {"type": "integer"}}}),
                 **oa.problems(400)},
                parameters=[
                    oa.query("from", day, "First day (defaults to `to`)."),
                    oa.query("to", day, f"Last day (defaults to today); at most "
                             f"{flows.MAX_RANGE_DAYS} days in all."),
                ],
            ),
        },
    }
