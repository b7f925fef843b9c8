"""The composition root for shared collaborators: settings, clients, the key store.

Feature modules build their own services from these; nothing here is created at import.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from chalicelib import aws
from chalicelib.auth import KeyStore
from chalicelib.config import Settings, get_settings


def settings() -> Settings:
    return get_settings()


def dynamodb() -> Any:
    return aws.client("dynamodb")


def s3() -> Any:
    return aws.client("s3")


def sqs() -> Any:
    return aws.client("sqs")


@lru_cache(maxsize=1)
def key_store() -> KeyStore:
    current = settings()
    return KeyStore(dynamodb(), current.app_table, cache_seconds=current.api_key_cache_seconds)


def reset() -> None:
    """Forget everything cached (tests switch environments between cases)."""
    from chalicelib.config import reset_settings

    reset_settings()
    aws.reset()
    key_store.cache_clear()
