"""What a click records of its request, in the counter item's `click` map (DynamoDB JSON):
time, human or bot, country, device/browser/OS family, the referrer's host and the
trigger. Families only, never the user agent; the referrer's host, never its URL; no IP."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from edge.shared import useragents

COUNTRY_PATTERN = re.compile(r"^[A-Z]{2}\Z")
UNKNOWN_COUNTRY = "ZZ"
QR_MARK = "qr"  # ?qr=1 on the short URL: the link's QR code was scanned
# Host names run to 253 characters; the click item keeps 100 so it stays one write unit.
MAX_REFERRER_HOST = 100


def click_attributes(request: dict[str, Any], visitor: str, at: str) -> dict[str, Any]:
    """The click's `click` map: what the links stream's consumers break clicks down by."""
    kinds = useragents.families(header(request, "user-agent"), bot=visitor == "bot")
    attributes = {
        "at": at,
        "visitor": visitor,
        "country": country(request),
        "device": kinds["device"],
        "browser": kinds["browser"],
        "os": kinds["os"],
        "trigger": "qr" if scanned(request) else "link",
    }
    referrer = referrer_host(header(request, "referer"))
    if referrer:
        attributes["referrer"] = referrer
    return {name: {"S": value} for name, value in attributes.items()}


def header(request: dict[str, Any], name: str) -> str:
    """The first value of a CloudFront event's header (names are lower case there)."""
    values = request.get("headers", {}).get(name) or []
    return str(values[0].get("value", "")) if values else ""


def country(request: dict[str, Any]) -> str:
    """CloudFront-Viewer-Country when it is a country code (ZZ otherwise, or absent: it
    is only added after the viewer-request event)."""
    found = header(request, "cloudfront-viewer-country").strip().upper()
    return found if COUNTRY_PATTERN.match(found) else UNKNOWN_COUNTRY


def scanned(request: dict[str, Any]) -> bool:
    query = parse_qs(str(request.get("querystring", "")))
    return query.get(QR_MARK, [""])[0] == "1"


def referrer_host(referer: str) -> str:
    """The lower-case host of a Referer, "" when it has none (apps, SMS, the origin
    secret CloudFront sends the origin)."""
    try:
        host = urlsplit(referer[:2048]).hostname or ""
    except ValueError:
        return ""
    return host.lower()[:MAX_REFERRER_HOST]
