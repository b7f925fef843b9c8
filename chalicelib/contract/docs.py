"""/docs' files: our page and initializer under static/, Swagger UI's build under vendor/.

Swagger UI sets element styles from script (style attributes through React, which the
CSSOM allows without 'unsafe-inline'), and its stylesheet draws icons as data: SVGs."""

from __future__ import annotations

from pathlib import Path

from chalicelib.core.static_files import StaticFiles, content_security_policy

PAGE = "docs.html"
# Swagger UI's files, under the names make copies them to.
VENDORED = ("swagger-ui-bundle.js", "swagger-ui.css")
FILES = StaticFiles(Path(__file__).resolve().parent, PAGE, VENDORED,
                    content_security_policy("data:"))
