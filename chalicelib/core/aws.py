"""The one place boto3 clients are created: lazily, once per process, thread-safe.

Creating a client costs tens of milliseconds; creating one per call made the same work
about 50x slower against the emulator. Locally the endpoint comes from AWS_ENDPOINT_URL,
which only the `local` stage sets; boto3 reads it itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient
    from types_boto3_dynamodb.type_defs import QueryOutputTypeDef

_LOCK = threading.Lock()
_CLIENTS: dict[str, Any] = {}
_SESSION: boto3.session.Session | None = None

# Short timeouts and standard retries (with throttling backoff) for request paths.
_CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"max_attempts": 4, "mode": "standard"},
    max_pool_connections=32,
)


def session() -> boto3.session.Session:
    global _SESSION
    with _LOCK:
        if _SESSION is None:
            _SESSION = boto3.session.Session()
        return _SESSION


def client(service: str) -> Any:
    """A cached low-level client for `service` (dynamodb, s3, sqs, ssm, ...)."""
    found = _CLIENTS.get(service)
    if found is not None:
        return found
    # The stubs type one overload per service name; the name is a runtime value here.
    created = session().client(cast(Any, service), config=_CLIENT_CONFIG)
    with _LOCK:
        return _CLIENTS.setdefault(service, created)


def reset() -> None:
    """Drop cached clients (tests switch emulators between cases)."""
    global _SESSION
    with _LOCK:
        _CLIENTS.clear()
        _SESSION = None


def error_code(error: BaseException, default: str = "") -> str:
    """The AWS error code of a botocore ClientError ("ConditionalCheckFailedException",
    "NoSuchKey", ...), or `default` for any other failure."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", default))
    return default


def query_pages(dynamodb: DynamoDBClient, query: Mapping[str, Any]) -> Iterator[QueryOutputTypeDef]:
    """Every page of a DynamoDB Query, one call each, following LastEvaluatedKey (the
    caller's `query` is left as it was)."""
    kwargs = dict(query)
    while True:
        page = dynamodb.query(**kwargs)
        yield page
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def query_items(dynamodb: DynamoDBClient, query: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item a DynamoDB Query matches, page after page."""
    for page in query_pages(dynamodb, query):
        yield from page.get("Items", [])
