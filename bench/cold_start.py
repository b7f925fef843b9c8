"""Cold start of the app module against Chalice + boto3 themselves."""

from __future__ import annotations

import os

from bench.core import Figure, fresh_import_seconds

# What Lambda's environment looks like to app.py at import: a stage and its env vars.
IMPORT_ENV = {
    "STAGE": "dev",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "LINKS_STREAM_ARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026",
}


def figures() -> list[Figure]:
    env = {**os.environ, **IMPORT_ENV}
    env.pop("AWS_ENDPOINT_URL", None)
    baseline = fresh_import_seconds(
        "import chalice, boto3; boto3.session.Session().client('dynamodb')", runs=11, env=env
    )
    app_import = fresh_import_seconds("import app", runs=11, env=env)
    return [
        Figure(
            "app",
            "cold start: import app ÷ (import chalice, boto3 + 1 client)",
            app_import / baseline,
            "ratio",
            goal="≤ 1.15",
            baseline=f"{baseline * 1000:.0f} ms vs app {app_import * 1000:.0f} ms (median of 11)",
        )
    ]
