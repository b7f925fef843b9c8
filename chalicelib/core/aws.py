"""The one place boto3 clients are created: lazily, once per process, thread-safe.

Creating a client costs tens of milliseconds; creating one per call made the same work
about 50x slower against the emulator. Locally the endpoint comes from AWS_ENDPOINT_URL,
which only the `local` stage sets; boto3 reads it itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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


# What AWS answers when it sheds load; botocore has retried these before they reach us.
THROTTLING_CODES = frozenset({
    "ThrottlingException", "Throttling", "ThrottledException", "RequestLimitExceeded",
    "ProvisionedThroughputExceededException", "TooManyRequestsException",
    "RequestThrottled", "RequestThrottledException", "SlowDown",
})


def throttled(error: BaseException) -> bool:
    """An AWS call refused for load, after botocore's own retries."""
    return error_code(error) in THROTTLING_CODES


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


BATCH_GET_KEYS = 100  # BatchGetItem takes at most 100 keys
BATCH_GET_CALLS = 5  # calls per 100 keys at most: the first, then the unprocessed again


@dataclass
class BatchRead:
    """What a batch read found, and the keys DynamoDB still left unprocessed."""

    items: list[dict[str, Any]] = field(default_factory=list)
    unread: list[dict[str, Any]] = field(default_factory=list)


def batch_get(
    dynamodb: DynamoDBClient,
    table: str,
    keys: Sequence[Mapping[str, Any]],
    *,
    projection: str | None = None,
    consistent: bool = False,
    calls: int = BATCH_GET_CALLS,
    sleep: Callable[[float], None] = time.sleep,
) -> BatchRead:
    """The items of `keys` in `table`, one BatchGetItem per 100 keys. Keys DynamoDB leaves
    unprocessed (it does so when throttled) are asked again after a pause that doubles each
    time (50 ms, 100 ms, ...), up to `calls` calls per 100 keys; what is still unread then
    is returned, for the caller to read otherwise, show as unknown or fail on."""
    read = BatchRead()
    for start in range(0, len(keys), BATCH_GET_KEYS):
        request: dict[str, Any] = {"Keys": list(keys[start : start + BATCH_GET_KEYS])}
        if projection is not None:
            request["ProjectionExpression"] = projection
        if consistent:
            request["ConsistentRead"] = True
        for call in range(calls):
            if call:
                sleep(min(0.05 * 2 ** (call - 1), 1.0))
            answer = dynamodb.batch_get_item(RequestItems={table: cast(Any, request)})
            read.items.extend(answer.get("Responses", {}).get(table, []))
            left = answer.get("UnprocessedKeys", {}).get(table)
            request["Keys"] = list(left["Keys"]) if left else []
            if not request["Keys"]:
                break
        read.unread.extend(request["Keys"])
    return read
