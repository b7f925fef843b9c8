"""`make dev`: python -m local [--app-port 8000 ...] [--state-dir .local]"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from local.stack import PROJECT_DIR, PortInUse, Ports, Stack


def _port(name: str, default: int) -> int:
    return int(os.environ.get(f"LINKTRAIL_{name.upper()}_PORT", default))


def main() -> int:
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
        "--click-mode", choices=["every", "first"], default=os.environ.get("CLICK_MODE", "every")
    )
    args = parser.parse_args()
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
