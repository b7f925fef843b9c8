"""The local Stitch sink's SQLite warehouse as stack and browser tests read it: rows by
query, and waiting until the rows a test expects have arrived."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def warehouse_rows(db: Path, query: str, *parameters: Any) -> list[dict[str, Any]]:
    if not db.exists():
        return []
    connection = sqlite3.connect(db, timeout=10)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in connection.execute(query, parameters)]
    except sqlite3.OperationalError:
        return []  # the tables appear with the first batch
    finally:
        connection.close()


def event_row(db: Path, message_id: str) -> dict[str, Any] | None:
    found = warehouse_rows(db, "SELECT * FROM events WHERE message_id = ?", message_id)
    return found[0] if found else None


def visitor_events(db: Path, anonymous_id: str) -> list[dict[str, Any]]:
    """One visitor's rows in time order (a session stack's warehouse is shared)."""
    return warehouse_rows(
        db, "SELECT * FROM events WHERE anonymous_id = ? ORDER BY timestamp", anonymous_id
    )


def identity_rows(db: Path, anonymous_id: str) -> list[dict[str, Any]]:
    return warehouse_rows(db, "SELECT * FROM identities WHERE anonymous_id = ?", anonymous_id)


def wait_until(done: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.5)
    return done()
