"""`linktrail campaign send`: one link and one text per CSV row, through the HTTP API,
with its progress followed on stderr."""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path
from typing import Any, TextIO

from cli.api import Api, CliError
from cli.links import parse_duration


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
    started = api.create("/api/campaigns", body)
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
