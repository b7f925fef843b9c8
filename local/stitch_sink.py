"""A Stitch-compatible sink on loopback: `python -m local.stitch_sink --port 8004`.

Checks Import API batch requests the way Stitch documents them and upserts the rows into
SQLite (default .local/warehouse.sqlite3; tables named by table_name, e.g. events and
identities), so you can query them with SQL:

    sqlite3 .local/warehouse.sqlite3 "select type, event, resolved_user_id from events"
    python -m local.stitch_sink --show          # the latest rows of every table

Import API, `POST /v2/import/batch`: 201 accepted; 401 wrong/missing Bearer token (env
STITCH_TOKEN); 415 not JSON; 400 missing table_name/schema/messages or a bad shape; 413
over 20 MB or 20,000 records; 422 a message whose data lacks a key_names property.

Incoming Webhook, `POST /v1/clients/<client>/token/<token>` (Sink.webhook_url; token:
--webhook-token or env STITCH_SINK_WEBHOOK_TOKEN, default the Import API token). As Stitch
documents it: the secret is the URL itself, the body is JSON sent by POST and smaller
than 4 MB (the limit our forwarder was built for; Stitch's current page says 20 MB), a
JSON object is one record and an array of objects is one record each, and every record
lands in one table, `data`. The integration's optional Primary Key (--webhook-primary-key,
env STITCH_SINK_WEBHOOK_PRIMARY_KEY) must be a top-level field: with it, records upsert by
that field; without it, loading is append-only and each record gets a generated
`_sdc_primary_key`, so a record sent twice is stored twice. Nested values are stored as
JSON text. The sink's own choices where Stitch documents nothing: 200 accepted, 401 for
a wrong token, 415 for a Content-Type other than application/json, 413 at 4 MB, 400 for
bad JSON, an empty array, a non-object record or a record without the primary key.

GET /__health answers 200.

Fault injection (tests), for both endpoints: `--fail-rate 0.3` answers 500, 503 or a
timeout (the rows of a "timeout" are stored, then the answer comes too late, as when
Stitch stored a batch but the connection dropped); `--reject-message-id X` answers 400 to
any request holding row X. At runtime: POST /__faults {"fail_rate": 0.3, "reject": ["X"],
"timeout_seconds": 1.5, "fail_next": 2, "script": ["timeout", "500", "401"]} (fail_next:
the next N requests answer 503; script: the next requests' outcomes in order, "timeout"
or an HTTP status); GET /__faults shows the settings, counters by outcome, and the
records stored (a record sent again after a hang counts again).
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import random
import re
import secrets
import sqlite3
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from local.log_lines import printable

DEFAULT_PORT = 8004
MAX_BYTES = 20 * 1024 * 1024
MAX_RECORDS = 20_000
BATCH_PATH = "/v2/import/batch"
WEBHOOK_PATH = re.compile(r"^/v1/clients/([A-Za-z0-9_-]+)/token/([A-Za-z0-9_-]+)$")
WEBHOOK_CLIENT = "local"
WEBHOOK_MAX_BYTES = 4 * 1024 * 1024  # "request bodies must be less than 4MB"
WEBHOOK_TABLE = "data"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / ".local"
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,126}$")
_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "object": dict,
    "array": list,
}


def local_env(directory: str | Path) -> dict[str, str]:
    """The app-side environment for the local sink: URL and a token kept in `directory`."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    token_file = folder / "stitch-token"
    token = token_file.read_text().strip() if token_file.exists() else ""
    if not token:
        token = "local-" + secrets.token_urlsafe(24)
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
    return {
        "STITCH_API_URL": f"http://127.0.0.1:{DEFAULT_PORT}",
        "STITCH_TOKEN": token,
        "STITCH_SINK_DB": str(folder / "warehouse.sqlite3"),
    }


class Rejection(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- the warehouse -------------------------------------------------------------------


class Warehouse:
    """SQLite tables created from each batch's schema; rows upserted by key_names,
    newer sequence wins (Stitch's rule)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")

    def upsert(
        self, table: str, schema: dict[str, Any], keys: list[str], messages: list[Any]
    ) -> int:
        columns = list(schema["properties"])
        with self._lock, self._db:
            self._ensure(table, columns, keys)
            names = [*columns, "_sdc_sequence", "_sdc_received_at"]
            updates = ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in names if c not in keys)
            # Identifiers are checked names (NAME) and quoted; values are bound parameters.
            statement = (
                f"INSERT INTO {_q(table)} ({', '.join(_q(c) for c in names)}) "  # noqa: S608
                f"VALUES ({', '.join('?' for _ in names)}) "
                f"ON CONFLICT ({', '.join(_q(k) for k in keys)}) DO UPDATE SET {updates} "
                f"WHERE excluded._sdc_sequence >= {_q(table)}._sdc_sequence"
            )
            received = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self._db.executemany(
                statement,
                [
                    [_cell(m["data"].get(c)) for c in columns] + [m["sequence"], received]
                    for m in messages
                ],
            )
        return len(messages)

    def _ensure(self, table: str, columns: list[str], keys: list[str]) -> None:
        existing = [r[1] for r in self._db.execute(f"PRAGMA table_info({_q(table)})")]
        if not existing:
            defs = ", ".join(f"{_q(c)}" for c in columns)
            self._db.execute(
                f"CREATE TABLE {_q(table)} ({defs}, _sdc_sequence INTEGER, _sdc_received_at TEXT)"
            )
        else:
            for column in columns:
                if column not in existing:
                    self._db.execute(f"ALTER TABLE {_q(table)} ADD COLUMN {_q(column)}")
        index = _q(f"{table}__key")
        self._db.execute(
            f"CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {_q(table)} "
            f"({', '.join(_q(k) for k in keys)})"
        )

    def load_webhook(self, records: list[dict[str, Any]], primary_key: str | None) -> int:
        """Records into the one `data` table: upserted by the primary key if the
        integration has one, else appended (a generated _sdc_primary_key per record)."""
        columns = sorted({name for record in records for name in record})
        names = [*columns, "_sdc_primary_key", "_sdc_sequence", "_sdc_received_at"]
        received = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        sequence = time.time_ns() // 1_000_000
        rows = []
        for record in records:
            if primary_key:
                value = record[primary_key]
                key = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            else:
                key = uuid.uuid4().hex
            rows.append([_cell(record.get(c)) for c in columns] + [key, sequence, received])
        table = _q(WEBHOOK_TABLE)
        updates = ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in names
                            if c != "_sdc_primary_key")
        # Identifiers are quoted; values are bound parameters.
        statement = (
            f"INSERT INTO {table} ({', '.join(_q(c) for c in names)}) "  # noqa: S608
            f"VALUES ({', '.join('?' for _ in names)}) "
            f"ON CONFLICT (_sdc_primary_key) DO UPDATE SET {updates}"
        )
        with self._lock, self._db:
            existing = [r[1] for r in self._db.execute(f"PRAGMA table_info({table})")]
            if not existing:
                self._db.execute(
                    f"CREATE TABLE {table} (_sdc_primary_key TEXT NOT NULL, "
                    "_sdc_sequence INTEGER, _sdc_received_at TEXT)"
                )
                self._db.execute(
                    f"CREATE UNIQUE INDEX {_q(WEBHOOK_TABLE + '__key')} ON {table} "
                    "(_sdc_primary_key)"
                )
            for column in columns:
                if column not in existing:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {_q(column)}")
            self._db.executemany(statement, rows)
        return len(rows)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


# --- request checks ------------------------------------------------------------------


def check_batch(body: Any) -> tuple[str, dict[str, Any], list[str], list[dict[str, Any]]]:
    if not isinstance(body, dict):
        raise Rejection(400, "The request body must be a JSON object.")
    for name in ("table_name", "schema", "messages"):
        if name not in body:
            raise Rejection(400, f"'{name}' is required.")
    table, schema, messages = body["table_name"], body["schema"], body["messages"]
    keys = body.get("key_names", [])
    if not isinstance(table, str) or not NAME.match(table):
        raise Rejection(400, "'table_name' must be a name of letters, digits and _.")
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        raise Rejection(400, "'schema' must be an object with 'properties'.")
    if not schema["properties"] or not all(NAME.match(c) for c in schema["properties"]):
        raise Rejection(400, "'schema.properties' must name columns of letters, digits and _.")
    if not isinstance(messages, list) or not messages:
        raise Rejection(400, "'messages' must be a non-empty array.")
    if len(messages) > MAX_RECORDS:
        raise Rejection(413, f"At most {MAX_RECORDS} messages per request.")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise Rejection(400, "'key_names' must be an array of strings.")
    missing_keys = [k for k in keys if k not in schema["properties"]]
    if missing_keys:
        raise Rejection(400, f"key_names not in schema: {missing_keys}.")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise Rejection(400, f"messages[{index}] must be an object.")
        if message.get("action") != "upsert":
            raise Rejection(400, f"messages[{index}].action must be 'upsert'.")
        sequence = message.get("sequence")
        if isinstance(sequence, bool) or not isinstance(sequence, int):
            raise Rejection(400, f"messages[{index}].sequence must be an integer.")
        data = message.get("data")
        if not isinstance(data, dict):
            raise Rejection(400, f"messages[{index}].data must be an object.")
        for key in keys:
            if data.get(key) is None:
                raise Rejection(422, f"messages[{index}].data is missing key '{key}'.")
        for column, value in data.items():
            declared = schema["properties"].get(column)
            if declared is None:
                raise Rejection(400, f"messages[{index}].data.{column} is not in the schema.")
            if not _fits(value, declared):
                raise Rejection(
                    400, f"messages[{index}].data.{column} does not match its schema type."
                )
    return table, schema, keys, messages


def check_webhook(body: Any, primary_key: str | None) -> list[dict[str, Any]]:
    """A webhook body's records: an object is one, an array of objects one each."""
    records = body if isinstance(body, list) else [body]
    if not records:
        raise Rejection(400, "The body is an empty array: no records to load.")
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise Rejection(400, f"Record {index} is not a JSON object.")
        if any(not isinstance(name, str) or not name for name in record):
            raise Rejection(400, f"Record {index} has an empty field name.")
        if primary_key and (
            record.get(primary_key) is None or isinstance(record[primary_key], dict | list)
        ):
            raise Rejection(
                400, f"Record {index} lacks the top-level primary key '{primary_key}'."
            )
    return records


def _fits(value: Any, declared: Any) -> bool:
    kinds = declared.get("type", []) if isinstance(declared, dict) else []
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    if not kinds:
        return True
    if value is None:
        return "null" in kinds
    for kind in kinds:
        expected = _JSON_TYPES.get(kind)
        if expected is None:
            continue
        if kind in ("integer", "number") and isinstance(value, bool):
            continue
        if isinstance(value, expected):
            return True
    return False


# --- the server ----------------------------------------------------------------------


class Faults:
    def __init__(self, fail_rate: float, reject: set[str], timeout_seconds: float) -> None:
        self.fail_rate = fail_rate
        self.reject = reject
        self.timeout_seconds = timeout_seconds
        self.fail_next = 0  # deterministic: the next N requests answer 503
        self.script: list[str] = []  # deterministic: the next requests' outcomes, in order
        self.counts: dict[str, int] = {}
        self.records_stored = 0  # a record sent again after a hang counts again
        self._lock = threading.Lock()
        self._random = random.Random()

    def count(self, name: str) -> None:
        with self._lock:
            self.counts[name] = self.counts.get(name, 0) + 1

    def stored(self, records: int) -> None:
        with self._lock:
            self.records_stored += records

    def draw(self) -> str | None:
        """None (answer normally), "timeout", or an HTTP status to answer."""
        with self._lock:
            if self.script:
                return self.script.pop(0)
            if self.fail_next > 0:
                self.fail_next -= 1
                return "503"
            if self._random.random() >= self.fail_rate:
                return None
            return self._random.choice(["500", "503", "timeout"])


def _script(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ValueError("script must be an array")
    outcomes = [str(item) for item in value]
    for outcome in outcomes:
        if outcome != "timeout" and not (outcome.isdigit() and 400 <= int(outcome) <= 599):
            raise ValueError(f"script outcome {outcome!r}: 'timeout' or a 4xx/5xx status")
    return outcomes


class Sink(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, token: str, warehouse: Warehouse, faults: Faults,
                 host: str = "127.0.0.1", quiet: bool = False, webhook_token: str = "",
                 webhook_primary_key: str | None = None) -> None:
        super().__init__((host, port), _Handler)
        self.token = token
        self.webhook_token = webhook_token or token
        self.webhook_primary_key = webhook_primary_key or None
        self.warehouse = warehouse
        self.faults = faults
        self.quiet = quiet

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that gave up (a "timeout" fault does that on purpose)
        super().handle_error(request, client_address)

    @property
    def webhook_url(self) -> str:
        """The Incoming Webhook URL (a secret: the token is in it)."""
        return f"{self.url}/v1/clients/{WEBHOOK_CLIENT}/token/{self.webhook_token}"


class _Handler(BaseHTTPRequestHandler):
    server: Sink
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            line = format % args
            if self.server.webhook_token:  # the webhook URL is a secret
                line = line.replace(self.server.webhook_token, "[token]")
            sys.stdout.write(printable(f"stitch-sink {self.address_string()} {line}") + "\n")

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        encoded = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)

    def do_GET(self) -> None:
        if self.path == "/__health":
            self._answer(200, {"status": "ok"})
        elif self.path == "/__faults":
            faults = self.server.faults
            self._answer(200, {"fail_rate": faults.fail_rate, "reject": sorted(faults.reject),
                               "timeout_seconds": faults.timeout_seconds,
                               "fail_next": faults.fail_next, "script": list(faults.script),
                               "counts": dict(faults.counts),
                               "records_stored": faults.records_stored})
        else:
            self._answer(404, {"error": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        path = self.path.split("?", 1)[0]
        webhook = WEBHOOK_PATH.match(path)
        too_big = length >= WEBHOOK_MAX_BYTES if webhook else length > MAX_BYTES
        if too_big:
            self.server.faults.count("webhook 413" if webhook else "413")
            if length <= MAX_BYTES:
                self.rfile.read(length)  # read it, so the client sees the 413, not a reset
            self.close_connection = True
            limit = WEBHOOK_MAX_BYTES if webhook else MAX_BYTES
            self._answer(413, {"error": f"The request body must be smaller than {limit} bytes."})
            return
        raw = self.rfile.read(length)
        if path == "/__faults":
            self._set_faults(raw)
            return
        if path != BATCH_PATH and webhook is None:
            self._answer(404, {"error": "not found"})
            return
        try:
            if webhook is not None:
                self._webhook(webhook.group(2), raw)
            else:
                self._batch(raw)
        except Rejection as rejection:
            prefix = "webhook " if webhook is not None else ""
            self.server.faults.count(f"{prefix}{rejection.status}")
            self._answer(rejection.status, {"error": rejection.message})

    def _webhook(self, token: str, raw: bytes) -> None:
        expected = self.server.webhook_token
        if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            raise Rejection(401, "Not authorized: unknown webhook token.")
        if self._media_type() != "application/json":
            raise Rejection(415, "Content-Type must be application/json.")
        try:
            body = json.loads(raw)
        except ValueError as error:
            raise Rejection(400, f"The body is not valid JSON: {error}") from None
        records = check_webhook(body, self.server.webhook_primary_key)
        faults = self.server.faults
        late = self._inject(faults, [r.get("message_id") for r in records])
        stored = self.server.warehouse.load_webhook(records, self.server.webhook_primary_key)
        self._late(faults, late, "webhook timeout")
        faults.count("webhook 200")
        self._answer(200, {"status": "OK", "message": f"Accepted {stored} record(s)"})

    def _media_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()

    def _inject(self, faults: Faults, message_ids: list[Any]) -> bool:
        """Raise the injected refusal for this request, if any; True: answer too late."""
        rejected = [m for m in message_ids if m in faults.reject]
        if rejected:
            raise Rejection(400, f"Record rejected (fault injection): {rejected[0]}")
        fault = faults.draw()
        if fault is not None and fault != "timeout":
            status = int(fault)
            detail = "retry later" if status >= 500 else "refused"
            raise Rejection(status, f"Injected fault, {detail}.")
        return fault == "timeout"

    def _late(self, faults: Faults, late: bool, name: str) -> None:
        """A "timeout" fault: the rows are stored, the answer comes too late."""
        if late:
            faults.count(name)
            time.sleep(faults.timeout_seconds)

    def _batch(self, raw: bytes) -> None:
        given = self.headers.get("Authorization") or ""
        expected = f"Bearer {self.server.token}"
        if not self.server.token or not hmac.compare_digest(given.encode(), expected.encode()):
            raise Rejection(401, "Not authorized: missing or wrong Bearer token.")
        if self._media_type() != "application/json":
            raise Rejection(415, "Content-Type must be application/json.")
        try:
            body = json.loads(raw)
        except ValueError as error:
            raise Rejection(400, f"The body is not valid JSON: {error}") from None
        table, schema, keys, messages = check_batch(body)
        faults = self.server.faults
        late = self._inject(faults, [m["data"].get("message_id") for m in messages])
        if not keys:
            keys = ["message_id"] if "message_id" in schema["properties"] else []
        if not keys:
            raise Rejection(400, "key_names are required by this sink.")
        stored = self.server.warehouse.upsert(table, schema, keys, messages)
        faults.stored(stored)
        self._late(faults, late, "timeout")
        faults.count("201")
        self._answer(201, {"status": "OK", "message": f"Batch accepted: {stored} record(s)"})

    def _set_faults(self, raw: bytes) -> None:
        if self.client_address[0] != "127.0.0.1":
            self._answer(403, {"error": "loopback only"})
            return
        try:
            update = json.loads(raw or b"{}")
            faults = self.server.faults
            faults.fail_rate = float(update.get("fail_rate", faults.fail_rate))
            faults.reject = set(update.get("reject", faults.reject))
            faults.timeout_seconds = float(update.get("timeout_seconds", faults.timeout_seconds))
            faults.fail_next = int(update.get("fail_next", faults.fail_next))
            if "script" in update:
                faults.script = _script(update["script"])
        except (ValueError, TypeError, AttributeError) as error:
            self._answer(400, {"error": str(error)})
            return
        self._answer(200, {"fail_rate": faults.fail_rate, "reject": sorted(faults.reject),
                           "fail_next": faults.fail_next, "script": list(faults.script)})


def serve(
    port: int = DEFAULT_PORT,
    *,
    token: str,
    db: str | Path,
    fail_rate: float = 0.0,
    reject: set[str] | None = None,
    timeout_seconds: float = 15.0,
    quiet: bool = False,
    webhook_token: str = "",
    webhook_primary_key: str | None = None,
) -> Sink:
    """A started sink (in a daemon thread); call `.shutdown()` and `.server_close()`."""
    sink = Sink(port, token, Warehouse(db), Faults(fail_rate, reject or set(), timeout_seconds),
                quiet=quiet, webhook_token=webhook_token,
                webhook_primary_key=webhook_primary_key)
    threading.Thread(target=sink.serve_forever, name="stitch-sink", daemon=True).start()
    return sink


def show(db: str | Path, limit: int) -> str:
    path = Path(db)
    if not path.exists():
        return f"no warehouse yet at {path}"
    connection = sqlite3.connect(path)
    lines: list[str] = []
    tables = [r[0] for r in connection.execute(
        "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    for table in tables:
        quoted = _q(table)
        total = connection.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]  # noqa: S608
        cursor = connection.execute(
            f"SELECT * FROM {quoted} ORDER BY _sdc_sequence DESC, rowid DESC LIMIT ?",  # noqa: S608
            (limit,),
        )
        names = [d[0] for d in cursor.description]
        lines.append(f"== {table} ({total} rows, latest {limit}) ==")
        for row in cursor:
            shown = {n: v for n, v in zip(names, row, strict=True)
                     if v is not None and not n.startswith("_sdc")}
            lines.append(json.dumps(shown, ensure_ascii=False))
    connection.close()
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.stitch_sink", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--db", default=os.environ.get("STITCH_SINK_DB")
                        or str(DEFAULT_DIR / "warehouse.sqlite3"))
    parser.add_argument("--fail-rate", type=float,
                        default=float(os.environ.get("STITCH_SINK_FAIL_RATE", "0") or 0))
    parser.add_argument("--reject-message-id", action="append", default=[])
    parser.add_argument("--timeout-seconds", type=float, default=15.0,
                        help="how late a 'timeout' fault answers")
    parser.add_argument("--webhook-token", default=os.environ.get("STITCH_SINK_WEBHOOK_TOKEN", ""),
                        help="the Incoming Webhook URL's token (default: the Import API token)")
    parser.add_argument("--webhook-primary-key",
                        default=os.environ.get("STITCH_SINK_WEBHOOK_PRIMARY_KEY") or None,
                        help="the webhook integration's Primary Key (default: none, append-only)")
    parser.add_argument("--show", action="store_true", help="print the latest rows and exit")
    parser.add_argument("--limit", type=int, default=10)
    args = parser.parse_args(argv)
    if args.show:
        print(show(args.db, args.limit))
        return 0
    token = os.environ.get("STITCH_TOKEN") or local_env(DEFAULT_DIR)["STITCH_TOKEN"]
    sink = Sink(args.port, token, Warehouse(args.db),
                Faults(args.fail_rate, set(args.reject_message_id), args.timeout_seconds),
                webhook_token=args.webhook_token, webhook_primary_key=args.webhook_primary_key)
    print(f"stitch sink on {sink.url}{BATCH_PATH} (Import API) and "
          f"{sink.url}/v1/clients/{WEBHOOK_CLIENT}/token/<token> (Incoming Webhook), "
          f"rows in {args.db}", flush=True)
    try:
        sink.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sink.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
