"""Links-stream records of counted clicks, as the edge's counter writes produce them:
MODIFY records of `link#<code>` / `counter` with both images in DynamoDB JSON, the
human + bot total going up by one per click (its serial) and the `click` map set."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/linktrail-local-links/stream/x"


@dataclass
class Counter:
    humans: int = 0
    bots: int = 0
    tags: tuple[str, ...] = ()
    campaign_id: str | None = None


@dataclass
class ClickStream:
    """Makes one link's (or several links') click records in order."""

    counters: dict[str, Counter] = field(default_factory=dict)
    sequence: int = 0

    def link(
        self, code: str, *, tags: tuple[str, ...] = (), campaign_id: str | None = None
    ) -> None:
        self.counters[code] = Counter(tags=tags, campaign_id=campaign_id)

    def click(
        self,
        code: str,
        at: str,
        *,
        visitor: str = "human",
        country: str = "US",
        device: str = "mobile",
        browser: str = "Safari",
        os: str = "iOS",
        referrer: str | None = None,
        trigger: str = "link",
    ) -> dict[str, Any]:
        counter = self.counters.setdefault(code, Counter())
        old = self._image(code, counter, None)
        if visitor == "bot":
            counter.bots += 1
        else:
            counter.humans += 1
        attributes = {
            "at": at, "visitor": visitor, "country": country, "device": device,
            "browser": browser, "os": os, "trigger": trigger,
        }  # fmt: skip
        if referrer:
            attributes["referrer"] = referrer
        new = self._image(code, counter, {k: {"S": v} for k, v in attributes.items()})
        self.sequence += 1
        return {
            "eventID": f"e{self.sequence}",
            "eventName": "MODIFY",
            "eventSource": "aws:dynamodb",
            "eventSourceARN": STREAM_ARN,
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1764763200.0 + self.sequence,
                "Keys": {"pk": {"S": f"link#{code}"}, "sk": {"S": "counter"}},
                "OldImage": old,
                "NewImage": new,
                "SequenceNumber": str(self.sequence).zfill(21),
                "SizeBytes": 256,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
        }

    def edit(self, code: str) -> dict[str, Any]:
        """A counter change that is not a click (the totals stay)."""
        counter = self.counters.setdefault(code, Counter())
        image = self._image(code, counter, None)
        return {"eventName": "MODIFY", "dynamodb": {"OldImage": image, "NewImage": image}}

    def _image(self, code: str, counter: Counter, click: dict[str, Any] | None) -> dict[str, Any]:
        image: dict[str, Any] = {
            "pk": {"S": f"link#{code}"},
            "sk": {"S": "counter"},
            "human_clicks": {"N": str(counter.humans)},
            "bot_clicks": {"N": str(counter.bots)},
        }
        if counter.tags:
            image["tags"] = {"L": [{"S": t} for t in counter.tags]}
        if counter.campaign_id:
            image["campaign_id"] = {"S": counter.campaign_id}
        if click is not None:
            image["click"] = {"M": click}
        return image
