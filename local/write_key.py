"""The local source `make dev` creates: a write key for Segment's libraries, kept in the
state directory (`write-key`) so snippets and scripts keep working across restarts.

Its origins are the app's own and those given in the shell (`make dev
SOURCE_ORIGINS=http://localhost:3000`), so a site of your own can send with it from a
browser. A browser source's identify calls link only with a user_hash (tracking/proof.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import boto3

from chalicelib.sources.keys import WRITE_KEY_PATTERN, WriteKeys


def local_origins(app_port: int, extra: str) -> list[str]:
    own = [f"http://127.0.0.1:{app_port}", f"http://localhost:{app_port}"]
    given = [origin.strip() for origin in extra.split(",") if origin.strip()]
    return list(dict.fromkeys([*own, *given]))


def ensure_write_key(key_file: Path, app_table: str, origins: list[str]) -> str:
    """Reuse the write key in `key_file` if there is one, else make one; store its hash in
    the emulator either way."""
    existing = key_file.read_text().strip() if key_file.exists() else ""
    reused = existing if WRITE_KEY_PATTERN.match(existing) else None
    store = WriteKeys(boto3.session.Session().client("dynamodb"), app_table)
    created = store.create("local", origins, write_key=reused)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(created.write_key + "\n")
    key_file.chmod(0o600)
    return created.write_key


def for_stack(state_dir: Path, app_table: str, app_port: int) -> str:
    """The stack's write key, its origins extended by the shell's SOURCE_ORIGINS."""
    origins = local_origins(app_port, os.environ.get("SOURCE_ORIGINS", ""))
    return ensure_write_key(state_dir / "write-key", app_table, origins)
