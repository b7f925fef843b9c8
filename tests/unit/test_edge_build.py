"""`python -m edge.build`: a small deterministic zip whose root handler runs on its own."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edge import build


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("edge") / "edge-click.zip"
    assert build.main(["--stage", "local", "--out", str(out), "--time-budget-ms", "900"]) == 0
    return out


def test_zip_is_small_and_holds_only_what_runs(built):
    assert built.stat().st_size <= build.ZIP_GOAL
    names = set(zipfile.ZipFile(built).namelist())
    assert {
        "edge_click.py",
        "edge/edge_click.py",
        "edge/config.py",
        "edge/responses.py",
        "edge/shared/__init__.py",
        "edge/shared/bots.py",
        "edge/shared/useragents.py",
        "edge/edge_config.json",
        "crawlerdetect/__init__.py",
        "crawlerdetect/providers/crawlers.py",
    } <= names
    assert any(name.endswith("LICENSE") for name in names)
    assert not any("chalicelib" in n or "__pycache__" in n or n.endswith("build.py") for n in names)


def test_config_is_baked_from_the_stage(built):
    baked = json.loads(zipfile.ZipFile(built).read("edge/edge_config.json"))
    assert baked["table"] == "linktrail-local-links"
    assert baked["region"] == "us-east-1"
    assert baked["mode"] == "every"
    assert baked["time_budget_ms"] == 900
    assert "<title>Link expired</title>" in baked["expired_html"]
    assert "endpoint_url" not in baked


def test_build_is_deterministic(built, tmp_path):
    again = tmp_path / "again.zip"
    assert build.main(["--stage", "local", "--out", str(again), "--time-budget-ms", "900"]) == 0
    assert again.read_bytes() == built.read_bytes()


def test_stage_without_resources_is_refused(tmp_path, capsys):
    assert build.main(["--stage", "dev", "--out", str(tmp_path / "x.zip")]) == 1
    assert "LINKS_TABLE" in capsys.readouterr().err


def test_unzipped_handler_runs_without_the_repository(built, tmp_path):
    """What Lambda does: unzip, import edge_click from the root, call handler."""
    zipfile.ZipFile(built).extractall(tmp_path)
    script = (
        "import sys; sys.path.insert(0, '.')  # Lambda puts /var/task first\n"
        "import edge_click\n"
        "assert 'chalicelib' not in sys.modules\n"
        "request = {'clientIp': '203.0.113.9', 'method': 'GET', 'uri': '/favicon.ico',"
        " 'querystring': '', 'headers': {}}\n"
        "event = {'Records': [{'cf': {'config': {'eventType': 'viewer-request'},"
        " 'request': request}}]}\n"
        "assert edge_click.handler(event, None) == request\n"
        "from edge.shared import bots, useragents\n"
        "assert bots.is_bot('Mozilla/5.0 (compatible; AhrefsBot/7.0)')\n"
        "assert useragents.families('Twitterbot/1.0')['device'] == 'bot'\n"
        "import os\n"
        "assert os.path.abspath(sys.modules['crawlerdetect'].__file__).startswith(os.getcwd())\n"
        "print('ok')\n"
    )
    ran = subprocess.run(
        [sys.executable, "-I", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"AWS_DEFAULT_REGION": "us-east-1"},
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "ok"
