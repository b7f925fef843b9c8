"""Links as tests make them: through the API, or as stored items written straight into the
links table (the shape chalicelib.links.store writes)."""

from __future__ import annotations

import json
from typing import Any

LINK_CREATED_AT = "2026-01-01T00:00:00.000Z"
LINK_KEY_ID = "testkey00001"


def post(client: Any, headers: dict[str, str], body: Any) -> Any:
    return client.http.post("/api/links", headers=headers, body=json.dumps(body))


def new_link_item(code: str, long_url: str, **typed: Any) -> dict[str, Any]:
    """A link item as a new link is stored; `typed` adds or replaces attributes."""
    return {
        "pk": {"S": f"link#{code}"},
        "sk": {"S": "link"},
        "code": {"S": code},
        "long_url": {"S": long_url},
        "created_at": {"S": LINK_CREATED_AT},
        "tags": {"L": []},
        "key_id": {"S": LINK_KEY_ID},
        "human_clicks": {"N": "0"},
        "bot_clicks": {"N": "0"},
        "clicks_by_day": {"M": {}},
        "clicks_by_country": {"M": {}},
        **typed,
    }
