"""The operator CLI: `linktrail ...` (or `python -m chalicelib.cli ...`).

- `keys create|list|revoke` talk to DynamoDB directly (bootstrapping: there is no key yet
  to call the API with). `--stage local` loads the local stage's environment from
  .chalice/config.json first, so it reaches the emulator of `make dev`.
- `links create|get|list|delete` and `campaign send` talk to the HTTP API with a key, so
  they work against `make dev` and a deployed stage alike: `--api URL`, the key from
  `--key`, LINKTRAIL_API_KEY, or .local/admin-key (written by `make dev`).

Standard library only (argparse, urllib, csv): the CLI imports nothing heavy; only `keys`
imports boto3, when it runs. Every failure reaches the operator as one line on stderr,
`linktrail: ...`, with exit status 1 (2 for usage errors, as argparse does).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from chalicelib.core.problems import Problem

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_API = "http://127.0.0.1:8000"
LOCAL_KEY_FILE = PROJECT_DIR / ".local" / "admin-key"
DURATION = re.compile(r"^(\d+)([smhdw])\Z")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
LIST_PAGE_LIMIT = 100  # GET /api/links answers at most this many per page
AWS_SETUP_HINT = (
    "use --stage local for `make dev`, or configure AWS credentials and a region "
    "(`aws configure`, AWS_PROFILE, AWS_DEFAULT_REGION)"
)


class CliError(Exception):
    """Shown to the operator as one line; exit status 1."""


# --- HTTP ------------------------------------------------------------------------------


class Api:
    def __init__(self, base_url: str, key: str, timeout: float = 30.0) -> None:
        self._base = base_url.rstrip("/")
        self._key = key
        self._timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One API call; reads (GET) are retried on 5xx and network errors."""
        attempts = 3 if method == "GET" else 1
        for attempt in range(attempts):
            try:
                return self._call_once(method, path, body)
            except _Retryable as error:
                if attempt == attempts - 1:
                    raise CliError(str(error)) from None
                time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    def _call_once(self, method: str, path: str, body: Any) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the operator chooses the URL
            self._base + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self._key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as answer:  # noqa: S310
                raw = answer.read()
        except urllib.error.HTTPError as error:
            line = _problem_line(error.code, error.read())
            if error.code >= 500:
                raise _Retryable(line) from None
            raise CliError(line) from None
        except urllib.error.URLError as error:
            raise _Retryable(f"cannot reach {self._base}: {error.reason}") from None
        return json.loads(raw) if raw else None


class _Retryable(Exception):
    pass


def _problem_line(status: int, raw: bytes) -> str:
    try:
        problem = json.loads(raw)
    except ValueError:
        return f"HTTP {status}"
    if not isinstance(problem, dict):
        return f"HTTP {status}"
    return describe_problem({**problem, "status": status})


def describe_problem(problem: dict[str, Any]) -> str:
    """Problem details (RFC 9457) as one line: `404 Not Found: ... [field]`."""
    where = f" [{problem['field']}]" if problem.get("field") else ""
    return f"{problem['status']} {problem.get('title', '')}: {problem.get('detail', '')}{where}"


def resolve_key(given: str | None) -> str:
    key = given or os.environ.get("LINKTRAIL_API_KEY", "")
    if not key and LOCAL_KEY_FILE.exists():
        key = LOCAL_KEY_FILE.read_text().strip()
    if not key:
        raise CliError("no API key: pass --key, set LINKTRAIL_API_KEY, or run `make dev`")
    return key


def parse_duration(text: str) -> int:
    """'7d' -> seconds (s, m, h, d, w)."""
    match = DURATION.match(text.strip())
    if not match:
        raise CliError(f"--expires {text!r}: use a number and s, m, h, d or w, e.g. 7d")
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)]


# --- keys (DynamoDB directly) ------------------------------------------------------------


def load_stage_environment(stage: str, config_file: Path | None = None) -> None:
    """Put the Chalice stage's environment variables into os.environ (as chalice does)."""
    path = config_file or PROJECT_DIR / ".chalice" / "config.json"
    config = json.loads(path.read_text())
    env = dict(config.get("environment_variables", {}))
    env.update(config.get("stages", {}).get(stage, {}).get("environment_variables", {}))
    if stage == "local":
        # make dev writes the running stack's own environment (ports may differ).
        local_env = PROJECT_DIR / ".local" / "env.json"
        if local_env.exists():
            env.update(json.loads(local_env.read_text()))
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    for name, value in env.items():
        os.environ.setdefault(name, str(value))


def keys_command(args: argparse.Namespace, out: TextIO) -> int:
    if args.stage:
        load_stage_environment(args.stage)
    # Imported here: the links and campaign commands never load boto3.
    from botocore import exceptions as aws_errors

    from chalicelib.core.settings import ConfigError

    try:
        return _keys_action(args, out)
    except aws_errors.NoRegionError:
        raise CliError(f"no AWS region: {AWS_SETUP_HINT}") from None
    except (aws_errors.NoCredentialsError, aws_errors.PartialCredentialsError) as error:
        raise CliError(f"no usable AWS credentials ({error}): {AWS_SETUP_HINT}") from None
    except aws_errors.EndpointConnectionError as error:
        running = " (is `make dev` running?)" if args.stage == "local" else ""
        raise CliError(f"{error}{running}") from None
    except (aws_errors.BotoCoreError, aws_errors.ClientError, ConfigError) as error:
        # ClientError (AccessDenied, ResourceNotFound, ...), timeouts, a missing profile.
        raise CliError(" ".join(str(error).split())) from None


def _keys_action(args: argparse.Namespace, out: TextIO) -> int:
    from chalicelib import wiring

    wiring.reset()
    store = wiring.key_store()  # creating the client is what needs a region
    if not wiring.settings().app_table:
        raise CliError(
            "APP_TABLE is not set: use --stage local for `make dev`, or --stage STAGE once "
            "`make deploy STAGE=...` has recorded its tables in .chalice/config.json"
        )
    if args.keys_action == "create":
        created = store.create(args.name)
        print(
            json.dumps(
                {
                    **created.api_key.to_public(),
                    "key": created.token,
                    "webhook_secret": created.webhook_secret,
                },
                indent=2,
            ),
            file=out,
        )
        print("Shown once: store the key and the webhook secret now.", file=sys.stderr)
    elif args.keys_action == "list":
        for key in store.list():
            shown = key.to_public()
            print(
                f"{shown['key_id']}  {shown['status']:8}  {shown['created_at']}  {shown['name']}",
                file=out,
            )
    else:
        print(json.dumps(store.revoke(args.key_id).to_public(), indent=2), file=out)
    return 0


# --- links ------------------------------------------------------------------------------


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
        link = api.call("POST", "/api/links", body)
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


# --- campaigns --------------------------------------------------------------------------


def read_recipients(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "to" not in reader.fieldnames:
            raise CliError(f"{path}: the CSV needs a header with a 'to' column (and 'ref')")
        recipients = []
        for row in reader:
            entry = {"to": (row.get("to") or "").strip()}
            if (row.get("ref") or "").strip():
                entry["ref"] = row["ref"].strip()
            recipients.append(entry)
    return recipients


def progress_bar(done: int, total: int, label: str, width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    return f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label}"


def campaign_state(stats: dict[str, Any]) -> str:
    """The status, and until when a throttled campaign waits (a quota may hold it until
    midnight UTC): `throttled, waiting until 2026-05-02T00:00:00Z`."""
    if stats.get("waiting_until"):
        return f"{stats['status']}, waiting until {stats['waiting_until']}"
    return str(stats["status"])


def campaign_summary(stats: dict[str, Any]) -> str:
    """Everything GET /api/campaigns/{id} answered, id and status first."""
    return json.dumps(
        {"campaign_id": stats["campaign_id"], "status": stats["status"], **stats}, indent=2
    )


def campaign_command(args: argparse.Namespace, api: Api, out: TextIO, err: TextIO) -> int:
    recipients = read_recipients(Path(args.csv))
    body: dict[str, Any] = {
        "name": args.name or Path(args.csv).stem,
        "url": args.url,
        "text": args.text,
        "recipients": recipients,
        "channel": args.channel,
    }
    if args.expires:
        body["ttl"] = parse_duration(args.expires)
    started = api.call("POST", "/api/campaigns", body)
    campaign_id, total = started["campaign_id"], started["total"]
    print(f"campaign {campaign_id}: {total} recipients queued", file=err)
    deadline = time.monotonic() + args.timeout
    shown = ""
    while True:
        stats = api.call("GET", f"/api/campaigns/{campaign_id}")
        settled = stats["links_created"] - stats.get("pending", 0)
        line = progress_bar(max(settled, 0), total, campaign_state(stats))
        # Padded over the line before: the label shrinks when a wait ends.
        print(line.ljust(len(shown)), end="", file=err, flush=True)
        shown = line
        if stats["status"] in ("done", "cancelled"):
            break
        if time.monotonic() > deadline:
            print(file=err)
            print(campaign_summary(stats), file=out)
            raise CliError(
                f"campaign {campaign_id} still {campaign_state(stats)} after {args.timeout:g}s; "
                f"it carries on without the CLI: GET /api/campaigns/{campaign_id}"
            )
        time.sleep(args.poll)
    print(file=err)
    print(campaign_summary(stats), file=out)
    return 0


# --- entry point ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linktrail", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--api",
        default=os.environ.get("LINKTRAIL_API", DEFAULT_API),
        help=f"API base URL (default {DEFAULT_API}, or LINKTRAIL_API)",
    )
    parser.add_argument("--key", help="API key (default LINKTRAIL_API_KEY or .local/admin-key)")
    commands = parser.add_subparsers(dest="command", required=True)

    keys = commands.add_parser("keys", help="API keys (talks to DynamoDB directly)")
    keys_actions = keys.add_subparsers(dest="keys_action", required=True)
    create_key = keys_actions.add_parser("create")
    create_key.add_argument("--name", required=True)
    create_key.add_argument("--stage", help="load this Chalice stage's environment (e.g. local)")
    list_keys = keys_actions.add_parser("list")
    list_keys.add_argument("--stage")
    revoke = keys_actions.add_parser("revoke")
    revoke.add_argument("key_id")
    revoke.add_argument("--stage")

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
    return parser


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
        return keys_command(args, out)
    api = Api(args.api, resolve_key(args.key))
    if args.command == "links":
        return links_command(args, api, out)
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
