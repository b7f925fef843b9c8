"""`make dev`: python -m local [--app-port 8000 ...] [--state-dir .local]
[--click-mode every|first] [--every-click-trigger viewer-request|origin-request]

CLICK_MODE and EVERY_CLICK_TRIGGER in the environment set the defaults (`make dev
CLICK_MODE=first-click`): both spellings of a mode are accepted (every|every-click,
first|first-click), as `make deploy` and `make edge` take them; anything else stops here
with a one-line error rather than in the short domain.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from edge.edge_click import MODE_SPELLINGS, mode_named
from local.short_domain import TRIGGERS, every_click_trigger
from local.stack import PROJECT_DIR, PortInUse, Ports, Stack


def _port(name: str, default: int) -> int:
    return int(os.environ.get(f"LINKTRAIL_{name.upper()}_PORT", default))


def _checked(parse: Callable[[str], str]) -> Callable[[str], str]:
    """An argparse type: argparse converts string defaults (the environment's) with it too,
    whereas `choices` are never checked against a default."""

    def convert(value: str) -> str:
        try:
            return parse(value)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return convert


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, defaults from the environment; click_mode comes out every|first."""
    defaults = Ports()
    parser = argparse.ArgumentParser(
        prog="python -m local", description="Run linktrail on loopback."
    )
    parser.add_argument("--app-port", type=int, default=_port("app", defaults.app))
    parser.add_argument("--short-port", type=int, default=_port("short", defaults.short))
    parser.add_argument("--emulator-port", type=int, default=_port("emulator", defaults.emulator))
    parser.add_argument("--vonage-port", type=int, default=_port("vonage", defaults.vonage))
    parser.add_argument("--stitch-port", type=int, default=_port("stitch", defaults.stitch))
    parser.add_argument("--pumps-port", type=int, default=_port("pumps", defaults.pumps))
    parser.add_argument("--state-dir", type=Path, default=PROJECT_DIR / ".local")
    parser.add_argument(
        "--click-mode",
        type=_checked(mode_named),
        default=os.environ.get("CLICK_MODE") or "every",
        metavar="|".join(MODE_SPELLINGS),
        help="default: $CLICK_MODE or every",
    )
    parser.add_argument(
        "--every-click-trigger",
        type=_checked(every_click_trigger),
        default=os.environ.get("EVERY_CLICK_TRIGGER") or TRIGGERS[0],
        metavar="|".join(TRIGGERS),
        help="the CloudFront event every-click runs at (default: $EVERY_CLICK_TRIGGER or "
        "viewer-request, which sees no country, as in AWS)",
    )
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    # The short domain reads it from the environment the stack hands its components.
    os.environ["EVERY_CLICK_TRIGGER"] = args.every_click_trigger
    ports = Ports(
        args.app_port,
        args.short_port,
        args.emulator_port,
        args.vonage_port,
        args.stitch_port,
        args.pumps_port,
    )
    stack = Stack(ports, args.state_dir.resolve(), click_mode=args.click_mode)
    stopping = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start()
        stack.wait(lambda: stopping)
    except PortInUse as refusal:
        print(refusal, file=sys.stderr)
        return 1
    except SystemExit as failure:
        print(failure, file=sys.stderr)
        return 1
    finally:
        stack.say("linktrail", "stopping every component…")
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
