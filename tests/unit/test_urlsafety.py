"""The SSRF guard, offline: literal IPs and names that resolve without external DNS
("localhost"); a public name stands in through a local hosts-free check of literals."""

from __future__ import annotations

import pytest

from chalicelib.core import urlsafety
from chalicelib.core.problems import BadRequest
from chalicelib.core.urlsafety import check_webhook_url, public_addresses


def refused(url: str, allow_private: bool = False) -> str:
    with pytest.raises(BadRequest) as caught:
        check_webhook_url(url, field="webhook_url", allow_private=allow_private)
    assert caught.value.field == "webhook_url"
    assert caught.value.status == 400
    return caught.value.detail


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://127.0.0.1:9001/2018-06-01/runtime/invocation/next",  # Lambda runtime API
        "https://10.0.0.8/hook",
        "https://172.16.3.4/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data/",  # instance metadata
        "https://[::1]/hook",
        "https://[fd00::1]/hook",  # IPv6 ULA
        "https://[fe80::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
        "https://[::ffff:169.254.169.254]/hook",
        "https://0.0.0.0/hook",
        "https://8.8.8.8/hook",  # public, but still a literal: refused outside local
    ],
)
def test_ip_literals_are_refused(url):
    refused(url)


@pytest.mark.parametrize("url", ["https://localhost/hook", "https://LOCALHOST.:8443/x"])
def test_names_resolving_to_private_addresses_are_refused(url):
    assert "public" in refused(url)


def test_names_that_do_not_resolve_are_refused():
    assert "resolve" in refused("https://no-such-host.invalid/hook")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/x", "http(s)"),
        ("file:///etc/passwd", "http(s)"),
        ("gopher://example.com/", "http(s)"),
        ("javascript:alert(1)", "http(s)"),
        ("http://example.com/hook", "https"),
        ("https://user:pass@example.com/hook", "password"),
        ("https://user@example.com/hook", "password"),
        ("https://example.com\\@127.0.0.1/hook", "password"),
        ("https://example.com/a b", "whitespace"),
        ("https://example.com/a\tb", "whitespace"),
        ("https://example.com/\x00", "control"),
        ("https://example.com/\x7f", "control"),
        ("https://example.com/" + "a" * 2000, "2000"),
        ("https:///path-only", "host"),
        ("https://[::1/hook", "valid URL"),
        ("", "non-empty"),
    ],
)
def test_malformed_or_unsafe_urls_are_refused(url, words):
    assert words in refused(url)


def test_local_stage_allows_private_receivers_and_plain_http():
    for url in ("http://127.0.0.1:9001/hook", "http://localhost:8080/x", "http://[::1]:80/"):
        assert check_webhook_url(url, field="webhook_url", allow_private=True) == url
    # Still not: other schemes, credentials, control characters.
    assert "http(s)" in refused("file:///etc/passwd", allow_private=True)
    assert "password" in refused("http://a:b@127.0.0.1/", allow_private=True)
    assert "whitespace" in refused("http://127.0.0.1/\n", allow_private=True)


def test_public_host_passes_and_is_normalised(monkeypatch):
    # A public name without external DNS: the resolver answers with a global address.
    monkeypatch.setattr(
        urlsafety,
        "resolve",
        lambda host, timeout=2.0: [urlsafety.ipaddress.ip_address("93.184.215.14")],
    )
    assert (
        check_webhook_url("HTTPS://Hooks.Example.COM:8443/in?x=1", field="f", allow_private=False)
        == "https://hooks.example.com:8443/in?x=1"
    )


def test_one_private_address_among_public_ones_is_refused(monkeypatch):
    monkeypatch.setattr(
        urlsafety,
        "resolve",
        lambda host, timeout=2.0: [
            urlsafety.ipaddress.ip_address("93.184.215.14"),
            urlsafety.ipaddress.ip_address("10.1.2.3"),
        ],
    )
    assert "public" in refused("https://hooks.example.com/in")


def test_resolve_public_at_send_time():
    assert public_addresses("8.8.8.8") is not None
    assert public_addresses("2606:4700:4700::1111") is not None
    for host in (
        "localhost",
        "127.0.0.1",
        "::1",
        "169.254.169.254",
        "::ffff:10.0.0.1",
        "fd12::1",
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "no-such-host.invalid",
        "",
    ):
        assert public_addresses(host) is None, host


def test_public_addresses_are_returned_for_the_post_to_connect_to(monkeypatch):
    """The send-time check hands back what it checked (the POST dials these, not the name)."""
    answers = {
        "hooks.example.com": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
        "mixed.example.com": ["93.184.215.14", "127.0.0.1"],
    }
    monkeypatch.setattr(
        urlsafety,
        "resolve",
        lambda host, timeout=2.0: (
            [urlsafety.ipaddress.ip_address(a) for a in answers[host] * 2]
            if host in answers
            else None
        ),
    )
    assert [str(a) for a in urlsafety.public_addresses("hooks.example.com") or []] == answers[
        "hooks.example.com"
    ]
    assert urlsafety.public_addresses("mixed.example.com") is None
    assert urlsafety.public_addresses("gone.example.com") is None
    assert urlsafety.public_addresses("hooks.example.com") is not None
    assert urlsafety.public_addresses("mixed.example.com") is None
