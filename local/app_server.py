"""`chalice local --stage local`, with the gateway's own errors as problem details.

This is Chalice's own local server (same CLIFactory, same stage config, same
LocalGateway), started the way `chalice local` starts it, with one change: the errors
API Gateway answers itself — an unknown route (403 "Missing Authentication Token"),
authorizer refusals — come back as RFC 9457 problem details, as infra/api.yaml's gateway
responses make them in AWS. A client sees one error format everywhere.

Run: python -m local.app_server --port 8000 [--stage local]
Environment overrides from the supervisor (ports chosen at start) arrive as JSON in
LINKTRAIL_LOCAL_ENV and win over the stage's config, after the app is imported.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from chalice import local as chalice_local
from chalice.cli.factory import CLIFactory

from chalicelib.core import aws
from chalicelib.core.problems import PROBLEM_CONTENT_TYPE, Problem
from local import faults
from local.log_lines import printable

PROJECT_DIR = Path(__file__).resolve().parent.parent


def gateway_problem(error: chalice_local.LocalGatewayException) -> Problem:
    """The problem details API Gateway's gateway responses give for this error."""
    if isinstance(error, chalice_local.ForbiddenError) and b"Missing Authentication" in (
        error.body or b""
    ):
        return Problem(404, "No such route.")
    if isinstance(error, chalice_local.NotAuthorizedError) or error.CODE == 401:
        return Problem(401, "A valid API key is required.")
    if isinstance(error, chalice_local.ForbiddenError) and b"Authorization header" in (
        error.body or b""
    ):
        # Unknown route with an Authorization header: API Gateway answers 403 too.
        return Problem(404, "No such route.")
    return Problem(error.CODE, "The gateway refused this request.")


class ApiGatewayRouting(chalice_local.LocalGateway):
    """Route as API Gateway does: a method the path does not define never reaches the
    Lambda (API Gateway answers 403 "Missing Authentication Token" itself, a 404 problem
    through infra/api.yaml), where plain `chalice local` would let the app answer 405."""

    def _generate_lambda_event(
        self, method: str, path: str, headers: Any, body: bytes | None
    ) -> Any:
        event = super()._generate_lambda_event(method, path, headers, body)
        resource = event["requestContext"]["resourcePath"]
        defined = self._app_object.routes.get(resource, {})
        if method != "OPTIONS" and method not in defined:
            raise ValueError(f"{method} is not defined on {resource}")
        return event


class ProblemRequestHandler(chalice_local.ChaliceRequestHandler):
    def __init__(
        self, request: Any, client_address: Any, server: Any, app_object: Any, config: Any
    ) -> None:
        # As ChaliceRequestHandler.__init__, with API Gateway's method routing.
        self.local_gateway = ApiGatewayRouting(app_object, config)
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def _send_error_response(self, error: chalice_local.LocalGatewayException) -> None:
        problem = gateway_problem(error)
        headers = {"Content-Type": PROBLEM_CONTENT_TYPE}
        self._send_http_response(problem.status, headers, problem.body())

    def log_message(self, format: str, *args: Any) -> None:
        # A request the server could not parse may have no command or path yet.
        command, path = self.command or "-", getattr(self, "path", "-").split("?")[0]
        detail = args[1] if len(args) > 1 else ""
        sys.stdout.write(printable(f"{command} {path} {detail}") + "\n")
        sys.stdout.flush()


def apply_overrides() -> None:
    overrides = json.loads(os.environ.get("LINKTRAIL_LOCAL_ENV", "{}"))
    os.environ.update({str(k): str(v) for k, v in overrides.items()})


def load_app(stage: str = "local") -> tuple[Any, Any]:
    """Import app.py the way `chalice local` does (stage env applied first), then apply
    the supervisor's overrides; settings are read lazily, at the first request. With a
    state directory, DynamoDB throttling can be switched on there (local/faults.py)."""
    factory = CLIFactory(str(PROJECT_DIR), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=stage)
    app = config.chalice_app
    from local import routes  # imported after app.py, as any blueprint is

    routes.install(app)
    apply_overrides()
    state_dir = os.environ.get("LOCAL_STATE_DIR")
    if state_dir:
        faults.install(aws.session(), Path(state_dir))
    return app, config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="local")
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    app, config = load_app(args.stage)
    chalice_local.CustomLocalChalice.__bases__ = (chalice_local.LocalChalice, app.__class__)
    app.__class__ = chalice_local.CustomLocalChalice
    server = chalice_local.LocalDevServer(
        app, config, args.host, args.port, handler_cls=ProblemRequestHandler
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
