"""The composition root: every service is built here, once per container, from the
settings, the AWS clients and the clock, and handed its collaborators.

Only the blueprints (each feature's api.py), the local stack and the CLI import this
module; the domain modules never do (an import-linter contract says so), so a test can
build any service with fakes instead.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, cast

from chalicelib.analytics.reader import Analytics
from chalicelib.analytics.rollups import Rollups
from chalicelib.campaigns.service import CampaignService
from chalicelib.clicks.webhooks import WebhookSender
from chalicelib.core import aws
from chalicelib.core.settings import Settings, get_settings, reset_settings
from chalicelib.journeys.service import Journeys
from chalicelib.links.service import LinkService
from chalicelib.links.store import LinkStore
from chalicelib.links.tags import LinkTags
from chalicelib.messaging.texting import Texting
from chalicelib.messaging.vonage import VonageSender
from chalicelib.sources.collector import SegmentCollector
from chalicelib.sources.keys import WriteKeys
from chalicelib.sources.limits import RateLimits
from chalicelib.system.keys import KeyStore
from chalicelib.tracking.cors import OriginPolicy
from chalicelib.tracking.deliveries import Deliveries
from chalicelib.tracking.event_queue import EventQueue
from chalicelib.tracking.forwarder import Forwarder
from chalicelib.tracking.forwarder import deliveries as build_deliveries
from chalicelib.tracking.forwarder import forwarder as build_forwarder
from chalicelib.tracking.identity import IdentityStore

if TYPE_CHECKING:
    from types_boto3_dynamodb.client import DynamoDBClient
    from types_boto3_s3.client import S3Client
    from types_boto3_sqs.client import SQSClient


def settings() -> Settings:
    return get_settings()


def dynamodb() -> DynamoDBClient:
    return cast("DynamoDBClient", aws.client("dynamodb"))


def s3() -> S3Client:
    return cast("S3Client", aws.client("s3"))


def sqs() -> SQSClient:
    return cast("SQSClient", aws.client("sqs"))


@lru_cache(maxsize=1)
def key_store() -> KeyStore:
    current = settings()
    return KeyStore(dynamodb(), current.app_table, cache_seconds=current.api_key_cache_seconds)


@lru_cache(maxsize=1)
def links() -> LinkService:
    return LinkService(dynamodb(), s3(), settings())


@lru_cache(maxsize=1)
def texting() -> Texting:
    current = settings()
    return Texting(dynamodb(), current, VonageSender(current))


@lru_cache(maxsize=1)
def campaigns() -> CampaignService:
    return CampaignService(links(), dynamodb(), sqs(), texting())


@lru_cache(maxsize=1)
def journeys() -> Journeys:
    """One per container, so the day's salt stays cached between requests."""
    current = settings()
    return Journeys(
        dynamodb(),
        current.app_table,
        site_hosts=current.site_hosts,
        retention_days=current.journey_retention_days,
        pepper=current.secret("journey-pepper").reveal().encode(),
    )


def click_webhooks() -> WebhookSender:
    current = settings()
    return WebhookSender(
        secrets=key_store().webhook_secret,
        links=LinkStore.from_settings(dynamodb(), current),
        allow_private=current.is_local,
    )


def link_tags() -> LinkTags:
    return LinkTags(dynamodb(), settings().links_table)


def rollups() -> Rollups:
    current = settings()
    return Rollups(dynamodb(), current.analytics_table, current.analytics_retention_days)


def analytics() -> Analytics:
    current = settings()
    return Analytics(dynamodb(), current.analytics_table, current.analytics_retention_days)


def notify_queue_url() -> str:
    current = settings()
    if current.notify_queue_url:
        return current.notify_queue_url
    return str(sqs().get_queue_url(QueueName=current.notify_queue)["QueueUrl"])


def event_queue() -> EventQueue:
    return EventQueue(sqs(), settings().events_queue_url)


def origin_policy() -> OriginPolicy:
    current = settings()
    return OriginPolicy(current.cors_origins, current.public_base_url)


def identities() -> IdentityStore:
    return IdentityStore(dynamodb(), settings().app_table)


def forwarder() -> Forwarder:
    return build_forwarder(settings(), dynamodb(), sqs())


def deliveries() -> Deliveries:
    return build_deliveries(settings(), dynamodb(), sqs())


@lru_cache(maxsize=1)
def write_keys() -> WriteKeys:
    current = settings()
    return WriteKeys(dynamodb(), current.app_table, current.write_key_cache_seconds)


@lru_cache(maxsize=1)
def rate_limits() -> RateLimits:
    """One per container: it spends its share of each source's minute from memory."""
    return RateLimits(dynamodb(), settings().app_table)


def segment_collector() -> SegmentCollector:
    current = settings()
    return SegmentCollector(write_keys(), rate_limits(), event_queue(), origin_policy(),
                            current.public_base_url)


def reset() -> None:
    """Forget everything built (tests switch environments between cases)."""
    reset_settings()
    aws.reset()
    for cached in (key_store, links, texting, campaigns, journeys, write_keys, rate_limits):
        cached.cache_clear()
