"""`linktrail sources create|list|revoke`: the sources Segment's libraries send with, and
their write keys, through the HTTP API (the admin key)."""

from __future__ import annotations

import argparse
import json
import urllib.parse
from typing import Any, TextIO

from cli.api import Api


def add_sources_commands(commands: Any) -> None:
    sources = commands.add_parser("sources", help="write keys for Segment's libraries (API)")
    actions = sources.add_subparsers(dest="sources_action", required=True)
    create = actions.add_parser("create", help="a source and its write key (shown once)")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--origin", action="append", default=[],
        help="a browser origin that may send with the key (repeat; none: a server source)",
    )
    create.add_argument("--rate-limit", type=int, help="events a minute (default 6000)")
    actions.add_parser("list")
    revoke = actions.add_parser("revoke")
    revoke.add_argument("source_id")


def sources_command(args: argparse.Namespace, api: Api, out: TextIO, err: TextIO) -> int:
    if args.sources_action == "create":
        body: dict[str, Any] = {"name": args.name, "origins": args.origin}
        if args.rate_limit is not None:
            body["rate_limit_per_minute"] = args.rate_limit
        print(json.dumps(api.call("POST", "/api/sources", body), indent=2), file=out)
        print("Shown once: store the write key now.", file=err)
    elif args.sources_action == "list":
        for source in api.call("GET", "/api/sources")["sources"]:
            origins = ",".join(source["origins"]) or "(server)"
            print(f"{source['source_id']}  {source['status']:8}  "
                  f"{source['rate_limit_per_minute']:>7}/min  {source['name']}  {origins}",
                  file=out)
    else:
        path = f"/api/sources/{urllib.parse.quote(args.source_id, safe='')}"
        print(json.dumps(api.call("DELETE", path), indent=2), file=out)
    return 0
