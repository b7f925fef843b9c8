"""`linktrail sources create|list|revoke` against the app over real HTTP: the write key is
shown once, listed never, and a revoked key is refused by the Tracking API."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from cli import main as cli
from tests.support.sources import basic, served_app


@pytest.fixture
def api_url(aws: dict[str, str]) -> Iterator[str]:
    with served_app() as url:
        yield url


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(list(argv), out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def track(api_url: str, write_key: str) -> int:
    request = urllib.request.Request(
        f"{api_url}/v1/track", method="POST",
        data=json.dumps({"event": "CLI Tried", "userId": "u-1"}).encode(),
        headers={"Authorization": basic(write_key), "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_sources_are_created_listed_and_revoked(api_url: str, admin_key: str) -> None:
    common = ("--api", api_url, "--key", admin_key, "sources")
    status, out, err = run(*common, "create", "--name", "site", "--origin",
                           "https://Shop.example", "--rate-limit", "120")
    assert status == 0, err
    created = json.loads(out)
    assert created["origins"] == ["https://shop.example"]
    assert created["rate_limit_per_minute"] == 120 and "Shown once" in err
    assert track(api_url, created["write_key"]) == 200
    status, out, _ = run(*common, "list")
    assert status == 0 and created["source_id"] in out and created["write_key"] not in out
    status, out, _ = run(*common, "revoke", created["source_id"])
    assert status == 0 and json.loads(out)["status"] == "revoked"
    assert track(api_url, created["write_key"]) == 401


def test_a_bad_origin_is_one_line_naming_it(api_url: str, admin_key: str) -> None:
    status, out, err = run("--api", api_url, "--key", admin_key, "sources", "create",
                           "--name", "site", "--origin", "shop.example")
    assert (status, out) == (1, "")
    assert err.startswith("linktrail: ") and "origins" in err
