"""The operator CLI: `linktrail ...` (or `python -m cli ...`).

- `keys create|list|revoke` talk to DynamoDB directly (bootstrapping: there is no key yet
  to call the API with). `--stage local` loads the local stage's environment from
  .chalice/config.json first, so it reaches the emulator of `make dev`.
- `links create|get|list|delete`, `sources create|list|revoke` and `campaign send` talk
  to the HTTP API with a key, so they work against `make dev` and a deployed stage alike:
  `--api URL`, the key from `--key`, LINKTRAIL_API_KEY, or .local/admin-key (written by
  `make dev`).

Standard library only (argparse, urllib, csv) but for `keys`, which loads boto3 when it
runs. Every failure reaches the operator as one line on stderr, `linktrail: ...`, with
exit status 1 (2 for usage errors, as argparse does).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from chalicelib.core.problems import Problem
from chalicelib.system.roles import ROLES
from cli.api import Api, CliError, describe_problem, resolve_key
from cli.campaigns import campaign_command
from cli.links import links_command
from cli.sources import add_sources_commands, sources_command

DEFAULT_API = "http://127.0.0.1:8000"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linktrail", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--api",
        default=os.environ.get("LINKTRAIL_API", DEFAULT_API),
        help=f"API base URL (default {DEFAULT_API}, or LINKTRAIL_API)",
    )
    parser.add_argument("--key", help="API key (default LINKTRAIL_API_KEY or .local/admin-key)")
    commands = parser.add_subparsers(dest="command", required=True)

    add_keys_commands(commands)
    add_links_commands(commands)
    add_campaign_commands(commands)
    add_sources_commands(commands)
    migrate = commands.add_parser("migrate", help="one-off upgrades of a stage's data")
    what = migrate.add_subparsers(dest="migrate_action", required=True)
    counters = what.add_parser("counters", help="counter items for links stored before them")
    counters.add_argument("--stage", required=True, help="the Chalice stage (local for make dev)")
    return parser


def add_keys_commands(commands: Any) -> None:
    keys = commands.add_parser("keys", help="API keys (talks to DynamoDB directly)")
    keys_actions = keys.add_subparsers(dest="keys_action", required=True)
    create_key = keys_actions.add_parser("create")
    create_key.add_argument("--name", required=True)
    create_key.add_argument(
        "--role",
        default="admin",
        choices=ROLES,
        help="what the key may do (default admin: the first key must be able to make others)",
    )
    create_key.add_argument("--stage", help="load this Chalice stage's environment (e.g. local)")
    list_keys = keys_actions.add_parser("list")
    list_keys.add_argument("--stage")
    revoke = keys_actions.add_parser("revoke")
    revoke.add_argument("key_id")
    revoke.add_argument("--stage")


def add_links_commands(commands: Any) -> None:
    links = commands.add_parser("links", help="short links (through the API)")
    link_actions = links.add_subparsers(dest="links_action", required=True)
    create = link_actions.add_parser("create")
    create.add_argument("url")
    create.add_argument("--code", help="custom slug")
    create.add_argument("--expires", help="lifetime, e.g. 30m, 7d")
    create.add_argument("--max-clicks", type=int)
    create.add_argument("--tag", action="append")
    create.add_argument("--to", help="text the link to this number")
    create.add_argument("--text", help="message template containing {link}")
    get = link_actions.add_parser("get")
    get.add_argument("code")
    delete = link_actions.add_parser("delete")
    delete.add_argument("code")
    listing = link_actions.add_parser("list")
    listing.add_argument("--campaign")
    listing.add_argument("--tag")
    listing.add_argument("--limit", type=int, default=25, help="links to show (pages of 100)")


def add_campaign_commands(commands: Any) -> None:
    campaign = commands.add_parser("campaign", help="campaigns (through the API)")
    campaign_actions = campaign.add_subparsers(dest="campaign_action", required=True)
    send = campaign_actions.add_parser("send", help="one link and one text per CSV row")
    send.add_argument("csv", help="CSV with columns to, ref")
    send.add_argument("--url", required=True)
    send.add_argument("--text", required=True, help="template containing {link}")
    send.add_argument("--expires", help="lifetime of the links, e.g. 7d")
    send.add_argument("--name")
    send.add_argument("--channel", default="sms")
    send.add_argument("--poll", type=float, default=1.0, help="seconds between progress checks")
    send.add_argument(
        "--timeout",
        type=float,
        default=3600.0,
        help="seconds to follow progress (the campaign carries on without the CLI)",
    )


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)  # usage errors exit 2
    try:
        try:
            return run_command(args, out, err)
        finally:
            out.flush()  # here, not at exit: a reader that went away shows up below
    except CliError as error:
        message = str(error)
    except Problem as problem:  # from the services the keys command calls directly
        message = describe_problem(problem.to_dict())
    except BrokenPipeError:
        discard_output(out)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: a campaign carries on without us
        print("\nlinktrail: interrupted", file=err)
        return 130
    print(f"linktrail: {message}", file=err)
    return 1


def run_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.command == "keys":
        # Imported here: boto3 and the app's services take ~0.4 s to load, and only the
        # keys command needs them; links and campaigns speak HTTP with the standard library.
        from cli.keys import keys_command

        return keys_command(args, out)
    if args.command == "migrate":
        from cli.migrate import migrate_command  # boto3 too, as for keys

        return migrate_command(args, out)
    api = Api(args.api, resolve_key(args.key))
    if args.command == "links":
        return links_command(args, api, out)
    if args.command == "sources":
        return sources_command(args, api, out, err)
    return campaign_command(args, api, out, err)


def discard_output(out: TextIO) -> None:
    """The reader of our output went away (`linktrail ... | head`): stop quietly. What is
    still buffered goes to /dev/null, or the flush at exit fails again (Python's docs,
    signal module, "Note on SIGPIPE")."""
    try:
        descriptor = out.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (tests pass a StringIO)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
