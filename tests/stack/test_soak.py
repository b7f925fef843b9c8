"""The soak's short version: a minute of concurrent load on its own local stack while
Stitch and Vonage fail, the app server and the pumps are SIGKILLed and restarted, and
DynamoDB throttles; then every invariant must hold, and every fault must really have been
injected (a soak whose faults never fired proves nothing). `make soak` runs five minutes."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from local.soak.run import Plan, run

# Its own stack and worker group, so it runs beside the shared stack's tests.
pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("soak")]

DURATION = float(os.environ.get("LINKTRAIL_SOAK_SECONDS", "60"))


def test_nothing_is_lost_or_doubled_while_everything_fails(tmp_path: Path, capsys: Any) -> None:
    log = io.StringIO()
    outcome = run(Plan(duration=DURATION, seed=20261204), tmp_path / "stack", log)
    with capsys.disabled():
        print("\n" + log.getvalue() + outcome.table)

    failed = [f"{check.name}: {check.failure}" for check in outcome.checks if check.failure]
    assert not failed, "\n".join(failed) + "\n" + outcome.table

    injected, ledger = outcome.injected, outcome.ledger
    assert set(injected.restart_seconds) == {"app", "pumps"}
    assert injected.dynamodb_throttles > 0
    assert {"500", "503", "timeout"} <= set(injected.stitch), injected.stitch
    assert {"500", "429"} <= set(injected.vonage), injected.vonage
    assert {"204", "503"} <= set(injected.webhooks), injected.webhooks
    assert injected.stitch_records_stored >= len(ledger.events)

    answered = {route: len(values) for route, values in ledger.latencies.items()}
    for route in ("GET /{code}", "POST /events",
                  "POST /v1/batch", "POST /ping", "POST /api/links", "POST /api/campaigns"):
        assert answered.get(route, 0) > 0, (route, answered)
    assert ledger.events and ledger.pings and ledger.recipients and ledger.campaigns
    assert ledger.hooked
    assert sum(ledger.ended_clicks.values()) > 0  # links ended while the clicks went on
    assert {who for (_, who), n in ledger.clicks.items() if n} == {"human", "bot"}
