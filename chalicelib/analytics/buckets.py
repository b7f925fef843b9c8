"""The rollup items of the analytics table: their keys, and the counters a click adds.

A bucket is one item per family and UTC hour or day: pk `rollup#site`, `rollup#link#<code>`,
`rollup#campaign#<id>` or `rollup#tag#<tag>`; sk `h#<YYYY-MM-DDTHH>` or `d#<YYYY-MM-DD>`.
Its counters are flat number attributes named `<dimension>.<visitor>.<value>` (visitor `h`
human, `b` bot). Dimension and visitor never hold a dot, so the value is whatever follows
the second dot, whatever it contains; writes name attributes through placeholders.
The mark (`rollup#link#<code>` / `mark`) holds the highest click serial applied.

The wide families (site, campaign, tag) count clicks per link too, which grows with every
distinct link clicked in the hour or day. Those counters live apart, so that the bucket
every other question reads stays a few hundred bytes and a click's update is billed on a
small item: pk `rollup#links#<family>` (`rollup#links#site`, `rollup#links#tag#<tag>`, ...),
sk the bucket's plus `#<shard>`, a link's shard fixed by its code (one of LINK_SHARDS).
Buckets written before the split keep their per-link counters in the bucket itself; a
reader of top links sums both.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from chalicelib.clicks.records import Click

MARK = "mark"
DIRECT = "(direct)"
TOTAL = "n"
FIRST = "first"
COUNTRY_DEVICE = "cd"
# API dimension -> counter dimension
DIMENSIONS = {
    "country": "country",
    "device": "device",
    "browser": "browser",
    "os": "os",
    "referer": "referer",
    "trigger": "trigger",
    "code": "link",
    "tag": "tag",
    "campaign_id": "campaign",
}


LINK_SHARDS = 16
PER_LINK_PREFIX = "rollup#links#"
# Past every shard suffix of the sk it is appended to (shards are two digits).
AFTER_SHARDS = "#~"


def site_pk() -> str:
    return "rollup#site"


def link_pk(code: str) -> str:
    return f"rollup#link#{code}"


def campaign_pk(campaign_id: str) -> str:
    return f"rollup#campaign#{campaign_id}"


def tag_pk(tag: str) -> str:
    return f"rollup#tag#{tag}"


def per_link_pk(pk: str) -> str:
    """Where a wide family's per-link counters live."""
    return PER_LINK_PREFIX + pk.removeprefix("rollup#")


def is_per_link(pk: str) -> bool:
    return pk.startswith(PER_LINK_PREFIX)


def shard_sk(sk: str, code: str) -> str:
    """The per-link item of bucket `sk` that counts `code` (the same in every process)."""
    return f"{sk}#{zlib.crc32(code.encode()) % LINK_SHARDS:02d}"


def hour_sk(moment: datetime) -> str:
    return "h#" + moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


def day_sk(moment: datetime) -> str:
    return "d#" + moment.astimezone(UTC).strftime("%Y-%m-%d")


def bucket_start(sk: str) -> datetime:
    """The UTC start of the hour or day a bucket's sort key names."""
    kind, stamp = sk.split("#")[:2]
    pattern = "%Y-%m-%dT%H" if kind == "h" else "%Y-%m-%d"
    return datetime.strptime(stamp, pattern).replace(tzinfo=UTC)


def bucket_span(sk: str) -> timedelta:
    return timedelta(hours=1) if sk.startswith("h#") else timedelta(days=1)


def counter(dimension: str, visitor: str, value: str | None = None) -> str:
    return f"{dimension}.{visitor}" if value is None else f"{dimension}.{visitor}.{value}"


def parse_counter(name: str) -> tuple[str, str, str | None] | None:
    """(dimension, visitor, value) of a counter attribute; None for other attributes."""
    parts = name.split(".", 2)
    if len(parts) < 2 or parts[1] not in ("h", "b"):
        return None
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def click_time(click: Click) -> datetime:
    return click_time_of(click.at)


def click_time_of(at: str) -> datetime:
    moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def families(click: Click) -> Iterator[str]:
    yield link_pk(click.code)
    yield site_pk()
    if click.campaign_id:
        yield campaign_pk(click.campaign_id)
    for tag in dict.fromkeys(click.tags):
        yield tag_pk(tag)


def visitor_of(click: Click) -> str:
    """The visitor letter of a click's counters: `h` for people, `b` for bots."""
    return "h" if click.visitor == "human" else "b"


def counts_of(click: Click, pk: str) -> Counter[str]:
    """The counters one click adds to a bucket of family `pk`."""
    v = visitor_of(click)
    names = [
        counter(TOTAL, v),
        counter("country", v, click.country),
        counter("device", v, click.device),
        counter("browser", v, click.browser),
        counter("os", v, click.os),
        counter("referer", v, click.referrer or DIRECT),
        counter("trigger", v, click.trigger),
        counter(COUNTRY_DEVICE, v, f"{click.country}.{click.device}"),
    ]
    if click.first_human:
        names.append(counter(FIRST, "h"))
    if pk == site_pk():
        names.extend(counter("tag", v, tag) for tag in dict.fromkeys(click.tags))
        if click.campaign_id:
            names.append(counter("campaign", v, click.campaign_id))
    return Counter(names)


def deltas_of(clicks: list[Click]) -> dict[tuple[str, str], Counter[str]]:
    """Every bucket (pk, sk) the clicks touch, with what they add to it."""
    found: dict[tuple[str, str], Counter[str]] = {}
    for click in clicks:
        moment = click_time(click)
        per_link = Counter([counter("link", visitor_of(click), click.code)])
        for pk in families(click):
            counts = counts_of(click, pk)
            for sk in (hour_sk(moment), day_sk(moment)):
                found.setdefault((pk, sk), Counter()).update(counts)
                if pk != link_pk(click.code):
                    key = (per_link_pk(pk), shard_sk(sk, click.code))
                    found.setdefault(key, Counter()).update(per_link)
    return found
