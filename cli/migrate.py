"""`linktrail migrate counters --stage STAGE`: once after upgrading a stage, give every link
stored before counter items its counter (chalicelib.links.backfill), on the links table
directly with your AWS credentials (`--stage local` for `make dev`)."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from chalicelib import wiring
from chalicelib.links.backfill import backfill_counters
from cli.api import CliError
from cli.keys import load_stage_environment, with_aws_errors


def migrate_command(args: argparse.Namespace, out: TextIO) -> int:
    load_stage_environment(args.stage)
    return with_aws_errors(args, lambda: _counters(out))


def _counters(out: TextIO) -> int:
    wiring.reset()
    table = wiring.settings().links_table
    if not table:
        raise CliError("LINKS_TABLE is not set: record the stage's resources first")
    done = backfill_counters(wiring.dynamodb(), table)
    print(json.dumps({"links": done.links, "counters_written": done.written}), file=out)
    return 0
