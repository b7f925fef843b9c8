"""Journeys figures: AWS calls per ping, and /ping's time against a bare Chalice route.

Both run in one process through chalice.test.Client with moto in-process, so the ratio
compares like with like: the bare route has the same content type and answer, and no
work; /ping adds validation, the bot check, the visitor hash and its one PutItem. A
second baseline does just that PutItem, so the last figure is our own overhead.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.core import Figure, count_aws_calls, emulated_aws

SITE = "127.0.0.1:8000"
PING_HEADERS = {
    "Content-Type": "text/ping",
    "Host": SITE,
    "Ping-To": f"http://{SITE}/blog",
    "Ping-From": f"http://{SITE}/about-me",
    "User-Agent": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/150.0.0.0 Safari/537.36"
    ),
}
STEADY_PINGS = 200


@contextmanager
def offline_app() -> Iterator[Any]:
    """The real app on moto in-process with linktrail's resources; env restored after."""
    from chalice.test import Client

    with emulated_aws({"SITE_HOSTS": SITE}):
        from app import app

        with Client(app) as client:
            yield client


def bare_client(with_write: bool) -> Any:
    """A bare Chalice app with one /ping route: no work at all, or just the one PutItem a
    recorded ping costs (same table, same item shape)."""
    import secrets

    from chalice import Chalice, Response
    from chalice.test import Client

    from chalicelib import wiring

    bare = Chalice(app_name="bare")

    @bare.route("/ping", methods=["POST"], content_types=["text/ping"])
    def ping() -> Response:
        if with_write:
            wiring.dynamodb().put_item(
                TableName=wiring.settings().app_table,
                Item={
                    "pk": {"S": f"hop#2026-11-23#{secrets.token_hex(16)}"},
                    "sk": {"S": f"2026-11-23T12:00:00.000Z#{secrets.token_hex(4)}"},
                    "gsi1pk": {"S": "hops#bench"},
                    "gsi1sk": {"S": secrets.token_hex(24)},
                    "site": {"S": SITE},
                    "from_page": {"S": "/about-me"},
                    "to_page": {"S": "/blog"},
                    "at": {"S": "2026-11-23T12:00:00.000Z"},
                    "ttl": {"N": "1800000000"},
                },
            )
        return Response(body="", status_code=204)

    return Client(bare)


def interleaved_medians(runs: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Median seconds of each run, sampled in turn so drift (moto's growing tables and
    stream) hits all of them alike."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for round_number in range(repeat + 10):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            if round_number >= 10:  # warm-up rounds
                samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in samples.items()}


def figures() -> list[Figure]:
    from chalicelib import wiring

    with offline_app() as client, bare_client(False) as bare, bare_client(True) as bare_put:

        def post(target: Any) -> Callable[[], None]:
            def run() -> None:
                answer = target.http.post("/ping", headers=PING_HEADERS, body="PING")
                assert answer.status_code == 204, answer.body

            return run

        with count_aws_calls(wiring.dynamodb()) as first:
            post(client)()  # the day's first ping in this process: reads, then creates, the salt
        with count_aws_calls(wiring.dynamodb()) as steady:
            for _ in range(STEADY_PINGS):
                post(client)()
        median = interleaved_medians(
            {"ping": post(client), "bare": post(bare), "bare_put": post(bare_put)}, repeat=200
        )

    per_ping = sum(steady.values()) / STEADY_PINGS
    ms = {name: f"{seconds * 1000:.2f} ms" for name, seconds in median.items()}
    return [
        Figure(
            "#6",
            "AWS calls per ping (steady state)",
            per_ping,
            "calls",
            goal="1",
            baseline=f"{dict(steady)} over {STEADY_PINGS} pings",
        ),
        Figure(
            "#6",
            "AWS calls for a process's first ping of the day",
            sum(first.values()),
            "calls",
            goal="≤ 3",
            baseline=", ".join(f"{k} {v}" for k, v in sorted(first.items())),
        ),
        Figure(
            "#6",
            "/ping time ÷ bare Chalice route",
            median["ping"] / median["bare"],
            "ratio",
            baseline=f"bare {ms['bare']} vs /ping {ms['ping']} (median of 200, moto in-process)",
        ),
        Figure(
            "#6",
            "/ping time ÷ bare route doing the same one PutItem",
            median["ping"] / median["bare_put"],
            "ratio",
            goal="≤ 1.2",
            baseline=f"bare+PutItem {ms['bare_put']} vs /ping {ms['ping']}",
        ),
    ]


if __name__ == "__main__":
    from bench.core import table

    print(table(figures()))
