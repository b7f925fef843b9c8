"""The demo site: a few pages whose links are audited with `<a ping>`, and the
visitor's own journey page. Plain HTML and one inline stylesheet; no JavaScript, no
cookies. Every echoed value goes through `html.escape`.

Links are relative (`./about-me`, `ping="./ping"`) so the site works both at the root
(`chalice local`, a custom domain) and under an API Gateway stage prefix (`/dev/...`).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from html import escape

from chalicelib.journeys.hops import UNKNOWN_PAGE, Hop

PING_URL = "./ping"

_CSS = """
:root { color-scheme: light dark; --accent: #2563eb; --muted: #6b7280; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; }
header, main, footer { max-width: 42rem; margin: 0 auto; padding: 1rem 1.25rem; }
header { display: flex; flex-wrap: wrap; gap: .25rem 1rem; align-items: baseline;
         border-bottom: 1px solid color-mix(in srgb, currentColor 15%, transparent); }
header strong { margin-right: auto; }
nav a { margin-right: .9rem; }
a { color: var(--accent); }
a[aria-current="page"] { font-weight: 600; text-decoration: none; }
.current { color: var(--muted); font-size: .9rem; }
code { font-size: .9em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem;
         border-bottom: 1px solid color-mix(in srgb, currentColor 12%, transparent); }
td.time { font-variant-numeric: tabular-nums; white-space: nowrap; color: var(--muted); }
.empty { padding: 1rem; border-radius: .5rem;
         background: color-mix(in srgb, var(--accent) 8%, transparent); }
footer { color: var(--muted); font-size: .85rem; }
""".strip()

# The stylesheet is inline and allowed by its hash; `connect-src 'self'` lets the browser
# send the pings (CSP treats <a ping> like a fetch).
_CSS_HASH = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@dataclass(frozen=True)
class SitePage:
    path: str
    label: str
    title: str
    body: str
    audited: bool = True  # do links *to* this page carry ping?


PAGES: tuple[SitePage, ...] = (
    SitePage(
        "/",
        "Home",
        "Hyperlink auditing, without cookies",
        "<p>Follow the links above. Each one carries a <code>ping</code> attribute, so your "
        "browser tells this site which link you followed: from this page to the next. "
        "No cookies, no JavaScript, no third party.</p>"
        '<p>When you are done, see <a href="./journey">your journey today</a>.</p>',
    ),
    SitePage(
        "/about-me",
        "About Me",
        "About me",
        "<p>I write about small, serverless things that respect their readers.</p>"
        '<p>This page was reached through an audited link. The <a href="./blog" '
        f'ping="{PING_URL}">blog</a> is one more.</p>',
    ),
    SitePage(
        "/blog",
        "Blog",
        "Blog",
        "<article><h2>Counting clicks with one HTML attribute</h2>"
        '<p><code>&lt;a href="/next" ping="/ping"&gt;</code> makes the browser POST a '
        "tiny <code>text/ping</code> request when the link is followed.</p></article>"
        "<article><h2>Forgetting on purpose</h2>"
        "<p>Visitors are told apart by a hash whose daily salt is deleted after 48 hours. "
        "After that, nobody can tell who a hash was.</p></article>",
    ),
    SitePage(
        "/no-audit",
        "Unaudited Page",
        "An unaudited page",
        "<p>Links to this page carry no <code>ping</code>: arriving here was not recorded.</p>",
        audited=False,
    ),
)
PAGES_BY_PATH = {page.path: page for page in PAGES}


@dataclass(frozen=True)
class Html:
    body: str
    status: int = 200
    headers: dict[str, str] = field(
        default_factory=lambda: {
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "no-cache",
            **SECURITY_HEADERS,
        }
    )


def _href(path: str) -> str:
    return "./" + path.lstrip("/")


def _nav(current: str) -> str:
    links = []
    for page in PAGES:
        attributes = [f'href="{escape(_href(page.path))}"']
        if page.audited:
            attributes.append(f'ping="{PING_URL}"')
        if page.path == current:
            attributes.append('aria-current="page"')
        links.append(f"<a {' '.join(attributes)}>{escape(page.label)}</a>")
    # The journey page is not site content: visiting it is not a hop.
    links.append('<a href="./journey">Your journey</a>')
    return "<nav>" + "".join(links) + "</nav>"


def _document(title: str, current: str, content: str) -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · linktrail demo</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<header><strong>linktrail demo</strong>{_nav(current)}</header>"
        f"<main><h1>{escape(title)}</h1>"
        f'<p class="current">Current page: <code>{escape(current)}</code></p>'
        f"{content}</main>"
        "<footer>Clicks are recorded without cookies. Browsers sending Global Privacy "
        "Control or Do Not Track are never recorded; nor are bots.</footer>"
        "</body></html>"
    )


def page(path: str) -> Html:
    """One of the demo pages (`PAGES`)."""
    found = PAGES_BY_PATH[path]
    return Html(_document(found.title, path, found.body))


def _time(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S")


def journey_page(hops: list[Hop], *, opted_out: bool = False) -> Html:
    """The asking visitor's own hops today. Personal, so never cached."""
    if opted_out:
        content = (
            '<p class="empty">Your browser sends Global Privacy Control or Do Not Track, so '
            "none of your clicks are recorded. There is nothing to show, by design.</p>"
        )
    elif not hops:
        content = (
            '<p class="empty">No audited clicks from you today yet. Follow a few links above '
            "and come back. (Firefox and Brave do not send pings by default, and some "
            "extensions block them.)</p>"
        )
    else:
        rows = "".join(
            f'<tr><td class="time"><time datetime="{escape(hop.at.isoformat())}">'
            f"{escape(_time(hop.at))}</time></td>"
            f"<td>{escape(hop.from_page or UNKNOWN_PAGE)}</td><td>→</td>"
            f"<td>{escape(hop.to_page)}</td></tr>"
            for hop in hops
        )
        content = (
            f"<p>{len(hops)} audited click{'s' if len(hops) != 1 else ''} today (UTC), "
            "found with the same hash your clicks were stored under. Only you can see "
            "this: the hash is computed from your own request.</p>"
            "<table><thead><tr><th>Time (UTC)</th><th>From</th><th></th><th>To</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>"
        )
    html = Html(_document("Your journey today", "/journey", content))
    html.headers["Cache-Control"] = "no-store"
    return html
