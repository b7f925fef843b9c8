"""The `make dev` supervisor: starts the emulator, provisions it from infra/data.yaml,
starts every local component, prefixes their logs, watches their health, and stops
them all on Ctrl-C.

State: the emulator keeps everything in memory, so tables, objects and queues start
empty at every start. What survives a restart lives in the state directory (.local/):
the admin key, the local Vonage keys and signature secret, the Stitch sink token and its
warehouse (.local/warehouse.sqlite3), the SMS outbox log.

Restart by name: an empty file <state>/control/restart-<name> (`touch .local/control/
restart-pumps`) makes the supervisor SIGKILL that component's process group, start the
same command again and wait until it is healthy; <state>/control/restarts.json counts the
restarts done, by name (`request_restart` writes the file and waits for that count).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from local.files import write_json_atomically

PROJECT_DIR = Path(__file__).resolve().parent.parent
COLOURS = ["36", "32", "35", "33", "34", "31", "96", "92"]

# Dummy credentials: the emulator accepts anything, and they guarantee that nothing
# started here can reach a real AWS account.
EMULATOR_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}


@dataclass(frozen=True)
class Ports:
    app: int = 8000
    short: int = 8001
    emulator: int = 4566
    vonage: int = 8003
    stitch: int = 8004
    pumps: int = 8005

    def named(self) -> dict[str, int]:
        return {
            "app": self.app,
            "short-domain": self.short,
            "emulator": self.emulator,
            "vonage-fake": self.vonage,
            "stitch-sink": self.stitch,
            "pumps": self.pumps,
        }


@dataclass
class Component:
    name: str
    command: list[str]
    health_url: str
    url: str
    role: str = ""
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[str] | None = None
    state: str = "starting"
    detail: str = ""
    colour: str = "1"


def control_dir(state_dir: Path) -> Path:
    return state_dir / "control"


def restarts_done(state_dir: Path) -> dict[str, int]:
    counts_file = control_dir(state_dir) / "restarts.json"
    try:
        return {str(k): int(v) for k, v in json.loads(counts_file.read_text()).items()}
    except (OSError, ValueError):
        return {}


def request_restart(state_dir: Path, name: str, timeout: float = 90.0) -> float:
    """Ask a running supervisor to restart `name`; wait until it is healthy again.
    Returns the seconds it took."""
    started = time.monotonic()
    before = restarts_done(state_dir).get(name, 0)
    folder = control_dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"restart-{name}").touch()
    while time.monotonic() - started < timeout:
        if restarts_done(state_dir).get(name, 0) > before:
            return time.monotonic() - started
        time.sleep(0.2)
    raise TimeoutError(f"{name} was not restarted within {timeout:.0f}s")


class PortInUse(SystemExit):
    pass


def check_ports_free(ports: Ports) -> None:
    for name, port in ports.named().items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                raise PortInUse(
                    f"linktrail: port {port} ({name}) is already in use — is another `make dev` "
                    f"running? Stop it, or choose another port (python -m local --help)."
                ) from None


_ACCESS_LOG = re.compile(r'"[A-Z]+ \S+ HTTP/1\.1" [23]\d\d ')


def _emulator_noise(line: str) -> bool:
    """Successful access-log lines and the server's banner; errors still show."""
    return (
        bool(_ACCESS_LOG.search(line))
        or "development server" in line
        or "CTRL+C" in line
        or ("BucketPolicy" in line or "parse_resource(" in line)
    )


def cors_origins(app_port: int, extra: str) -> str:
    """The app's own origins, and the ones given in the shell (`make dev
    CORS_ORIGINS=http://localhost:3000`: a site of your own may post to /events)."""
    own = [f"http://127.0.0.1:{app_port}", f"http://localhost:{app_port}"]
    given = [origin.strip() for origin in extra.split(",") if origin.strip()]
    return ",".join(dict.fromkeys([*own, *given]))


def _state_secret(path: Path) -> str:
    """A random local secret, generated once and kept in the state directory."""
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def emulator_command(port: int) -> list[str]:
    """moto's server behind local.emulator, which takes DynamoDB requests one at a time."""
    return [sys.executable, "-m", "local.emulator", "-H", "127.0.0.1", "-p", str(port)]


@contextlib.contextmanager
def emulator_alone(cwd: Path) -> Iterator[str]:
    """The emulator by itself, as the stack starts it, on a free port (tests and the
    benchmark of a growing table use it); yields its endpoint and stops it afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        emulator_command(port),
        cwd=cwd,
        env={**env, **EMULATOR_CREDENTIALS},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the emulator did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # still busy with a request: no need to wait
            process.kill()
            process.wait(timeout=10)


def _module_exists(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


class Stack:
    def __init__(
        self, ports: Ports, state_dir: Path, out: TextIO = sys.stdout, click_mode: str = "every"
    ) -> None:
        self.ports = ports
        self.state_dir = state_dir
        self.out = out
        self.click_mode = click_mode
        self.components: list[Component] = []
        self.env: dict[str, str] = {}
        self.admin_key = ""
        self.write_key = ""
        self._stop = threading.Event()
        self._print_lock = threading.Lock()

    # --- output -----------------------------------------------------------------

    def say(self, prefix: str, line: str, colour: str = "1") -> None:
        with self._print_lock:
            tag = f"\033[{colour}m{prefix:>13}\033[0m" if self.out.isatty() else f"{prefix:>13}"
            self.out.write(f"{tag} | {line}\n")
            self.out.flush()

    def _pipe(self, component: Component, process: subprocess.Popen[str], colour: str) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if component.name == "emulator" and _emulator_noise(line):
                continue
            if "/__health" in line:  # the supervisor's own probes, every second
                continue
            self.say(component.name, line.rstrip("\n"), colour)

    # --- lifecycle --------------------------------------------------------------

    def start(self) -> None:
        check_ports_free(self.ports)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # The emulator starts empty: stream positions, fault windows and restart requests
        # of an earlier run mean nothing to this one.
        for leftover in ("stream-positions", "faults", "control"):
            shutil.rmtree(self.state_dir / leftover, ignore_errors=True)
        endpoint = f"http://127.0.0.1:{self.ports.emulator}"
        base_env = {**os.environ, **EMULATOR_CREDENTIALS, "PYTHONUNBUFFERED": "1"}
        base_env.pop("AWS_PROFILE", None)
        emulator = Component(
            "emulator",
            emulator_command(self.ports.emulator),
            health_url=f"{endpoint}/moto-api/",
            url=endpoint,
            role="AWS API emulator (moto server)",
            env=base_env,
        )
        self._spawn(emulator, COLOURS[0])
        self._wait_healthy(emulator, timeout=60)
        self.env = self._provision(endpoint, base_env)
        components = [
            Component(
                "app",
                [sys.executable, "-m", "local.app_server", "--port", str(self.ports.app)],
                f"http://127.0.0.1:{self.ports.app}/healthz",
                f"http://127.0.0.1:{self.ports.app}",
                "chalice local --stage local",
            ),
            Component(
                "pumps",
                [sys.executable, "-m", "local.pumps", "--port", str(self.ports.pumps)],
                f"http://127.0.0.1:{self.ports.pumps}/__health",
                f"http://127.0.0.1:{self.ports.pumps}",
                "streams, queues, schedules, TTL",
            ),
        ]
        optional = [
            (
                "local.short_domain",
                "short-domain",
                self.ports.short,
                "short links (edge function + S3 website)",
            ),
            ("local.vonage_fake", "vonage-fake", self.ports.vonage, "SMS outbox, signed receipts"),
            (
                "local.stitch_sink",
                "stitch-sink",
                self.ports.stitch,
                "Stitch sink -> .local/warehouse.sqlite3",
            ),
        ]
        for module, name, port, what in optional:
            if _module_exists(module):
                components.append(
                    Component(
                        name,
                        [sys.executable, "-m", module, "--port", str(port)],
                        f"http://127.0.0.1:{port}/__health",
                        f"http://127.0.0.1:{port}",
                        what,
                    )
                )
        for index, component in enumerate(components, start=1):
            component.env = self.env
            self._spawn(component, COLOURS[index % len(COLOURS)])
        for component in components:
            self._wait_healthy(component, timeout=60)
        self.watch_in_background()
        self._banner()

    def _provision(self, endpoint: str, base_env: dict[str, str]) -> dict[str, str]:
        from local import bootstrap, write_key

        os.environ.update(EMULATOR_CREDENTIALS)
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        provisioned = bootstrap.provision(log=lambda line: self.say("bootstrap", line))
        self.admin_key = bootstrap.ensure_admin_key(
            self.state_dir / "admin-key", provisioned["APP_TABLE"]
        )
        table = provisioned["APP_TABLE"]
        self.write_key = write_key.for_stack(self.state_dir, table, self.ports.app)
        overrides: dict[str, str] = {
            **provisioned,
            "AWS_ENDPOINT_URL": endpoint,
            "STAGE": "local",
            "SHORT_BASE_URL": f"http://127.0.0.1:{self.ports.short}",
            # A public tunnel URL (for real Vonage receipts) may be given in the shell.
            "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL")
            or f"http://127.0.0.1:{self.ports.app}",
            "SITE_HOSTS": f"127.0.0.1:{self.ports.app},localhost:{self.ports.app}",
            "CORS_ORIGINS": cors_origins(self.ports.app, os.environ.get("CORS_ORIGINS", "")),
            "LOCAL_STATUS_FILE": str(self.state_dir / "status.json"),
            "LOCAL_STATE_DIR": str(self.state_dir),
            "CLICK_MODE": self.click_mode,
            "LOG_JSON": "false",
        }
        overrides.update(self._feature_env())
        env = {**base_env, **overrides, "LINKTRAIL_LOCAL_ENV": json.dumps(overrides)}
        # For tools and tests that talk to this stack (holds local-only secrets).
        env_file = self.state_dir / "env.json"
        env_file.write_text(json.dumps(overrides, indent=2))
        env_file.chmod(0o600)
        return env

    def _feature_env(self) -> dict[str, str]:
        """Local credentials of the fakes: generated once, kept in the state directory."""
        extra: dict[str, str] = {
            "JOURNEY_PEPPER": _state_secret(self.state_dir / "journey-pepper"),
            "IDENTITY_SECRET": _state_secret(self.state_dir / "identity-secret"),
        }
        if _module_exists("local.vonage_fake"):
            vonage_fake = importlib.import_module("local.vonage_fake")
            extra.update(vonage_fake.local_credentials(self.state_dir))
            extra.setdefault("VONAGE_API_HOST", f"127.0.0.1:{self.ports.vonage}")
        if _module_exists("local.stitch_sink"):
            stitch_sink = importlib.import_module("local.stitch_sink")
            extra.update(stitch_sink.local_env(self.state_dir))
            extra["STITCH_API_URL"] = f"http://127.0.0.1:{self.ports.stitch}"
            extra.setdefault("STITCH_TIMEOUT_SECONDS", "3")  # the sink's injected hangs
        return extra

    def _spawn(self, component: Component, colour: str) -> None:
        component.colour = colour
        self._launch(component)
        self.components.append(component)

    def _launch(self, component: Component) -> None:
        component.process = subprocess.Popen(
            component.command,
            cwd=PROJECT_DIR,
            env=component.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        process = component.process
        threading.Thread(
            target=self._pipe, args=(component, process, component.colour), daemon=True
        ).start()

    def restart(self, name: str) -> None:
        """SIGKILL the component's process group (no goodbye, as a crash), start the same
        command again, wait until it is healthy."""
        component = next(c for c in self.components if c.name == name)
        process = component.process
        self.say("linktrail", f"restart {name}: SIGKILL (pid {process.pid if process else '-'})")
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        started = time.monotonic()
        self._launch(component)
        self._wait_healthy(component, timeout=60)
        self.say("linktrail", f"restart {name}: healthy again in {time.monotonic() - started:.1f}s")
        counts_file = control_dir(self.state_dir) / "restarts.json"
        counts = json.loads(counts_file.read_text()) if counts_file.exists() else {}
        counts[name] = int(counts.get(name, 0)) + 1
        write_json_atomically(counts_file, counts)

    def watch_in_background(self) -> None:
        """Health into status.json every second, and restarts on request."""
        threading.Thread(target=self._watch, daemon=True, name="watch").start()

    def _restart_requested(self) -> None:
        names = {c.name for c in self.components}
        for request in sorted(control_dir(self.state_dir).glob("restart-*")):
            name = request.name.removeprefix("restart-")
            request.unlink(missing_ok=True)
            if name not in names:
                self.say("linktrail", f"restart {name}: no such component")
                continue
            threading.Thread(target=self._restart_logged, args=(name,), daemon=True).start()

    def _restart_logged(self, name: str) -> None:
        try:
            self.restart(name)
        except (SystemExit, OSError, subprocess.TimeoutExpired) as error:
            self.say("linktrail", f"restart {name} failed: {error}")

    def _probe(self, component: Component) -> tuple[str, str]:
        if component.process is not None and component.process.poll() is not None:
            return "down", f"exited with {component.process.returncode}"
        try:
            with urllib.request.urlopen(component.health_url, timeout=2) as answer:
                return ("up", "") if answer.status < 500 else ("down", f"HTTP {answer.status}")
        except urllib.error.HTTPError as error:
            # /healthz answers 503 while a component is still starting: the app is up.
            return ("up", "") if component.name == "app" else ("down", f"HTTP {error.code}")
        except OSError as error:
            return "down", type(error).__name__

    def _wait_healthy(self, component: Component, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state, detail = self._probe(component)
            if state == "up":
                component.state = "up"
                return
            if component.process is not None and component.process.poll() is not None:
                raise SystemExit(
                    f"linktrail: {component.name} exited during start ({detail}); see its log above"
                )
            time.sleep(0.2)
        raise SystemExit(
            f"linktrail: {component.name} did not become healthy within {timeout:.0f}s"
        )

    def _watch(self) -> None:
        status_file = self.state_dir / "status.json"
        control_dir(self.state_dir).mkdir(parents=True, exist_ok=True)
        while not self._stop.is_set():
            self._restart_requested()
            snapshot: dict[str, Any] = {}
            for component in self.components:
                if component.name == "app":
                    # The app reports on itself; probing /healthz from here would recurse.
                    alive = component.process is not None and component.process.poll() is None
                    component.state, component.detail = ("up", "") if alive else ("down", "exited")
                else:
                    component.state, component.detail = self._probe(component)
                snapshot[component.name] = {
                    "state": component.state,
                    "url": component.url,
                    "role": component.role,
                }
                if component.detail:
                    snapshot[component.name]["detail"] = component.detail
            write_json_atomically(
                status_file, {"written_at": time.time(), "components": snapshot}
            )
            self._stop.wait(1.0)

    def _banner(self) -> None:
        self.say("linktrail", "local stack is up:")
        for component in self.components:
            self.say("linktrail", f"  {component.name:<13} {component.url:<24} {component.role}")
        self.say(
            "linktrail",
            f"  admin key     {self.admin_key}  (also in {self.state_dir / 'admin-key'})",
        )
        self.say(
            "linktrail",
            f"  its click-webhook signing secret: {self.state_dir / 'webhook-secret'}",
        )
        self.say(
            "linktrail",
            f"  write key     {self.write_key}  (for Segment's libraries; also in "
            f"{self.state_dir / 'write-key'})",
        )
        self.say(
            "linktrail",
            f"  dashboard     http://127.0.0.1:{self.ports.app}/dashboard"
            "  (sign in with the admin key)",
        )
        self.say(
            "linktrail",
            f"  try: curl -H 'Authorization: Bearer {self.admin_key}' http://127.0.0.1:{self.ports.app}/api/keys",
        )
        self.say("linktrail", "Ctrl-C stops everything.")

    def wait(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        while not self._stop.is_set() and not should_stop():
            time.sleep(0.5)

    def stop(self) -> None:
        self._stop.set()
        for component in reversed(self.components):
            process = component.process
            if process is not None and process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        deadline = time.monotonic() + 5
        for component in self.components:
            process = component.process
            if process is None:
                continue
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
