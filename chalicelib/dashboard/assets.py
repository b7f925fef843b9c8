"""The dashboard's files: our own under static/, the npm libraries it runs on under vendor/.
Its policy lets QR previews show as blob: images."""

from __future__ import annotations

from pathlib import Path

from chalicelib.core.static_files import StaticFiles, content_security_policy

PAGE = "dashboard.html"
# The libraries, under the names make copies them to.
VENDORED = ("preact-htm.js", "uplot.js", "uplot.css")
FILES = StaticFiles(Path(__file__).resolve().parent, PAGE, VENDORED,
                    content_security_policy("blob: data:"))
