"""A campaign's clicks and funnel, added to its statistics (GET /api/campaigns/{id})."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.analytics.reader import Analytics


def with_clicks(stats: dict[str, Any], analytics: Analytics) -> dict[str, Any]:
    """`stats` and its `clicks` series over the campaign's life and its `funnel`: texted
    and delivered from the statistics, clicked = first human clicks in its rollups."""
    created = datetime.fromisoformat(str(stats["created_at"]).replace("Z", "+00:00"))
    found = analytics.campaign(str(stats["campaign_id"]), created, analytics.clock())
    delivered, clicked = int(stats.get("delivered", 0)), found["clicked"]
    funnel = {
        "texted": int(stats.get("sent", 0)),
        "delivered": delivered,
        "clicked": clicked,
        "ctr": round(clicked / delivered, 4) if delivered else None,
        # Per recipient: the statistics count it from the links' counters.
        "delivered_not_clicked": int(stats.get("delivered_not_clicked", 0)),
    }
    return {**stats, "clicks": found["clicks"], "funnel": funnel}
