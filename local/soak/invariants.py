"""After the load: let the stack settle, then prove nothing was lost or doubled.

Settling is what a person and the platform do once the faults stop: the queues and
streams drain, every campaign finishes, texts Vonage refused are sent again (POST
/api/links/{code}/resend, as the API says to), and the fake's signed receipts arrive.
Each check compares what the stack holds (through its API, its bucket, its table and the
warehouse) with what the clients were told (the ledger)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from local.launch import LocalStack
from local.soak.client import Client
from local.soak.ledger import Ledger
from local.soak.receiver import Receiver

RESENDABLE = ("send_failed", "throttled")
SOON_SECONDS = 120  # a link expiring this soon after the load is waited for
RESEND_ROUNDS = 4
CAMPAIGN_DONE = ("done", "cancelled")


@dataclass(frozen=True)
class Check:
    name: str
    figure: str
    failure: str | None = None


class Stackside:
    """The stack as the checks read it."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.client = Client(Ledger())  # the checks' own requests stay out of the table
        self.admin = {"Authorization": f"Bearer {stack.admin_key}",
                      "Content-Type": "application/json"}

    def api(self, path: str, method: str = "GET", ok: tuple[int, ...] = (200,)) -> Any:
        answer, _ = self.client.send(f"{method} {path}", method,
                                     f"{self.stack.app_url}{path}", self.admin, ok=ok)
        if answer is None:
            raise RuntimeError(f"{method} {path} did not answer {ok}")
        return json.loads(answer.body) if answer.body else None

    def pages(self, path: str, name: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        joiner = "&" if "?" in path else "?"
        while True:
            suffix = f"{joiner}limit=100" + (f"&cursor={quote(cursor)}" if cursor else "")
            page = self.api(path + suffix)
            found.extend(page[name])
            cursor = page.get("next_cursor")
            if not cursor:
                return found

    def links(self) -> dict[str, dict[str, Any]]:
        return {str(link["code"]): link for link in self.pages("/api/links", "links")}

    def campaigns(self) -> dict[str, dict[str, Any]]:
        rows = self.pages("/api/campaigns", "campaigns")
        return {str(row["campaign_id"]): self.api(f"/api/campaigns/{row['campaign_id']}")
                for row in rows}

    def rolled_up(self, code: str | None = None) -> tuple[int, int]:
        """(people, bots) of the last day in GET /api/analytics: the site's, or a link's."""
        query = "groupBy=count&interval=24h&visitor=all" + (f"&code={quote(code)}" if code else "")
        counts = self.api(f"/api/analytics?{query}")["data"]
        return int(counts["humans"]), int(counts["bots"])

    def queue_depths(self) -> dict[str, int]:
        """Messages (visible and in flight) of every work queue and dead-letter queue."""
        sqs = self.stack.boto3_client("sqs")
        urls = {name: url for name, url in self.stack.env.items()
                if name.endswith(("_QUEUE_URL", "_DLQ_URL"))}
        failures = self.stack.env.get("STREAM_FAILURE_QUEUE_ARN")
        if failures:
            urls["STREAM_FAILURE_DLQ_URL"] = sqs.get_queue_url(
                QueueName=failures.rsplit(":", 1)[1])["QueueUrl"]
        depths = {}
        for name, url in urls.items():
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                              "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            depths[name] = sum(int(value) for value in attributes.values())
        return depths

    def pumps_delivered(self) -> int:
        with_status = self.client.once("GET /__health", "GET",
                                       f"{self.stack.url('pumps')}/__health", {})
        if with_status is None:
            return -1
        status = json.loads(with_status.body)
        loops = [*status["streams"].values(), *status["queues"].values()]
        return sum(int(loop["delivered"]) for loop in loops)

    def redirects(self) -> set[str]:
        s3 = self.stack.boto3_client("s3")
        bucket = self.stack.env["REDIRECT_BUCKET"]
        keys = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                head = s3.head_object(Bucket=bucket, Key=item["Key"])
                if head.get("WebsiteRedirectLocation"):
                    keys.add(str(item["Key"]))
        return keys

    def hops(self) -> Counter[str]:
        """Hops by page, of the soak's pages."""
        dynamodb = self.stack.boto3_client("dynamodb")
        found: Counter[str] = Counter()
        for page in dynamodb.get_paginator("scan").paginate(TableName=self.stack.env["APP_TABLE"]):
            for item in page["Items"]:
                to_page = item.get("to_page", {}).get("S", "")
                if item["pk"]["S"].startswith("hop#") and to_page.startswith("/soak-"):
                    found[to_page] += 1
        return found

    def warehouse(self) -> Counter[str]:
        """Rows per messageId: the soak's events and the clicks the stack forwarded."""
        db = Path(self.stack.env["STITCH_SINK_DB"])
        if not db.exists():
            return Counter()
        connection = sqlite3.connect(db, timeout=10)
        try:
            rows = connection.execute(
                "SELECT message_id, count(*) FROM events GROUP BY message_id"
            ).fetchall()
        except sqlite3.OperationalError:
            return Counter()
        finally:
            connection.close()
        return Counter({str(message_id): int(count) for message_id, count in rows})

    def outbox(self) -> list[dict[str, Any]]:
        answer = self.client.once("GET /outbox", "GET", f"{self.stack.url('vonage')}/outbox", {})
        if answer is None:
            raise RuntimeError("the Vonage fake did not answer /outbox")
        return list(json.loads(answer.body)["messages"])


# --- settling ---------------------------------------------------------------------------


def drain(side: Stackside, deadline: float) -> bool:
    """Until the work queues are empty, every campaign is finished and the pumps delivered
    nothing new, three checks in a row a second apart."""
    quiet, last = 0, -2
    while time.monotonic() < deadline:
        depths = side.queue_depths()
        busy = sum(v for k, v in depths.items() if k.endswith("_QUEUE_URL"))
        delivered = side.pumps_delivered()
        unfinished = [c for c, stats in side.campaigns().items()
                      if stats["status"] not in CAMPAIGN_DONE]
        quiet = quiet + 1 if busy == 0 and delivered == last and not unfinished else 0
        last = delivered
        if quiet >= 3:
            return True
        time.sleep(1)
    return False


def _expires_at(link: dict[str, Any]) -> float | None:
    value = link.get("expires_at")
    return datetime.fromisoformat(value).timestamp() if value else None


def _due_to_end(link: dict[str, Any], now: float) -> bool:
    """Expired by its time, or used up by its max_clicks."""
    expires_at = _expires_at(link)
    spent = link.get("max_clicks") is not None and (
        int(link["clicks"]["human"]) >= int(link["max_clicks"]))
    return spent or (expires_at is not None and expires_at <= now)


def await_endings(side: Stackside, deadline: float) -> None:
    """Until the links that expire soon have expired, and every link due to end (expired,
    used up) is retired: a tombstone, its object gone."""
    while time.monotonic() < deadline:
        now = time.time()
        links = side.links().values()
        soon = [link for link in links
                if (at := _expires_at(link)) is not None and now < at < now + SOON_SECONDS]
        unretired = [link for link in links if _due_to_end(link, now) and not link["ended_at"]]
        if not soon and not unretired:
            return
        time.sleep(1)


def resend_refused(side: Stackside, ledger: Ledger) -> None:
    """Every text Vonage refused (send_failed, throttled) is sent again, a few rounds."""
    for _ in range(RESEND_ROUNDS):
        refused = [code for code, link in side.links().items()
                   if (link.get("message") or {}).get("status") in RESENDABLE]
        if not refused:
            return
        for code in refused:
            ledger.resends[code] += 1
            side.client.send("POST /api/links/{code}/resend", "POST",
                             f"{side.stack.app_url}/api/links/{code}/resend", side.admin,
                             ok=(200, 409))
        time.sleep(2)


def await_receipts(side: Stackside, deadline: float) -> None:
    """Until every text Vonage accepted has its delivery receipt applied."""
    while time.monotonic() < deadline:
        waiting = [code for code, link in side.links().items()
                   if (link.get("message") or {}).get("status") in ("accepted", "submitted")]
        if not waiting:
            return
        time.sleep(1)


# --- the checks -------------------------------------------------------------------------


def check_all(side: Stackside, ledger: Ledger, receiver: Receiver) -> list[Check]:
    links = side.links()
    campaigns = side.campaigns()
    outbox = side.outbox()
    return [
        _clicks(ledger, links),
        _events(ledger, rows := side.warehouse()),
        _clicks_forwarded(links, rows),
        _analytics(links, {code: side.rolled_up(code) for code in links}, side.rolled_up()),
        _webhooks(ledger, links, receiver),
        _redirects(ledger, links, side.redirects()),
        _endings(ledger, links),
        _texts(ledger, links, campaigns, outbox),
        _campaigns(ledger, campaigns, links),
        _pings(ledger, side.hops()),
        _dead_letters(side.queue_depths()),
    ]


def _clicks(ledger: Ledger, links: dict[str, dict[str, Any]]) -> Check:
    wrong = []
    made: Counter[str] = Counter()
    counted: Counter[str] = Counter()
    doubt: Counter[str] = Counter()
    for code, link in links.items():
        for who in ("human", "bot"):
            acknowledged = ledger.clicks[(code, who)]
            unsure = ledger.clicks_unsure[(code, who)]
            stored = int(link["clicks"][who])
            made[who] += acknowledged
            counted[who] += stored
            doubt[who] += unsure
            if not acknowledged <= stored <= acknowledged + unsure:
                wrong.append(f"{code} {who}: {stored} counted, {acknowledged} answered"
                             f" (+{unsure} in doubt)")
    figure = (f"people {made['human']} answered / {counted['human']} counted, bots "
              f"{made['bot']} / {counted['bot']} ({doubt['human'] + doubt['bot']} in doubt)")
    failure = f"{len(wrong)} link(s) miscounted: {wrong[:5]}" if wrong else None
    return Check("clicks counted = clicks made", figure, failure)


def _events(ledger: Ledger, warehouse: Counter[str]) -> Check:
    rows = Counter({message_id: n for message_id, n in warehouse.items()
                    if message_id.startswith("soak-")})
    missing = sorted(ledger.events - set(rows))
    twice = sorted(message_id for message_id, n in rows.items() if n > 1)
    unsent = sorted(set(rows) - ledger.events_unsure)
    problems = []
    if missing:
        problems.append(f"{len(missing)} accepted but not in the warehouse: {missing[:5]}")
    if twice:
        problems.append(f"{len(twice)} in the warehouse more than once: {twice[:5]}")
    if unsent:
        problems.append(f"{len(unsent)} in the warehouse but never sent: {unsent[:5]}")
    in_doubt = len(ledger.events_unsure - ledger.events)
    figure = (f"{len(ledger.events)} accepted, {len(rows)} in the warehouse, "
              f"{sum(rows.values())} rows ({in_doubt} never acknowledged)")
    return Check("every accepted event once in the warehouse", figure,
                 "; ".join(problems) or None)


def _clicks_forwarded(links: dict[str, dict[str, Any]], warehouse: Counter[str]) -> Check:
    """Each counted click reaches the warehouse once, as a Link Clicked event whose
    messageId is click-{code}-{n}."""
    rows: Counter[str] = Counter()
    for message_id, n in warehouse.items():
        if message_id.startswith("click-"):
            rows[message_id.removeprefix("click-").rsplit("-", 1)[0]] += n
    counted = {code: int(link["clicks"]["human"]) + int(link["clicks"]["bot"])
               for code, link in links.items()}
    wrong = sorted(f"{code}: {rows[code]} rows, {n} counted" for code, n in counted.items()
                   if rows[code] != n)
    strays = sorted(set(rows) - set(counted))
    problems = []
    if wrong:
        problems.append(f"{len(wrong)} link(s) whose clicks reached the warehouse a different "
                        f"number of times: {wrong[:5]}")
    if strays:
        problems.append(f"click rows for links that do not exist: {strays[:5]}")
    figure = f"{sum(counted.values())} clicks counted, {sum(rows.values())} Link Clicked rows"
    return Check("every counted click once in the warehouse", figure,
                 "; ".join(problems) or None)


def _analytics(links: dict[str, dict[str, Any]], per_link: dict[str, tuple[int, int]],
               site: tuple[int, int]) -> Check:
    """The rollups GET /api/analytics reads agree with the links' own counters, link by link
    and for the whole site."""
    counted = {code: (int(link["clicks"]["human"]), int(link["clicks"]["bot"]))
               for code, link in links.items()}
    wrong = sorted(f"{code}: {per_link.get(code)} rolled up, {n} counted"
                   for code, n in counted.items() if per_link.get(code) != n)
    people = sum(n for n, _ in counted.values())
    bots = sum(n for _, n in counted.values())
    problems = []
    if wrong:
        problems.append(f"{len(wrong)} link(s) rolled up differently: {wrong[:5]}")
    if site != (people, bots):
        problems.append(f"the site's rollup says {site}, the counters ({people}, {bots})")
    figure = (f"site: people {site[0]}, bots {site[1]}; {len(counted) - len(wrong)} of "
              f"{len(counted)} links exact")
    return Check("analytics rollups = clicks counted", figure, "; ".join(problems) or None)


def _webhooks(ledger: Ledger, links: dict[str, dict[str, Any]], receiver: Receiver) -> Check:
    """Each human click on a link with a webhook reached its receiver, signed, under an id
    of its own (repeats are allowed: receivers deduplicate on the id)."""
    with receiver.lock:
        accepted = {code: set(ids) for code, ids in receiver.accepted.items()}
        answers, repeats = dict(receiver.answers), receiver.repeats
    problems = []
    wrong = sorted(f"{code}: {len(accepted.get(code, ()))} received, "
                   f"{links[code]['clicks']['human']} human clicks"
                   for code in ledger.hooked if code in links
                   and len(accepted.get(code, ())) != int(links[code]["clicks"]["human"]))
    if wrong:
        problems.append(f"{len(wrong)} link(s) whose webhooks were lost or doubled: {wrong[:5]}")
    if strays := sorted(set(accepted) - ledger.hooked):
        problems.append(f"webhooks for links created without one: {strays[:5]}")
    if failed := sorted(code for code in ledger.hooked if (links.get(code) or {}).get("webhook")):
        problems.append(f"links recording failed webhooks: {failed[:5]}")
    if answers.get("401 bad signature"):
        problems.append(f"{answers['401 bad signature']} POST(s) with a bad signature")
    received = sum(len(ids) for ids in accepted.values())
    figure = (f"{len(ledger.hooked)} links, {received} clicks received; receiver answered "
              + ", ".join(f"{status} {n}" for status, n in sorted(answers.items()))
              + f" ({repeats} repeats)")
    return Check("every human click on a hooked link one webhook", figure,
                 "; ".join(problems) or None)


def _redirects(ledger: Ledger, links: dict[str, dict[str, Any]], keys: set[str]) -> Check:
    """Every live link has its S3 object; every object is a live link's (an ended link's
    object is gone)."""
    live = {code for code, link in links.items() if link["status"] == "active"}
    problems = []
    if no_object := sorted(live - keys):
        problems.append(f"live links without their S3 object: {no_object[:5]}")
    if ended := sorted(keys & (set(links) - live)):
        problems.append(f"ended links still redirecting in S3: {ended[:5]}")
    if no_link := sorted(keys - set(links)):
        problems.append(f"S3 objects without their link: {no_link[:5]}")
    if lost := sorted(set(ledger.links) - set(links)):
        problems.append(f"links the clients were given that do not exist: {lost[:5]}")
    answered = set(ledger.links)
    unanswered = [code for code, link in links.items()
                  if code not in answered and not link.get("campaign_id")]
    figure = (f"{len(live)} live links, {len(keys)} redirects, {len(links) - len(live)} ended "
              f"without one ({len(unanswered)} made by a request whose answer was lost)")
    return Check("every live link has its S3 object, every object a live link", figure,
                 "; ".join(problems) or None)


def _endings(ledger: Ledger, links: dict[str, dict[str, Any]]) -> Check:
    """Links end on time and when used up, and count nothing after."""
    now = time.time()
    problems = []
    if over := sorted(f"{code}: {link['clicks']['human']} of {link['max_clicks']}"
                      for code, link in links.items() if link.get("max_clicks") is not None
                      and int(link["clicks"]["human"]) > int(link["max_clicks"])):
        problems.append(f"links counted past their max_clicks: {over[:5]}")
    if unretired := sorted(code for code, link in links.items()
                           if _due_to_end(link, now) and not link["ended_at"]):
        problems.append(f"links due to end but not retired: {unretired[:5]}")
    reasons = Counter(str(link["ended_reason"]) for link in links.values() if link["ended_at"])
    figure = (", ".join(f"{reason} {n}" for reason, n in sorted(reasons.items())) or "none"
              ) + f" ended; {sum(ledger.ended_clicks.values())} clicks after an end answered 410"
    return Check("links end on time and when used up, counting nothing after", figure,
                 "; ".join(problems) or None)


def _recipient(link: dict[str, Any], ledger: Ledger) -> str | None:
    if link.get("campaign_id"):
        return f"{link['campaign_id']}/{link.get('ref')}"
    return ledger.recipients.get(str(link["code"]))


def _texts(ledger: Ledger, links: dict[str, dict[str, Any]],
           campaigns: dict[str, dict[str, Any]], outbox: list[dict[str, Any]]) -> Check:
    per_code = Counter(str(text["client_ref"]) for text in outbox)
    links_of: Counter[str] = Counter()
    texts_of: Counter[str] = Counter()
    for code, link in links.items():
        recipient = _recipient(link, ledger)
        if recipient is not None:
            links_of[recipient] += 1
            texts_of[recipient] += per_code[code]
    statuses = Counter(str((link.get("message") or {}).get("status"))
                       for link in links.values() if link.get("message"))
    problems = []
    if twice := sorted(r for r, n in texts_of.items() if n > 1):
        problems.append(f"{len(twice)} recipient(s) texted more than once: {twice[:5]}")
    if doubled := sorted(r for r, n in links_of.items() if n > 1):
        problems.append(f"{len(doubled)} recipient(s) with more than one link: {doubled[:5]}")
    if strays := sorted(set(per_code) - set(links)):
        problems.append(f"texts for links that do not exist: {strays[:5]}")
    if undelivered := sorted(code for code in per_code
                             if (links.get(code, {}).get("message") or {}).get("status")
                             != "delivered"):
        problems.append(f"{len(undelivered)} text(s) sent without their receipt applied: "
                        f"{undelivered[:5]}")
    figure = (f"{len(links_of)} recipients, {len(outbox)} texts, "
              f"{sum(ledger.resends.values())} resends; final statuses "
              + ", ".join(f"{status} {n}" for status, n in sorted(statuses.items())))
    return Check("every recipient at most one text and one link", figure,
                 "; ".join(problems) or None)


def _campaigns(ledger: Ledger, campaigns: dict[str, dict[str, Any]],
               links: dict[str, dict[str, Any]]) -> Check:
    problems = []
    per_campaign = Counter(str(link["campaign_id"]) for link in links.values()
                           if link.get("campaign_id"))
    for campaign_id, stats in campaigns.items():
        if stats["status"] not in CAMPAIGN_DONE:
            problems.append(f"{campaign_id} is {stats['status']}")
        if per_campaign[campaign_id] > int(stats["total"]):
            problems.append(f"{campaign_id}: {per_campaign[campaign_id]} links for "
                            f"{stats['total']} recipients")
    if unknown := sorted(set(ledger.campaigns) - set(campaigns)):
        problems.append(f"campaigns the clients were given that do not exist: {unknown[:5]}")
    for campaign_id, total in ledger.campaigns.items():
        if campaign_id in campaigns and int(campaigns[campaign_id]["total"]) != total:
            problems.append(f"{campaign_id}: {campaigns[campaign_id]['total']} recipients, "
                            f"{total} sent")
    done = Counter(str(stats["status"]) for stats in campaigns.values())
    figure = (f"{len(campaigns)} campaigns ("
              + ", ".join(f"{status} {n}" for status, n in sorted(done.items()))
              + f"), {sum(per_campaign.values())} links")
    return Check("every campaign finished, one link per recipient", figure,
                 "; ".join(problems[:5]) or None)


def _pings(ledger: Ledger, hops: Counter[str]) -> Check:
    problems = []
    if lost := sorted(ledger.pings - set(hops)):
        problems.append(f"{len(lost)} accepted ping(s) without a hop: {lost[:5]}")
    if twice := sorted(page for page, n in hops.items() if n > 1):
        problems.append(f"{len(twice)} ping(s) stored as more than one hop: {twice[:5]}")
    if stray := sorted(set(hops) - ledger.pings_unsure):
        problems.append(f"{len(stray)} hop(s) nobody pinged: {stray[:5]}")
    figure = f"{len(ledger.pings)} accepted, {sum(hops.values())} hops"
    return Check("every accepted ping one hop", figure, "; ".join(problems) or None)


def _dead_letters(depths: dict[str, int]) -> Check:
    dead = {name: n for name, n in depths.items() if name.endswith("_DLQ_URL") and n}
    names = sorted(name.removesuffix("_DLQ_URL").lower() for name in depths
                   if name.endswith("_DLQ_URL"))
    figure = f"{sum(dead.values())} in {len(names)} ({', '.join(names)})"
    return Check("dead-letter queues empty", figure,
                 f"dead letters: {dead}" if dead else None)
