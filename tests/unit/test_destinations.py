"""The destination check against URLs a WHATWG parser (every browser) reads differently
from `urlsplit`, and allowlist wildcards that match whole labels only. The comment by each
case says what a browser opens."""

from __future__ import annotations

import pytest

from chalicelib.core.destinations import (
    UnsafeDestination,
    allowlist_entry,
    browser_host,
    check_destination,
    host_allowed,
)

WILDCARD = ("*.example.com",)

REFUSED_AS_WRITTEN = [
    # special schemes read "\" as "/": host evil.test
    ("http://evil.test\\.example.com/phish", "backslash"),
    ("https://example.com\\@evil.test/", "backslash"),
    ("http:\\\\evil.test/", "backslash"),
    # tabs and newlines are stripped before parsing: host example.com, not what it reads
    ("http://exa\tmple.com/", "control"),
    ("http://evil.test\n.example.com/", "control"),
    ("http://evil.test\r\n.example.com/", "control"),
    (" http://example.com/", "control"),
    # the host is percent-decoded: evil.test\ (a forbidden code point), a full-width dot
    # (IDNA maps it to "."), a plain dot
    ("http://evil.test%5C.example.com/", "percent-encode"),
    ("http://evil.test%EF%BC%8Eexample.com/", "percent-encode"),
    ("http://evil%2etest/", "percent-encode"),
    # userinfo: the host is what follows the last "@"
    ("http://a.example.com@evil.test/", "user:password"),
    ("http://a.example.com:80@evil.test/", "user:password"),
    # special schemes ignore missing or extra slashes: host evil.test
    ("http:evil.test/", "scheme://host"),
    ("http:/evil.test/", "scheme://host"),
    ("http:///evil.test/", "no host"),
    ("http:////evil.test/", "no host"),
    # a host ending in a number is IPv4 in any spelling: 127.0.0.1
    ("http://0x7f.1/", "IPv4"),
    ("http://2130706433/", "IPv4"),
    ("http://127.000.000.001/", "IPv4"),
    ("http://a.example.com.0x1/", "IPv4"),
    # not ASCII: the browser maps it through IDNA first
    ("http://\uff45vil.test/", "ASCII"),
    ("http://evil.test\u3002example.com/", "ASCII"),
    # a punycode label that does not decode: browsers refuse to open it
    ("http://xn--zz.example.com/", "xn--"),
    ("http://a..example.com/", "host name"),
    ("http://-a.example.com/", "host name"),
    ("http://a.example.com:99999/", "port"),
    ("http://a.example.com:8o/", "port"),
    ("http://[::1/", "IPv6"),
    ("http://[fe80::1%25eth0]/", "percent-encode"),
    ("javascript:alert(1)//http://a.example.com/", "http or https"),
    ("ftp://a.example.com/", "http or https"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED_AS_WRITTEN)
def test_a_url_a_browser_reads_differently_is_refused(url: str, reason: str) -> None:
    with pytest.raises(UnsafeDestination, match=reason):
        browser_host(url)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://Shop.EXAMPLE.com/Cart", "shop.example.com"),  # hosts are lower-cased
        ("https://shop.example.com./", "shop.example.com"),  # the same DNS name
        ("HTTPS://shop.example.com", "shop.example.com"),
        ("https://shop.example.com:8443/a?b=c#d", "shop.example.com"),
        ("https://shop.example.com:/", "shop.example.com"),  # an empty port is the default
        ("https://xn--bcher-kva.example.com/", "xn--bcher-kva.example.com"),
        ("https://shop.example.com/a%5Cb/@evil.test", "shop.example.com"),  # all path
        ("https://shop.example.com?next=http://evil.test", "shop.example.com"),
        ("http://127.0.0.1:8080/", "127.0.0.1"),
        ("http://[0:0::1]:80/", "[::1]"),
    ],
)
def test_the_host_is_the_one_a_browser_opens(url: str, host: str) -> None:
    assert browser_host(url) == host


@pytest.mark.parametrize(
    "url",
    [
        "https://a.example.com/",
        "https://a.b.example.com/",
        "https://A.EXAMPLE.COM./",
        "https://xn--bcher-kva.example.com/",
    ],
)
def test_a_wildcard_matches_names_below_it(url: str) -> None:
    assert check_destination(url, WILDCARD) == browser_host(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/",  # the wildcard does not cover its own name
        "https://evilexample.com/",
        "https://example.com.evil.test/",
        "https://a.example.com.evil.test/",
        "https://example.company/",
        "https://a.example.co/",
    ],
)
def test_a_wildcard_matches_whole_labels_only(url: str) -> None:
    with pytest.raises(UnsafeDestination, match="allowlist"):
        check_destination(url, WILDCARD)


def test_an_exact_entry_matches_its_host_alone() -> None:
    allowed = ("example.com",)
    assert check_destination("https://EXAMPLE.com./x", allowed) == "example.com"
    for url in ("https://a.example.com/", "https://example.com.evil.test/"):
        with pytest.raises(UnsafeDestination, match="allowlist"):
            check_destination(url, allowed)


def test_allowlist_entries_compare_in_their_ascii_form() -> None:
    assert allowlist_entry("*.Bücher.Example.") == "*.xn--bcher-kva.example"
    assert host_allowed("shop.xn--bcher-kva.example", ("*.bücher.example",))
    assert not host_allowed("xn--bcher-kva.example", ("*.bücher.example",))


def test_wildcards_never_match_addresses() -> None:
    assert not host_allowed("10.0.0.1", ("*.0.0.1",))
    assert not host_allowed("[::1]", ("*.1",))
    assert host_allowed("10.0.0.1", ("10.0.0.1",))


def test_without_an_allowlist_any_well_formed_host_passes() -> None:
    assert check_destination("https://anywhere.test/") == "anywhere.test"
