"""`linktrail links create|get|list|delete`, through the HTTP API."""

from __future__ import annotations

import argparse
import json
import re
import urllib.parse
from typing import Any, TextIO

from cli.api import Api, CliError

DURATION = re.compile(r"^(\d+)([smhdw])\Z")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
LIST_PAGE_LIMIT = 100  # GET /api/links answers at most this many per page


def parse_duration(text: str) -> int:
    """'7d' -> seconds (s, m, h, d, w)."""
    match = DURATION.match(text.strip())
    if not match:
        raise CliError(f"--expires {text!r}: use a number and s, m, h, d or w, e.g. 7d")
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)]


def links_command(args: argparse.Namespace, api: Api, out: TextIO) -> int:
    if args.links_action == "create":
        body: dict[str, Any] = {"url": args.url}
        if args.code:
            body["code"] = args.code
        if args.expires:
            body["ttl"] = parse_duration(args.expires)
        if args.max_clicks is not None:
            body["max_clicks"] = args.max_clicks
        if args.tag:
            body["tags"] = args.tag
        if args.to:
            body["sms"] = {"to": args.to, **({"text": args.text} if args.text else {})}
        link = api.create("/api/links", body)
        print(link["short_url"], file=out)
        return 0
    if args.links_action == "get":
        print(json.dumps(api.call("GET", f"/api/links/{_quoted(args.code)}"), indent=2), file=out)
        return 0
    if args.links_action == "delete":
        api.call("DELETE", f"/api/links/{_quoted(args.code)}")
        print(f"deleted {args.code}", file=out)
        return 0
    if args.limit < 1:
        raise CliError("--limit is at least 1")
    params = {k: v for k, v in (("campaign_id", args.campaign), ("tag", args.tag)) if v}
    shown = 0
    cursor: str | None = None
    while shown < args.limit:
        # The API pages at most LIST_PAGE_LIMIT links; larger limits follow the cursor.
        query = {**params, "limit": str(min(args.limit - shown, LIST_PAGE_LIMIT))}
        if cursor:
            query["cursor"] = cursor
        page = api.call("GET", "/api/links?" + urllib.parse.urlencode(query))
        for link in page["links"][: args.limit - shown]:
            clicks = link["clicks"]
            print(
                f"{link['code']:10} {link['status']:8} {clicks['human']:>5}h {clicks['bot']:>4}b  "
                f"{link['created_at']}  {link['url']}",
                file=out,
            )
            shown += 1
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return 0


def _quoted(code: str) -> str:
    return urllib.parse.quote(code, safe="")
