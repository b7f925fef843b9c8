"""Sending one text through the Vonage Messages API with the real SDK (vonage 4.x).

Only what sending needs is imported, and only when a text is sent: the SDK's HTTP
client and its Messages models (`vonage_http_client`, `vonage_messages`, the pieces
`vonage.Vonage().messages` is built from; ~380 ms instead of ~590 ms for `vonage`).
Every failure becomes `SendFailed`, never an SDK exception, so callers record a state.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from chalicelib.core.clock import now
from chalicelib.core.phones import mask_numbers
from chalicelib.core.settings import Settings

log = logging.getLogger("linktrail.messaging")

DEFAULT_TIMEOUT_SECONDS = 5
DEFAULT_RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class OutgoingText:
    channel: str  # sms | whatsapp | viber | messenger
    to: str  # as Vonage wants it: digits without "+", or a Messenger id
    sender: str
    text: str
    client_ref: str
    webhook_url: str


class SendFailed(Exception):
    """Vonage did not accept the text. `retry_after` is set when it was rate-limited."""

    def __init__(self, reason: str, *, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Sender(Protocol):
    def send(self, text: OutgoingText) -> str:
        """Send; return Vonage's message_uuid or raise SendFailed."""
        ...


class VonageSender:
    """The real SDK with application (JWT) auth, pointed at `settings.vonage_api_host`
    when set (the local fake), trusting `settings.vonage_ca_bundle` for it locally."""

    def __init__(self, settings: Settings, *, timeout: int = DEFAULT_TIMEOUT_SECONDS) -> None:
        self._settings = settings
        self._timeout = timeout

    def send(self, text: OutgoingText) -> str:
        try:
            messages = _messages_client(self._settings, self._timeout)
            model = _message_model(text)
            return str(messages.send(model).message_uuid)
        except SendFailed:
            raise
        except Exception as error:  # the SDK's and requests' exceptions, classified below
            raise _classify(error, self._timeout) from None


def _message_model(text: OutgoingText) -> Any:
    from vonage_messages import MessengerText, Sms, ViberText, WhatsappText

    common: dict[str, Any] = {
        "to": text.to,
        "from_": text.sender,
        "text": text.text,
        "client_ref": text.client_ref,
        "webhook_url": text.webhook_url,
    }
    if text.channel == "sms":
        return Sms(**common)
    if text.channel == "whatsapp":
        return WhatsappText(**common)
    if text.channel == "viber":
        return ViberText(**common)
    if text.channel == "messenger":
        return MessengerText(**common)
    raise SendFailed(f"unknown channel {text.channel!r}")


_CLIENTS: dict[tuple[str, ...], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _messages_client(settings: Settings, timeout: int) -> Any:
    """One SDK client (and its connection pool) per configuration, per process."""
    private_key = settings.secret("vonage-private-key").reveal()
    if "\\n" in private_key and "\n" not in private_key:  # pasted into SSM as one line
        private_key = private_key.replace("\\n", "\n")
    if not settings.vonage_application_id or not private_key:
        raise SendFailed("Vonage is not configured (application id and private key).")
    ca_bundle = settings.vonage_ca_bundle if settings.is_local else ""
    cache_key = (
        settings.vonage_application_id,
        hashlib.sha256(private_key.encode()).hexdigest(),
        settings.vonage_api_host,
        ca_bundle,
        str(timeout),
    )
    with _CLIENTS_LOCK:
        found = _CLIENTS.get(cache_key)
        if found is not None:
            return found
        from vonage_http_client import Auth, HttpClient, HttpClientOptions
        from vonage_messages import Messages

        options: dict[str, Any] = {"timeout": timeout, "max_retries": 2}
        if settings.vonage_api_host:
            options["api_host"] = settings.vonage_api_host
        http_client = HttpClient(
            Auth(application_id=settings.vonage_application_id, private_key=private_key),
            HttpClientOptions(**options),
            "linktrail",
        )
        if ca_bundle:
            # The local fake's self-signed certificate, trusted by this session only
            # (REQUESTS_CA_BUNDLE would replace the trust store of the whole process).
            # trust_env off, or an inherited REQUESTS_CA_BUNDLE/proxy would win.
            http_client._session.verify = ca_bundle
            http_client._session.trust_env = False
        # The SDK logs error bodies (which may quote the number) at WARNING and request
        # bodies at DEBUG; our own log lines say what happened, masked.
        logging.getLogger("vonage").setLevel(logging.ERROR)
        created = Messages(http_client)
        _CLIENTS[cache_key] = created
        return created


def _classify(error: Exception, timeout: int) -> SendFailed:
    import requests
    from vonage_http_client.errors import HttpRequestError, RateLimitedError

    if isinstance(error, RateLimitedError):
        retry_after = _retry_after(error.response.headers.get("Retry-After"))
        return SendFailed(f"Vonage rate-limited the request (429); retry after {retry_after} s.",
                          retry_after=retry_after)
    if isinstance(error, HttpRequestError):
        return SendFailed(_http_reason(error.response))
    if isinstance(error, requests.Timeout):
        return SendFailed(f"Vonage did not answer within {timeout} s.")
    if isinstance(error, requests.ConnectionError):
        return SendFailed("Could not connect to Vonage.")
    # Credentials that cannot sign, a model the SDK refuses, anything unforeseen: logged
    # with its type only (messages may quote the request), recorded as a failed send.
    log.warning("vonage send failed: %s", type(error).__name__)
    return SendFailed(f"Sending failed ({type(error).__name__}).")


def _http_reason(response: Any) -> str:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    # Error details may quote the number, written any way; the reason is stored and shown,
    # so mask each part before it is cut to length (a cut number could escape the mask)
    # and before the status code is put next to it.
    title = mask_numbers(str(body.get("title") or response.reason or "error"))[:120]
    detail = mask_numbers(str(body.get("detail") or ""))[:300]
    return f"Vonage answered {status} {title}" + (f": {detail}" if detail else "")


def _retry_after(header: str | None) -> int:
    """Retry-After as whole seconds (delta-seconds or an HTTP date), at least 1."""
    if not header:
        return DEFAULT_RETRY_AFTER_SECONDS
    header = header.strip()
    if header.isdigit():
        return max(1, int(header))
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_SECONDS
    return max(1, int((moment - now()).total_seconds() + 0.999))


def reset() -> None:
    """Forget cached SDK clients (tests switch configurations)."""
    with _CLIENTS_LOCK:
        _CLIENTS.clear()
