"""Recipients: phone numbers parsed into E.164, masked for display, hashed for opt-outs.

phonenumbers (the lite build) costs ~50 ms to import, so it is imported only by the
functions that parse; masking and hashing work on strings and stay cheap.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from dataclasses import dataclass

from chalicelib.core.problems import BadRequest

# Channels whose recipient is a phone number; Messenger addresses a page-scoped user id.
PHONE_CHANNELS = frozenset({"sms", "whatsapp", "viber"})
_MESSENGER_ID = re.compile(r"^[A-Za-z0-9._-]{1,50}\Z")
_NOT_DIGITS = re.compile(r"[^0-9]")
_LOOKS_LIKE_PHONE = re.compile(r"^\+?[0-9 ()./-]{7,30}\Z")
# A number as people and APIs write it inside text: digit groups joined by up to three
# spaces, dots, slashes, dashes (ASCII or Unicode) or parentheses, e.g. "+44 (0)7400
# 123-456". Every step must consume a digit, so matching stays linear.
_NUMBER_IN_TEXT = re.compile(r"\+?\(?[0-9](?:[\s./()\-\u2010-\u2015]{0,3}[0-9])+")
# Fewer digits than this is an error code, a price or a count, not a phone number.
MIN_NUMBER_DIGITS = 7


@dataclass(frozen=True)
class Recipient:
    """Where a text goes: `address` is E.164 (+447700900123) or a Messenger user id."""

    address: str
    country: str | None  # ISO 3166 region of a phone number ("GB"), None for Messenger

    @property
    def masked(self) -> str:
        return mask(self.address)

    @property
    def vonage_to(self) -> str:
        """Vonage wants phone numbers without the leading plus."""
        return self.address.removeprefix("+")


def parse_recipient(raw: object, channel: str, *, field: str = "sms.to") -> Recipient:
    """A recipient for `channel`, or 400: phone numbers must be valid, international and
    not premium-rate or shared-cost (the numbers SMS pumping targets)."""
    if not isinstance(raw, str) or not raw.strip():
        raise BadRequest(f"{field} is required: a phone number in international format.",
                         field=field)
    text = raw.strip()
    if channel not in PHONE_CHANNELS:
        if not _MESSENGER_ID.match(text):
            raise BadRequest(f"{field} must be a Messenger user id (1-50 letters or digits).",
                             field=field)
        return Recipient(text, None)
    if not _LOOKS_LIKE_PHONE.match(text):
        raise BadRequest(f"{field} must be a phone number in international format, "
                         "e.g. +447700900123.", field=field)
    import phonenumbers  # deferred: ~50 ms at import

    candidate = text if text.startswith("+") else "+" + text
    try:
        number = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise BadRequest(f"{field} is not a valid phone number in international format "
                         "(+ and country code).", field=field)
    kind = phonenumbers.number_type(number)
    if kind in (phonenumbers.PhoneNumberType.PREMIUM_RATE,
                phonenumbers.PhoneNumberType.SHARED_COST):
        raise BadRequest(f"{field} is a premium-rate or shared-cost number; texts to those "
                         "are refused.", field=field)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return Recipient(e164, phonenumbers.region_code_for_number(number))


def check_country_allowed(recipient: Recipient, allowed: Collection[str], *,
                          field: str) -> None:
    """400 (slug sms-country-not-allowed, `field`) unless the recipient's country is in
    `allowed` (ISO 3166 codes, upper case: Settings.sms_allowed_countries). An empty
    allowlist allows every country; Messenger ids (no country) are always allowed."""
    if not allowed or recipient.country is None or recipient.country in allowed:
        return
    raise BadRequest(f"{field}: texts to {recipient.country} numbers are not allowed here "
                     f"(SMS_ALLOWED_COUNTRIES: {', '.join(allowed)}).",
                     field=field, slug="sms-country-not-allowed")


def mask(address: str) -> str:
    """+447700900123 -> +44*******123. Keeps the country code's first two digits and the
    last three; anything shorter than 7 characters is masked entirely."""
    if len(address) < 7:
        return "*" * len(address)
    head = 3 if address.startswith("+") else 2
    return address[:head] + "*" * (len(address) - head - 3) + address[-3:]


def mask_numbers(text: str) -> str:
    """`text` with every phone-number-like run of 7 or more digits masked as `mask` does
    it, whatever the separators inside: "call +44 7400 123-456" -> "call +44*******456".
    It errs on the side of masking (a date such as 2026-01-31 is masked too): the text
    is stored and shown, a number must not get through."""

    def masked(found: re.Match[str]) -> str:
        run = found.group(0)
        digits = _NOT_DIGITS.sub("", run)
        if len(digits) < MIN_NUMBER_DIGITS:
            return run
        # "(+44 7400 123456)": an opening parenthesis the number never closes is text's.
        kept = "(" if run.startswith("(") and run.count("(") > run.count(")") else ""
        return kept + mask(("+" if run.lstrip("(").startswith("+") else "") + digits)

    return _NUMBER_IN_TEXT.sub(masked, text)


def address_from_vonage(channel: str, sender: str) -> str:
    """The address a webhook's `from`/`to` refers to, in our stored form (E.164 with +)."""
    if channel in PHONE_CHANNELS or channel == "viber_service":
        return "+" + _NOT_DIGITS.sub("", sender)
    return sender.strip()


def opt_out_key(address: str) -> str:
    """The opt-out item's id for an address. A plain hash: it keeps numbers out of keys
    and logs, and must survive secret rotation (an opt-out may never be lost), so it is
    not keyed; phone numbers are guessable, so this is not anonymisation."""
    return hashlib.sha256(b"linktrail-opt-out:" + address.encode()).hexdigest()
