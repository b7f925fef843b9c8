"""schemathesis against the local stack (make dev's entry point): every operation of
/openapi.json with positive and negative generated inputs, then a stateful run over the
document's links (a link created, read, changed, counted and deleted; a campaign started
and read), with the admin key. No answer may be a server error, break its schema, or
carry a status or media type the document does not give (tests/stack/schemathesis.toml).

`make fuzz` runs the same with many more examples (LINKTRAIL_FUZZ_EXAMPLES)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import start_local_stack, stop_local_stack

# Its own stack and worker group, so it runs beside the shared stack's tests.
pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("contract-fuzz")]

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("st")
EXAMPLES = int(os.environ.get("LINKTRAIL_FUZZ_EXAMPLES", "6"))
SEED = int(os.environ.get("LINKTRAIL_FUZZ_SEED", "20261204"))


def test_every_answer_keeps_the_contract(tmp_path: Path, capsys: Any) -> None:
    started = time.monotonic()
    stack = start_local_stack(tmp_path / "stack")
    try:
        run = subprocess.run(
            [
                str(SCHEMATHESIS), "--config-file", str(CONFIG), "--no-color",
                "run", f"{stack.app_url}/openapi.json",
                "--header", f"Authorization: Bearer {stack.admin_key}",
                "--phases", "examples,coverage,fuzzing,stateful",
                "--mode", "all",
                "--max-examples", str(EXAMPLES),
                "--seed", str(SEED),
                "--workers", "2",
                "--generation-database", "none",
                "--warnings", "off",
            ],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
        )  # fmt: skip
    finally:
        stop_local_stack(stack.process)
    summary = run.stdout[run.stdout.rfind("SUMMARY"):]
    with capsys.disabled():
        counts = re.search(r"Test cases:\s*\n\s*(.*)", summary)
        print(f"\nschemathesis: {counts.group(1) if counts else '?'}; "
              f"{time.monotonic() - started:.0f} s with the stack's start")
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert "Tested: " in summary and "Selected: " in summary
    selected = re.search(r"Selected: (\d+)/(\d+)", summary)
    tested = re.search(r"Tested: (\d+)", summary)
    assert selected and tested and selected.group(1) == selected.group(2) == tested.group(1)
    assert re.search(r"Stateful.*\n\s*\n?\s*Scenarios:\s*[1-9]", run.stdout), "no stateful run"
