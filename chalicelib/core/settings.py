"""Settings: one typed, frozen object read from the environment when first needed.

Plain values come from environment variables (the Chalice stage's `environment_variables`,
written by the record-resources step). Secrets come from SSM Parameter Store in AWS
(SecureString parameters under `SSM_PREFIX`, read once and cached) and from the local
stage's environment under `make dev`. Secrets never appear in a repr or a log line.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

LOCAL_STAGE = "local"

# secret name -> environment variable used for it on the local stage
LOCAL_SECRET_ENV: dict[str, str] = {
    "vonage-private-key": "VONAGE_PRIVATE_KEY",
    "vonage-signature-secret": "VONAGE_SIGNATURE_SECRET",
    "stitch-token": "STITCH_TOKEN",
    "stitch-webhook-url": "STITCH_WEBHOOK_URL",
    "journey-pepper": "JOURNEY_PEPPER",
    "identity-secret": "IDENTITY_SECRET",
}


class ConfigError(RuntimeError):
    """A required setting is missing or malformed."""


class Secret:
    """A string that will not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in {"1", "true", "yes", "on"}


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    """One of `allowed` (the first when unset)."""
    raw = env.get(name, "").strip().lower() or allowed[0]
    if raw not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


SecretLoader = Callable[[str], str]


@dataclass(frozen=True)
class Settings:
    stage: str = LOCAL_STAGE
    region: str = "us-east-1"
    # data plane (infra/data.yaml outputs, see infra/resources.py)
    links_table: str = ""
    links_stream_arn: str = ""
    app_table: str = ""
    app_stream_arn: str = ""
    analytics_table: str = ""
    # each counted click also goes to the warehouse as a "Link Clicked" track event
    click_events: bool = True
    redirect_bucket: str = ""
    redirect_website_host: str = ""
    campaign_queue: str = ""
    campaign_queue_url: str = ""
    campaign_dlq_url: str = ""
    events_queue: str = ""
    events_queue_url: str = ""
    events_dlq_url: str = ""
    notify_queue: str = ""
    notify_queue_url: str = ""
    notify_dlq_url: str = ""
    ssm_prefix: str = ""
    # public addresses
    short_base_url: str = "http://127.0.0.1:8001"
    public_base_url: str = "http://127.0.0.1:8000"
    # links
    allowed_destination_hosts: tuple[str, ...] = ()
    max_link_lifetime_seconds: int = 365 * 24 * 3600
    # messaging (Vonage)
    vonage_application_id: str = ""
    vonage_from: str = "linktrail"
    vonage_api_host: str = ""
    vonage_ca_bundle: str = ""  # local stage only: the fake Messages API's certificate
    sms_allowed_countries: tuple[str, ...] = ()
    sms_daily_quota: int = 1000
    # journeys (hyperlink auditing)
    site_hosts: tuple[str, ...] = ("127.0.0.1:8000", "localhost:8000")
    journey_retention_days: int = 30
    # analytics: days a click rollup bucket is kept
    analytics_retention_days: int = 400
    # events (analytics.js -> Stitch)
    cors_origins: tuple[str, ...] = ()
    stitch_api_url: str = "https://api.stitchdata.com"
    stitch_timeout_seconds: int = 10
    # identify/alias links: "verified" (a user_hash or a server source) or "unverified"
    identity_trust: str = "verified"
    # API keys: seconds a key check may be served from memory (0 = revoke at once)
    api_key_cache_seconds: int = 0
    # write keys (Segment's Tracking API): the same, for a source's key and origins
    write_key_cache_seconds: int = 0
    # local stack
    local_status_file: str = ""
    log_json: bool = True
    _secret_loader: SecretLoader | None = field(default=None, repr=False, compare=False)
    _secret_cache: dict[str, Secret] = field(default_factory=dict, repr=False, compare=False)
    _secret_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def is_local(self) -> bool:
        return self.stage == LOCAL_STAGE

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], secret_loader: SecretLoader | None = None
    ) -> Settings:
        stage = env.get("STAGE", LOCAL_STAGE)
        if stage != LOCAL_STAGE and env.get("AWS_ENDPOINT_URL"):
            raise ConfigError("AWS_ENDPOINT_URL is only allowed on the local stage")
        return cls(
            stage=stage,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            links_table=env.get("LINKS_TABLE", ""),
            links_stream_arn=env.get("LINKS_STREAM_ARN", ""),
            app_table=env.get("APP_TABLE", ""),
            app_stream_arn=env.get("APP_STREAM_ARN", ""),
            analytics_table=env.get("ANALYTICS_TABLE", ""),
            click_events=_choice(env, "CLICK_EVENTS", ("on", "off")) == "on",
            redirect_bucket=env.get("REDIRECT_BUCKET", ""),
            redirect_website_host=env.get("REDIRECT_WEBSITE_HOST", ""),
            campaign_queue=env.get("CAMPAIGN_QUEUE", ""),
            campaign_queue_url=env.get("CAMPAIGN_QUEUE_URL", ""),
            campaign_dlq_url=env.get("CAMPAIGN_DLQ_URL", ""),
            events_queue=env.get("EVENTS_QUEUE", ""),
            events_queue_url=env.get("EVENTS_QUEUE_URL", ""),
            events_dlq_url=env.get("EVENTS_DLQ_URL", ""),
            notify_queue=env.get("NOTIFY_QUEUE", ""),
            notify_queue_url=env.get("NOTIFY_QUEUE_URL", ""),
            notify_dlq_url=env.get("NOTIFY_DLQ_URL", ""),
            ssm_prefix=env.get("SSM_PREFIX", ""),
            short_base_url=env.get("SHORT_BASE_URL", cls.short_base_url).rstrip("/"),
            public_base_url=env.get("PUBLIC_BASE_URL", cls.public_base_url).rstrip("/"),
            allowed_destination_hosts=_csv(env.get("ALLOWED_DESTINATION_HOSTS", "")),
            max_link_lifetime_seconds=_int(
                env, "MAX_LINK_LIFETIME_SECONDS", cls.max_link_lifetime_seconds
            ),
            vonage_application_id=env.get("VONAGE_APPLICATION_ID", ""),
            vonage_from=env.get("VONAGE_FROM", cls.vonage_from),
            vonage_api_host=env.get("VONAGE_API_HOST", ""),
            vonage_ca_bundle=env.get("VONAGE_CA_BUNDLE", ""),
            sms_allowed_countries=tuple(
                c.upper() for c in _csv(env.get("SMS_ALLOWED_COUNTRIES", ""))
            ),
            sms_daily_quota=_int(env, "SMS_DAILY_QUOTA", cls.sms_daily_quota),
            site_hosts=_csv(env.get("SITE_HOSTS", "")) or cls.site_hosts,
            journey_retention_days=_int(env, "JOURNEY_RETENTION_DAYS", cls.journey_retention_days),
            analytics_retention_days=_int(
                env, "ANALYTICS_RETENTION_DAYS", cls.analytics_retention_days
            ),
            cors_origins=_csv(env.get("CORS_ORIGINS", "")),
            stitch_api_url=env.get("STITCH_API_URL", cls.stitch_api_url).rstrip("/"),
            stitch_timeout_seconds=_int(env, "STITCH_TIMEOUT_SECONDS", cls.stitch_timeout_seconds),
            identity_trust=_choice(env, "IDENTITY_TRUST", ("verified", "unverified")),
            api_key_cache_seconds=_int(
                env, "API_KEY_CACHE_SECONDS", 0 if stage == LOCAL_STAGE else 30
            ),
            write_key_cache_seconds=_int(
                env, "WRITE_KEY_CACHE_SECONDS", 0 if stage == LOCAL_STAGE else 30
            ),
            local_status_file=env.get("LOCAL_STATUS_FILE", ""),
            log_json=_bool(env, "LOG_JSON", True),
            _secret_loader=secret_loader,
        )

    def secret(self, name: str) -> Secret:
        """A secret by name: SSM `{ssm_prefix}{name}` in AWS, an env var locally.

        Read once per process and cached; a missing secret is an empty Secret, so a
        feature can tell "not configured" apart from a value.
        """
        with self._secret_lock:
            cached = self._secret_cache.get(name)
            if cached is not None:
                return cached
            loader = self._secret_loader or _default_secret_loader(self)
            value = Secret(loader(name))
            self._secret_cache[name] = value
            return value


def _default_secret_loader(settings: Settings) -> SecretLoader:
    if settings.is_local:
        return lambda name: os.environ.get(LOCAL_SECRET_ENV.get(name, name.upper()), "")

    def from_ssm(name: str) -> str:
        from chalicelib.core import aws

        try:
            answer = aws.client("ssm").get_parameter(
                Name=f"{settings.ssm_prefix}{name}", WithDecryption=True
            )
        except aws.client("ssm").exceptions.ParameterNotFound:
            return ""
        return str(answer["Parameter"]["Value"])

    return from_ssm


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from os.environ on first use."""
    return Settings.from_env(os.environ)


def reset_settings() -> None:
    """Forget cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()


_PLACEHOLDER_STREAM = "arn:aws:dynamodb:us-east-1:000000000000:table/unset/stream/unset"


def links_stream_arn() -> str:
    """The links stream two blueprints read. Decorator arguments are read when app.py is
    imported (Chalice needs the ARN at deploy time); tests and `chalice local` get a safe
    placeholder."""
    return os.environ.get("LINKS_STREAM_ARN") or _PLACEHOLDER_STREAM
