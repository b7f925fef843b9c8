"""make bench: every figure, grouped by area (app, links, messaging, edge, journeys,
events), as one table."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
import warnings

from bench.core import Figure, table

MODULES = [
    "bench.cold_start",
    "bench.links",
    "bench.messaging",
    "bench.edge",
    "bench.journeys",
    "bench.analytics",
    "bench.events",
    "bench.segment",
    "bench.bots",
    "bench.local_stack",
    "bench.dashboard",  # last: Chalice's local server changes the app object's class
]


def main() -> int:
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    figures: list[Figure] = []
    failed = False
    for name in MODULES:
        started = time.perf_counter()
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as missing:
            if missing.name == name:
                continue
            raise
        try:
            figures.extend(module.figures())
        except Exception as error:  # one broken benchmark must not hide the others
            failed = True
            print(f"{name}: failed: {type(error).__name__}: {error}", file=sys.stderr)
        print(f"{name}: {time.perf_counter() - started:.1f}s", file=sys.stderr)
    print(table(figures))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
