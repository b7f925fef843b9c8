"""Masking numbers quoted inside text (Vonage error details, receipt errors): whatever the
separators inside the number, it comes out in mask()'s +44*******456 style."""

from __future__ import annotations

import pytest

from chalicelib.core.phones import mask, mask_numbers


@pytest.mark.parametrize(("text", "masked"), [
    ("+447400123456", "+44*******456"),
    ("to 447400123456 bad", "to 44*******456 bad"),
    ("+44 7400 123456", "+44*******456"),
    ("+44-7400-123-456", "+44*******456"),
    ("+44.7400.123.456", "+44*******456"),
    ("(0)7400 123456", "07******456"),
    ("+44 (0)7400 123456", "+44********456"),
    ("+44 (0) 7400 - 123 456", "+44********456"),
    ("+1 (415) 555-0100.", "+14******100."),
    ("to (447400123456) failed", "to (44*******456) failed"),
    ("to (+44 7400 123456) failed", "to (+44*******456) failed"),
    ("07400/123456", "07******456"),
    ("+44\u00a07400\u00a0123456", "+44*******456"),  # no-break spaces
    ("+44\u20117400\u2011123456", "+44*******456"),  # non-breaking hyphens
    ("The number +44 7400 123456 is barred (1240).",
     "The number +44*******456 is barred (1240)."),
    ("a: +44 7400 123456, b: +33 6 12 34 56 78",
     "a: +44*******456, b: +33******678"),
])
def test_numbers_are_masked_whatever_their_separators(text: str, masked: str) -> None:
    assert mask_numbers(text) == masked


@pytest.mark.parametrize("text", [
    "Invalid params",
    "Throttled: error 1240 at 12:00",
    "price 0.0333 EUR, 3 parts",
    "ids 123 and 456",
    "+44 740",  # too short to be a number
    "",
])
def test_text_without_numbers_is_unchanged(text: str) -> None:
    assert mask_numbers(text) == text


def test_no_digit_of_a_masked_number_survives_but_its_ends() -> None:
    text = "Could not deliver to +44 (0)7400-123 456 today"
    masked = mask_numbers(text)
    assert masked == "Could not deliver to +44********456 today"
    assert "7400" not in masked and "123" not in masked


def test_masked_like_a_stored_number() -> None:
    assert mask_numbers("+44 7400 123456") == mask("+447400123456")


def test_long_inputs_are_masked_in_linear_time() -> None:
    import time

    text = "1 " * 50_000 + "x" + "(" * 50_000
    started = time.perf_counter()
    masked = mask_numbers(text)
    assert time.perf_counter() - started < 2.0
    assert "1 1" not in masked
