"""Click analytics over HTTP: GET /api/analytics, as JSON or CSV. The rollups it reads are
written by the links stream's click consumer (chalicelib/clicks/api.py)."""

from __future__ import annotations

import csv
import io
from typing import Any

from chalice import Response

from chalicelib import wiring
from chalicelib.analytics import params, reader
from chalicelib.http import Api, json_response

bp = Api(__name__)


@bp.route("/api/analytics", methods=["GET"], role="read")
def analytics() -> Response:
    request = bp.request
    query = dict(request.query_params or {})
    service = wiring.analytics()
    parsed = params.parse(query, service.clock(), service.retention_days)
    answer = service.answer(parsed)
    if parsed.format == "csv" or "text/csv" in (request.headers.get("accept") or ""):
        return Response(
            body=as_csv(answer),
            status_code=200,
            headers={"Content-Type": "text/csv; charset=utf-8"},
        )
    return json_response(answer)


def as_csv(answer: dict[str, Any]) -> str:
    """The answer's rows as CSV, a header first (count: one row)."""
    data, meta = answer["data"], answer["meta"]
    rows = [data] if isinstance(data, dict) else list(data)
    group_by = meta["groupBy"]
    first = [] if group_by == "count" else ["start" if group_by == "timeseries" else ""]
    header = [*first, "clicks"] + (["humans", "bots"] if meta["visitor"] == "all" else [])
    if first and rows:
        header[0] = next(iter(rows[0]))
    elif first:
        header[0] = reader.ROW_NAMES.get(group_by, "start")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    return out.getvalue()


def _cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (a referrer host is the visitor's
    to choose) is quoted with a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
