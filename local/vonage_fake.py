"""A local stand-in for the Vonage Messages API: the SMS outbox of `make dev`.

    python -m local.vonage_fake --port 8003

It speaks HTTPS with a self-signed certificate (the SDK only builds https:// URLs; the
app trusts the certificate through VONAGE_CA_BUNDLE), and it checks what Vonage checks:
the Bearer JWT must be RS256-signed with the application's private key (verified here
with its public key) and name the application; the body must be a text message of a
known channel with to, from, text, client_ref and webhook_url. Accepted texts go to the
outbox (memory and <state dir>/outbox.jsonl, numbers masked) and are logged; then the
fake POSTs signed status receipts to the message's webhook_url, `submitted` at once and
`delivered` a moment later, signed like Vonage's: HS256 with the signature secret and a
`payload_hash` claim.

Tests script answers (a 4xx, a 5xx, a 429 with Retry-After, or a hang) with
`FakeMessagesApi.plan(...)` in process or `POST /__plan` over HTTP. Random faults, for a
soak: `POST /__faults {"error_rate": 0.2, "throttle_rate": 0.05, "retry_after": 1}` answers
that share of sends with a 500 or a 429 with Retry-After (nothing goes to the outbox);
`GET /__faults` shows the settings and the answers counted by status.

Local credentials (an RSA key pair, an application id, a signature secret and the TLS
certificate) are made once by `local_credentials(state_dir)` and reused.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import ipaddress
import json
import logging
import os
import random
import re
import secrets
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from chalicelib.core.phones import mask
from local.log_lines import printable

log = logging.getLogger("vonage-fake")

DEFAULT_PORT = 8003
CHANNELS = {"sms": 3200, "whatsapp": 4096, "viber_service": 1000, "messenger": 640}
_PHONE = re.compile(r"^[1-9][0-9]{6,14}$")
_REAL_HOST = "api.nexmo.com"


# --- local credentials --------------------------------------------------------------------


def local_credentials(state_dir: Path, port: int | None = None) -> dict[str, str]:
    """The env the app and the fake need, generated once under `state_dir`/vonage.

    VONAGE_APPLICATION_ID, VONAGE_PRIVATE_KEY (PEM), VONAGE_PUBLIC_KEY (PEM, for the
    fake), VONAGE_SIGNATURE_SECRET, VONAGE_CA_BUNDLE (the fake's certificate, trusted
    by the app's SDK session), VONAGE_TLS_KEY_FILE (the fake's TLS key) and, when
    `port` is given, VONAGE_API_HOST.

    When real credentials are in the environment (VONAGE_APPLICATION_ID and
    VONAGE_PRIVATE_KEY), `make dev` texts for real: only VONAGE_API_HOST is returned,
    set to Vonage's own host, and nothing local is generated.
    """
    if os.environ.get("VONAGE_APPLICATION_ID") and os.environ.get("VONAGE_PRIVATE_KEY") \
            and not os.environ.get("VONAGE_CA_BUNDLE"):
        return {"VONAGE_API_HOST": os.environ.get("VONAGE_API_HOST") or _REAL_HOST}
    folder = Path(state_dir) / "vonage"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    private_file, public_file = folder / "private.pem", folder / "public.pem"
    if not private_file.exists() or not public_file.exists():
        private_pem, public_pem = _rsa_key_pair()
        _write_secret(private_file, private_pem)
        public_file.write_text(public_pem)
    app_id_file = folder / "application-id"
    if not app_id_file.exists():
        app_id_file.write_text(str(uuid.uuid4()))
    secret_file = folder / "signature-secret"
    if not secret_file.exists():
        _write_secret(secret_file, secrets.token_urlsafe(32))
    cert_file, key_file = folder / "tls-cert.pem", folder / "tls-key.pem"
    if not cert_file.exists() or not key_file.exists():
        cert_pem, key_pem = _self_signed_certificate()
        _write_secret(key_file, key_pem)
        cert_file.write_text(cert_pem)
    env = {
        "VONAGE_APPLICATION_ID": app_id_file.read_text().strip(),
        "VONAGE_PRIVATE_KEY": private_file.read_text(),
        "VONAGE_PUBLIC_KEY": public_file.read_text(),
        "VONAGE_SIGNATURE_SECRET": secret_file.read_text().strip(),
        "VONAGE_CA_BUNDLE": str(cert_file.resolve()),
        "VONAGE_TLS_KEY_FILE": str(key_file.resolve()),
    }
    if port is not None:
        env["VONAGE_API_HOST"] = f"127.0.0.1:{port}"
    return env


def _write_secret(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


def _rsa_key_pair() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private_pem, public_pem


def _self_signed_certificate() -> tuple[str, str]:
    """A certificate for 127.0.0.1 and localhost that is its own CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "linktrail local vonage fake")])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost"),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=False,
            content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, encipher_only=False, decipher_only=False,
        ), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return cert_pem, key_pem


# --- the fake API ----------------------------------------------------------------------------


@dataclass
class PlannedAnswer:
    """What the next send gets instead of 202: a status and body, after `hang` seconds."""

    status: int = 202
    body: dict[str, Any] | None = None
    hang: float = 0.0
    retry_after: str | None = None


@dataclass
class SendFaults:
    """Random failures of sends, drawn per request; counts every answer by status."""

    error_rate: float = 0.0
    throttle_rate: float = 0.0
    retry_after: int = 1
    counts: dict[str, int] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)

    def set(self, spec: dict[str, Any]) -> None:
        error_rate = float(spec.get("error_rate", 0.0))
        throttle_rate = float(spec.get("throttle_rate", 0.0))
        if not (0 <= error_rate <= 1 and 0 <= throttle_rate <= 1
                and error_rate + throttle_rate <= 1):
            raise ValueError("error_rate and throttle_rate are shares that add up to 1 at most")
        self.error_rate, self.throttle_rate = error_rate, throttle_rate
        self.retry_after = max(0, int(spec.get("retry_after", 1)))

    def draw(self) -> int | None:
        """500, 429 or None (no fault) for the next send."""
        roll = self.rng.random()
        if roll < self.error_rate:
            return 500
        if roll < self.error_rate + self.throttle_rate:
            return 429
        return None

    def count(self, status: int) -> None:
        self.counts[str(status)] = self.counts.get(str(status), 0) + 1

    def to_dict(self) -> dict[str, Any]:
        return {"error_rate": self.error_rate, "throttle_rate": self.throttle_rate,
                "retry_after": self.retry_after, "counts": dict(self.counts)}


@dataclass
class SignedReceipt:
    url: str
    headers: dict[str, str]
    body: bytes
    status: str
    delivered_to_app: int | None = None  # HTTP status the webhook answered


@dataclass
class FakeMessagesApi:
    application_id: str
    public_key: str
    signature_secret: str
    outbox_file: Path | None = None
    post_receipts: bool = True
    delivered_after: float = 1.0
    outbox: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)  # every send, as received
    receipts: list[SignedReceipt] = field(default_factory=list)
    planned: deque[PlannedAnswer] = field(default_factory=deque)
    faults: SendFaults = field(default_factory=SendFaults)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def plan(self, status: int = 202, body: dict[str, Any] | None = None, hang: float = 0.0,
             retry_after: str | None = None) -> None:
        with self._lock:
            self.planned.append(PlannedAnswer(status, body, hang, retry_after))

    # POST /v1/messages ---------------------------------------------------------------

    def send(self, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], Any]:
        problem = self._check_jwt(headers.get("authorization", ""))
        if problem:
            return _error(401, "Unauthorized", problem)
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "Invalid JSON", "The body is not JSON.")
        self.requests.append({"headers": dict(headers), "body": body})
        invalid = _check_message(body)
        if invalid:
            return _error(422, "Invalid params", invalid)
        with self._lock:
            planned = self.planned.popleft() if self.planned else None
            fault = self.faults.draw() if planned is None else None
            self.faults.count(fault or (planned.status if planned else 202))
        if fault == 500:
            return _error(500, "Internal Error", "Injected fault, a random server error.")
        if fault == 429:
            status, headers, body = _error(429, "Rate Limit Hit",
                                           "Injected fault, too many requests.")
            return status, {**headers, "Retry-After": str(self.faults.retry_after)}, body
        if planned is not None and planned.hang:
            time.sleep(planned.hang)
        if planned is not None and planned.status != 202:
            extra = {"Retry-After": planned.retry_after} if planned.retry_after else {}
            return planned.status, extra, planned.body or {
                "type": "https://developer.vonage.com/api-errors", "title": "Planned failure",
                "detail": f"The fake was told to answer {planned.status}.",
            }
        message_uuid = str(uuid.uuid4())
        channel = str(body["channel"])
        entry = {
            "message_uuid": message_uuid,
            "at": _now(),
            "channel": body["channel"],
            "to": mask(str(body["to"]) if channel == "messenger" else "+" + str(body["to"])),
            "from": body["from"],
            "text": body["text"],
            "client_ref": body["client_ref"],
            "webhook_url": body["webhook_url"],
        }
        with self._lock:
            self.outbox.append(entry)
            if self.outbox_file is not None:
                with self.outbox_file.open("a") as outbox:
                    outbox.write(json.dumps(entry) + "\n")
        log.info("outbox: %s to %s client_ref=%s uuid=%s: %s", body["channel"], entry["to"],
                 body["client_ref"], message_uuid, body["text"])
        threading.Thread(target=self._send_receipts, args=(body, message_uuid),
                         daemon=True, name=f"receipts-{message_uuid[:8]}").start()
        return 202, {}, {"message_uuid": message_uuid}

    def _check_jwt(self, authorization: str) -> str:
        import jwt

        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "Authorization: Bearer <application JWT> is required."
        try:
            claims = jwt.decode(token, self.public_key, algorithms=["RS256"])
        except jwt.PyJWTError as error:
            return f"Invalid JWT ({type(error).__name__})."
        if claims.get("application_id") != self.application_id:
            return "The JWT names another application."
        return ""

    # receipts ---------------------------------------------------------------------------

    def signed_receipt(self, message: dict[str, Any], message_uuid: str,
                       status: str) -> SignedReceipt:
        """A status webhook as Vonage sends it, signed with the signature secret."""
        import jwt

        payload: dict[str, Any] = {
            "message_uuid": message_uuid,
            "to": message["to"],
            "from": message["from"],
            "timestamp": _now(),
            "status": status,
            "channel": message["channel"],
            "client_ref": message["client_ref"],
        }
        if message["channel"] == "sms":
            payload["usage"] = {"currency": "EUR", "price": "0.0333"}
        body = json.dumps(payload).encode()
        token = jwt.encode(
            {
                "iat": int(time.time()),
                "jti": str(uuid.uuid4()),
                "iss": "Vonage",
                "payload_hash": hashlib.sha256(body).hexdigest(),
                "application_id": self.application_id,
            },
            self.signature_secret,
            algorithm="HS256",
        )
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        return SignedReceipt(str(message["webhook_url"]), headers, body, status)

    def _send_receipts(self, message: dict[str, Any], message_uuid: str) -> None:
        for status, pause in (("submitted", 0.1), ("delivered", self.delivered_after)):
            time.sleep(pause)
            receipt = self.signed_receipt(message, message_uuid, status)
            with self._lock:
                self.receipts.append(receipt)
            if self.post_receipts:
                self._post(receipt)

    def _post(self, receipt: SignedReceipt) -> None:
        # Vonage retries webhooks that fail; so does the fake, briefly.
        for attempt in range(5):
            request = urllib.request.Request(receipt.url, data=receipt.body,
                                             headers=receipt.headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    receipt.delivered_to_app = answer.status
            except urllib.error.HTTPError as error:
                receipt.delivered_to_app = error.code
            except OSError as error:
                log.warning("receipt %s to %s failed: %s", receipt.status, receipt.url,
                            type(error).__name__)
                time.sleep(0.5 * (attempt + 1))
                continue
            log.info("receipt %s -> %s answered %s", receipt.status, receipt.url,
                     receipt.delivered_to_app)
            if receipt.delivered_to_app is not None and receipt.delivered_to_app < 500:
                return
            time.sleep(0.5 * (attempt + 1))


def _check_message(body: Any) -> str:
    """What the Messages API would refuse (422), or ""."""
    if not isinstance(body, dict):
        return "The body must be a JSON object."
    channel = body.get("channel")
    if channel not in CHANNELS:
        return f"channel must be one of {', '.join(CHANNELS)}."
    if body.get("message_type") != "text":
        return "message_type must be text."
    known = {"to", "from", "text", "channel", "message_type", "client_ref", "webhook_url",
             "webhook_version", "ttl", "sms", "viber_service", "messenger", "whatsapp"}
    unknown = sorted(set(body) - known)
    if unknown:
        return f"Unknown parameters: {', '.join(unknown)}."
    to, sender, text = body.get("to"), body.get("from"), body.get("text")
    if channel == "messenger":
        if not isinstance(to, str) or not 0 < len(to) <= 50:
            return "to must be a Messenger id."
    elif not isinstance(to, str) or not _PHONE.match(to):
        return "to must be an E.164 number without +."
    if not isinstance(sender, str) or not sender:
        return "from is required."
    if not isinstance(text, str) or not 0 < len(text) <= CHANNELS[channel]:
        return f"text must be 1-{CHANNELS[channel]} characters."
    client_ref = body.get("client_ref")
    if not isinstance(client_ref, str) or not 0 < len(client_ref) <= 100:
        return "client_ref (1-100 characters) is required by linktrail."
    webhook_url = body.get("webhook_url")
    if not isinstance(webhook_url, str) or not re.match(r"^https?://[^/]+/webhooks/vonage/status$",
                                                         webhook_url):
        return "webhook_url must be linktrail's status webhook."
    return ""


def _error(status: int, title: str, detail: str) -> tuple[int, dict[str, str], Any]:
    return status, {}, {
        "type": f"https://developer.vonage.com/api-errors#{status}",
        "title": title,
        "detail": detail,
        "instance": str(uuid.uuid4()),
    }


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- HTTP ------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30

    def do_GET(self) -> None:
        if self.path == "/__health":
            self._answer(200, {}, {"status": "ok"})
        elif self.path == "/outbox":
            with self.server.api._lock:
                self._answer(200, {}, {"messages": list(self.server.api.outbox)})
        elif self.path == "/__faults":
            with self.server.api._lock:
                self._answer(200, {}, self.server.api.faults.to_dict())
        else:
            self._answer(404, {}, {"title": "Not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path == "/v1/messages":
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, body = self.server.api.send(headers, raw)
            self._answer(status, extra, body)
        elif self.path == "/__plan":
            planned = json.loads(raw or b"{}")
            self.server.api.plan(int(planned.get("status", 202)), planned.get("body"),
                                 float(planned.get("hang", 0)), planned.get("retry_after"))
            self._answer(204, {}, None)
        elif self.path == "/__faults":
            try:
                spec = json.loads(raw or b"{}")
                with self.server.api._lock:
                    self.server.api.faults.set(spec)
            except (ValueError, TypeError, AttributeError) as error:
                self._answer(400, {}, {"title": "Invalid faults", "detail": str(error)})
                return
            self._answer(200, {}, self.server.api.faults.to_dict())
        else:
            self._answer(404, {}, {"title": "Not found"})

    def _answer(self, status: int, headers: dict[str, str], body: Any) -> None:
        encoded = b"" if body is None else json.dumps(body).encode()
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client gave up (a planned hang)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), printable(format % args))


class _Server(ThreadingHTTPServer):
    """HTTPS for the SDK; plain HTTP too on the same port (the supervisor's health probe
    speaks http://): a connection whose first byte opens a TLS handshake gets TLS."""

    daemon_threads = True
    api: FakeMessagesApi
    tls: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(30)
        try:
            first = request.recv(1, socket.MSG_PEEK)
            if first == b"\x16":
                request = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as error:
            log.debug("connection dropped before a request: %s", type(error).__name__)
            return
        try:
            self.RequestHandlerClass(request, client_address, self)  # type: ignore[arg-type]
        finally:
            if isinstance(request, ssl.SSLSocket):
                request.close()


@dataclass
class RunningFake:
    api: FakeMessagesApi
    server: _Server
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def api_host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(api: FakeMessagesApi, *, port: int, cert_file: str, key_file: str,
          host: str = "127.0.0.1") -> RunningFake:
    server = _Server((host, port), _Handler)
    server.api = api
    server.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.tls.load_cert_chain(cert_file, key_file)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="vonage-fake")
    thread.start()
    return RunningFake(api, server, thread)


@contextmanager
def running(state_dir: Path, *, post_receipts: bool = True,
            delivered_after: float = 1.0) -> Iterator[tuple[RunningFake, dict[str, str]]]:
    """A fake on a free port for tests; yields it and the env the app needs to use it."""
    env = local_credentials(state_dir, port=0)
    api = _api_from_env(env, Path(state_dir) / "outbox.jsonl", post_receipts, delivered_after)
    fake = serve(api, port=0, cert_file=env["VONAGE_CA_BUNDLE"],
                 key_file=env["VONAGE_TLS_KEY_FILE"])
    env["VONAGE_API_HOST"] = fake.api_host
    try:
        yield fake, env
    finally:
        fake.stop()


def _api_from_env(env: dict[str, str], outbox_file: Path | None, post_receipts: bool = True,
                  delivered_after: float = 1.0) -> FakeMessagesApi:
    return FakeMessagesApi(
        application_id=env["VONAGE_APPLICATION_ID"],
        public_key=env["VONAGE_PUBLIC_KEY"],
        signature_secret=env["VONAGE_SIGNATURE_SECRET"],
        outbox_file=outbox_file,
        post_receipts=post_receipts,
        delivered_after=delivered_after,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--state-dir", default=os.environ.get("LOCAL_STATE_DIR", ".local"))
    parser.add_argument("--delivered-after", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    state_dir = Path(args.state_dir)
    required = ("VONAGE_APPLICATION_ID", "VONAGE_PUBLIC_KEY", "VONAGE_SIGNATURE_SECRET",
                "VONAGE_CA_BUNDLE", "VONAGE_TLS_KEY_FILE")
    env = {k: os.environ[k] for k in required if os.environ.get(k)}
    if len(env) < len(required):
        # Started alone, or `make dev` is texting for real: serve with the local files.
        saved = {k: os.environ.pop(k) for k in ("VONAGE_APPLICATION_ID", "VONAGE_PRIVATE_KEY")
                 if k in os.environ}
        env = local_credentials(state_dir)
        os.environ.update(saved)
    state_dir.mkdir(parents=True, exist_ok=True)
    api = _api_from_env(env, state_dir / "outbox.jsonl", delivered_after=args.delivered_after)
    fake = serve(api, port=args.port, cert_file=env["VONAGE_CA_BUNDLE"],
                 key_file=env["VONAGE_TLS_KEY_FILE"])
    log.info("vonage fake on https://127.0.0.1:%s (outbox %s)", fake.port,
             state_dir / "outbox.jsonl")
    try:
        fake.thread.join()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
