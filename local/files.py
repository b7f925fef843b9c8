"""Files the stack's processes share: written whole or not at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json_atomically(path: Path, value: Any) -> None:
    """`value` as JSON at `path`, through a temporary file and a rename: a reader in
    another process sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(value))
    temporary.replace(path)
