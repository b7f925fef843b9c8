"""Destinations under a wildcard allowlist (`*.example.com`) through every way a link's
destination is written (POST url and expired_url, PATCH url and expired_url), and the
edge's Location check on items already in the table. Real app through
chalice.test.Client, and the edge handler, on moto."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from edge.edge_click import ClickCounter, EdgeConfig
from tests.support.aws import assert_nothing_written, link_items
from tests.support.edge import event, put_link, put_tombstone
from tests.support.links import post

EXPIRED_HTML = "<!doctype html><title>expired</title><p>expired</p>"
# What a browser opens is not under example.com (or not what the URL reads).
OFF_THE_ALLOWLIST = [
    "http://evil.test\\.example.com/phish",
    "http://evil.test%5C.example.com/phish",
    "http://evil.test\t.example.com/phish",
    "http://evil.test\n.example.com/phish",
    "http://a.example.com@evil.test/phish",
    "http://example.com.evil.test/phish",
    "http://evilexample.com/phish",
    "http://example.com/phish",
    "http:evil.test/.example.com",
    "http://xn--zz.example.com/",
    "http://a.example.com.0x7f/",
]
ON_THE_ALLOWLIST = [
    "https://shop.example.com/cart",
    "https://SHOP.Example.COM./cart",
    "https://a.b.example.com/",
    "https://xn--bcher-kva.example.com/",
]


@pytest.fixture
def wildcard(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib import wiring

    monkeypatch.setenv("ALLOWED_DESTINATION_HOSTS", "*.example.com")
    wiring.reset()


def refused(answer: Any, field: str) -> None:
    assert answer.status_code == 400, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    body = json.loads(answer.body)
    assert body["status"] == 400 and body["field"] == field


def patch(client: Any, headers: dict[str, str], code: str, body: dict[str, Any]) -> Any:
    return client.http.patch(f"/api/links/{code}", headers=headers, body=json.dumps(body))


@pytest.mark.parametrize("url", OFF_THE_ALLOWLIST)
def test_create_refuses_a_url_a_browser_opens_elsewhere(client, auth_headers, aws, wildcard, url):
    refused(post(client, auth_headers, {"url": url}), "url")
    ok = "https://shop.example.com/"
    refused(post(client, auth_headers, {"url": ok, "expired_url": url}), "expired_url")
    assert_nothing_written(aws)


@pytest.mark.parametrize("url", OFF_THE_ALLOWLIST)
def test_patch_refuses_a_url_a_browser_opens_elsewhere(client, auth_headers, aws, wildcard, url):
    created = post(client, auth_headers, {"url": "https://shop.example.com/", "code": "wild1"})
    assert created.status_code == 201, created.body
    before = link_items(aws)
    refused(patch(client, auth_headers, "wild1", {"url": url}), "url")
    refused(patch(client, auth_headers, "wild1", {"expired_url": url}), "expired_url")
    assert link_items(aws) == before


@pytest.mark.parametrize("url", ON_THE_ALLOWLIST)
def test_names_below_the_wildcard_are_accepted_everywhere(client, auth_headers, aws, wildcard, url):
    created = post(client, auth_headers, {"url": url, "expired_url": url, "code": "wild2"})
    assert created.status_code == 201, created.body
    assert json.loads(created.body)["url"] == url  # stored as written: what the browser opens
    changed = patch(client, auth_headers, "wild2", {"url": url, "expired_url": url})
    assert changed.status_code == 200, changed.body


# -- the edge refuses any Location the app would refuse -------------------------------

UNSAFE_LOCATIONS = [
    "http://evil.test\\.example.com/phish",
    "http://evil.test%5C.example.com/phish",
    "http://a.example.com@evil.test/phish",
    "http:evil.test/",
    "http://0x7f.1/",
]


@pytest.fixture
def dynamodb(aws: dict[str, str]) -> Any:
    return boto3.session.Session().client("dynamodb", region_name="us-east-1")


def counter(aws: dict[str, str], dynamodb: Any, **options: Any) -> ClickCounter:
    config = EdgeConfig(
        table=aws["LINKS_TABLE"],
        region="us-east-1",
        mode="every",
        expired_html=EXPIRED_HTML,
        **options,
    )
    return ClickCounter(config, dynamodb)


def location(result: dict[str, Any]) -> str | None:
    values = result.get("headers", {}).get("location", [])
    return values[0]["value"] if values else None


@pytest.mark.parametrize("url", UNSAFE_LOCATIONS)
def test_the_edge_never_redirects_to_an_unsafe_long_url(aws, dynamodb, url):
    put_link(dynamodb, aws["LINKS_TABLE"], "edge1", long_url=url)
    result, click = counter(aws, dynamodb).handle(event("viewer-request", "edge1"))
    # Not passed on to S3 either: its 301 would send the browser to the same place.
    assert (result.get("status"), click.outcome, location(result)) == ("410", "gone", None)


@pytest.mark.parametrize("url", UNSAFE_LOCATIONS)
def test_the_edge_never_redirects_to_an_unsafe_expired_url(aws, dynamodb, url):
    put_link(dynamodb, aws["LINKS_TABLE"], "edge2", expires_at=1, expired_url=url)
    put_tombstone(dynamodb, aws["LINKS_TABLE"], "edge3", expired_url=url)
    for code in ("edge2", "edge3"):
        result, click = counter(aws, dynamodb).handle(event("viewer-request", code))
        assert (result.get("status"), click.outcome, location(result)) == ("410", "gone", None)


@pytest.mark.parametrize("url", UNSAFE_LOCATIONS)
def test_the_edge_never_redirects_to_an_unsafe_configured_expired_url(aws, dynamodb, url):
    put_link(dynamodb, aws["LINKS_TABLE"], "edge4", expires_at=1)
    result, _ = counter(aws, dynamodb, expired_redirect_url=url).handle(
        event("viewer-request", "edge4")
    )
    assert (result.get("status"), location(result)) == ("410", None)


def test_the_edge_still_redirects_to_what_the_app_accepts(aws, dynamodb):
    put_link(dynamodb, aws["LINKS_TABLE"], "edge5", long_url="https://SHOP.example.com./a\\b")
    put_link(dynamodb, aws["LINKS_TABLE"], "edge6", long_url="https://shop.example.com/a%5Cb")
    result, _ = counter(aws, dynamodb).handle(event("viewer-request", "edge5"))
    assert result.get("status") == "410"  # the app refuses a backslash anywhere
    result, _ = counter(aws, dynamodb).handle(event("viewer-request", "edge6"))
    assert (result["status"], location(result)) == ("302", "https://shop.example.com/a%5Cb")


def test_the_edge_holds_a_stored_url_to_the_allowlist_of_now(aws, dynamodb):
    """A link written before the operator narrowed ALLOWED_DESTINATION_HOSTS."""
    put_link(dynamodb, aws["LINKS_TABLE"], "edge7", long_url="https://evilexample.com/")
    put_link(dynamodb, aws["LINKS_TABLE"], "edge8", expires_at=1, expired_url="https://evil.test/")
    put_link(dynamodb, aws["LINKS_TABLE"], "edge9", long_url="https://Shop.example.com./")
    narrowed = counter(
        aws,
        dynamodb,
        allowed_destination_hosts=("*.example.com",),
        expired_redirect_url="https://operator.test/expired",
    )
    result, click = narrowed.handle(event("viewer-request", "edge7"))
    assert (result.get("status"), click.outcome, location(result)) == ("410", "gone", None)
    result, _ = narrowed.handle(event("viewer-request", "edge8"))
    assert location(result) == "https://operator.test/expired"  # the operator's own fallback
    result, _ = narrowed.handle(event("viewer-request", "edge9"))
    assert location(result) == "https://Shop.example.com./"


def test_the_build_bakes_the_stages_allowlist(tmp_path):
    from edge import build

    chalice_config = tmp_path / "config.json"
    chalice_config.write_text(
        json.dumps(
            {
                "stages": {
                    "prod": {
                        "environment_variables": {
                            "LINKS_TABLE": "links",
                            "AWS_REGION": "us-east-1",
                            "ALLOWED_DESTINATION_HOSTS": "example.com, *.example.com",
                        }
                    }
                }
            }
        )
    )
    args = build.parser().parse_args(["--stage", "prod", "--chalice-config", str(chalice_config)])
    config = build.edge_config(args)
    assert config.allowed_destination_hosts == ("example.com", "*.example.com")
    baked = tmp_path / "edge_config.json"
    baked.write_text(json.dumps(config.__dict__))  # as build() writes it: a JSON list
    assert EdgeConfig.load(baked) == config
