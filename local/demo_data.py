"""`make demo-data`: links and clicks for the dashboard to show, written into the running
`make dev` stack (the endpoints and tables of its state directory's env.json).

Links are made by the links service, as POST /api/links makes them (item, counter, redirect
object). Clicks are counted by the rollups, as the links stream's consumer counts them, and
each link's counter is set to its totals in one write that carries no `click` map, so the
stream's consumers see no click in it (nothing reaches the warehouse or a webhook).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chalicelib import wiring
from chalicelib.clicks.records import Click
from chalicelib.core.clock import iso
from chalicelib.links.items import COUNTER, link_key
from chalicelib.links.model import parse_new_link
from local.stack import EMULATOR_CREDENTIALS

PROJECT_DIR = Path(__file__).resolve().parent.parent
TAGS = ("spring", "newsletter", "retail", "partners", "social", "sms")
COUNTRIES = ("GB", "US", "DE", "FR", "NL", "ES", "IN", "BR", "JP", "ZZ")
DEVICES = (("mobile", "Safari", "iOS"), ("mobile", "Chrome Mobile", "Android"),
           ("desktop", "Chrome", "Windows"), ("desktop", "Firefox", "Linux"),
           ("tablet", "Safari", "iOS"))  # fmt: skip
REFERRERS = (None, None, None, "news.ycombinator.com", "t.co", "www.google.com", "l.facebook.com")
BOTS = (("bot", "Slackbot", "Other"), ("bot", "WhatsApp", "Other"), ("bot", "Googlebot", "Other"))
HOURS = (1, 3, 8, 13, 19)
ACTIVE_DAYS = 3  # the days each link is clicked on
BATCH = 100  # clicks per Rollups.apply: the links stream's batch size


def make_links(count: int, seed: int) -> list[str]:
    service, at = wiring.links(), wiring.links().clock()
    chooser = random.Random(seed)
    run = secrets.token_hex(2)  # codes of their own on each run

    def one(n: int) -> str:
        body = {"url": f"https://shop.example.com/offer/{n}?utm_source=demo",
                "code": f"demo{run}{n:04d}", "tags": chooser.sample(TAGS, 1)}
        return str(service.create(parse_new_link(body, service.settings, at), "demo")["code"])

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(count)))


def draw_clicks(codes: list[str], count: int, days: int, seed: int) -> list[Click]:
    """`count` clicks over the last `days` days, most on a few links (a long tail), about
    one in seven by a bot. Each link is clicked on a few days of its own, at one hour of
    each, so that the rollups' writes stay few (the emulator is slow with many)."""
    chooser = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(codes))]
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    active = {
        code: [now - timedelta(days=chooser.randrange(days), hours=chooser.choice(HOURS))
               for _ in range(ACTIVE_DAYS)]
        for code in codes
    }  # fmt: skip
    drawn = sorted(
        (chooser.choice(active[code]) + timedelta(seconds=chooser.randrange(3600)), code)
        for code in chooser.choices(codes, weights, k=count)
    )
    serials: Counter[str] = Counter()
    humans: Counter[str] = Counter()
    clicks = []
    for at, code in drawn:
        serials[code] += 1
        bot = chooser.random() < 0.15
        device, browser, os_family = chooser.choice(BOTS if bot else DEVICES)
        humans[code] += not bot
        clicks.append(Click(
            code=code, serial=serials[code], at=iso(at), visitor="bot" if bot else "human",
            country=chooser.choice(COUNTRIES), device=device, browser=browser, os=os_family,
            referrer=None if bot else chooser.choice(REFERRERS),
            trigger="qr" if chooser.random() < 0.1 else "link",
            first_human=not bot and humans[code] == 1, campaign_id=None, ref=None,
            tags=(),
        ))  # fmt: skip
    return clicks


def count_clicks(clicks: list[Click]) -> None:
    rollups = wiring.rollups()
    # As the stream hands them over: at most a batch of one link's clicks at a time, in order.
    by_link: dict[str, list[Click]] = {}
    for click in clicks:
        by_link.setdefault(click.code, []).append(click)
    for done, own in enumerate(by_link.values(), 1):
        for start in range(0, len(own), BATCH):
            rollups.apply(own[start : start + BATCH])
        if done % 100 == 0:
            print(f"  clicks of {done} links counted", flush=True)
    people = Counter(c.code for c in clicks if c.visitor == "human")
    bots = Counter(c.code for c in clicks if c.visitor == "bot")
    first = {c.code: c.at for c in reversed(clicks)}
    last = {c.code: c.at for c in clicks}
    dynamodb, table = wiring.dynamodb(), wiring.settings().links_table
    for code in last:
        values = {":h": str(people[code]), ":b": str(bots[code])}
        dynamodb.update_item(
            TableName=table, Key=link_key(code, COUNTER),
            UpdateExpression="SET human_clicks = :h, bot_clicks = :b, first_click_at = :f, "
                             "last_click_at = :l",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={
                **{name: {"N": number} for name, number in values.items()},
                ":f": {"S": first[code]}, ":l": {"S": last[code]},
            },
        )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="make demo-data", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=PROJECT_DIR / ".local")
    parser.add_argument("--links", type=int, default=1000)
    parser.add_argument("--clicks", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    env_file = args.state_dir / "env.json"
    if not env_file.exists():
        parser.error(f"{env_file} is missing: start the stack first (make dev)")
    os.environ.update({**EMULATOR_CREDENTIALS, **json.loads(env_file.read_text())})
    wiring.reset()
    started = time.monotonic()
    codes = make_links(args.links, args.seed)
    print(f"{len(codes)} links made in {time.monotonic() - started:.1f} s", flush=True)
    started = time.monotonic()
    count_clicks(draw_clicks(codes, args.clicks, args.days, args.seed))
    print(f"{args.clicks} clicks counted in {time.monotonic() - started:.1f} s; "
          f"see them at the dashboard (/dashboard)", flush=True)


if __name__ == "__main__":
    main()
