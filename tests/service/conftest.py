"""Fixtures several service tests share: the campaign clock, the Vonage configuration
campaigns need, and the local Stitch sink with the app pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import pytest

from chalicelib import wiring
from chalicelib.campaigns.service import CampaignService
from chalicelib.messaging.texting import Texting
from chalicelib.messaging.vonage import VonageSender
from chalicelib.tracking import stitch
from local import stitch_sink
from local.stack import emulator_alone
from tests.support.clock import FakeClock
from tests.support.paths import ROOT
from tests.support.tracking import IDENTITY_SECRET, TOKEN


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """One frozen instant for moto's SQS and for the app's campaigns and messaging modules
    (quota days, Retry-After, stall limits), moved forward by the test."""
    frozen = FakeClock(datetime.now(UTC).replace(microsecond=0))
    monkeypatch.setattr("moto.sqs.models.unix_time_millis", frozen.sqs_ms)
    texting, campaigns = services_on(frozen)
    monkeypatch.setattr(wiring, "texting", texting)
    monkeypatch.setattr(wiring, "campaigns", campaigns)
    return frozen


def services_on(
    clock: FakeClock,
) -> tuple[Callable[[], Texting], Callable[[], CampaignService]]:
    """wiring.texting and wiring.campaigns, building the services on `clock`. Cached the way
    wiring caches its own; wiring.reset() (set_env) clears them too, so they are rebuilt with
    the new settings."""

    @lru_cache(maxsize=1)
    def texting() -> Texting:
        settings = wiring.settings()
        return Texting(wiring.dynamodb(), settings, VonageSender(settings), clock=clock)

    @lru_cache(maxsize=1)
    def campaigns() -> CampaignService:
        return CampaignService(
            wiring.links(), wiring.dynamodb(), wiring.sqs(), texting(), clock=clock
        )

    return texting, campaigns


@pytest.fixture
def emulator() -> Iterator[str]:
    """The emulator server alone, as the stack starts it, on a free port: its endpoint."""
    with emulator_alone(ROOT) as endpoint:
        yield endpoint


@pytest.fixture
def vonage_app(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Enough configuration for POST /api/campaigns' validation (sends go to fakes)."""
    monkeypatch.setenv("VONAGE_APPLICATION_ID", "campaign-app")
    wiring.reset()


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[stitch_sink.Sink]:
    server = stitch_sink.serve(0, token=TOKEN, db=tmp_path / "warehouse.sqlite3", quiet=True,
                               timeout_seconds=1.5)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def app_env(aws: dict[str, str], sink: stitch_sink.Sink,
            monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The app pointed at the sink (local stage: the token comes from STITCH_TOKEN)."""
    monkeypatch.setenv("STITCH_API_URL", sink.url)
    monkeypatch.setenv("STITCH_TOKEN", TOKEN)
    monkeypatch.setenv("STITCH_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("IDENTITY_SECRET", IDENTITY_SECRET)
    wiring.reset()
    assert wiring.settings().is_local
    return aws


@pytest.fixture
def webhook_env(aws: dict[str, str], sink: stitch_sink.Sink,
                monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The app configured with a webhook URL only (no Import API token)."""
    monkeypatch.setenv("STITCH_TOKEN", "")
    monkeypatch.setenv("STITCH_WEBHOOK_URL", sink.webhook_url)
    monkeypatch.setenv("STITCH_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("IDENTITY_SECRET", IDENTITY_SECRET)
    wiring.reset()
    assert isinstance(stitch.destination(wiring.settings()), stitch.Webhook)
    return aws
