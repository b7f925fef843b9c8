"""Build dist/edge-click.zip: the click function, the modules it shares with the app, its
baked configuration, crawlerdetect.

    python -m edge.build --stage dev --out dist/edge-click.zip [--mode every|first]
        [--expired-page infra/expired.html | --expired-url URL] [--time-budget-ms 1500]
        [--table NAME --region REGION]

Lambda@Edge has no environment variables, so the table name and region come from the
stage's `.chalice/config.json` (LINKS_TABLE, AWS_REGION/AWS_DEFAULT_REGION, written by the
record-resources step) or the flags, and are written to edge/edge_config.json in the zip.
The shared modules (edge/shared/*.py, symbolic links to chalicelib/core/) are copied in
by content under their edge names, so the zip holds no link and no chalicelib.
crawlerdetect is pip-installed into a scratch directory (pin: edge/requirements.txt) and
copied into the zip, never into the repository. The zip is deterministic (fixed
timestamps, sorted entries), so the same inputs give the same bytes and the same hash.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edge.config import MAX_GENERATED_BODY, EdgeConfig
from edge.shared.destinations import allowlist_from

EDGE_DIR = Path(__file__).resolve().parent
ROOT = EDGE_DIR.parent
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"
DEFAULT_EXPIRED_PAGE = ROOT / "infra" / "expired.html"
VIEWER_ZIP_LIMIT = 1024 * 1024  # viewer triggers: 1 MB zipped
ZIP_GOAL = 64 * 1024
EDGE_MODULES = (
    "__init__.py",
    "attributes.py",
    "config.py",
    "edge_click.py",
    "responses.py",
    "shared/__init__.py",
    "shared/bots.py",  # -> chalicelib/core/bots.py
    "shared/destinations.py",  # -> chalicelib/core/destinations.py
    "shared/useragents.py",  # -> chalicelib/core/useragents.py
)
# The zip-root module CloudFront calls: `edge_click.handler`.
ROOT_SHIM = (
    '"""Lambda@Edge entry point: edge_click.handler."""\n'
    "from edge.edge_click import handler\n\n"
    '__all__ = ["handler"]\n'
)
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
# Not needed at run time: the CLI, caches, installer metadata (the licence is kept).
SKIPPED = ("crawlerdetect/cli.py",)


class BuildError(RuntimeError):
    pass


def stage_environment(stage: str, chalice_config: Path = CHALICE_CONFIG) -> dict[str, str]:
    config = json.loads(chalice_config.read_text())
    stage_config = config.get("stages", {}).get(stage)
    if stage_config is None:
        raise BuildError(f"no stage {stage!r} in {chalice_config}")
    return {
        **config.get("environment_variables", {}),
        **stage_config.get("environment_variables", {}),
    }


def edge_config(args: argparse.Namespace) -> EdgeConfig:
    env = stage_environment(args.stage, Path(args.chalice_config))
    table = args.table or env.get("LINKS_TABLE", "")
    region = args.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION", "")
    if not table or not region:
        raise BuildError(
            f"stage {args.stage!r} has no LINKS_TABLE/AWS_REGION in {args.chalice_config} "
            "(run the record-resources step after deploying infra/data.yaml) "
            "or pass --table and --region"
        )
    html = Path(args.expired_page).read_text(encoding="utf-8")
    if len(html.encode()) > MAX_GENERATED_BODY:
        raise BuildError(f"{args.expired_page} is over 38 KB (40 KB limit less headers)")
    return EdgeConfig(
        table=table,
        region=region,
        mode=args.mode,
        stage=args.stage,
        expired_html=html,
        expired_redirect_url=args.expired_url,
        allowed_destination_hosts=allowlist_from(env.get("ALLOWED_DESTINATION_HOSTS", "")),
        time_budget_ms=args.time_budget_ms,
    )


def vendored_files(scratch: Path) -> Iterator[tuple[str, Path]]:
    """pip-install edge/requirements.txt into `scratch`; yield (zip name, file)."""
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--no-deps",
            "--disable-pip-version-check", "--only-binary=:all:",
            "--target", str(scratch), "-r", str(EDGE_DIR / "requirements.txt"),
        ],
        check=True,
    )  # fmt: skip
    for path in sorted(scratch.rglob("*")):
        name = path.relative_to(scratch).as_posix()
        if path.is_dir() or "__pycache__" in name or name.startswith("bin/"):
            continue
        if name in SKIPPED or (".dist-info/" in name and "LICENSE" not in name):
            continue
        yield name, path


def build(config: EdgeConfig, out: Path) -> int:
    """Write the zip; return its size in bytes."""
    entries: dict[str, bytes] = {"edge_click.py": ROOT_SHIM.encode()}
    for module in EDGE_MODULES:
        entries[f"edge/{module}"] = (EDGE_DIR / module).read_bytes()  # follows the links
    baked: dict[str, Any] = {k: v for k, v in config.__dict__.items() if k != "endpoint_url"}
    entries["edge/edge_config.json"] = json.dumps(baked, indent=1, sort_keys=True).encode()
    with tempfile.TemporaryDirectory(prefix="edge-build-") as scratch:
        for name, path in vendored_files(Path(scratch)):
            entries[name] = path.read_bytes()
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, entries[name])
    size = out.stat().st_size
    if size > VIEWER_ZIP_LIMIT:
        raise BuildError(f"{out} is {size} bytes, over the 1 MB viewer-trigger limit")
    return size


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m edge.build", description=__doc__.split("\n")[0])
    cli.add_argument("--stage", default="dev")
    cli.add_argument("--out", default=str(ROOT / "dist" / "edge-click.zip"))
    cli.add_argument("--mode", choices=("every", "first"), default="every")
    cli.add_argument("--expired-page", default=str(DEFAULT_EXPIRED_PAGE))
    cli.add_argument("--expired-url", default="", help="redirect expired links here instead")
    cli.add_argument("--time-budget-ms", type=int, default=1500)
    cli.add_argument("--table", default="", help="overrides the stage's LINKS_TABLE")
    cli.add_argument("--region", default="", help="the links table's region")
    cli.add_argument("--chalice-config", default=str(CHALICE_CONFIG))
    return cli


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = edge_config(args)
        size = build(config, Path(args.out))
    except (BuildError, ValueError) as error:
        print(f"edge build failed: {error}", file=sys.stderr)
        return 1
    goal = "within" if size <= ZIP_GOAL else "OVER"
    print(
        f"{args.out}: {size} bytes ({goal} the 64 KB goal; limit 1 MB), mode {config.mode}, "
        f"table {config.table} in {config.region}, handler edge_click.handler"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
