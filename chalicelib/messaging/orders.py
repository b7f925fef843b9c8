"""An order to text a link: the `sms` object of POST /api/links (or a campaign's
recipient) validated into an SmsOrder, before anything is written."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib.core import phones
from chalicelib.core.phones import Recipient
from chalicelib.core.problems import BadRequest, Problem
from chalicelib.core.settings import Settings

# Longest text per channel (the Messages API's limits; SMS caps the whole product).
CHANNEL_TEXT_LIMITS = {"sms": 3200, "whatsapp": 3200, "viber": 1000, "messenger": 640}
ORDER_FIELDS = frozenset({"to", "text", "channel", "from"})
LINK_PLACEHOLDER = "{link}"
# Codes are at most this long (custom slugs included); the rendered text is checked
# against it before the link exists, and again with the real short URL at send time.
LONGEST_CODE = 64

_SMS_ALPHA_SENDER = re.compile(r"^[A-Za-z0-9 ]{1,11}\Z")
_NUMBER_SENDER = re.compile(r"^\+?[1-9][0-9]{6,14}\Z")
_ID_SENDER = re.compile(r"^[A-Za-z0-9 ._-]{1,50}\Z")


@dataclass(frozen=True)
class SmsOrder:
    """A validated request to text a link, its quota already reserved."""

    recipient: Recipient
    channel: str
    template: str
    sender: str
    key_id: str
    quota_day: str

    def render(self, short_url: str) -> str:
        return self.template.replace(LINK_PLACEHOLDER, short_url)


def text_limit(channel: str) -> int:
    return CHANNEL_TEXT_LIMITS.get(channel, 0)


def validate_order(sms: object, settings: Settings) -> tuple[str, str, str, Recipient]:
    """(channel, template, sender, recipient) of an `sms` object, or a 400 naming the
    field ("sms.<name>"); 503 when texting is not configured."""
    if not isinstance(sms, dict):
        raise BadRequest("sms must be an object: {to, text?, channel?, from?}.", field="sms")
    unknown = sorted(set(sms) - ORDER_FIELDS)
    if unknown:
        raise BadRequest(
            f"Unknown field(s) in sms: {', '.join(unknown)}.", field=f"sms.{unknown[0]}"
        )
    channel = sms.get("channel", "sms")
    if not isinstance(channel, str) or channel not in CHANNEL_TEXT_LIMITS:
        raise BadRequest(
            f"sms.channel must be one of {', '.join(CHANNEL_TEXT_LIMITS)}.", field="sms.channel"
        )
    template = sms.get("text", LINK_PLACEHOLDER)
    if not isinstance(template, str) or LINK_PLACEHOLDER not in template:
        raise BadRequest("sms.text must be a string containing {link}.", field="sms.text")
    if "\x00" in template:
        raise BadRequest("sms.text must not contain NUL characters.", field="sms.text")
    longest = len(settings.short_base_url) + 1 + LONGEST_CODE
    rendered_length = len(template) + template.count(LINK_PLACEHOLDER) * (
        longest - len(LINK_PLACEHOLDER)
    )
    limit = CHANNEL_TEXT_LIMITS[channel]
    if rendered_length > limit:
        raise BadRequest(
            f"sms.text would be {rendered_length} characters with the link; "
            f"{channel} allows at most {limit}.",
            field="sms.text",
        )
    sender = _validate_sender(sms.get("from", settings.vonage_from), channel)
    recipient = phones.parse_recipient(sms.get("to"), channel, field="sms.to")
    phones.check_country_allowed(recipient, settings.sms_allowed_countries, field="sms.to")
    if not settings.vonage_application_id:
        raise Problem(
            503, "Texting is not configured (VONAGE_APPLICATION_ID).", slug="sms-not-configured"
        )
    return channel, template, sender, recipient


def _validate_sender(sender: object, channel: str) -> str:
    if not isinstance(sender, str) or not sender.strip():
        raise BadRequest("sms.from must be a non-empty string.", field="sms.from")
    sender = sender.strip()
    if channel == "sms":
        if _NUMBER_SENDER.match(sender.replace(" ", "")):
            return sender.replace(" ", "").removeprefix("+")
        if _SMS_ALPHA_SENDER.match(sender) and not sender.isdigit():
            return sender
        raise BadRequest(
            "sms.from must be a phone number or 1-11 letters and digits.", field="sms.from"
        )
    if not _ID_SENDER.match(sender):
        raise BadRequest(
            f"sms.from must be the {channel} sender id (1-50 characters).", field="sms.from"
        )
    return sender.removeprefix("+")
