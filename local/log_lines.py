"""Log lines of the local servers that carry what a client sent, made safe for a terminal.

A request line or header is whatever bytes the client chose. Written raw to the console
of `make dev`, ESC sequences would recolour, retitle or clear the developer's terminal, and
CR or LF would forge whole log lines. Every C0 and C1 control, DEL included, is written as
a `\\xNN` escape, and a backslash as `\\\\` so an escape cannot be faked either (the table of
Python's own http.server, which the servers' log_message overrides bypass).
"""

from __future__ import annotations

import itertools

_ESCAPES = {c: f"\\x{c:02x}" for c in itertools.chain(range(0x20), range(0x7F, 0xA0))}
_ESCAPES[ord("\\")] = "\\\\"
_TABLE = str.maketrans(_ESCAPES)


def printable(text: str) -> str:
    """`text` with every control character escaped: safe to write as one log line."""
    return text.translate(_TABLE)
