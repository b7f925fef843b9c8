"""The edge shares the app's bot classifier and user-agent families: one source each,
linked into edge/shared/ and copied into the zip by content."""

from __future__ import annotations

import ast
import zipfile
from pathlib import Path

import pytest

from edge import build
from tests.support.paths import ROOT

SHARED = ("bots.py", "destinations.py", "useragents.py")


@pytest.mark.parametrize("name", SHARED)
def test_the_repository_keeps_one_source_linked_into_edge(name: str) -> None:
    linked = ROOT / "edge" / "shared" / name
    assert linked.is_symlink()
    assert linked.resolve() == (ROOT / "chalicelib" / "core" / name).resolve()


@pytest.mark.parametrize("name", SHARED)
def test_a_shared_module_imports_only_the_standard_library_crawlerdetect_or_its_sibling(
    name: str,
) -> None:
    tree = ast.parse((ROOT / "chalicelib" / "core" / name).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or "").split(".")[0])
    allowed = {
        "__future__",
        "collections",
        "functools",
        "ipaddress",
        "re",
        "typing",
        "crawlerdetect",
        ".",
    }
    assert imported <= allowed, imported - allowed


def test_the_zip_holds_the_shared_modules_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "edge-click.zip"
    assert build.main(["--stage", "local", "--out", str(out)]) == 0
    archive = zipfile.ZipFile(out)
    for name in SHARED:
        source = (ROOT / "chalicelib" / "core" / name).read_bytes()
        assert archive.read(f"edge/shared/{name}") == source
