"""linktrail: the table of contents. Each feature's routes and event handlers live in its
blueprint (chalicelib/<feature>/api.py); its services are built once per container by
chalicelib/wiring.py. Every error leaves as RFC 9457 problem details (chalicelib/http.py).

Every cold start of /ping and /events pays for what this module imports, so the heavy
SDKs (vonage, requests) are imported inside the code paths that need them.
"""

from __future__ import annotations

from chalice import Chalice

from chalicelib import http, wiring
from chalicelib.analytics.api import bp as analytics
from chalicelib.campaigns.api import bp as campaigns
from chalicelib.clicks.api import bp as clicks
from chalicelib.contract.api import bp as contract
from chalicelib.core import logs
from chalicelib.dashboard.api import bp as dashboard
from chalicelib.journeys.api import bp as journeys
from chalicelib.links.api import bp as links
from chalicelib.messaging.api import bp as messaging
from chalicelib.sources.api import bp as sources
from chalicelib.system.api import bp as system
from chalicelib.tracking.api import bp as tracking

app = Chalice(app_name="linktrail")
logs.setup()
# Every body we accept is text (raw bodies are kept as sent); the one binary answer is a
# QR code's PNG, which API Gateway sends as such to a request that accepts image/png.
app.api.binary_types = ["image/png"]

# Middleware first: event handlers take the middleware registered before them.
app.register_middleware(http.problems_and_keys(wiring.key_store), "http")
for event_type in ("sqs", "dynamodb", "scheduled"):
    app.register_middleware(logs.correlated, event_type)

for blueprint in (
    system, links, campaigns, messaging, clicks, analytics, journeys, tracking, sources,
    dashboard, contract,
):
    app.register_blueprint(blueprint)
