"""Structured logs: one JSON object per line in AWS (CloudWatch Logs Insights can query
it), plain text locally. Extra fields passed with `extra={...}` become JSON keys (`k=v`
locally), and the current correlation id is added to every line of every handler: the
request id for HTTP, the message id for SQS, the sequence number for streams, the event
id for schedules."""

from __future__ import annotations

import contextvars
import json
import logging
import os
from collections.abc import Callable
from typing import Any

correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="")

# A batch names its first few records; the rest are counted.
SHOWN_IDS = 5

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if correlation_id.get():
            line["correlation_id"] = correlation_id.get()
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = {
            key: value
            for key, value in vars(record).items()
            if key not in _STANDARD and not key.startswith("_")
        }
        if correlation_id.get():  # `make dev` prints every component's lines together
            extras["correlation_id"] = correlation_id.get()
        text = f"{record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            text += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup() -> None:
    """Configure the `linktrail` logger once (idempotent; cheap at import)."""
    logger = logging.getLogger("linktrail")
    if getattr(logger, "_linktrail_configured", False):
        return
    handler = logging.StreamHandler()
    as_json = os.environ.get("LOG_JSON", "true").lower() in {"1", "true", "yes"}
    handler.setFormatter(JsonFormatter() if as_json else TextFormatter())
    # Chalice names its own logger after the app ("linktrail") and gives it a handler:
    # replace it, or every line would be written twice in two formats.
    logger.handlers = [handler]
    logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
    logger.propagate = False
    logger._linktrail_configured = True  # type: ignore[attr-defined]


def correlation_of(event: Any) -> str:
    """The correlation id of a Lambda event as Chalice hands it to a handler."""
    raw = event.to_dict() if hasattr(event, "to_dict") else {}
    records = raw.get("Records") if isinstance(raw, dict) else None
    if isinstance(records, list):
        ids = [_record_id(record) for record in records if isinstance(record, dict)]
        shown = ",".join(ids[:SHOWN_IDS])
        return shown + (f" (+{len(ids) - SHOWN_IDS})" if len(ids) > SHOWN_IDS else "")
    if isinstance(raw, dict) and "id" in raw and "detail-type" in raw:
        return str(raw["id"])  # a schedule's event id
    return ""


def _record_id(record: dict[str, Any]) -> str:
    if "messageId" in record:
        return str(record["messageId"])
    stream = record.get("dynamodb")
    if isinstance(stream, dict) and "SequenceNumber" in stream:
        return str(stream["SequenceNumber"])
    return str(record.get("eventID", ""))


def correlated(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Middleware for queue, stream and schedule handlers: their lines carry the event's
    correlation id (HTTP requests get theirs from chalicelib.http)."""
    token = correlation_id.set(correlation_of(event))
    try:
        return get_response(event)
    finally:
        correlation_id.reset(token)
