"""The import rules: pyproject.toml's import-linter contracts hold, each one fails when its
rule is broken (on a copy of the code with one offending import added), and app.py, which
import-linter cannot take as a root (a module, not a package), imports only Chalice and
chalicelib."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.paths import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
CONTRACTS = {contract["name"]: contract for contract in CONFIG["contracts"]}

# One offending import per contract: (file, the line appended to it). Some sit inside a
# function, which import-linter sees as well as a module-level one.
VIOLATIONS = {
    "Features are layered: core, then links, messaging, campaigns; clicks on links and "
    "tracking; http and wiring on top": (
        "chalicelib/links/expiry.py",
        "def _later() -> None:\n    import chalicelib.messaging.texting\n",
    ),
    "Journeys, tracking and system stand on core alone": (
        "chalicelib/tracking/cors.py",
        "import chalicelib.links.service\n",
    ),
    "No import cycles between the modules of a package": (
        "chalicelib/core/problems.py",
        "def _later() -> None:\n    import chalicelib.core.payloads\n",
    ),
    "core imports no feature, nor the route helper or the composition root": (
        "chalicelib/core/clock.py",
        "import chalicelib.http\n",
    ),
    "Only blueprints, the CLI, the local stack, bench and tests use the composition root": (
        "chalicelib/links/service.py",
        "def _later() -> None:\n    from chalicelib import wiring\n",
    ),
    "Blueprints are imported by the app alone (and the local stack, bench and tests)": (
        "chalicelib/campaigns/service.py",
        "import chalicelib.links.api\n",
    ),
    "The Lambda package imports no local, bench, tests, CLI or infra code": (
        "chalicelib/system/health.py",
        "def _later() -> None:\n    import local.stack\n",
    ),
    "The edge function stands alone: no chalicelib, app, local or Chalice": (
        "edge/edge_click.py",
        "def _later() -> None:\n    import chalicelib.core.bots\n",
    ),
}


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )


def verdicts(output: str) -> dict[str, str]:
    """Contract name -> KEPT or BROKEN, from lint-imports' summary (names may wrap)."""
    summary = " ".join(output.split("Contracts:")[0].split())
    found = {}
    for name in CONTRACTS:
        for verdict in ("KEPT", "BROKEN"):
            if f"{name} {verdict}" in summary:
                found[name] = verdict
    return found


def test_the_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert verdicts(result.stdout) == dict.fromkeys(CONTRACTS, "KEPT"), result.stdout


def test_every_contract_has_a_violation_that_proves_it() -> None:
    assert set(VIOLATIONS) == set(CONTRACTS)


@pytest.fixture(scope="module")
def pristine_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packages import-linter reads, without caches."""
    copy = tmp_path_factory.mktemp("contracts")
    shutil.copy(ROOT / "pyproject.toml", copy)
    for package in CONFIG["root_packages"]:
        shutil.copytree(
            ROOT / package, copy / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.json", "*.html", "*.yaml"),
        )
    return copy


@pytest.mark.parametrize("contract", sorted(VIOLATIONS))
def test_a_contract_fails_on_its_violation(
    contract: str, pristine_copy: Path, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    shutil.copytree(pristine_copy, project)
    relative, offending = VIOLATIONS[contract]
    target = project / relative
    target.write_text(target.read_text() + "\n\n" + offending)
    result = lint_imports(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert verdicts(result.stdout)[contract] == "BROKEN", result.stdout


# --- app.py ------------------------------------------------------------------------------

APP_MAY_IMPORT = ("__future__", "chalice", "chalicelib")


def imported_roots(source: str) -> set[str]:
    """The top-level package of every import in `source`, nested ones included."""
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_app_imports_only_chalice_and_chalicelib() -> None:
    roots = imported_roots((ROOT / "app.py").read_text())
    assert roots <= set(APP_MAY_IMPORT), sorted(roots - set(APP_MAY_IMPORT))


@pytest.mark.parametrize(
    "offending", ["from local import routes", "def f():\n    import cli.main", "import tests"]
)
def test_the_app_check_sees_a_forbidden_import(offending: str) -> None:
    source = (ROOT / "app.py").read_text() + "\n" + offending + "\n"
    assert not imported_roots(source) <= set(APP_MAY_IMPORT)
