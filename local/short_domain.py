"""The local short-link domain (http://127.0.0.1:8001): CloudFront + the edge function + S3.

Each request becomes a CloudFront event of the configured mode and trigger, shaped as
AWS documents it, and runs through the very same edge handler code
(edge.edge_click.ClickCounter): every-click at viewer-request (the default) or at
origin-request (EVERY_CLICK_TRIGGER=origin-request, as infra/edge.yaml's EveryClickTrigger);
first-click always at origin-request. When the handler passes the request on, this server
plays the S3 website endpoint against the emulator's bucket (local/s3_website.py), adding
the secret Referer as CloudFront's origin custom header does (ORIGIN_SECRET, made by the
bootstrap): an object's WebsiteRedirectLocation -> 301; a missing object -> the bucket's
error document (expired.html) with 404. A request whose Host is the bucket's website
endpoint name goes straight to that stand-in, as a request to S3 itself would, without the
secret: 403. There is no cache here, so both triggers see every click.

    python -m local.short_domain --port 8001

Environment (the app's, inherited from the local stack): AWS_ENDPOINT_URL, LINKS_TABLE,
REDIRECT_BUCKET, ORIGIN_SECRET, AWS_DEFAULT_REGION; CLICK_MODE (every|every-click|first|first-click,
default every); EVERY_CLICK_TRIGGER (viewer-request|origin-request, default viewer-request);
EDGE_TIME_BUDGET_MS (default 10000: the emulator is far slower than DynamoDB).
`X-Debug-Country: GB` stands in for CloudFront-Viewer-Country, and like it reaches only
origin-request events: CloudFront adds that header after the viewer-request event, so at
viewer-request every click counts as "ZZ", here as in AWS. An origin-request event carries
only the headers infra/edge.yaml's origin request policy forwards (User-Agent, country).
Logs one line per click (code, human/bot, status); never the IP or user agent.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3

from edge.edge_click import ClickCounter, EdgeConfig, make_client, mode_named
from edge.shared.destinations import allowlist_from
from infra import resources
from local.s3_website import Answer, S3Website

DEFAULT_PORT = 8001
DISTRIBUTION_ID = "ELOCALSHORTDOMAIN"
TRIGGERS = ("viewer-request", "origin-request")
# What the origin request policy (infra/edge.yaml) forwards of the viewer's headers.
FORWARDED_TO_ORIGIN = ("user-agent",)
log = logging.getLogger("linktrail.short_domain")


def every_click_trigger(spelling: str) -> str:
    trigger = spelling.strip().lower() or TRIGGERS[0]
    if trigger not in TRIGGERS:
        raise ValueError(
            f"every-click trigger must be one of {', '.join(TRIGGERS)}, got {spelling!r}"
        )
    return trigger


def event_type(env: Mapping[str, str]) -> str:
    """The CloudFront event the function gets: first-click runs at origin-request only."""
    if mode_named(env.get("CLICK_MODE") or "every") == "first":
        return "origin-request"
    return every_click_trigger(env.get("EVERY_CLICK_TRIGGER", ""))


def config_from_env(env: Mapping[str, str]) -> EdgeConfig:
    """The edge config the build would bake, from the app's local environment."""
    return EdgeConfig(
        table=env["LINKS_TABLE"],
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        mode=mode_named(env.get("CLICK_MODE") or "every"),
        stage=env.get("STAGE", "local"),
        expired_html=resources.EXPIRED_PAGE.read_text(encoding="utf-8"),
        allowed_destination_hosts=allowlist_from(env.get("ALLOWED_DESTINATION_HOSTS", "")),
        time_budget_ms=int(env.get("EDGE_TIME_BUDGET_MS", "10000")),
        connect_timeout_s=2.0,
        read_timeout_s=5.0,
        max_connections=64,  # one local process stands in for many edge containers
    )


class AtomicUpdates:
    """DynamoDB applies each UpdateItem atomically; the emulator does not (seen, moto
    5.2.5: 200 concurrent `SET n = n + 1` on one item counted 168 in-process, 175 on the
    server). This adapter serialises this process's writes so local counts are what
    DynamoDB would give. The edge code itself is unchanged."""

    def __init__(self, dynamodb: Any) -> None:
        self._dynamodb = dynamodb
        self._lock = threading.Lock()
        self.exceptions = dynamodb.exceptions

    def update_item(self, **request: Any) -> Any:
        with self._lock:
            return self._dynamodb.update_item(**request)

    def get_item(self, **request: Any) -> Any:
        return self._dynamodb.get_item(**request)  # the tombstone read: nothing to serialise


class ShortDomain(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(
        self,
        address: tuple[str, int],
        counter: ClickCounter,
        s3: Any,
        bucket: str,
        event_type: str = "viewer-request",
        origin_secret: str = "",
    ) -> None:
        super().__init__(address, ShortDomainHandler)
        self.counter = counter
        self.website = S3Website(s3, bucket)
        self.bucket = bucket
        self.event_type = event_type
        # infra/edge.yaml's OriginCustomHeaders: replaces whatever Referer a viewer sent
        self.origin_headers = {resources.ORIGIN_REFERER_HEADER: origin_secret}

    @property
    def website_host(self) -> str:
        return website_host(self.bucket, self.counter.config.region)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


def website_host(bucket: str, region: str) -> str:
    return f"{bucket}.s3-website-{region}.amazonaws.com"


def custom_origin(website: str, origin_headers: Mapping[str, str]) -> dict[str, Any]:
    """infra/edge.yaml's origin as an origin-request event shows it, custom headers too."""
    return {
        "custom": {
            "customHeaders": {
                name.lower(): [{"key": name, "value": value}]
                for name, value in origin_headers.items()
            },
            "domainName": website,
            "keepaliveTimeout": 5,
            "path": "",
            "port": 80,
            "protocol": "http",
            "readTimeout": 30,
            "sslProtocols": ["TLSv1.2"],
        }
    }


def cloudfront_event(
    event_type: str,
    method: str,
    path: str,
    headers: Mapping[str, str],
    client_ip: str,
    host: str,
    bucket: str,
    region: str,
    origin_headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A viewer-request or origin-request event as CloudFront sends it."""
    if event_type not in TRIGGERS:
        raise ValueError(f"event type must be one of {TRIGGERS}, got {event_type!r}")
    # The request target as sent: CloudFront hands the function the path still
    # percent-encoded, and a path starting // is a path, not an authority (urlsplit's).
    uri, _, query = path.partition("?")
    origin = event_type == "origin-request"
    cf_headers: dict[str, list[dict[str, str]]] = {}
    country = ""
    for name, value in headers.items():
        if name.lower() == "x-debug-country":
            country = value
        elif not origin or name.lower() in FORWARDED_TO_ORIGIN:
            cf_headers.setdefault(name.lower(), []).append({"key": name, "value": value})
    if origin and country:
        # added by CloudFront after the viewer-request event, forwarded by the policy
        cf_headers["cloudfront-viewer-country"] = [
            {"key": "CloudFront-Viewer-Country", "value": country}
        ]
    request: dict[str, Any] = {
        "clientIp": client_ip,
        "headers": cf_headers,
        "method": method,
        "querystring": query,
        "uri": uri or "/",
    }
    if origin:
        website = website_host(bucket, region)
        cf_headers["host"] = [{"key": "Host", "value": website}]
        cf_headers["x-forwarded-for"] = [{"key": "X-Forwarded-For", "value": client_ip}]
        cf_headers["via"] = [
            {"key": "Via", "value": f"2.0 {uuid.uuid4().hex}.cloudfront.net (CloudFront)"}
        ]
        request["origin"] = custom_origin(website, origin_headers or {})
    return {
        "Records": [
            {
                "cf": {
                    "config": {
                        "distributionDomainName": host,
                        "distributionId": DISTRIBUTION_ID,
                        "eventType": event_type,
                        "requestId": uuid.uuid4().hex,
                    },
                    "request": request,
                }
            }
        ]
    }


class ShortDomainHandler(BaseHTTPRequestHandler):
    server: ShortDomain
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._visit()

    def do_HEAD(self) -> None:
        self._visit()

    @property
    def target(self) -> str:
        """The request target as sent. http.server collapses a leading `//` in self.path
        (against open redirects of its own); CloudFront passes it to the function as is."""
        words = self.requestline.split()
        return words[1] if len(words) >= 2 else self.path

    def _visit(self) -> None:
        if self.path == "/__health":
            self._send(200, {"Content-Type": "text/plain"}, b"ok\n")
            return
        if self.headers.get("Host", "").lower() == self.server.website_host:
            # Straight to the bucket's website endpoint, past the edge: the viewer's own
            # headers only, so no CloudFront secret unless the viewer knows it.
            answer = self.server.website.get(
                self.target.partition("?")[0], dict(self.headers.items())
            )
            self._send(answer.status, answer.headers, answer.body)
            return
        counter = self.server.counter
        event = cloudfront_event(
            self.server.event_type,
            self.command,
            self.target,
            dict(self.headers.items()),
            self.client_address[0],
            self.headers.get("Host", self.server.url),
            self.server.bucket,
            counter.config.region,
            self.server.origin_headers,
        )
        try:
            result, click = counter.handle(event)
        except Exception:  # the function crashed: CloudFront answers 503
            log.exception("edge function error")
            self._send(503, {"Content-Type": "text/plain"}, b"edge function error\n")
            return
        if "status" in result:
            headers = {v[0]["key"]: v[0]["value"] for v in result.get("headers", {}).values()}
            answer = Answer(int(result["status"]), headers, str(result.get("body", "")).encode())
        else:
            answer = self._from_s3(result)
        if click.code:  # logged before answering: a client that has its answer has the line
            log.info(
                "click code=%s visitor=%s outcome=%s status=%s",
                click.code,
                click.visitor,
                click.outcome,
                answer.status,
            )
        self._send(answer.status, answer.headers, answer.body)

    def _from_s3(self, request: dict[str, Any]) -> Answer:
        """CloudFront to the website endpoint: the origin request policy's headers and the
        origin custom header (the secret Referer) go along; the viewer's Referer does not."""
        forwarded = {
            values[0]["key"]: values[0]["value"]
            for name, values in request.get("headers", {}).items()
            if name in FORWARDED_TO_ORIGIN
        }
        return self.server.website.get(
            str(request["uri"]), {**forwarded, **self.server.origin_headers}
        )

    def _send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the access log would carry the client IP; one click line is logged instead


def make_server(
    port: int = DEFAULT_PORT,
    env: Mapping[str, str] | None = None,
    dynamodb: Any = None,
    s3: Any = None,
    host: str = "127.0.0.1",
) -> ShortDomain:
    """A ready server (not yet serving): the edge handler with the local config."""
    env = os.environ if env is None else env
    config = config_from_env(env)
    trigger = event_type(env)
    client = dynamodb if dynamodb is not None else make_client(config)
    counter = ClickCounter(config, AtomicUpdates(client))
    s3_client = (
        s3 if s3 is not None else boto3.session.Session().client("s3", region_name=config.region)
    )
    secret = env.get("ORIGIN_SECRET", "")
    if not secret:
        raise ValueError("ORIGIN_SECRET is not set: the bucket answers only CloudFront's Referer")
    return ShortDomain(
        (host, port), counter, s3_client, env["REDIRECT_BUCKET"], trigger, secret
    )


def serve_in_thread(server: ShortDomain) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="short-domain", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(
        prog="python -m local.short_domain", description=__doc__.split("\n")[0]
    )
    cli.add_argument("--port", type=int, default=DEFAULT_PORT)
    cli.add_argument("--host", default="127.0.0.1")
    args = cli.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s", stream=sys.stdout)
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        server = make_server(args.port, host=args.host)
    except ValueError as error:  # CLICK_MODE / EVERY_CLICK_TRIGGER misspelt, no secret
        print(f"short domain: {error}", file=sys.stderr)
        return 2
    up: dict[str, Any] = {
        "msg": "short domain up",
        "url": server.url,
        "mode": server.counter.config.mode,
        "trigger": server.event_type,
    }
    if server.event_type == "viewer-request":
        up["note"] = (
            "countries count as ZZ at viewer-request, as in AWS; "
            "EVERY_CLICK_TRIGGER=origin-request to count them"
        )
    print(json.dumps(up), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
