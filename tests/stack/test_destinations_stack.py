"""Destinations through the real local stack: the API refuses a URL a browser opens
elsewhere than it reads, and the short domain (the edge function behind a stand-in for
CloudFront) never sends a stored one as a Location."""

from __future__ import annotations

import http.client

import pytest

from tests.support.links import put_link_items
from tests.support.stack import api_call

pytestmark = pytest.mark.stack

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
BACKSLASH_HOST = "http://evil.test\\.example.com/phish"


def visit(short_url: str, code: str) -> tuple[int, str | None]:
    """One GET to the short domain, redirects not followed: status and Location."""
    host, port = short_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", f"/{code}", headers={"User-Agent": BROWSER})
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("Location")
    finally:
        connection.close()


def test_a_backslash_host_is_refused_and_never_sent(local_stack):
    api, key = local_stack.app_url, local_stack.admin_key
    status, _, problem = api_call("POST", f"{api}/api/links", key, {"url": BACKSLASH_HOST})
    assert status == 400 and problem["field"] == "url", problem
    # A link stored before the check existed: the edge answers 410, not the redirect.
    put_link_items(
        local_stack.boto3_client("dynamodb"),
        local_stack.env["LINKS_TABLE"],
        "bslash1",
        BACKSLASH_HOST,
    )
    assert visit(local_stack.short_url, "bslash1") == (410, None)
