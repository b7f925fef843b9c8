"""The deploy rehearsal: `make deploy`'s whole chain, run against a fresh emulator server
(infra/rehearsal.py) from nothing, again, and with a new origin secret, leaves everything
the templates and the app declare in place, changes nothing the second time, moves the
bucket and CloudFront to the new secret together, and never touches the project's own
.chalice. The checks it makes are shown to fail on what a broken deploy would leave."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra import rehearsal
from infra.rehearsal_checks import check, differences
from tests.support.paths import ROOT

pytestmark = pytest.mark.deploy
STAGE, CLICK_MODE, TRIGGER = "dev", "every-click", "viewer-request"


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    chalice_dir = ROOT / ".chalice"
    before = {path: path.read_bytes() for path in chalice_dir.rglob("*") if path.is_file()}
    lines: list[str] = []
    report = rehearsal.rehearse(STAGE, "eu-west-1", CLICK_MODE, TRIGGER,
                                tmp_path_factory.mktemp("rehearsal"), log=lines.append)
    after = {path: path.read_bytes() for path in chalice_dir.rglob("*") if path.is_file()}
    return {"report": report, "lines": lines, "chalice_untouched": before == after}


def test_every_step_of_the_chain_runs_each_time(rehearsed: dict[str, Any]) -> None:
    runs = rehearsed["report"]["runs"]
    assert [run["steps"] for run in runs] == [[
        "origin secret", "data stack", "expired page", "record resources", "chalice deploy",
        "sqs batch failures", "api stack", "edge build", "edge upload", "edge stack",
        "retire previous origin secret", "record resources again", "chalice deploy again",
    ]] * 3


def test_everything_declared_exists_after_the_first_run(rehearsed: dict[str, Any]) -> None:
    assert rehearsed["report"]["problems"] == []


def test_the_second_run_changes_nothing(rehearsed: dict[str, Any]) -> None:
    assert rehearsed["report"]["changed_by_second_run"] == []
    second = "\n".join(rehearsed["lines"][rehearsed["lines"].index("==> run 2: origin secret"):])
    assert "linktrail-dev-data is up to date" in second
    assert "linktrail-dev-edge is up to date" in second
    assert "environment unchanged; no second chalice deploy" in second


def test_a_rotation_finishes_with_the_bucket_and_cloudfront_on_the_new_secret(
    rehearsed: dict[str, Any],
) -> None:
    report = rehearsed["report"]
    assert report["problems_after_rotation"] == []
    assert report["changed_by_rotation"] == []
    third = "\n".join(rehearsed["lines"][rehearsed["lines"].index("==> run 3: origin secret"):])
    assert "/linktrail/dev/origin-referer: rotated" in third
    assert "previous origin secret retired" in third


def test_the_projects_own_chalice_state_is_never_touched(rehearsed: dict[str, Any]) -> None:
    assert rehearsed["chalice_untouched"]


def _without_gateway_responses(view: dict[str, Any]) -> None:
    view["rest_api"]["gateway_responses"] = {}


def _edge_at_origin(view: dict[str, Any]) -> None:
    view["distribution"]["associations"][0][0] = "origin-request"


def _sqs_mapping_reporting_nothing(view: dict[str, Any]) -> None:
    for function in view["functions"].values():
        for source, mapping in function["mappings"].items():
            if ":sqs:" in source:
                mapping["response_types"] = []


def _ttl_off(view: dict[str, Any]) -> None:
    next(iter(view["tables"].values()))["ttl"] = None


def _stale_environment(view: dict[str, Any]) -> None:
    next(iter(view["functions"].values()))["environment"].pop("SHORT_BASE_URL")


def _no_website_error_page(view: dict[str, Any]) -> None:
    view["bucket"]["error"] = "error.html"


def _no_schedule(view: dict[str, Any]) -> None:
    view["schedules"] = {}


def _old_secret_still_accepted(view: dict[str, Any]) -> None:
    view["origin_secret"]["bucket_accepts_others"] = 1


@pytest.mark.parametrize(("breakage", "named"), [
    (_without_gateway_responses, "gateway responses"),
    (_edge_at_origin, "edge function associated"),
    (_sqs_mapping_reporting_nothing, "without partial batch failures"),
    (_ttl_off, "TTL"),
    (_stale_environment, "environment lacks the recorded ['SHORT_BASE_URL']"),
    (_no_website_error_page, "website documents"),
    (_no_schedule, "no schedules"),
    (_old_secret_still_accepted, "origin secret"),
])  # fmt: skip
def test_the_checks_see_what_a_broken_deploy_leaves(
    rehearsed: dict[str, Any], breakage: Callable[[dict[str, Any]], None], named: str
) -> None:
    view = copy.deepcopy(rehearsed["report"]["first_snapshot"])
    assert check(view, STAGE, CLICK_MODE, TRIGGER) == []
    breakage(view)
    problems = check(view, STAGE, CLICK_MODE, TRIGGER)
    assert any(named in problem for problem in problems), problems


def test_a_newly_published_edge_version_counts_as_a_change(rehearsed: dict[str, Any]) -> None:
    before = rehearsed["report"]["first_snapshot"]
    after = copy.deepcopy(before)
    after["edge_versions"].append(after["edge_versions"][0].rsplit(":", 1)[0] + ":2")
    assert differences(before, after) != []
    assert differences(before, copy.deepcopy(before)) == []


def test_a_failing_step_names_the_emulators_error(tmp_path: Path) -> None:
    log = tmp_path / "emulator.log"
    log.write_text(
        "Traceback (most recent call last):\n"
        '  File "moto/apigateway/models.py", line 1693, in import_rest_api\n'
        "KeyError: 'description'\n"
        '127.0.0.1 - - [03/Dec/2026 16:41:28] "POST /restapis?mode=import HTTP/1.1" 500 -\n'
    )
    assert rehearsal.last_emulator_error(log) == "KeyError: 'description'"
