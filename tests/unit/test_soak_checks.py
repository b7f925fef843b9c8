"""The soak's checks catch what they are there to catch: a lost or doubled click, event,
ping or text fails its check, and an answer that never came allows exactly its doubt."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import Counter
from typing import Any

from local.soak import invariants
from local.soak.ledger import Ledger
from local.soak.receiver import Receiver
from local.soak.report import percentile


def _link(code: str, human: int = 0, bot: int = 0, **extra: Any) -> dict[str, Any]:
    return {"code": code, "clicks": {"human": human, "bot": bot}, **extra}


def test_clicks_hold_within_the_doubt_of_unanswered_requests() -> None:
    ledger = Ledger()
    ledger.clicks[("a", "human")] = 3
    ledger.clicks_unsure[("a", "human")] = 1
    ledger.clicks[("a", "bot")] = 2
    assert invariants._clicks(ledger, {"a": _link("a", human=4, bot=2)}).failure is None
    assert invariants._clicks(ledger, {"a": _link("a", human=3, bot=2)}).failure is None


def test_a_lost_or_doubled_click_fails() -> None:
    ledger = Ledger()
    ledger.clicks[("a", "human")] = 3
    ledger.clicks[("a", "bot")] = 2
    lost = invariants._clicks(ledger, {"a": _link("a", human=2, bot=2)})
    doubled = invariants._clicks(ledger, {"a": _link("a", human=3, bot=3)})
    assert lost.failure and "a human: 2 counted, 3 answered" in lost.failure
    assert doubled.failure and "a bot: 3 counted, 2 answered" in doubled.failure


def test_events_missing_doubled_or_never_sent_fail() -> None:
    ledger = Ledger()
    ledger.events = {"soak-ev-0-1", "soak-ev-0-2"}
    ledger.events_unsure = {"soak-ev-0-1", "soak-ev-0-2", "soak-ev-0-3"}
    held = invariants._events(ledger, Counter({"soak-ev-0-1": 1, "soak-ev-0-2": 1,
                                               "soak-ev-0-3": 1, "click-a-1": 1}))
    assert held.failure is None
    assert held.figure.startswith("2 accepted, 3 in the warehouse")

    broken = invariants._events(ledger, Counter({"soak-ev-0-1": 2, "soak-ev-9-9": 1}))
    assert broken.failure is not None
    assert "accepted but not in the warehouse: ['soak-ev-0-2']" in broken.failure
    assert "more than once: ['soak-ev-0-1']" in broken.failure
    assert "never sent: ['soak-ev-9-9']" in broken.failure


def test_each_counted_click_is_one_warehouse_row() -> None:
    links = {"soak-0-1": _link("soak-0-1", human=2, bot=1), "b": _link("b", human=1)}
    rows = Counter({"click-soak-0-1-1": 1, "click-soak-0-1-2": 1, "click-soak-0-1-3": 1,
                    "click-b-1": 1, "soak-ev-0-1": 1})
    assert invariants._clicks_forwarded(links, rows).failure is None

    rows["click-b-2"] = 1
    rows["click-gone-1"] = 1
    failure = invariants._clicks_forwarded(links, rows).failure
    assert failure and "b: 2 rows, 1 counted" in failure and "['gone']" in failure


def test_a_recipient_texted_twice_or_given_two_links_fails() -> None:
    ledger = Ledger()
    ledger.recipients = {"soak-0-1": "+447700900001", "soak-0-2": "+447700900001"}
    delivered = {"message": {"status": "delivered"}}
    links = {code: _link(code, **delivered) for code in ledger.recipients}
    outbox = [{"client_ref": "soak-0-1"}, {"client_ref": "soak-0-1"}]
    failure = invariants._texts(ledger, links, {}, outbox).failure
    assert failure and "texted more than once" in failure and "more than one link" in failure

    ledger.recipients = {"soak-0-1": "+447700900001"}
    one = {"soak-0-1": links["soak-0-1"]}
    assert invariants._texts(ledger, one, {}, outbox[:1]).failure is None
    undelivered = {"soak-0-1": _link("soak-0-1", message={"status": "accepted"})}
    failure = invariants._texts(ledger, undelivered, {}, outbox[:1]).failure
    assert failure and "without their receipt applied" in failure


def test_every_accepted_ping_is_one_hop() -> None:
    ledger = Ledger()
    ledger.pings = {"/soak-1"}
    ledger.pings_unsure = {"/soak-1", "/soak-2"}
    assert invariants._pings(ledger, Counter({"/soak-1": 1, "/soak-2": 1})).failure is None
    failure = invariants._pings(ledger, Counter({"/soak-2": 2, "/soak-3": 1})).failure
    assert failure and "without a hop" in failure and "more than one hop" in failure
    assert "nobody pinged: ['/soak-3']" in failure


def test_dead_letters_fail_and_are_counted() -> None:
    depths = {"EVENTS_QUEUE_URL": 4, "EVENTS_DLQ_URL": 0, "TEXTS_DLQ_URL": 2}
    check = invariants._dead_letters(depths)
    assert check.failure == "dead letters: {'TEXTS_DLQ_URL': 2}"
    assert check.figure == "2 in 2 (events, texts)"


def test_percentiles_of_latencies() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) == 51.0
    assert percentile(values, 0.99) == 100.0
    assert percentile([], 0.99) == 0.0


def test_rollups_must_match_the_counters_per_link_and_for_the_site() -> None:
    links = {"a": _link("a", human=3, bot=1), "b": _link("b", human=2)}
    held = invariants._analytics(links, {"a": (3, 1), "b": (2, 0)}, (5, 1))
    assert held.failure is None and held.figure == "site: people 5, bots 1; 2 of 2 links exact"

    broken = invariants._analytics(links, {"a": (4, 1)}, (6, 1))
    assert broken.failure is not None
    assert "a: (4, 1) rolled up, (3, 1) counted" in broken.failure
    assert "b: None rolled up, (2, 0) counted" in broken.failure
    assert "the site's rollup says (6, 1), the counters (5, 1)" in broken.failure


def _signed(secret: str, event: dict[str, Any]) -> tuple[str, bytes]:
    body = json.dumps(event).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    return f"t={stamp},v1={digest.hexdigest()}", body


def test_each_human_click_on_a_hooked_link_is_one_webhook_received() -> None:
    receiver = Receiver("whsec_test", seed=1)
    try:
        receiver.random.random = lambda: 1.0  # type: ignore[method-assign]  # never refuse
        ledger = Ledger()
        ledger.hooked = {"h"}
        links = {"h": _link("h", human=2, bot=5), "plain": _link("plain", human=1)}
        for serial in (3, 7, 7):  # the second 7 is a redelivery
            header, body = _signed("whsec_test", {"id": f"evt_h_{serial}",
                                                  "data": {"code": "h"}})
            assert receiver.take(header, body) == 204
        held = invariants._webhooks(ledger, links, receiver)
        assert held.failure is None, held.failure
        assert "2 clicks received" in held.figure and "(1 repeats)" in held.figure

        header, body = _signed("wrong-secret", {"id": "evt_h_9", "data": {"code": "h"}})
        assert receiver.take(header, body) == 401
        links["h"] = _link("h", human=3)
        failure = invariants._webhooks(ledger, links, receiver).failure
        assert failure and "h: 2 received, 3 human clicks" in failure
        assert "1 POST(s) with a bad signature" in failure
    finally:
        receiver.server_close()


def _shown(code: str, status: str = "active", human: int = 0, **extra: Any) -> dict[str, Any]:
    return _link(code, human=human, **{"status": status, "ended_at": None,
                                       "ended_reason": None, **extra})


def test_live_links_have_their_objects_and_ended_ones_none() -> None:
    ledger = Ledger()
    ledger.links = ["live", "gone"]
    links = {"live": _shown("live"),
             "gone": _shown("gone", "expired", ended_at="2026-12-04T10:00:00+00:00")}
    held = invariants._redirects(ledger, links, {"live"})
    assert held.failure is None
    assert held.figure.startswith("1 live links, 1 redirects, 1 ended without one")

    failure = invariants._redirects(ledger, links, {"gone", "stray"}).failure
    assert failure is not None
    assert "live links without their S3 object: ['live']" in failure
    assert "ended links still redirecting in S3: ['gone']" in failure
    assert "S3 objects without their link: ['gone', 'stray']" not in failure
    assert "S3 objects without their link: ['stray']" in failure


def test_links_must_end_on_time_and_when_used_up() -> None:
    ledger = Ledger()
    ledger.ended_clicks["spent"] = 4
    past = "2026-01-01T00:00:00+00:00"
    ended = {"ended_at": past}
    links = {
        "timed": _link("timed", status="expired", expires_at=past, ended_reason="expires_at",
                       **ended),
        "spent": _link("spent", human=2, status="expired", max_clicks=2,
                       ended_reason="max_clicks", **ended),
        "open": _shown("open", max_clicks=3, human=1),
    }
    held = invariants._endings(ledger, links)
    assert held.failure is None
    assert held.figure == "expires_at 1, max_clicks 1 ended; 4 clicks after an end answered 410"

    links["late"] = _shown("late", expires_at=past)
    links["over"] = _shown("over", max_clicks=1, human=2)
    failure = invariants._endings(ledger, links).failure
    assert failure is not None
    assert "links counted past their max_clicks: ['over: 2 of 1']" in failure
    assert "links due to end but not retired: ['late', 'over']" in failure
