"""python -m local.soak: see local/soak/__init__.py."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from local.soak.run import Plan, soak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.soak",
        description="The local stack under load with faults; nothing lost or doubled.",
    )
    parser.add_argument("--duration", type=float, default=300.0,
                        help="seconds of load (default 300)")
    parser.add_argument("--max-requests", type=int, default=200_000,
                        help="stop the load sooner once the clients sent this many requests")
    parser.add_argument("--seed", type=int, default=1, help="the clients' and faults' seed")
    parser.add_argument("--state-dir", type=Path,
                        help="the stack's state directory (default: a fresh temporary one)")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.max_requests <= 0:
        parser.error("--duration and --max-requests must be positive")
    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="linktrail-soak-"))
    plan = Plan(duration=args.duration, max_requests=args.max_requests, seed=args.seed)
    return soak(plan, state_dir, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
