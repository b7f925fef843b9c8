"""`make deploy-rehearsal`: the real `make deploy` chain (infra/deploy.py, every step) run
against a fresh emulator on loopback: from nothing, again (which must change nothing),
and once more with `--rotate-origin-secret`; after each, a look at what exists.

    python -m infra.rehearsal [--stage dev] [--region eu-west-1] [--click-mode every-click]
                              [--every-click-trigger viewer-request] [--keep]

The project is copied to a scratch directory first (its own `.chalice`, so the real
config.json and deployed state are never touched; `make edge` there uses this venv).
boto3 and the chalice CLI both reach the emulator through AWS_ENDPOINT_URL, with fake
credentials. The emulator is local/emulator.py: moto's server plus what it lacks for
this chain (local/apigateway.py, local/cloudformation.py).

What it proves: the chain runs start to finish from nothing, in order; the templates
deploy and their outputs reach the app's environment; chalice's functions, mappings,
schedules and REST API exist with the post-deploy settings applied; the edge package is
built, uploaded and attached at the configured trigger; a second run changes nothing;
a rotation of the origin secret ends with the bucket and CloudFront agreeing on it.
What it cannot: IAM evaluation (the emulator allows every call), CloudFront propagation
and Lambda@Edge replication (the distribution is a record, no edge serves it), and
whether the functions run (the emulator does not invoke them here).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from infra import deploy, record_resources
from infra.rehearsal_checks import check, differences, snapshot, unexpected_rotation_changes
from local.stack import EMULATOR_CREDENTIALS, emulator_command

PROJECT_ROOT = record_resources.PROJECT_ROOT
# What a deploy never reads: VCS, environments, caches, outputs and deployed state.
NOT_COPIED = (".git", ".venv", "node_modules", "dist", ".local", "__pycache__", "*_cache",
              "deployments", "deployed", ".pytest_cache")


def copy_project(root: Path, workdir: Path) -> Path:
    """The project as `make deploy` sees it, in `workdir`, with a stamp `make edge` can
    rely on instead of reinstalling the venv."""
    project = workdir / "project"
    shutil.copytree(root, project, symlinks=True, ignore=shutil.ignore_patterns(*NOT_COPIED))
    (project / ".rehearsal-venv-ready").touch()
    return project


def make_variables(project: Path) -> dict[str, str]:
    """`make edge` in the copy runs this interpreter's venv, and its venv stamp is a file
    made after the copy, so make finds nothing to install."""
    return {"BIN": str(Path(sys.executable).parent),
            "STAMP": str(project / ".rehearsal-venv-ready")}


@contextlib.contextmanager
def emulator(cwd: Path, log_file: Path) -> Iterator[str]:
    """A fresh emulator on a free loopback port, its output in `log_file`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with log_file.open("w") as log:
        process = subprocess.Popen(
            emulator_command(port), cwd=cwd, env={**env, **EMULATOR_CREDENTIALS},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            _wait_for_port(port, process)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_for_port(port: int, process: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the emulator did not start") from None
            time.sleep(0.1)


@contextlib.contextmanager
def pointed_at(endpoint: str) -> Iterator[None]:
    """This process's AWS environment (boto3's, and the chalice CLI's it starts): the
    emulator, fake credentials, no profile. Restored afterwards."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    for name in saved:
        del os.environ[name]
    os.environ.update({**EMULATOR_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint})
    os.environ.pop("AWS_REGION", None)  # the app's region is the deployment's, not us-east-1
    try:
        yield
    finally:
        for name in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[name]
        os.environ.update(saved)


class StepFailed(Exception):
    def __init__(self, run: int, step: str, error: BaseException, emulator_error: str) -> None:
        super().__init__(f"run {run}, step '{step}': {error}")
        self.run, self.step, self.error, self.emulator_error = run, step, error, emulator_error


def run_chain(deployment: deploy.Deployment, run: int, log_file: Path) -> list[str]:
    """Every step of the chain in order; the names of those run. A failing step raises
    StepFailed with the emulator's own last error line."""
    done = []
    for step in deployment.steps():
        deployment.log(f"==> run {run}: {step.name}")
        try:
            step.run()
        except (Exception, SystemExit) as error:
            raise StepFailed(run, step.name, error, last_emulator_error(log_file)) from error
        done.append(step.name)
    return done


def last_emulator_error(log_file: Path) -> str:
    """The exception line of the emulator's last traceback (what moto could not do)."""
    lines = log_file.read_text(errors="replace").splitlines() if log_file.exists() else []
    errors = [line for line in lines if line and not line.startswith((" ", "127.0.0.1"))
              and ("Error" in line or "Exception" in line) and "Traceback" not in line]
    return errors[-1] if errors else "(no error in the emulator's log)"


def rehearse(
    stage: str, region: str, click_mode: str, every_click_trigger: str, workdir: Path,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The three runs and the checks; returns the report: the steps of each run, what the
    first and the rotating run left missing, what the second changed (nothing, if the
    chain is idempotent), what the rotation changed beyond its stacks, and the first
    run's snapshot."""
    project = copy_project(PROJECT_ROOT, workdir)
    log_file = workdir / "emulator.log"
    with emulator(project, log_file) as endpoint, pointed_at(endpoint):
        log(f"emulator at {endpoint} (log: {log_file}); project copy at {project}")
        views, runs = [], []
        # 1: from nothing; 2: again, changing nothing; 3: with a new origin secret, so the
        # retire step has a rotation to finish
        for run, rotate in ((1, False), (2, False), (3, True)):
            deployment = deploy.Deployment(
                stage=stage, region=region, click_mode=click_mode,
                every_click_trigger=every_click_trigger, rotate_origin_secret=rotate,
                project=project, log=log, endpoint_url=endpoint,
                make_variables=make_variables(project),
            )
            started = time.monotonic()
            runs.append({"steps": run_chain(deployment, run, log_file),
                         "seconds": round(time.monotonic() - started, 1)})
            views.append(snapshot(deployment))
    return {
        "runs": runs,
        "problems": check(views[0], stage, click_mode, every_click_trigger),
        "changed_by_second_run": differences(views[0], views[1]),
        "problems_after_rotation": check(views[2], stage, click_mode, every_click_trigger),
        "changed_by_rotation": unexpected_rotation_changes(
            differences(views[1], views[2]), stage),
        "first_snapshot": views[0],
    }


def print_report(report: dict[str, Any], log: Callable[[str], None] = print) -> bool:
    for number, run in enumerate(report["runs"], 1):
        log(f"run {number}: {len(run['steps'])} steps in {run['seconds']} s: "
            + ", ".join(run["steps"]))
    for problem in report["problems"]:
        log(f"MISSING {problem}")
    for change in report["changed_by_second_run"]:
        log(f"CHANGED BY THE SECOND RUN {change}")
    for problem in report["problems_after_rotation"]:
        log(f"MISSING AFTER THE ROTATION {problem}")
    for change in report["changed_by_rotation"]:
        log(f"CHANGED BY THE ROTATION {change}")
    ok = not any(report[key] for key in ("problems", "changed_by_second_run",
                                         "problems_after_rotation", "changed_by_rotation"))
    log("rehearsal passed: every step ran; everything checked exists; the second run "
        "changed nothing; the rotation changed the origin secret alone" if ok
        else "rehearsal FAILED")
    return ok


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Rehearse `make deploy` against the emulator.")
    parser.add_argument("--stage", default="dev", choices=["dev", "prod"])
    parser.add_argument("--region", default="eu-west-1",
                        help="the app's region (the edge stack is in us-east-1 regardless)")
    parser.add_argument("--click-mode", choices=["every-click", "first-click"],
                        default="every-click")
    parser.add_argument("--every-click-trigger", choices=["viewer-request", "origin-request"],
                        default="viewer-request")
    parser.add_argument("--keep", action="store_true",
                        help="keep the scratch directory (project copy, emulator log)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="linktrail-rehearsal-"))
    try:
        report = rehearse(args.stage, args.region, args.click_mode,
                          args.every_click_trigger, workdir)
    except StepFailed as failure:
        print(f"rehearsal FAILED at {failure}\n  emulator: {failure.emulator_error}\n"
              f"  emulator log and project copy kept in {workdir}")
        raise SystemExit(1) from None
    ok = print_report(report)
    if args.keep or not ok:
        print(f"scratch directory kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
