"""The local stack's link creation as the links table grows: p50 of POST /api/links at
100 existing links and at 10,000, in the same run, as a ratio (goal <= 2: flat).

Against the emulator SERVER, started as `make dev` starts it (`python -m local.emulator`
in its own process, so its lock and its patches are in play), provisioned from
infra/data.yaml by local/bootstrap.py. The app runs in this process through
chalice.test.Client with its clients pointed at that server: each POST is the app's
whole route (the API key's GetItem, the create TransactWriteItems, the PutObject).

Pre-filling uses a faster path than the route: BatchWriteItem of the items the create
path writes (LinkService's own link items, half of them with an expiry marker, as the
timed requests make), 25 to a request. The redirect objects are left out: S3 keeps
objects in a dict, and the figure is about DynamoDB's cost per transaction.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from bench.core import ROOT, Figure, provisioned_app

AREA = "local stack"
SMALL, LARGE = 100, 10_000
SAMPLES = 30  # timed creations at each size (after WARMUP untimed ones)
WARMUP = 3
EXPIRY_SECONDS = 30 * 86_400  # the links that have an expiry: in a month


def prefill(count: int, start: int) -> None:
    """`count` links as the create path stores them (link item, and an expiry marker for
    every other one), written with BatchWriteItem."""
    from chalicelib import wiring
    from chalicelib.links import items
    from chalicelib.links import model as links_model
    from chalicelib.links.items import to_item

    service = wiring.links()
    table = wiring.settings().links_table
    ddb = wiring.dynamodb()
    requests: list[dict[str, Any]] = []
    for index in range(start, start + count):
        new = links_model.NewLink(
            url=f"https://example.com/{index}",
            expires_at=int(time.time()) + EXPIRY_SECONDS if index % 2 else None,
        )
        item = service.item_for(new, f"fill{index:06d}", "bench")
        requests.append({"PutRequest": {"Item": to_item(item)}})
        if item.get("expires_at") is not None:
            marker = items.expiry_marker(item["code"], int(item["expires_at"]))
            requests.append({"PutRequest": {"Item": to_item(marker)}})
    for begin in range(0, len(requests), 25):
        pending: dict[str, Any] = {table: requests[begin : begin + 25]}
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def creation_p50(client: Any, headers: dict[str, str], samples: int) -> float:
    """Median seconds of POST /api/links (half with an expiry, as the pre-filled links)."""
    times = []
    for index in range(WARMUP + samples):
        body: dict[str, Any] = {"url": f"https://example.com/timed/{index}", "tags": ["bench"]}
        if index % 2:
            body["expires_at"] = int(time.time()) + EXPIRY_SECONDS
        started = time.perf_counter()
        answer = client.http.post("/api/links", headers=headers, body=json.dumps(body))
        elapsed = time.perf_counter() - started
        assert answer.status_code == 201, (answer.status_code, answer.body[:300])
        if index >= WARMUP:
            times.append(elapsed)
    return statistics.median(times)


def figures(samples: int = SAMPLES) -> list[Figure]:
    from chalice.test import Client

    from chalicelib import wiring
    from local.stack import EMULATOR_CREDENTIALS, emulator_alone

    with emulator_alone(ROOT) as endpoint, provisioned_app(
        {**EMULATOR_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}
    ):
        token = wiring.key_store().create("bench").token
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        from app import app

        with Client(app, stage_name="bench") as client:
            prefill(SMALL, 0)
            small = creation_p50(client, headers, samples)
            existing = SMALL + WARMUP + samples
            fill_started = time.perf_counter()
            prefill(LARGE - existing, existing)
            fill_seconds = time.perf_counter() - fill_started
            large = creation_p50(client, headers, samples)
    return [
        Figure(
            AREA,
            f"POST /api/links against the emulator server, p50 at {LARGE:,} links ÷ at {SMALL}",
            large / small,
            "ratio",
            goal="<= 2 (flat: a transaction costs what it touches)",
            baseline=f"{large * 1000:.1f} ms vs {small * 1000:.1f} ms "
            f"({samples} each; pre-fill {fill_seconds:.0f}s)",
        ),
        Figure(
            AREA, f"POST /api/links p50 at {SMALL} links (emulator server)", small * 1000, "ms"
        ),
        Figure(
            AREA, f"POST /api/links p50 at {LARGE:,} links (emulator server)", large * 1000, "ms"
        ),
    ]


if __name__ == "__main__":
    import logging
    import warnings

    from bench.core import table

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    print(table(figures()))
