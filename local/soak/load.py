"""The soak's clients: each a thread that loops until the run stops, paced at random (from
the run's seed) so that every kind of request overlaps every fault."""

from __future__ import annotations

import base64
import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.launch import LocalStack
from local.soak.client import Client
from local.soak.ledger import Ledger

PERSON = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
PREVIEW_BOT = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
DESKTOP = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
TEXTED_SHARE = 0.25  # of the links created one by one
HOOKED_SHARE = 0.3  # of the links not texted: a link.clicked webhook per human click
EXPIRING_SHARE = 0.25  # of the other links: a ttl of TTL_SECONDS, retired mid-run
SPENDABLE_SHARE = 0.15  # of the other links: max_clicks of 1-3 human clicks
TTL_SECONDS = (5, 30)
HUMAN_SHARE = 0.7  # of the clicks


@dataclass(frozen=True)
class Workers:
    """How many threads of each kind."""

    links: int = 2
    campaigns: int = 1
    clicks: int = 4
    events: int = 2
    segment: int = 1
    pings: int = 3


class Load:
    def __init__(
        self, stack: LocalStack, ledger: Ledger, seed: int, stop: threading.Event,
        max_requests: int, webhook_url: str,
    ) -> None:
        self.stack, self.ledger, self.stop = stack, ledger, stop
        self.webhook_url = webhook_url
        self.client = Client(ledger)
        self.seed, self.max_requests = seed, max_requests
        self.admin = {"Authorization": f"Bearer {stack.admin_key}",
                      "Content-Type": "application/json"}

    def threads(self, workers: Workers) -> list[threading.Thread]:
        kinds: list[tuple[Callable[[int], None], int]] = [
            (self.create_links, workers.links), (self.start_campaigns, workers.campaigns),
            (self.click, workers.clicks), (self.post_events, workers.events),
            (self.post_segment_batches, workers.segment), (self.ping, workers.pings),
        ]
        return [threading.Thread(target=work, args=(n,), daemon=True,
                                 name=f"soak-{work.__name__}-{n}")
                for work, count in kinds for n in range(count)]

    def _going(self) -> bool:
        if self.ledger.sent >= self.max_requests:
            self.stop.set()
        return not self.stop.is_set()

    def _rng(self, kind: int, worker: int) -> random.Random:
        return random.Random(self.seed * 1000 + kind * 100 + worker)

    # --- links and texts ----------------------------------------------------------------

    def create_links(self, worker: int) -> None:
        """Links, a quarter of them texted to a recipient of their own (under a code of the
        client's choosing), some of the others with a click webhook, some that expire or
        are used up while the clicks go on. Each is sent with an
        Idempotency-Key, so a retry after a lost answer gets the first attempt's link (a 409
        while that attempt is still storing it: retried), never a second link or text."""
        rng = self._rng(1, worker)
        n = 0
        while self._going():
            n += 1
            body: dict[str, Any] = {"url": f"https://example.com/soak/{worker}/{n}"}
            number = None
            if rng.random() < TEXTED_SHARE:
                number = f"+4474{worker:02d}{n:06d}"
                body["code"] = f"soak-{worker}-{n}"
                body["sms"] = {"to": number, "text": "Your soak link: {link}"}
            elif rng.random() < HOOKED_SHARE:
                body["webhook_url"] = self.webhook_url
            elif rng.random() < EXPIRING_SHARE:
                body["ttl"] = rng.randint(*TTL_SECONDS)
            elif rng.random() < SPENDABLE_SHARE:
                body["max_clicks"] = rng.randint(1, 3)
            headers = {**self.admin, "Idempotency-Key": f"soak-link-{worker}-{n}"}
            answer, _ = self.client.send(
                "POST /api/links", "POST", f"{self.stack.app_url}/api/links", headers,
                json.dumps(body).encode(), (201,), again=(409, 429),
            )
            if answer is not None:
                code = str(json.loads(answer.body)["code"])
                with self.ledger.lock:
                    self.ledger.links.append(code)
                    if number:
                        self.ledger.recipients[code] = number
                    if "webhook_url" in body:
                        self.ledger.hooked.add(code)
            self.stop.wait(rng.uniform(0.3, 0.8))

    def start_campaigns(self, worker: int) -> None:
        """Campaigns of 3-6 recipients each, none shared, each under an Idempotency-Key: a
        retry after a lost answer gets the first campaign, and nobody a second text. Each
        campaign's links join the clicked ones once its chunks have made them."""
        rng = self._rng(2, worker)
        started: list[str] = []
        n = 0
        while self._going():
            n += 1
            recipients = [{"to": f"+4475{worker:02d}{n:04d}{r:02d}", "ref": f"r{r}"}
                          for r in range(rng.randint(3, 6))]
            body = {"name": f"Soak {worker}-{n}", "url": f"https://example.com/camp/{n}",
                    "text": "Soak campaign: {link}", "recipients": recipients}
            headers = {**self.admin, "Idempotency-Key": f"soak-campaign-{worker}-{n}"}
            answer, _ = self.client.send(
                "POST /api/campaigns", "POST", f"{self.stack.app_url}/api/campaigns",
                headers, json.dumps(body).encode(), (202,),
            )
            if answer is not None:
                campaign_id = str(json.loads(answer.body)["campaign_id"])
                with self.ledger.lock:
                    self.ledger.campaigns[campaign_id] = len(recipients)
                started.append(campaign_id)
            if len(started) > 1:
                self._learn_links(started.pop(0))
            self.stop.wait(rng.uniform(3.0, 6.0))

    def _learn_links(self, campaign_id: str) -> None:
        answer, _ = self.client.send(
            "GET /api/links", "GET",
            f"{self.stack.app_url}/api/links?campaign_id={campaign_id}&limit=100", self.admin,
        )
        if answer is not None:
            codes = [str(link["code"]) for link in json.loads(answer.body)["links"]]
            with self.ledger.lock:
                self.ledger.links.extend(code for code in codes if code not in self.ledger.links)

    # --- clicks -------------------------------------------------------------------------

    def click(self, worker: int) -> None:
        """A person or a preview bot opens a known link on the short domain (the redirect
        is not followed). An attempt without an answer, or a 5xx, may have counted; a 410
        (the link has ended) counts nothing."""
        rng = self._rng(3, worker)
        while self._going():
            links = self.ledger.known_links()
            if links:
                code = rng.choice(links)
                who = "human" if rng.random() < HUMAN_SHARE else "bot"
                agent = PERSON if who == "human" else PREVIEW_BOT
                answer, doubtful = self.client.send(
                    "GET /{code}", "GET", f"{self.stack.short_url}/{code}",
                    {"User-Agent": agent}, ok=(301, 302, 410),
                )
                with self.ledger.lock:
                    if answer is not None and answer.status == 410:
                        self.ledger.ended_clicks[code] += 1
                    elif answer is not None:
                        self.ledger.clicks[(code, who)] += 1
                    self.ledger.clicks_unsure[(code, who)] += doubtful
            self.stop.wait(rng.uniform(0.02, 0.1))

    # --- events -------------------------------------------------------------------------

    def post_events(self, worker: int) -> None:
        """analytics.js's batches to /events (text/plain, as the browser's beacon)."""
        rng = self._rng(4, worker)
        n = 0
        while self._going():
            batch = []
            for _ in range(rng.randint(1, 5)):
                n += 1
                batch.append({"type": "track", "event": "Soak Event",
                              "anonymousId": f"soak-anon-{worker}-{n % 7}",
                              "messageId": f"soak-ev-{worker}-{n}", "properties": {"n": n}})
            self._post_batch("POST /events", "/events",
                             {"Content-Type": "text/plain", "User-Agent": DESKTOP}, batch)
            self.stop.wait(rng.uniform(0.1, 0.4))

    def post_segment_batches(self, worker: int) -> None:
        """Segment's batch API with the stack's write key (HTTP Basic, as its libraries)."""
        rng = self._rng(5, worker)
        basic = base64.b64encode(f"{self.stack.write_key}:".encode()).decode()
        headers = {"Authorization": f"Basic {basic}", "Content-Type": "application/json"}
        n = 0
        while self._going():
            batch = []
            for _ in range(rng.randint(1, 10)):
                n += 1
                batch.append({"type": "track", "event": "Soak Segment",
                              "userId": f"soak-user-{worker}-{n % 5}",
                              "messageId": f"soak-sg-{worker}-{n}", "properties": {"n": n}})
            self._post_batch("POST /v1/batch", "/v1/batch", headers, batch)
            self.stop.wait(rng.uniform(0.2, 0.6))

    def _post_batch(self, route: str, path: str, headers: dict[str, str],
                    batch: list[dict[str, Any]]) -> None:
        """A batch, sent again with the same messageIds until accepted: the stack must keep
        each event once however often it is sent."""
        ids = {str(event["messageId"]) for event in batch}
        with self.ledger.lock:
            self.ledger.events_unsure |= ids
        answer, _ = self.client.send(route, "POST", f"{self.stack.app_url}{path}", headers,
                                     json.dumps({"batch": batch}).encode(), (200, 202))
        if answer is not None:
            with self.ledger.lock:
                self.ledger.events |= ids

    # --- pings --------------------------------------------------------------------------

    def ping(self, worker: int) -> None:
        """A visitor of its own (its own user agent) following links page to page. A ping
        is fire-and-forget, as in the browser: never sent again."""
        rng = self._rng(6, worker)
        agent = DESKTOP.replace("Chrome/126", f"Chrome/{100 + worker}")
        n = 0
        while self._going():
            n += 1
            page = f"/soak-{worker}-{n}"
            with self.ledger.lock:
                self.ledger.pings_unsure.add(page)
            headers = {"Content-Type": "text/ping", "User-Agent": agent,
                       "Ping-To": f"{self.stack.app_url}{page}",
                       "Ping-From": f"{self.stack.app_url}/soak-{worker}-{n - 1}"}
            answer = self.client.once("POST /ping", "POST", f"{self.stack.app_url}/ping",
                                      headers, b"PING")
            if answer is not None and answer.status == 204:
                with self.ledger.lock:
                    self.ledger.pings.add(page)
            elif answer is not None:
                self.ledger.failed("POST /ping", str(answer.status))
            self.stop.wait(rng.uniform(0.2, 0.6))
