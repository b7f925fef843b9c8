"""The demo site, /journey and /api/journeys through the real app and the emulator."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from bench.core import count_aws_calls
from chalicelib import wiring
from tests.support.aws import all_items
from tests.support.journeys import DESKTOP_UA, SITE, hop_items
from tests.support.ping import BASE, ping

PAGES = ["/", "/about-me", "/blog", "/no-audit"]
BROWSER = {"Host": SITE, "User-Agent": DESKTOP_UA}


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.append(dict(attrs))


def links_of(html: str) -> dict[str, dict[str, str | None]]:
    parser = Links()
    parser.feed(html)
    return {str(link["href"]): link for link in parser.links}


@pytest.mark.parametrize("path", PAGES)
def test_every_page_is_html_with_audited_links_except_to_no_audit(client: Any, path: str) -> None:
    response = client.http.get(path, headers=BROWSER)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "connect-src 'self'" in response.headers["Content-Security-Policy"]
    html = response.body.decode()
    assert html.startswith("<!doctype html>")
    assert f"Current page: <code>{path}</code>" in html
    links = links_of(html)
    for target in ("./", "./about-me", "./blog"):
        assert links[target]["ping"] == "./ping", target
    assert "ping" not in links["./no-audit"]
    assert "ping" not in links["./journey"]
    assert all(link.get("ping") in (None, "./ping") for link in links.values())


def test_the_inline_stylesheet_is_allowed_by_its_hash(client: Any) -> None:
    import base64
    import hashlib

    response = client.http.get("/", headers=BROWSER)
    css = re.search(r"<style>(.*?)</style>", response.body.decode(), re.S)
    assert css is not None
    digest = base64.b64encode(hashlib.sha256(css.group(1).encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in response.headers["Content-Security-Policy"]


def test_the_journey_page_has_a_friendly_empty_state_and_writes_nothing(client: Any) -> None:
    before = all_items()
    response = client.http.get("/journey", headers=BROWSER)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "No audited clicks from you today yet" in response.body.decode()
    assert all_items() == before


def test_the_journey_page_lists_my_hops_in_order(client: Any) -> None:
    ping(client, **{"Ping-From": f"{BASE}/", "Ping-To": f"{BASE}/about-me"})
    ping(client, **{"Ping-From": f"{BASE}/about-me", "Ping-To": f"{BASE}/blog"})
    ping(client, **{"Ping-From": None, "Ping-To": f"{BASE}/"})
    with count_aws_calls(wiring.dynamodb()) as calls:
        html = client.http.get("/journey", headers=BROWSER).body.decode()
    assert calls == {"dynamodb.Query": 1}  # the salt is already in memory
    rows = html.split("<tbody>")[1].split("</tbody>")[0].split("</tr>")[:-1]
    cells = [[c.split(">")[-1] for c in row.split("</td>")[1:4]] for row in rows]
    assert cells == [["/", "→", "/about-me"], ["/about-me", "→", "/blog"], ["(unknown)", "→", "/"]]
    assert "3 audited clicks today" in html


def test_nobody_else_sees_my_journey(client: Any) -> None:
    ping(client)
    other = {**BROWSER, "User-Agent": DESKTOP_UA.replace("Chrome/150", "Chrome/149")}
    assert "No audited clicks" in client.http.get("/journey", headers=other).body.decode()
    elsewhere = {**BROWSER, "Host": "localhost:8000"}
    assert "No audited clicks" in client.http.get("/journey", headers=elsewhere).body.decode()
    assert "/about-me" in client.http.get("/journey", headers=BROWSER).body.decode()


def test_the_journey_page_shows_my_journey_on_the_site_that_serves_it(client: Any) -> None:
    other = "localhost:8000"  # the second configured site host
    ping(client, **{"Ping-From": f"{BASE}/", "Ping-To": f"{BASE}/about-me"})
    ping(client, **{"Ping-From": f"http://{other}/", "Ping-To": f"http://{other}/blog"})

    def shown(host: str) -> list[str]:
        html = client.http.get("/journey", headers={**BROWSER, "Host": host}).body.decode()
        return re.findall(r"<td>(/[^<]*)</td></tr>", html)

    assert shown(SITE) == ["/about-me"]
    assert shown(other) == ["/blog"]
    assert shown("api.linktrail.example") == []


def test_an_opted_out_browser_is_told_nothing_is_recorded(client: Any) -> None:
    ping(client)
    html = client.http.get("/journey", headers={**BROWSER, "Sec-GPC": "1"}).body.decode()
    assert "none of your clicks are recorded" in html and "<table>" not in html
    assert "<table>" in client.http.get("/journey", headers=BROWSER).body.decode()


def test_everything_echoed_is_escaped(client: Any) -> None:
    ping(client, **{"Ping-To": f"{BASE}/<script>alert(1)</script>", "Ping-From": f'{BASE}/"><b>'})
    assert len(hop_items()) == 1
    html = client.http.get("/journey", headers=BROWSER).body.decode()
    assert "<script>" not in html and '"><b>' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&quot;&gt;&lt;b&gt;" in html


def test_flows_need_an_api_key(client: Any) -> None:
    response = client.http.get("/api/journeys")
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"


def test_flows_count_the_hops_without_per_visitor_data(
    client: Any, auth_headers: dict[str, str]
) -> None:
    ping(client, **{"Ping-From": f"{BASE}/", "Ping-To": f"{BASE}/about-me"})
    ping(client, **{"Ping-From": f"{BASE}/about-me", "Ping-To": f"{BASE}/blog"})
    ping(client, **{"User-Agent": DESKTOP_UA.replace("Linux", "Linux i686")})
    response = client.http.get("/api/journeys", headers=auth_headers)
    assert response.status_code == 200
    flows = json.loads(response.body)
    assert flows["hops"] == 3 and flows["visitors"] == 2
    assert flows["transitions"] == [
        {"from": "/", "to": "/about-me", "count": 2},
        {"from": "/about-me", "to": "/blog", "count": 1},
    ]
    assert flows["entry_pages"] == [{"page": "/", "count": 2}]
    assert flows["exit_pages"] == [{"page": "/about-me", "count": 1}, {"page": "/blog", "count": 1}]
    for hop in hop_items():
        assert hop["pk"]["S"].rsplit("#", 1)[1] not in response.body.decode()


@pytest.mark.parametrize(
    "query", ["?from=2026-01-01&to=2026-03-01", "?from=yesterday", "?to=2026-13-01", "?day=1"]
)
def test_flows_answer_400_problem_details_for_bad_ranges(
    client: Any, auth_headers: dict[str, str], query: str
) -> None:
    response = client.http.get(f"/api/journeys{query}", headers=auth_headers)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert json.loads(response.body)["field"] in {"from", "to", "day"}
