"""The analytics-next demo page the app serves on the local stage (GET /demo/segment).

It loads @segment/analytics-next's own browser build from node_modules (installed by
`npm ci`, never a CDN) and points it at linktrail the way the README shows: `cdnURL` is
the app, so the library's settings (`/v1/projects/<writeKey>/settings`) come from
linktrail and name the app's /v1 as its apiHost. The write key is the local source's
(`.local/write-key`). The identify button passes the user_hash the site's server would
render for 'demo-user' as an option, which analytics-next sends as context.userHash.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from chalicelib.core.settings import get_settings
from chalicelib.tracking.proof import SECRET_NAME, user_hash

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "node_modules" / "@segment" / "analytics-next" / "dist" / "umd" / "index.js"
PAGE_HEADERS = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
SCRIPT_HEADERS = {"Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-store"}
DEMO_USER = "demo-user"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>__TITLE__</title>
<script src="__SCRIPT__"></script>
<script>
// What a site adds: the library, pointed at linktrail instead of Segment's CDN.
window.analytics = AnalyticsNext.AnalyticsBrowser.load(
  {writeKey: __WRITE_KEY__, cdnURL: __CDN_URL__}
);
</script>
</head>
<body>
<h1>__TITLE__</h1>
<p>Each button sends one call to linktrail's <code>/v1</code>; see the rows with
<code>python -m local.stitch_sink --show</code>.</p>
<button onclick="analytics.track('Demo Button Clicked', {button: 'track'})">track</button>
<button onclick="analytics.identify('demo-user', {plan: 'trial'}, {userHash: __USER_HASH__})">
identify</button>
<button onclick="analytics.page()">page</button>
<a href="?next=1">another page</a>
</body>
</html>
"""


def page(write_key: str, cdn_url: str, script_url: str, title: str = "linktrail Segment demo",
         demo_user_hash: str = "") -> str:
    """A site's page loading analytics-next from `script_url`, sending with `write_key`."""
    replacements = {
        "__TITLE__": title,
        "__SCRIPT__": script_url,
        "__WRITE_KEY__": json.dumps(write_key),
        "__CDN_URL__": json.dumps(cdn_url),
        "__USER_HASH__": json.dumps(demo_user_hash),
    }
    text = _PAGE
    for placeholder, value in replacements.items():
        text = text.replace(placeholder, value)
    return text


def local_page() -> str:
    """The demo as the local stack serves it: the local source's key, the app as CDN."""
    settings = get_settings()
    key_file = Path(os.environ.get("LOCAL_STATE_DIR", ".local")) / "write-key"
    write_key = key_file.read_text().strip() if key_file.exists() else ""
    secret = settings.secret(SECRET_NAME).reveal().encode()
    return page(write_key, settings.public_base_url, "/demo/segment/analytics-next.js",
                demo_user_hash=user_hash(secret, DEMO_USER))


def script() -> str:
    if not SCRIPT.exists():
        return "console.error('node_modules/@segment/analytics-next is missing: run npm ci');"
    return SCRIPT.read_text(encoding="utf-8")
