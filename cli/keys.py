"""`linktrail keys create|list|revoke`: API keys, on the app table directly (bootstrapping:
there is no key yet to call the API with). `--stage local` loads the local stage's
environment from .chalice/config.json first, so it reaches the emulator of `make dev`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from botocore import exceptions as aws_errors

from chalicelib import wiring
from chalicelib.core.settings import ConfigError
from cli import PROJECT_DIR
from cli.api import CliError

AWS_SETUP_HINT = (
    "use --stage local for `make dev`, or configure AWS credentials and a region "
    "(`aws configure`, AWS_PROFILE, AWS_DEFAULT_REGION)"
)


def load_stage_environment(stage: str, config_file: Path | None = None) -> None:
    """Put the Chalice stage's environment variables into os.environ (as chalice does)."""
    path = config_file or PROJECT_DIR / ".chalice" / "config.json"
    config = json.loads(path.read_text())
    env = dict(config.get("environment_variables", {}))
    env.update(config.get("stages", {}).get(stage, {}).get("environment_variables", {}))
    if stage == "local":
        # make dev writes the running stack's own environment (ports may differ).
        local_env = PROJECT_DIR / ".local" / "env.json"
        if local_env.exists():
            env.update(json.loads(local_env.read_text()))
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    for name, value in env.items():
        os.environ.setdefault(name, str(value))


def keys_command(args: argparse.Namespace, out: TextIO) -> int:
    if args.stage:
        load_stage_environment(args.stage)
    return with_aws_errors(args, lambda: _keys_action(args, out))


def with_aws_errors(args: argparse.Namespace, action: Callable[[], int]) -> int:
    """Run a command that talks to AWS directly; its AWS failures become one CLI line."""
    try:
        return action()
    except aws_errors.NoRegionError:
        raise CliError(f"no AWS region: {AWS_SETUP_HINT}") from None
    except (aws_errors.NoCredentialsError, aws_errors.PartialCredentialsError) as error:
        raise CliError(f"no usable AWS credentials ({error}): {AWS_SETUP_HINT}") from None
    except aws_errors.EndpointConnectionError as error:
        running = " (is `make dev` running?)" if args.stage == "local" else ""
        raise CliError(f"{error}{running}") from None
    except (aws_errors.BotoCoreError, aws_errors.ClientError, ConfigError) as error:
        # ClientError (AccessDenied, ResourceNotFound, ...), timeouts, a missing profile.
        raise CliError(" ".join(str(error).split())) from None


def _keys_action(args: argparse.Namespace, out: TextIO) -> int:
    wiring.reset()
    store = wiring.key_store()  # creating the client is what needs a region
    if not wiring.settings().app_table:
        raise CliError(
            "APP_TABLE is not set: use --stage local for `make dev`, or --stage STAGE once "
            "`make deploy STAGE=...` has recorded its tables in .chalice/config.json"
        )
    if args.keys_action == "create":
        created = store.create(args.name, role=args.role)
        print(
            json.dumps(
                {
                    **created.api_key.to_public(),
                    "key": created.token,
                    "webhook_secret": created.webhook_secret,
                },
                indent=2,
            ),
            file=out,
        )
        print("Shown once: store the key and the webhook secret now.", file=sys.stderr)
    elif args.keys_action == "list":
        for key in store.list():
            shown = key.to_public()
            print(
                f"{shown['key_id']}  {shown['status']:8}  {shown['role']:12}  {shown['created_at']}"
                f"  {shown['name']}",
                file=out,
            )
    else:
        print(json.dumps(store.revoke(args.key_id).to_public(), indent=2), file=out)
    return 0
