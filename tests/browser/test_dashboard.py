"""The operators' dashboard in Debian chromium, through `make dev`'s entry point: signing in
and out, a link made in the form and clicked on the short domain by a phone and a bot, its
chart and counts, its QR code decoded back, a campaign from a CSV watched to the end, a key
revoked, and axe-core and a phone-width check on every page (screenshots for people)."""

from __future__ import annotations

import io
import secrets
from typing import Any

import pytest

from tests.support import dashboard
from tests.support.browser import chromium
from tests.support.campaigns import NUMBERS
from tests.support.dashboard import DESKTOP, PHONE, Watched, go, open_page, sign_in
from tests.support.edge import IPHONE
from tests.support.stack import api_call, http

pytestmark = [pytest.mark.browser, pytest.mark.stack]

SLACKBOT = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"


def test_signing_in_keeps_the_key_in_the_tab_and_out_of_urls(local_stack: Any) -> None:
    with chromium() as browser:
        watched = open_page(browser)
        page = watched.page
        page.goto(f"{local_stack.app_url}/dashboard")
        page.fill("#key", "lt_nosuchkey0_" + "x" * 43)
        page.click("form button[type=submit]")
        problem = page.wait_for_selector(".problem")
        assert "API key" in problem.inner_text()  # the API's own detail, in words
        assert dashboard.session_key(watched) is None
        sign_in(watched, local_stack.app_url, local_stack.admin_key)
        assert dashboard.session_key(watched) == local_stack.admin_key
        assert all(local_stack.admin_key not in url for url in watched.urls)
        page.click("text=Sign out")
        page.wait_for_selector("#key")
        assert dashboard.session_key(watched) is None
        assert watched.errors == []


def create_in_form(watched: Watched, destination: str, code: str) -> None:
    page = watched.page
    page.click("summary >> text=Create a link")
    page.fill("#field-url", "ftp://example.com/nope")
    page.click("text=Create link")
    error = page.wait_for_selector("#field-url-error")
    assert "url" in error.inner_text().lower()
    assert page.get_attribute("#field-url", "aria-invalid") == "true"
    page.fill("#field-url", destination)
    page.fill("#field-code", code)
    page.fill("#field-tags", "spring, dashboard")
    page.click("text=Create link")
    page.wait_for_selector(f".notice >> text={code}")


def totals(watched: Watched) -> dict[str, str]:
    page = watched.page
    terms = page.locator("main .totals dt").all_inner_texts()
    values = page.locator("main .totals dd").all_inner_texts()
    return dict(zip(terms, values, strict=True))


def test_a_link_made_in_the_form_counts_a_phone_and_a_bot(local_stack: Any, tmp_path: Any) -> None:
    import zxingcpp
    from PIL import Image

    code = "dash" + secrets.token_hex(3)
    with chromium() as browser:
        watched = open_page(browser)
        sign_in(watched, local_stack.app_url, local_stack.admin_key)
        go(watched, local_stack.app_url, "links")
        create_in_form(watched, f"{local_stack.app_url}/about-me", code)
        watched.page.fill("#search-q", code)
        watched.page.click("form[role=search] button")
        dashboard.wait_until(lambda: watched.page.locator("table.links tbody tr").count() == 1, 20)
        assert watched.page.locator("table.links tbody tr").inner_text().startswith(code)
        phone = open_page(browser, PHONE, user_agent=IPHONE, is_mobile=True)
        phone.page.goto(f"{local_stack.short_url}/{code}")
        assert phone.page.url.startswith(f"{local_stack.app_url}/about-me")
        status, _, _ = http("GET", f"{local_stack.short_url}/{code}", {"User-Agent": SLACKBOT})
        assert status in (301, 302, 200)
        go(watched, local_stack.app_url, f"links/{code}")

        def counted() -> bool:
            shown = totals(watched)
            if shown.get("Clicks by people") == "1" and shown.get("Clicks by bots") == "1":
                return True
            watched.page.reload()
            watched.page.wait_for_selector("main .totals")
            return False

        assert dashboard.wait_until(counted, 90, every=1), totals(watched)
        watched.page.click("text=Show as a table")
        assert watched.page.locator("main figure table tbody tr").count() >= 1
        watched.page.select_option("#qr-format", "png")
        watched.page.wait_for_selector(".qr img[data-format=png]")
        with watched.page.expect_download() as download:
            watched.page.click("text=Download PNG")
        saved = tmp_path / "qr.png"
        download.value.save_as(saved)
        [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(saved.read_bytes())))
        assert found.text.startswith(f"{local_stack.short_url}/{code}")
        with watched.page.expect_download() as exported:
            watched.page.click("text=Export CSV")
        assert exported.value.suggested_filename == f"{code}-30d.csv"
        assert watched.errors == [], watched.errors


def test_a_create_whose_answer_was_lost_is_sent_again_as_the_same_request(
    local_stack: Any,
) -> None:
    """The app made the link but its answer never reached the browser: pressing Create
    again sends the same Idempotency-Key and shows the link made the first time (a second
    create of the custom code would have been a 409)."""
    code = "lost" + secrets.token_hex(3)
    keys: list[str] = []

    def lose_the_first_answer(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.headers.get("idempotency-key", ""))
        if len(keys) == 1:
            route.fetch()  # the app creates the link...
            route.abort("connectionreset")  # ...and the browser never hears of it
        else:
            route.continue_()

    with chromium() as browser:
        watched = open_page(browser)
        sign_in(watched, local_stack.app_url, local_stack.admin_key)
        go(watched, local_stack.app_url, "links")
        page = watched.page
        page.route("**/api/links", lose_the_first_answer)
        page.click("summary >> text=Create a link")
        page.fill("#field-url", f"{local_stack.app_url}/lost-answer")
        page.fill("#field-code", code)
        page.click("text=Create link")
        assert "could not be reached" in page.wait_for_selector(".create .problem").inner_text()
        page.click("text=Create link")
        page.wait_for_selector(f".notice >> text={code}")
        assert watched.errors == [], watched.errors
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0].startswith("dash-"), keys
    status, _, link = api_call("GET", f"{local_stack.app_url}/api/links/{code}",
                               local_stack.admin_key)
    assert status == 200 and link["url"] == f"{local_stack.app_url}/lost-answer"


def test_a_campaign_from_a_csv_is_watched_to_the_end(local_stack: Any) -> None:
    csv = "to,ref\n" + "".join(f"{number},r{n}\n" for n, number in enumerate(NUMBERS[60:63]))
    with chromium() as browser:
        watched = open_page(browser)
        page = watched.page
        sign_in(watched, local_stack.app_url, local_stack.admin_key)
        go(watched, local_stack.app_url, "campaigns")
        page.fill("#field-name", "Dashboard spring")
        page.fill("#field-url", f"{local_stack.app_url}/blog")
        page.set_input_files("#field-recipients", files=[
            {"name": "people.csv", "mimeType": "text/csv", "buffer": csv.encode()}])
        page.click("text=Start campaign")
        page.wait_for_selector("main h1 >> text=Dashboard spring", timeout=30000)
        page.wait_for_selector(".status.done", timeout=90000)
        # The recipients' rows are read on the page's next poll after the last text.
        rows = page.locator("main table tbody tr")
        assert dashboard.wait_until(lambda: rows.count() == 3, 30), rows.count()
        body = page.inner_text("main")
        assert all(number not in body for number in NUMBERS[60:63])  # masked by the API
        assert "Click-through rate" in body and watched.errors == []


def test_a_key_made_and_revoked_stops_working(local_stack: Any) -> None:
    name = "dash-" + secrets.token_hex(3)
    with chromium() as browser:
        watched = open_page(browser)
        page = watched.page
        sign_in(watched, local_stack.app_url, local_stack.admin_key)
        go(watched, local_stack.app_url, "keys")
        page.fill("#field-name", name)
        page.select_option("#field-role", "read")
        page.click("text=Create key")
        secret = page.wait_for_selector(".notice code.secret").inner_text()
        assert api_call("GET", f"{local_stack.app_url}/api/links", secret)[0] == 200
        page.click(f"[aria-label='Revoke {name}']")
        page.click(f"text=Revoke {name} for good")
        page.wait_for_selector(f"tr:has-text('{name}') >> text=revoked")
        assert api_call("GET", f"{local_stack.app_url}/api/links", secret)[0] == 401
        # The tab's own key is not offered for revoking: the API would refuse it (409).
        own = page.locator("tr:has-text(\"this tab's key\")")
        assert own.count() == 1
        assert own.locator("button").count() == 0
        assert "this tab signed in with it" in own.inner_text()
        assert watched.errors == []


def detail_pages(stack: Any) -> list[str]:
    """A link's page and a campaign's, for one link and campaign there is (made on the spot
    when the stack has none yet)."""
    url, key = stack.app_url, stack.admin_key
    links = api_call("GET", f"{url}/api/links?limit=1", key)[2]["links"]
    if not links:
        links = [api_call("POST", f"{url}/api/links", key, {"url": f"{url}/blog"})[2]]
    pages = [f"links/{links[0]['code']}"]
    campaigns = api_call("GET", f"{url}/api/campaigns?limit=1", key)[2]["campaigns"]
    if campaigns:
        pages.append(f"campaigns/{campaigns[0]['campaign_id']}")
    return pages


@pytest.mark.parametrize(("width", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_every_page_passes_axe_and_fits_the_screen(local_stack: Any, width: str,
                                                   viewport: dict[str, int]) -> None:
    with chromium() as browser:
        watched = open_page(browser, viewport)
        watched.page.goto(f"{local_stack.app_url}/dashboard")
        watched.page.wait_for_selector("#key")
        assert dashboard.axe_violations(watched) == []
        dashboard.screenshot(watched, f"signin-{width}")
        sign_in(watched, local_stack.app_url, local_stack.admin_key)
        for section in (*dashboard.SECTIONS, *detail_pages(local_stack)):
            go(watched, local_stack.app_url, section)
            found = dashboard.axe_violations(watched)
            assert found == [], f"#/{section}: {dashboard.pretty(found)}"
            overflow = watched.page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"#/{section} scrolls sideways by {overflow}px"
            dashboard.screenshot(watched, f"{(section or 'overview').split('/')[0]}"
                                          f"{'-page' if '/' in section else ''}-{width}")
        assert watched.errors == []
        # The check sees what it is for: an image without a text alternative is critical.
        watched.page.evaluate("() => document.querySelector('main').append(new Image())")
        assert [v["id"] for v in dashboard.axe_violations(watched)] == ["image-alt"]
