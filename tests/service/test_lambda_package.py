"""The Lambda package holds production code only: `chalice package` on a copy of the whole
project zips app.py and chalicelib/ (and Chalice's own runtime), never the CLI, the local
stack, tests, bench, infra or the edge function, and its API has no local-only route."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chalicelib.contract import docs
from chalicelib.dashboard import assets
from tests.support.paths import ROOT

NOT_PRODUCTION = ("cli", "local", "tests", "bench", "infra", "edge")
# Served by local/routes.py, which only local/app_server.py installs.
LOCAL_ONLY_PATHS = ("/api/outbox", "/demo/analytics", "/demo/analytics.min.js")


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The deployment zip's file names and the SAM template of the `dev` stage."""
    workdir = tmp_path_factory.mktemp("package")
    project = workdir / "project"
    shutil.copytree(
        ROOT, project,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "node_modules", "dist", ".local", "__pycache__", "*_cache",
            "deployments", "deployed",
        ),
    )
    # The code is under test, not the wheels: without requirements chalice runs no pip
    # (about 2 s instead of 17 s, and no network). The zip then holds only what chalice
    # takes from the project.
    (project / "requirements.txt").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing")
    out = workdir / "out"
    chalice = Path(sys.executable).with_name("chalice")
    subprocess.run([str(chalice), "package", "--stage", "dev", str(out)],
                   cwd=project, env=env, check=True, capture_output=True, timeout=180)
    with zipfile.ZipFile(out / "deployment.zip") as deployment:
        names = sorted(deployment.namelist())
    return {"names": names, "sam": json.loads((out / "sam.json").read_text())}


def listing(names: list[str]) -> str:
    return "deployment.zip holds:\n  " + "\n  ".join(names)


def test_the_zip_holds_app_py_chalicelib_and_chalices_runtime(package: dict[str, Any]) -> None:
    names = package["names"]
    tops = {name.split("/")[0] for name in names}
    assert tops == {"app.py", "chalicelib", "chalice"}, listing(names)
    production = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "chalicelib").rglob("*.py")
        if "__pycache__" not in path.parts
    } | {  # the pages' files: ours and the libraries make copies in
        files.path_of(name).relative_to(ROOT).as_posix()  # type: ignore[union-attr]
        for files in (assets.FILES, docs.FILES)
        for name in files.names()
    }
    packaged = {name for name in names if name.startswith("chalicelib/")}
    assert packaged == production, listing(names)


def test_the_zip_holds_no_cli_local_tests_bench_infra_or_edge(package: dict[str, Any]) -> None:
    names = package["names"]
    strays = [name for name in names if name.split("/")[0] in NOT_PRODUCTION]
    assert strays == [], listing(names)


def test_the_packaged_api_has_no_local_only_route(package: dict[str, Any]) -> None:
    paths = set(package["sam"]["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"])
    assert {"/healthz", "/api/links", "/ping", "/events"} <= paths, sorted(paths)
    assert not paths & set(LOCAL_ONLY_PATHS), sorted(paths)
