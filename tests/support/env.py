"""Changing the app's environment in a test, and putting it back."""

from __future__ import annotations

import os

from chalicelib import wiring


def restore_env(saved: dict[str, str | None]) -> None:
    """Put back the variables a fixture changed, and forget settings read from them."""
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    wiring.reset()


def set_env(**values: str) -> None:
    """Change the app's environment. Settings are read now: chalice.test.Client swaps in
    its stage's variables during a request, so they must not be read first there."""
    os.environ.update(values)
    wiring.reset()
    wiring.settings()
