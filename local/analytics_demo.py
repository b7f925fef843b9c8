"""The analytics.js demo page the app serves on the local stage (GET /demo/analytics).

It loads the real `analytics` 0.8.19 build from node_modules (installed by `npm ci`, never
committed) and the collector plugin the README shows: the plugin posts each payload to
/events as text/plain with navigator.sendBeacon (no CORS preflight, survives unload).
`?manual=1` skips the automatic page() call (the browser test drives the calls itself).
The identify button passes the user_hash the site's server computes for 'demo-user' (as
the page of a real site would render it), so the demo's link is verified.
"""

from __future__ import annotations

from pathlib import Path

from chalicelib.core.settings import get_settings
from chalicelib.tracking.proof import SECRET_NAME, user_hash

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "node_modules" / "analytics" / "dist" / "analytics.min.js"
PAGE_HEADERS = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
SCRIPT_HEADERS = {"Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-store"}

# The snippet users copy (README): a plugin is {name, page, track, identify}.
COLLECTOR_PLUGIN = """
function linktrailCollector(endpoint) {
  function send(payload) {
    var body = JSON.stringify(Object.assign({}, payload, {
      sentAt: new Date().toISOString(),
      context: {
        page: {url: location.href, path: location.pathname, title: document.title,
               referrer: document.referrer || null, search: location.search},
        locale: navigator.language,
        timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
        library: {name: "analytics", version: "0.8.19"}
      }
    }));
    // text/plain keeps the request "simple": no CORS preflight, and a beacon outlives the page.
    var blob = new Blob([body], {type: "text/plain"});
    if (navigator.sendBeacon && navigator.sendBeacon(endpoint, blob)) return;
    fetch(endpoint, {method: "POST", body: body, keepalive: true,
                     headers: {"Content-Type": "text/plain"}});
  }
  return {
    name: "linktrail-collector",
    page: function (args) { send(args.payload); },
    track: function (args) { send(args.payload); },
    identify: function (args) { send(args.payload); }
  };
}
""".strip()

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>linktrail analytics demo</title>
<script src="/demo/analytics.min.js"></script>
<script>
__PLUGIN__
var analytics = _analytics.init({
  app: "linktrail-demo",
  plugins: [linktrailCollector("/events")]
});
window.linktrailAnalytics = analytics;
if (!/[?&]manual=1/.test(location.search)) { analytics.page(); }
</script>
</head>
<body>
<h1>linktrail analytics demo</h1>
<p>Each button sends one event to <code>/events</code>; see them with
<code>python -m local.stitch_sink --show</code>.</p>
<button onclick="analytics.track('Demo Button Clicked', {button: 'track'})">track</button>
<button onclick="analytics.identify('demo-user', {plan: 'trial'}, {userHash: '__USER_HASH__'})">
identify</button>
<button onclick="analytics.page()">page</button>
</body>
</html>
"""


DEMO_USER = "demo-user"


def page() -> str:
    secret = get_settings().secret(SECRET_NAME).reveal().encode()
    return (_PAGE.replace("__PLUGIN__", COLLECTOR_PLUGIN)
            .replace("__USER_HASH__", user_hash(secret, DEMO_USER)))


def script() -> str:
    if not SCRIPT.exists():
        return "console.error('node_modules/analytics is missing: run npm ci (make dev does)');"
    return SCRIPT.read_text(encoding="utf-8")
