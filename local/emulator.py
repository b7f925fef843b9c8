"""The local AWS emulator: moto's server, with DynamoDB requests taken one at a time,
cheap transactions and bounded streams.

moto's server handles requests on several threads, and its DynamoDB is not safe for that:
moto's transact_write_items snapshots the whole table and puts the copy back when the
transaction is cancelled, so writes other threads made in between vanish (a 409 in
`make dev` could drop concurrent click counters). Here every DynamoDB and DynamoDB
Streams request holds one lock; other services (SQS long polls, S3) stay parallel.

Patches of moto's DynamoDB, the first two relying on that lock, are installed at start:
local/transactions.py undoes a cancelled transaction item by item instead of copying
every table it names (a transaction costs what it touches, not the table), and
local/streams.py keeps 24 hours of stream records and 15 minutes of shard iterators;
local/serialization.py hands items that are their own wire form to the answer whole,
local/partitions.py lets a Query read its partition instead of sorting the whole table.
local/expired_items.py answers the local TTL pump without a Scan.
local/apigateway.py takes the Swagger 2.0 imports `chalice deploy` makes, and
local/cloudformation.py deploys the parts of infra/*.yaml moto's CloudFormation skips
(both for the deploy rehearsal, infra/rehearsal.py).

Run: python -m local.emulator -H 127.0.0.1 -p 4566 (the same flags as moto.server)
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from local import expired_items

# X-Amz-Target prefixes of DynamoDB (DynamoDB_20120810.*) and its streams
# (DynamoDBStreams_20120810.*): the requests that share moto's table objects.
# LinktrailLocal.* is the emulator's own (local/expired_items.py), run under the same lock.
SERIALIZED_TARGETS = ("DynamoDB_", "DynamoDBStreams_", "LinktrailLocal.")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def serialize_dynamodb(app: WsgiApp) -> WsgiApp:
    """`app`, with DynamoDB (and Streams) requests run one at a time, body included."""
    lock = threading.Lock()

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith(SERIALIZED_TARGETS):
            return app(environ, start_response)
        with lock:
            if environ["HTTP_X_AMZ_TARGET"] == expired_items.TARGET:
                return expired_items.answer(environ, start_response)
            body = app(environ, start_response)
            try:
                return [b"".join(body)]
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()

    return wrapped


def patch_moto() -> None:
    """Install our transactions and stream bounds in this process's moto."""
    from local import (
        apigateway,
        cloudformation,
        partitions,
        serialization,
        streams,
        transactions,
    )

    transactions.install()
    streams.install()
    serialization.install()
    partitions.install()
    apigateway.install()
    cloudformation.install()


def main(argv: list[str] | None = None) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(prog="python -m local.emulator", description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto.server: URLs it builds
    # As moto.server: SIGINT/SIGTERM end the server quietly (the supervisor sends SIGTERM).
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    patch_moto()
    moto_app = DomainDispatcherApplication(create_backend_app)
    moto_app.debug = True  # type: ignore[attr-defined]  # as moto.server: errors in the log
    run_simple(
        args.host,
        args.port,
        serialize_dynamodb(moto_app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
