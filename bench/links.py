"""Links: AWS calls per link creation (goal 2: one conditional write, one PutObject) and
the time of POST /api/links ÷ a bare Chalice route, in the same run.

Offline: moto in-process with linktrail's resources, both apps through chalice.test.Client.
"""

from __future__ import annotations

import json
from typing import Any

from bench.core import Figure, count_aws_calls, emulated_aws, median_seconds

CREATIONS = 20


def _bare_app() -> Any:
    """The baseline: a Chalice route that parses the same body and answers 201."""
    from chalice import Chalice, Response

    bare = Chalice(app_name="bare")

    @bare.route("/bare", methods=["POST"])
    def bare_route() -> Response:
        request = bare.current_request
        assert request is not None
        return Response(body=json.dumps(request.json_body), status_code=201)

    return bare


def figures() -> list[Figure]:
    from chalice.test import Client

    from chalicelib import wiring
    from chalicelib.links import model as links_model

    with emulated_aws():
        token = wiring.key_store().create("bench").token
        ddb, s3 = wiring.dynamodb(), wiring.s3()
        service = wiring.links()

        per_creation: list[int] = []
        for index in range(CREATIONS):
            new = links_model.NewLink(
                url="https://example.com/",
                expires_at=None if index % 2 else 4_102_444_800 - 10**9,
            )
            with count_aws_calls(ddb) as db_calls, count_aws_calls(s3) as s3_calls:
                service.create(new, "bench")
            per_creation.append(sum(db_calls.values()) + sum(s3_calls.values()))

        from app import app

        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        body = json.dumps({"url": "https://example.com/landing", "tags": ["bench"]})
        with Client(app, stage_name="bench") as client, Client(_bare_app()) as baseline:

            def create() -> None:
                assert client.http.post("/api/links", headers=headers, body=body).status_code == 201

            def bare() -> None:
                assert baseline.http.post("/bare", headers=headers, body=body).status_code == 201

            with count_aws_calls(ddb) as db_calls, count_aws_calls(s3) as s3_calls:
                create()
            per_request = sum(db_calls.values()) + sum(s3_calls.values())

            keyed = {**headers, "Idempotency-Key": "bench-once"}
            calls_with_key = []
            for _ in range(2):  # the first request, then its replay
                with count_aws_calls(ddb) as db_calls, count_aws_calls(s3) as s3_calls:
                    answer = client.http.post("/api/links", headers=keyed, body=body)
                    assert answer.status_code == 201
                calls_with_key.append(sum(db_calls.values()) + sum(s3_calls.values()))
            ours = median_seconds(create, repeat=40)
            base = median_seconds(bare, repeat=40)
    return [
        Figure(
            "links",
            "AWS calls per link creation",
            max(per_creation),
            "calls",
            goal="2 (TransactWriteItems + PutObject)",
            baseline=f"{min(per_creation)}-{max(per_creation)} over {CREATIONS}",
        ),
        Figure(
            "links",
            "AWS calls per POST /api/links request",
            per_request,
            "calls",
            goal="3 locally (+1 API key GetItem; cached for 30 s in AWS → 2)",
            baseline="through the route, middleware included",
        ),
        Figure(
            "links",
            "AWS calls per POST /api/links request with an Idempotency-Key",
            calls_with_key[0],
            "calls",
            goal=f"{per_request}: the key's record rides in the create transaction",
            baseline=f"its replay: {calls_with_key[1]} (key, transaction, record, link, object)",
        ),
        Figure(
            "links",
            "POST /api/links ÷ bare Chalice route",
            ours / base,
            "ratio",
            goal="small: 3 moto calls incl. the key check",
            baseline=f"{ours * 1000:.1f} ms vs {base * 1000:.2f} ms",
        ),
    ]
